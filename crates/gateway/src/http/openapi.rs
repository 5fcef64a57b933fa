//! Finishing touches on the generated `/openapi.json` so it says what the
//! gateway does, for every operation at once (a schema fuzzer holds the
//! gateway to it, `.ci/fuzz.sh`): every error answer is documented as the
//! vendor's JSON `{"error": "…"}` (with `_meta` on authenticated calls), and
//! catch-all path segments (`{*cdnUrl}`, axum's syntax) are plain OpenAPI
//! parameters (`{cdnUrl}`).

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

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
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            for p in op.parameters.iter_mut().flatten() {
                p.name = p.name.trim_start_matches('*').to_owned();
            }
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
}
