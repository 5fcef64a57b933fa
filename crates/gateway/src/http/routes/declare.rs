//! [`endpoint!`]: one declaration per route, holding its doc comment (the
//! OpenAPI summary and description), its method, path and operation id on
//! one line, the rest of its `#[utoipa::path]` entry, and its handler: a
//! price and a call for a handler that only passes the call on (the macro
//! writes it), or a short body. Long handlers stay written out with their
//! own `#[utoipa::path]` in their resource's file.

/// Why it exists: a dozen handlers were the same ten to fifteen lines (an
/// `AccountScope`, maybe one Fansly id from the path or a page, then
/// `scope.call(price, |f, a| …)` or `scope.call_paged(…)` around one
/// `fansly::` function), and a few only hand their arguments to a shared
/// function; with this, each is one declaration holding its route, OpenAPI
/// entry, price and upstream call. Short handlers that do a little more (the
/// team routes, a check before the call) were the same seven lines of
/// `#[utoipa::path(`, method, `path = …`, `operation_id = …` and
/// `async fn …(…) -> Result<Metered, ApiError>` around a few lines of body;
/// they are declared the same way, with their body.
///
/// A declaration is the doc comment, then one row: the method, path and
/// operation id, the rest of the `#[utoipa::path]` entry as written by hand
/// (`tag = "…",`, `params(…),`, `request_body = …,` as needed, then
/// `responses(…),`), and the handler:
///
/// - `fn name => price, fun` calls `fun(&f, &a)`;
/// - `fn name(id: "id_name") => price, fun` also takes the path's second
///   segment, parsed as a Fansly id (a 422 naming `id_name` otherwise), and
///   calls `fun(&f, &a, &id)`;
/// - in both, arguments after `fun` are passed after those;
/// - `fn name(page(default, max), rows) => price, fun` documents `limit`
///   ("1 - max, default default") and `offset`, pages with those bounds and
///   calls `fun(&f, &a, &page)` through `scope.call_paged`;
/// - `fn name(extractors…) => call(…)` is the handler `call(…).await`;
/// - `fn name(extractors…) { body }` is the handler with that body,
///   answering `Result<Metered, ApiError>`; `fn name(extractors…) -> T
///   { body }` answers `T`.
///
/// ```ignore
/// endpoint! {
///     /// Get Thing: the summary line, then the description.
///     get "/api/fansly/{fanslyAccount}/things/{thing_id}" "getThing", responses((status = 200, description = "…", body = Object)), fn get_thing(thing: "thing_id") => prices::THING_GET, things::get
/// }
/// ```
macro_rules! endpoint {
    (
        $(#[doc = $doc:literal])*
        $method:ident $path:literal $operation:literal,
        $(tag = $tag:literal,)?
        $(params $params:tt,)?
        $(request_body = $request:ty,)?
        responses $responses:tt,
        fn $($handler:tt)*
    ) => {
        $crate::http::routes::declare::endpoint! {
            @handler [$(#[doc = $doc])*]
            [
                $method, path = $path, $(tag = $tag,)? operation_id = $operation,
                $(params $params,)? $(request_body = $request,)? responses $responses,
            ]
            $($handler)*
        }
    };
    (
        @handler $docs:tt $entry:tt
        $name:ident $(($id:ident: $id_name:literal))? => $price:path, $fun:path $(, $extra:expr)*
    ) => {
        $crate::http::routes::declare::endpoint! {
            @handler $docs $entry $name(
                scope: $crate::http::scope::AccountScope,
                $(axum::extract::Path((_account, $id)): axum::extract::Path<(String, String)>,)?
            ) {
                $(let $id = $crate::core::ids::FanslyId::parse($id_name, &$id)?;)?
                scope
                    .call($price, |f, a| async move { $fun(&f, &a $(, &$id)? $(, $extra)*).await })
                    .await
            }
        }
    };
    (
        @handler $docs:tt [$($entry:tt)*]
        $name:ident(page($default:literal, $max:literal), $rows:expr) => $price:path, $fun:path
    ) => {
        $crate::http::routes::declare::endpoint! {
            @handler $docs [
                $($entry)*
                params(
                    ("limit" = Option<String>, Query, description = concat!("1 - ", $max, ", default ", $default)),
                    ("offset" = Option<String>, Query, description = "Default 0"),
                ),
            ]
            $name(
                scope: $crate::http::scope::AccountScope,
                next: $crate::http::paging::NextPage,
                params: $crate::http::params::Params,
            ) {
                let page = params.page($default, $max)?;
                let rows = $rows;
                scope
                    .call_paged($price, next, page, rows, |f, a, p| async move {
                        $fun(&f, &a, &p).await
                    })
                    .await
            }
        }
    };
    (@handler $docs:tt $entry:tt $name:ident($($args:tt)*) => $call:expr) => {
        $crate::http::routes::declare::endpoint! {
            @handler $docs $entry $name($($args)*) { $call.await }
        }
    };
    (@handler [$($docs:tt)*] [$($entry:tt)*] $name:ident($($args:tt)*) -> $answer:ty $body:block) => {
        $($docs)*
        #[utoipa::path($($entry)*)]
        async fn $name($($args)*) -> $answer $body
    };
    (@handler $docs:tt $entry:tt $name:ident($($args:tt)*) $body:block) => {
        $crate::http::routes::declare::endpoint! {
            @handler $docs $entry $name($($args)*)
                -> Result<$crate::http::envelope::Metered, $crate::core::error::ApiError> $body
        }
    };
}

pub(crate) use endpoint;
