//! Reads wait for company: a reservation made beside its call (a read, which
//! waits for Fansly meanwhile) may be held by the committer for more calls
//! to share its transaction, until a call that waits for its debit arrives,
//! a read hurries it, or the committer's patience runs out. Each test runs
//! its own committer on the test's database, with the patience it needs.

use std::pin::pin;
use std::time::Duration;

use fansly_gateway::metering::group_commit::{Committer, Pace};
use futures::poll;

use crate::helpers::{spawn_app, TestApp};

/// Long enough that nothing in a test is written because it ran out.
const AN_HOUR: Duration = Duration::from_secs(3600);

/// The calls behind `debits` kept their charges; the committer stops with
/// nothing left open, and the team's ledger sums to its balance.
async fn settle(app: &TestApp, held: &Committer, debits: &[i64]) {
    for debit in debits {
        held.keep(*debit);
    }
    assert_eq!(held.drain(Duration::from_secs(5)).await, 0);
    app.assert_ledger_sums_to_balance(&app.team.id).await;
}

#[tokio::test]
async fn reads_reserved_beside_their_calls_share_one_transaction_written_when_one_hurries() {
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let before = app.balance(&team).await;
    let held = Committer::start_with_patience(app.db().clone(), AN_HOUR);
    let mut first = pin!(held.reserve_paced(&team, 1, "users.lookup", None, Pace::Beside));
    assert!(poll!(first.as_mut()).is_pending());
    // Time for the committer to take the first one: a committer that did
    // not hold it would write it now, alone.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        app.balance(&team).await,
        before,
        "held: nothing is written before a hurry"
    );
    let mut second = pin!(held.reserve_paced(&team, 2, "users.lookup", None, Pace::Beside));
    assert!(poll!(second.as_mut()).is_pending());
    held.hurry();
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(held.transactions(), 1, "both calls in one transaction");
    assert_eq!(
        (first.balance, second.balance),
        (before - 1, before - 3),
        "charged in the order asked"
    );
    assert_eq!(app.balance(&team).await, before - 3);
    settle(&app, &held, &[first.debit, second.debit]).await;
}

/// A call that waits for its debit before it runs (a write, or a team whose
/// balance is not known) is never held, and takes the held reads with it.
#[tokio::test]
async fn a_call_that_waits_for_its_debit_is_written_at_once_with_the_held_reads() {
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let before = app.balance(&team).await;
    let held = Committer::start_with_patience(app.db().clone(), AN_HOUR);
    let mut read = pin!(held.reserve_paced(&team, 1, "users.lookup", None, Pace::Beside));
    assert!(poll!(read.as_mut()).is_pending());
    let write = held.reserve(&team, 2, "messages.send", None).await.unwrap();
    let std::task::Poll::Ready(read) = poll!(read.as_mut()) else {
        panic!("the held read was not written with the write");
    };
    let read = read.unwrap();
    assert_eq!(held.transactions(), 1);
    assert_eq!((read.balance, write.balance), (before - 1, before - 3));
    settle(&app, &held, &[read.debit, write.debit]).await;
}

/// A held read with no company and no hurry is written once the patience
/// runs out (the committer's own timer; no call is left waiting).
#[tokio::test]
async fn a_held_read_is_written_when_the_patience_runs_out() {
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let before = app.balance(&team).await;
    let held = Committer::start_with_patience(app.db().clone(), Duration::from_millis(20));
    // Bounded, so a timer that never fires fails here instead of hanging.
    let read = held.reserve_paced(&team, 1, "users.lookup", None, Pace::Beside);
    let read = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the held read was never written")
        .unwrap();
    assert_eq!(read.balance, before - 1);
    settle(&app, &held, &[read.debit]).await;
}
