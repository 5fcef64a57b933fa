//! Data exports (`/api/data-exports`, type `fansly_chat_messages`): the
//! stored exports and their rows, running one, rendering the result.

pub mod render;
pub mod run;
pub mod store;
