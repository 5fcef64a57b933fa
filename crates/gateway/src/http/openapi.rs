//! Finishing touches on the generated `/openapi.json` so it says what the
//! gateway does, for every operation at once (a schema fuzzer holds the
//! gateway to it, `.ci/fuzz.sh`): every error answer is documented as the
//! vendor's JSON `{"error": "…"}` (with `_meta` on authenticated calls), and
//! catch-all path segments (`{*cdnUrl}`, axum's syntax) are plain OpenAPI
//! parameters (`{cdnUrl}`), and every `{…}` path parameter is declared and
//! described, from one table, so handlers' annotations don't repeat them.
//! `tagged` gives a router's operations their tag, said once per group.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Required, Response};
use utoipa_axum::router::OpenApiRouter;

/// What each path parameter is, for every route that has it (a handler
/// still declares its own when it means something narrower there).
const PATH_PARAMETERS: &[(&str, &str)] = &[
    ("fanslyAccount", "The Fansly Account ID"),
    ("chat_id", "The Fansly chat (group) ID"),
    ("message_id", "The Fansly message ID"),
    ("list_id", "Fansly list ID"),
    ("album_id", "Fansly vault album ID"),
    ("post_id", "The Fansly post ID"),
    ("tracking_link_id", "The Fansly tracking link ID"),
    ("broadcast_id", "The broadcast ID"),
    ("webhook_id", "Webhook id (wh_…)"),
    ("export_id", "Export id (export_…)"),
    ("key_id", "Key id (key_…)"),
];

/// Tags the operations of `router` that name no tag of their own.
pub fn tagged<S: Clone + Send + Sync + 'static>(
    tag: &str,
    mut router: OpenApiRouter<S>,
) -> OpenApiRouter<S> {
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        for op in operations(item) {
            op.tags.get_or_insert_with(|| vec![tag.to_owned()]);
        }
    }
    router
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// Declares each `{name}` of `path` that `op` does not (first, in path
/// order), and describes those declared without a description.
fn declare_path_parameters(path: &str, op: &mut Operation) {
    let names: Vec<&str> = path
        .split('{')
        .skip(1)
        .filter_map(|s| s.split('}').next())
        .collect();
    if names.is_empty() {
        return;
    }
    let params = op.parameters.get_or_insert_with(Vec::new);
    for (i, name) in names.iter().enumerate() {
        let description = PATH_PARAMETERS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.to_string());
        match params
            .iter_mut()
            .find(|p| p.name == *name && p.parameter_in == ParameterIn::Path)
        {
            Some(p) => {
                if p.description.is_none() {
                    p.description = description;
                }
            }
            None => params.insert(
                i.min(params.len()),
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(description)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ),
        }
    }
}

/// The component every error answer refers to.
const ERROR_SCHEMA: &str = "Error";

/// Statuses any authenticated call can answer, with what they mean.
const AUTHENTICATED_ERRORS: [(&str, &str); 13] = [
    (
        "400",
        "Malformed request (query string, path or JSON syntax)",
    ),
    ("401", "Missing, invalid or revoked API key"),
    ("402", "Out of credits"),
    ("404", "Unknown route, account or resource"),
    (
        "409",
        "Conflict with the resource's state (e.g. the account needs reconnecting)",
    ),
    ("413", "Request body too large"),
    ("415", "Content-Type is not application/json"),
    ("422", "A parameter or field is invalid (named in `error`)"),
    (
        "429",
        "Rate limited (team, account budget or Fansly); see Retry-After",
    ),
    ("500", "Internal error"),
    ("502", "Fansly answered something unexpected"),
    (
        "503",
        "Fansly is unreachable or the account is cooling down",
    ),
    ("504", "Fansly did not answer in time"),
];

/// Applies both fixes to `doc`.
pub fn finish(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.insert(
        ERROR_SCHEMA.to_owned(),
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("error", ObjectBuilder::new().schema_type(Type::String))
                .required("error")
                .property(
                    "_meta",
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .description(Some(
                        "On authenticated calls: credits used (0) and balance, cache, rate limits",
                    )),
                )
                .build(),
        )),
    );
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        let path = path.replace("{*", "{");
        for op in operations(&mut item) {
            for p in op.parameters.iter_mut().flatten() {
                p.name = p.name.trim_start_matches('*').to_owned();
            }
            declare_path_parameters(&path, op);
            document_errors(op);
        }
        doc.paths.paths.insert(path, item);
    }
}

fn error_response(description: &str) -> Response {
    Response::builder()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(RefOr::<Schema>::Ref(Ref::from_schema_name(
                ERROR_SCHEMA,
            )))),
        )
        .build()
}

/// Adds the error answers an operation can give and gives documented error
/// statuses without a body the JSON error body.
fn document_errors(op: &mut Operation) {
    let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let responses = &mut op.responses.responses;
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let RefOr::T(r) = response {
            if is_error && r.content.is_empty() {
                *response = RefOr::T(error_response(&r.description));
            }
        }
    }
    let wanted: &[(&str, &str)] = if authenticated {
        &AUTHENTICATED_ERRORS
    } else {
        &[
            ("400", "Malformed request"),
            ("404", "Unknown route"),
            ("500", "Internal error"),
            ("503", "Not ready"),
        ]
    };
    for (status, description) in wanted {
        responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_all_parameters_become_plain_ones() {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, Paths};
        use utoipa::openapi::OpenApiBuilder;
        let mut paths = Paths::new();
        paths.paths.insert(
            "/a/{id}/download/{*cdnUrl}".into(),
            PathItem::new(HttpMethod::Get, OperationBuilder::new().build()),
        );
        let mut doc = OpenApiBuilder::new().paths(paths).build();
        finish(&mut doc);
        let keys: Vec<_> = doc.paths.paths.keys().cloned().collect();
        assert_eq!(keys, ["/a/{id}/download/{cdnUrl}"]);
    }

    #[test]
    fn path_parameters_are_declared_once_and_described_from_the_table() {
        use utoipa::openapi::path::OperationBuilder;
        let mut op = OperationBuilder::new()
            .parameter(
                ParameterBuilder::new()
                    .name("chat_id")
                    .parameter_in(ParameterIn::Path)
                    .build(),
            )
            .build();
        declare_path_parameters(
            "/api/fansly/{fanslyAccount}/chats/{chat_id}/x/{other}",
            &mut op,
        );
        let params = op.parameters.unwrap();
        let named: Vec<(&str, Option<&str>)> = params
            .iter()
            .map(|p| (p.name.as_str(), p.description.as_deref()))
            .collect();
        assert_eq!(
            named,
            [
                ("fanslyAccount", Some("The Fansly Account ID")),
                ("chat_id", Some("The Fansly chat (group) ID")),
                ("other", None),
            ]
        );
        assert!(params.iter().all(|p| p.parameter_in == ParameterIn::Path));
    }
}
