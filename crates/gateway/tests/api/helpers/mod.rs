//! Shared test helpers, one module per concern; everything the tests use is
//! re-exported here, so `use crate::helpers::...` names items directly.

mod accounts;
mod app;
mod asserts;
mod http;
mod sandbox;
mod webhooks;

pub use app::{
    parked, spawn_app, spawn_app_on, spawn_app_with, test_database_url, Life, TestApp, TestTeam,
};
pub use asserts::{assert_error, assert_error_naming, assert_same_shape};
pub use webhooks::{verify_signatures, Received, Receiver};
