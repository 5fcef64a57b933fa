//! The vendor's wire format: routes (one module per resource under
//! `routes/`), extractors, billing, the `{data, _meta}` envelope and paging.

pub mod calls;
pub mod envelope;
pub mod extract;
pub mod idempotency;
pub mod mcp;
pub mod params;
pub mod router;
pub mod routes;
pub mod state;
