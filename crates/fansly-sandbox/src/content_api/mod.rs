//! Content routes by resource: walls (`walls.rs`), posts and the timeline
//! (`posts.rs`), post statistics (`post_stats.rs`), vault albums and their
//! media (`vault.rs`), stories (`stories.rs`). The state is in `content.rs`,
//! the fan view of gated media in `fan_view.rs`.

pub mod post_stats;
pub mod posts;
pub mod stories;
pub mod vault;
pub mod walls;
