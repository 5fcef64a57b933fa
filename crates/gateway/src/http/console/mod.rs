//! The operator console: a small vanilla-JS app served at `/console`, its
//! files compiled into the binary, speaking the JSON routes.

pub mod pages;
