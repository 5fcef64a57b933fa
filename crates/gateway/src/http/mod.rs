//! The vendor's wire format: routes (one module per resource under
//! `routes/`), extractors (the caller, its account scope), billing, the
//! `{data, _meta}` envelope and paging.

pub mod envelope;
pub mod extract;
pub mod paging;
pub mod params;
pub mod router;
pub mod routes;
pub mod scope;
pub mod state;
