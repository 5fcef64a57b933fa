//! Corrections to the generated OpenAPI document where the router's syntax
//! is not OpenAPI's: axum's catch-all `{*name}` is a plain `{name}` path
//! parameter in OpenAPI (the parameter itself is declared by the handler).

use utoipa::openapi::path::Paths;
use utoipa::openapi::OpenApi;

/// Applied once, to the document `/openapi.json` serves.
pub fn apply(doc: &mut OpenApi) {
    let paths = std::mem::take(&mut doc.paths.paths);
    let mut fixed = Paths::new();
    for (path, item) in paths {
        fixed.paths.insert(path.replace("{*", "{"), item);
    }
    doc.paths.paths = fixed.paths;
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::OpenApiBuilder;

    #[test]
    fn catch_all_parameters_become_plain_ones() {
        let mut paths = Paths::new();
        paths.paths.insert(
            "/a/{id}/download/{*cdnUrl}".into(),
            PathItem::new(HttpMethod::Get, OperationBuilder::new().build()),
        );
        let mut doc = OpenApiBuilder::new().paths(paths).build();
        apply(&mut doc);
        let keys: Vec<_> = doc.paths.paths.keys().cloned().collect();
        assert_eq!(keys, ["/a/{id}/download/{cdnUrl}"]);
    }
}
