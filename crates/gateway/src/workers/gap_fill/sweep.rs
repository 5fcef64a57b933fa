//! Gap fill of the sources other than messages (followers, subscribers,
//! transactions, payouts, posts).

use crate::workers::gap_fill::fill::{Advance, Fill, Found, Stop};

pub async fn fill(
    _fill: &mut Fill<'_>,
    _found: &mut Vec<Found>,
    _advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    Ok(())
}
