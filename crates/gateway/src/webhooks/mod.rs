//! Webhooks: endpoints (stored, and validated when created or changed),
//! their deliveries, signatures and the example payload of each event type.

pub mod claims;
pub mod deliveries;
pub mod endpoints;
pub mod examples;
pub mod signing;
pub mod store;
