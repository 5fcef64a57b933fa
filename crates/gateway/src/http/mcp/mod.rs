//! The same API as a Model Context Protocol server at `/mcp` (Streamable
//! HTTP, `rmcp`): tools and resources that run as in-process REST calls.

pub mod args;
pub mod resources;
pub mod rest;
pub mod server;
pub mod tools;
