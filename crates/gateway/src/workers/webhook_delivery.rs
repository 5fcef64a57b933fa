//! Sending deliveries: workers claim due rows in batches with a lease, POST
//! the stored bodies with the vendor's and Standard Webhooks' headers
//! (a chat's messages one after another, in order), record the attempts
//! and settle the rows (delivered, retry later, or given up), one
//! transaction per batch (`webhooks/claims.rs`).
//!
//! Durability rests on the database alone: a delivery row exists before
//! anything is sent (written with its event), a claim is a conditional
//! UPDATE that takes a lease, and a worker that dies holding one simply lets
//! it run out, after which any worker of any instance takes the row again.
//! Receivers therefore see each event at least once, a duplicate always
//! with the same idempotency key.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::core::config::WebhookSettings;
use crate::core::crypto::{no_keyring, Keyring};
use crate::core::db::Db;
use crate::core::telemetry;
use crate::core::time::now_ms;
use crate::events::outbox::Events;
use crate::webhooks::claims::{claim, settle, Attempt, Claimed, Outcome, BATCH};
use crate::webhooks::deliveries::*;
use crate::webhooks::endpoints::open_secret;
use crate::webhooks::signing::{standard_signature, vendor_signature};
use crate::webhooks::store::{self as webhooks};

/// What the delivery workers use, handed over by `startup`.
#[derive(Clone)]
pub struct Deps {
    pub db: Db,
    pub settings: WebhookSettings,
    pub events: Events,
    /// Opens the endpoints' sealed signing secrets.
    pub keyring: Option<Arc<Keyring>>,
    /// Woken when another instance of the cluster recorded an event
    /// ([`crate::events::wake`]); never on a single node.
    pub others: Arc<tokio::sync::Notify>,
}

/// The HTTP client every worker shares: the vendor's timeouts, no
/// redirects, and the SSRF guard on each connection it opens.
pub fn client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .timeout(Duration::from_millis(settings.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(crate::core::ssrf::GuardedResolver::shared(
            settings.allow_private_targets,
        ))
        .user_agent(USER_AGENT)
        .build()
        .expect("the webhook HTTP client builds")
}

/// POSTs `d` to `url` once.
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    d: &Claimed,
    allow_private: bool,
) -> Outcome {
    let started = Instant::now();
    let failed = |error: String, started: Instant| Outcome {
        status: None,
        latency_ms: started.elapsed().as_millis() as i64,
        excerpt: None,
        error: Some(error),
        retry_after: None,
    };
    let parsed = match crate::core::ssrf::parse_target(url) {
        Ok(u) => u,
        Err(why) => return failed(format!("endpoint URL refused: {why}"), started),
    };
    if !crate::core::ssrf::literal_allowed(&parsed, allow_private) {
        return failed(
            "endpoint URL refused: the host is not a public address".into(),
            started,
        );
    }
    let timestamp = now_ms() / 1000;
    let body = d.body.as_bytes();
    let mut req = client
        .post(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(secret) = secret {
        req = req
            .header("Signature", vendor_signature(secret, body))
            .header(
                "webhook-signature",
                standard_signature(secret, &d.event_id, timestamp, body),
            );
    }
    if let Some(key) = &d.idempotency_key {
        req = req.header("X-OFAPI-Idempotency-Key", key);
    }
    if let Some(original) = &d.redelivery_of {
        req = req.header("X-OFAPI-Redelivery-Of", original);
    }
    let mut resp = match req.body(d.body.clone()).send().await {
        Ok(r) => r,
        Err(e) => return failed(describe(&e), started),
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let mut excerpt = Vec::new();
    // The status decides the outcome; a body cut short only shortens the excerpt.
    while excerpt.len() < EXCERPT_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    excerpt.truncate(EXCERPT_BYTES);
    // A character cut by the limit is dropped, not shown as U+FFFD.
    if let Err(e) = std::str::from_utf8(&excerpt) {
        if e.error_len().is_none() {
            excerpt.truncate(e.valid_up_to());
        }
    }
    let mut text = String::from_utf8_lossy(&excerpt).into_owned();
    if text.len() > EXCERPT_BYTES {
        // Lossy decoding grows invalid bytes; keep within the limit.
        let mut end = EXCERPT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let error = if resp.status().is_redirection() {
        Some(format!(
            "the endpoint answered a redirect (HTTP {status}); redirects are not followed"
        ))
    } else if !(200..300).contains(&status) {
        Some(format!("the endpoint answered HTTP {status}"))
    } else {
        None
    };
    Outcome {
        status: Some(status),
        latency_ms: started.elapsed().as_millis() as i64,
        excerpt: (!text.is_empty()).then_some(text),
        error,
        retry_after,
    }
}

/// reqwest's error with its causes (the top level alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// An endpoint as a batch sends to it: the row and its opened signing
/// secret (or why it cannot be opened: then nothing is sent unsigned).
type Target = (webhooks::Webhook, Result<Option<String>, String>);

/// Sends one claim's deliveries and settles them in one transaction; how
/// many attempts ran. Deliveries of one chat go one after another in the
/// chat's order, and the first that fails gives the rest of its chat back
/// untried; different chats and unordered events go `workers` at a time.
/// Nothing new starts once the lease is too short to finish it.
async fn run_batch(
    state: &Deps,
    client: &reqwest::Client,
    batch: Vec<Claimed>,
    lease: Duration,
) -> usize {
    let settings = &state.settings;
    let deadline = Instant::now()
        + lease
            .saturating_sub(Duration::from_millis(settings.timeout_ms))
            .saturating_sub(Duration::from_millis(500));
    let mut targets: HashMap<String, Option<Target>> = HashMap::new();
    for d in &batch {
        if targets.contains_key(&d.webhook_id) {
            continue;
        }
        let target = match webhooks::find(&state.db, &d.webhook_id).await {
            Ok(Some(hook)) => {
                let secret = match hook.sealed_secret.as_ref() {
                    None => Ok(None),
                    Some(_) => state
                        .keyring
                        .as_deref()
                        .ok_or_else(|| anyhow::anyhow!(no_keyring().to_string()))
                        .and_then(|k| open_secret(k, &hook))
                        .map_err(|e| format!("the signing secret cannot be opened: {e}")),
                };
                Some((hook, secret))
            }
            // Deleted meanwhile: its deliveries went with it.
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(webhook = d.webhook_id, error = %e, "loading a webhook failed; the lease will lapse");
                None
            }
        };
        targets.insert(d.webhook_id.clone(), target);
    }
    // Groups in claim order: one per (endpoint, chat), one per unordered row.
    let mut groups: Vec<Vec<&Claimed>> = Vec::new();
    let mut by_chat: HashMap<(&str, &str), usize> = HashMap::new();
    for d in &batch {
        match &d.order_key {
            Some(key) => {
                let i = *by_chat.entry((&d.webhook_id, key)).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[i].push(d);
            }
            None => groups.push(vec![d]),
        }
    }
    for g in &mut groups {
        g.sort_by_key(|d| d.order_seq);
    }
    // Endpoints this batch found dead (their disabling is settled below):
    // nothing more is sent to them, their rows go back untried and parked.
    let dead = Mutex::new(HashSet::new());
    // `workers` groups at a time, the next starting as one ends.
    let mut groups = groups.into_iter();
    let mut running = futures::stream::FuturesUnordered::new();
    let mut sent = Vec::new();
    loop {
        while running.len() < settings.workers.max(1) {
            let Some(group) = groups.next() else { break };
            running.push(send_group(
                &targets, client, settings, deadline, &dead, group,
            ));
        }
        match running.next().await {
            Some(done) => sent.push(done),
            None => break,
        }
    }
    let mut attempts = Vec::new();
    let mut released = Vec::new();
    for (a, r) in sent {
        attempts.extend(a);
        released.extend(r);
    }
    let ran = attempts.len();
    if let Err(e) = settle(&state.db, settings, &attempts, &released).await {
        tracing::warn!(deliveries = ran, error = %e, "recording webhook attempts failed; the leases will lapse");
    }
    ran
}

/// Sends one group's deliveries one after another; a failure in a chat
/// gives the rest of the chat back untried, nothing starts past the
/// deadline, and nothing more goes to an endpoint an attempt found dead
/// (`dead`, shared by the batch's groups).
async fn send_group<'a>(
    targets: &'a HashMap<String, Option<Target>>,
    client: &reqwest::Client,
    settings: &WebhookSettings,
    deadline: Instant,
    dead: &Mutex<HashSet<String>>,
    group: Vec<&'a Claimed>,
) -> (Vec<Attempt<'a>>, Vec<&'a Claimed>) {
    let mut attempts = Vec::new();
    let mut released = Vec::new();
    let mut stopped = false;
    for d in group {
        let Some(Some((hook, secret))) = targets.get(&d.webhook_id) else {
            continue;
        };
        let is_dead = || {
            dead.lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&d.webhook_id)
        };
        if stopped || Instant::now() >= deadline || is_dead() {
            released.push(d);
            continue;
        }
        let started_at = now_ms();
        let outcome = match secret {
            Ok(secret) => {
                send(
                    client,
                    &hook.url,
                    secret.as_deref(),
                    d,
                    settings.allow_private_targets,
                )
                .await
            }
            Err(why) => Outcome {
                status: None,
                latency_ms: 0,
                excerpt: None,
                error: Some(why.clone()),
                retry_after: None,
            },
        };
        observe_attempt(d, &outcome);
        if disables(settings, hook, &outcome, now_ms()) {
            dead.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(d.webhook_id.clone());
        }
        stopped = !outcome.succeeded() && d.order_key.is_some();
        attempts.push(Attempt {
            d,
            hook,
            started_at,
            outcome,
        });
    }
    (attempts, released)
}

/// Whether this failed attempt disables its endpoint when settled (as
/// `claims::settle` decides): a 410 Gone, or a failure once the endpoint
/// has been failing for `disable_after_ms`.
fn disables(
    settings: &WebhookSettings,
    hook: &webhooks::Webhook,
    outcome: &Outcome,
    now: i64,
) -> bool {
    !outcome.succeeded()
        && (outcome.status == Some(410)
            || hook
                .failing_since
                .is_some_and(|since| now - since >= settings.disable_after_ms as i64))
}

/// Counts the attempt in `/metrics`; a first delivery that succeeded also
/// records the outbox lag, from the event's recording to now (redeliveries,
/// asked for later by hand, would only skew it).
fn observe_attempt(d: &Claimed, outcome: &Outcome) {
    let result = if outcome.succeeded() {
        "delivered"
    } else {
        "failed"
    };
    metrics::counter!(telemetry::DELIVERY_ATTEMPTS, "team" => d.team_id.clone(), "outcome" => result)
        .increment(1);
    metrics::histogram!(telemetry::DELIVERY_DURATION).record(outcome.latency_ms as f64 / 1000.0);
    if outcome.succeeded() && d.redelivery_of.is_none() {
        let lag_ms = (now_ms() - d.created_at).max(0);
        metrics::histogram!(telemetry::OUTBOX_LAG).record(lag_ms as f64 / 1000.0);
    }
}

/// Starts the delivery workers of this instance, and the task that parks
/// the deliveries of teams out of credits.
pub fn spawn_workers(state: Deps) -> Vec<tokio::task::JoinHandle<()>> {
    let client = client(&state.settings);
    // Each loop sends a batch `workers` at a time; two loops overlap one
    // batch's claim and settle with the other's sending, and keep one slow
    // batch from stalling the rest.
    let mut tasks: Vec<_> = (0..state.settings.workers.clamp(1, 2))
        .map(|_| tokio::spawn(worker(state.clone(), client.clone())))
        .collect();
    tasks.push(tokio::spawn(parker(state)));
    tasks
}

/// How long the deliveries of a team out of credits wait between checks.
pub fn unpaid_recheck(settings: &WebhookSettings) -> Duration {
    Duration::from_millis(settings.poll_interval_ms.max(10) * 5)
}

/// How long a claim holds a delivery: never shorter than one request.
fn lease(settings: &WebhookSettings) -> Duration {
    Duration::from_millis(settings.lease_ms.max(settings.timeout_ms + 1_000))
}

/// Claims and runs deliveries one after another until none is due now
/// (rows leased by another worker are left alone); how many attempts ran.
/// A delivery that fails and is due again at once (a zero wait) runs again.
pub async fn run_due(state: &Deps, client: &reqwest::Client) -> usize {
    run_due_ahead(state, client, Duration::ZERO).await
}

/// [`run_due`] with the clock read `ahead` of the real one: what will be
/// due by then runs now, and leases that lapse by then count as lapsed.
/// For tests of the retry schedule; the workers pass no offset.
pub async fn run_due_ahead(state: &Deps, client: &reqwest::Client, ahead: Duration) -> usize {
    let settings = &state.settings;
    let ahead = ahead.as_millis() as i64;
    let lease = lease(settings);
    let mut ran = 0;
    loop {
        let now = now_ms() + ahead;
        match claim(
            &state.db,
            lease,
            settings.credits_per_100_events,
            now,
            BATCH,
        )
        .await
        {
            Ok(batch) if batch.is_empty() => return ran,
            Ok(batch) => ran += run_batch(state, client, batch, lease).await,
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                return ran;
            }
        }
    }
}

/// Parks the due deliveries of teams that cannot pay (see [`park_unpaid`])
/// until [`unpaid_recheck`] from now; how many were parked.
pub async fn park_due_unpaid(state: &Deps) -> u64 {
    let settings = &state.settings;
    let (cost, recheck) = (settings.credits_per_100_events, unpaid_recheck(settings));
    match park_unpaid(&state.db, cost, recheck, now_ms()).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "deferring unpaid webhook deliveries failed");
            0
        }
    }
}

async fn parker(state: Deps) {
    let recheck = unpaid_recheck(&state.settings);
    loop {
        park_due_unpaid(&state).await;
        tokio::time::sleep(recheck).await;
    }
}

async fn worker(state: Deps, client: reqwest::Client) {
    let poll = Duration::from_millis(state.settings.poll_interval_ms.max(10));
    let wake: Arc<tokio::sync::Notify> = state.events.recorded();
    let others = state.others.clone();
    loop {
        let notified = wake.notified();
        let elsewhere = others.notified();
        tokio::pin!(notified, elsewhere);
        // Registered before looking, so an event recorded meanwhile wakes us.
        notified.as_mut().enable();
        elsewhere.as_mut().enable();
        run_due(&state, &client).await;
        tokio::select! {
            _ = &mut notified => {}
            _ = &mut elsewhere => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
