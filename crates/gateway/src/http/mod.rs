//! The vendor's wire format: routes (one module per resource under
//! `routes/`), extractors (the caller, its account scope), billing, the
//! `{data, _meta}` envelope and paging.

pub mod console;
pub mod docs;
pub mod envelope;
pub mod extract;
pub mod hardening;
pub mod idempotency;
pub mod listener;
pub mod mcp;
pub mod observe;
pub mod openapi;
pub mod operator;
pub mod paging;
pub mod params;
pub mod request_log;
pub mod router;
pub mod routes;
pub mod scope;
pub mod state;
