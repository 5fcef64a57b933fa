//! Shared test helpers, one module per concern; everything the tests use is
//! re-exported here, so `use crate::helpers::...` names items directly.

mod accounts;
mod app;
mod asserts;
mod cluster;
mod http;
mod sandbox;
mod wait;
mod webhooks;

pub use app::{
    parked, process_database_url, process_team, spawn_app, spawn_app_on, spawn_app_with,
    start_sandbox, test_database_url, Life, TestApp, TestTeam,
};
pub use asserts::{assert_error, assert_error_naming, assert_same_shape, strings, strs};
pub use cluster::{cluster_database_url, spawn_cluster, test_redis_url, Cluster};
pub use http::SendJson;
pub use wait::eventually;
pub use webhooks::{
    spawn_hooked_app, spawn_hooked_app_with, verify_signatures, Received, Receiver,
};
