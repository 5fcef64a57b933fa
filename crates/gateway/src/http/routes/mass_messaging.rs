//! `/mass-messaging`: broadcasts to lists, subscription tiers and individual
//! fans, sent now or scheduled; edited and cancelled while pending. The
//! gateway stores and fans them out itself (`crate::broadcasts`).

use std::collections::BTreeMap;

use axum::extract::Path;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::broadcasts::audience;
use crate::broadcasts::store::{self as broadcasts, state, Broadcast, Spec};
use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::core::time::now_ms;
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::{AccountRecord, AccountScope};
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mass_messages, send_mass_message))
        .routes(routes!(
            get_mass_message,
            update_mass_message,
            cancel_mass_message
        ))
}

/// Most media files one broadcast may carry (as for chat messages).
const MAX_MEDIA_FILES: usize = 50;
/// Fansly's message length limit is not documented; this bounds the body.
const MAX_TEXT_CHARS: usize = 10_000;
/// Most ids per audience field (INFERRED bound: Fansly's own pages are 100).
const MAX_IDS: usize = 100;
/// How many failed recipients Get Mass Message lists.
const FAILURES_SHOWN: i64 = 100;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMassMessageBody {
    /// A Fansly broadcast audience group (type 3): its included and excluded
    /// lists and its tier join the audience fields below.
    group_id: Option<String>,
    /// Message text. Required unless mediaFiles is given.
    #[schema(example = "New set is out!")]
    text: Option<String>,
    /// `fansly_media_` ids from Upload Media: one is one attachment, several
    /// are one bundle in the given order.
    #[serde(default)]
    media_files: Vec<String>,
    /// Map of a mediaFiles handle to the handle of its preview.
    #[serde(default)]
    previews: BTreeMap<String, String>,
    /// Gate the media behind a purchase of `price`.
    #[serde(default)]
    require_purchase: bool,
    /// Gate the media behind a subscription (the default for media without gates).
    #[serde(default)]
    require_subscription: bool,
    /// Gate the media behind a follow.
    #[serde(default)]
    require_follow: bool,
    /// Unlock price in thousandths of a dollar (with requirePurchase), 1000–500000.
    price: Option<i64>,
    /// Send later: a future Unix time in ms. Absent: send now.
    scheduled_for: Option<i64>,
    /// Lists whose members receive it (ours: INFERRED name).
    #[serde(default)]
    list_ids: Vec<String>,
    /// Lists whose members never receive it (ours: INFERRED name).
    #[serde(default)]
    exclude_list_ids: Vec<String>,
    /// Subscription tiers whose active subscribers receive it (ours: INFERRED name).
    #[serde(default)]
    tier_ids: Vec<String>,
    /// Individual fans (Fansly account ids) who receive it (ours: INFERRED name).
    #[serde(default)]
    user_ids: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMassMessageBody {
    /// Full desired text.
    text: Option<String>,
    /// Unix ms in the future; resend the current value to keep the schedule.
    scheduled_for: Option<i64>,
    media_files: Option<Vec<String>>,
    previews: Option<BTreeMap<String, String>>,
    require_purchase: Option<bool>,
    require_subscription: Option<bool>,
    require_follow: Option<bool>,
    price: Option<i64>,
    list_ids: Option<Vec<String>>,
    exclude_list_ids: Option<Vec<String>>,
    tier_ids: Option<Vec<String>>,
    user_ids: Option<Vec<String>>,
}

fn bad(msg: String) -> ApiError {
    ApiError::Unprocessable(msg)
}

/// `scheduledFor` must lie in the future, except that the value already
/// stored may be sent again unchanged ("keep the schedule").
fn schedule(raw: Option<i64>, now: i64, current: Option<i64>) -> Result<Option<i64>, ApiError> {
    match raw {
        None => Ok(None),
        Some(t) if Some(t) == current => Ok(Some(t)),
        Some(t) if t <= now => Err(bad(format!(
            "scheduledFor must be a future Unix time in ms, got {t}"
        ))),
        Some(t) => Ok(Some(t)),
    }
}

/// One audience field: Fansly ids, at most [`MAX_IDS`], duplicates dropped.
fn audience_ids(field: &str, raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.len() > MAX_IDS {
        return Err(bad(format!("{field} holds more than {MAX_IDS} ids")));
    }
    let mut out: Vec<String> = Vec::new();
    for id in raw {
        let id = FanslyId::parse(field, id)?.into_string();
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The audience must name someone.
fn require_audience(spec: &Spec) -> Result<(), ApiError> {
    if spec.list_ids.is_empty() && spec.tier_ids.is_empty() && spec.user_ids.is_empty() {
        let what = match &spec.group_id {
            Some(g) => format!("the audience is empty: broadcast group {g} names no list or tier, and no listIds, tierIds or userIds were given"),
            None => "the audience is empty: give listIds, tierIds or userIds (excludeListIds only narrows them)".into(),
        };
        return Err(bad(what));
    }
    Ok(())
}

/// Everything about a broadcast that can be checked without Fansly or the
/// database; normalises the audience ids. A broadcast with a `groupId` gets
/// its audience from Fansly, so it may name none itself.
fn validate(spec: &mut Spec) -> Result<(), ApiError> {
    if spec.text.trim().is_empty() && spec.media_files.is_empty() {
        return Err(bad("text is required unless mediaFiles is given".into()));
    }
    if spec.text.chars().count() > MAX_TEXT_CHARS {
        return Err(bad(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    params::media_files(&spec.media_files, MAX_MEDIA_FILES)?;
    for (file, preview) in &spec.previews {
        if !spec.media_files.contains(file) {
            return Err(bad(format!("previews: {file:?} is not one of mediaFiles")));
        }
        if !crate::core::ids::is_media_id(preview) {
            return Err(bad(format!(
                "previews: the preview of {file} ({preview:?}) is not a fansly_media_ id"
            )));
        }
    }
    let gates = super::posts::gates(
        spec.require_purchase,
        spec.price,
        spec.require_subscription,
        spec.require_follow,
    )?;
    if !gates.is_empty() && spec.media_files.is_empty() {
        return Err(bad(
            "requirePurchase, requireSubscription and requireFollow gate media: mediaFiles is required"
                .into(),
        ));
    }
    spec.list_ids = audience_ids("listIds", &spec.list_ids)?;
    spec.exclude_list_ids = audience_ids("excludeListIds", &spec.exclude_list_ids)?;
    spec.tier_ids = audience_ids("tierIds", &spec.tier_ids)?;
    spec.user_ids = audience_ids("userIds", &spec.user_ids)?;
    if spec.group_id.is_none() {
        require_audience(spec)?;
    }
    Ok(())
}

/// Resolves the media handles (and previews) to vault media of this
/// account: 404 for a foreign or unknown handle, 409 for one not processed.
async fn resolve_media(
    state: &AppState,
    team_id: &str,
    account_id: &str,
    spec: &mut Spec,
) -> Result<(), ApiError> {
    spec.vault_media =
        crate::media::vault_ids(&state.db, team_id, account_id, &spec.media_files).await?;
    let mut previews = Vec::with_capacity(spec.media_files.len());
    for file in &spec.media_files {
        let preview = match spec.previews.get(file) {
            None => None,
            Some(handle) => crate::media::vault_ids_for(
                &state.db,
                team_id,
                account_id,
                "previews",
                std::slice::from_ref(handle),
            )
            .await?
            .into_iter()
            .next(),
        };
        previews.push(preview);
    }
    spec.vault_previews = previews;
    Ok(())
}

/// The team's broadcast `id` of `account_id` (404 for unknown accounts and
/// for broadcasts of other teams or accounts).
async fn find(record: &AccountRecord, id: &str) -> Result<Broadcast, ApiError> {
    let id = FanslyId::parse("broadcast_id", id)?;
    broadcasts::get(&record.state.db, record.team(), &record.account.id, &id).await
}

endpoint! {
    /// List Scheduled Mass Messages: pending broadcasts (scheduled or sending)
    /// with their audience and progress.
    get "/api/fansly/{fanslyAccount}/mass-messaging" "listScheduledMassMessages",
    responses(
        (status = 200, description = "`data` is an array of broadcasts (`id`, `state`, content, audience, `scheduledFor`, `total`, `sent`, `failed`, `pending` …), soonest first", body = Object),
    ),
    fn list_mass_messages(record: AccountRecord) {
        let (db, team) = (record.state.db.clone(), record.team().to_owned());
        let account_id = record.account.id.clone();
        record
            .bill(prices::MASS_MESSAGING_LIST, async move {
                let pending = broadcasts::pending(&db, &team, &account_id).await?;
                Ok(pending.iter().map(Broadcast::to_json).collect())
            })
            .await
    }
}

/// Send Mass Message: to lists, subscription tiers and individual fans,
/// now or at `scheduledFor`; text and/or media, optionally gated.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/mass-messaging",
    operation_id = "sendMassMessage",
    request_body = SendMassMessageBody,
    responses(
        (status = 200, description = "`data` is the broadcast, `scheduled` until it fires (now or at `scheduledFor`); poll Get Mass Message for progress", body = Object),
        (status = 404, description = "Unknown account, list, tier, user or media handle"),
        (status = 409, description = "The account is not connected, or a media handle is not processed yet"),
        (status = 422, description = "Empty audience, no text or media, bad price, past schedule, malformed id …"),
    ),
)]
async fn send_mass_message(
    scope: AccountScope,
    ApiJson(body): ApiJson<SendMassMessageBody>,
) -> Result<Metered, ApiError> {
    let group_id = body
        .group_id
        .as_deref()
        .map(|g| FanslyId::parse("groupId", g).map(String::from))
        .transpose()?;
    let scheduled_for = schedule(body.scheduled_for, now_ms(), None)?;
    let mut spec = Spec {
        text: body.text.unwrap_or_default(),
        media_files: body.media_files,
        previews: body.previews,
        require_purchase: body.require_purchase,
        require_subscription: body.require_subscription,
        require_follow: body.require_follow,
        price: body.price,
        list_ids: body.list_ids,
        exclude_list_ids: body.exclude_list_ids,
        tier_ids: body.tier_ids,
        user_ids: body.user_ids,
        group_id,
        ..Spec::default()
    };
    validate(&mut spec)?;
    let team = scope.team().to_owned();
    let account = &scope.account;
    if spec.user_ids.contains(&account.fansly_id) {
        return Err(bad(format!(
            "userIds: {} is the connected account itself",
            account.fansly_id
        )));
    }
    resolve_media(&scope.state, &team, &account.id, &mut spec).await?;
    let db = scope.state.db.clone();
    let due = scope.state.broadcasts_due.clone();
    scope
        .call(prices::MASS_MESSAGING_SEND, |fansly, account| async move {
            let mut spec = spec;
            if let Some(group) = spec.group_id.clone() {
                audience::add_audience_group(&fansly, &account, &group, &mut spec).await?;
                require_audience(&spec)?;
            }
            audience::check_audience(&fansly, &account, &spec).await?;
            let b = broadcasts::create(&db, &team, &account.id, &spec, scheduled_for).await?;
            due.wake();
            Ok(b.to_json())
        })
        .await
}

endpoint! {
    /// Get Mass Message (ours): one broadcast in any state, with its progress
    /// and up to 100 failed recipients.
    get "/api/fansly/{fanslyAccount}/mass-messaging/{broadcast_id}" "getMassMessage",
    responses(
        (status = 200, description = "`data` is the broadcast with `failedRecipients` (`userId`, `error`, `attempts`)", body = Object),
        (status = 404, description = "Unknown account or broadcast"),
        (status = 422, description = "A malformed id"),
    ),
    fn get_mass_message(record: AccountRecord, Path((_account, id)): Path<(String, String)>) {
        let b = find(&record, &id).await?;
        let db = record.state.db.clone();
        record
            .bill(prices::MASS_MESSAGING_GET, async move {
                let mut v = b.to_json();
                v["failedRecipients"] = broadcasts::failures(&db, &b.id, FAILURES_SHOWN)
                    .await?
                    .into();
                Ok(v)
            })
            .await
    }
}

/// Update Scheduled Mass Message: replaces the fields given (text, schedule,
/// media, gating, audience) of a broadcast that has not started.
#[utoipa::path(
    put,
    path = "/api/fansly/{fanslyAccount}/mass-messaging/{broadcast_id}",
    operation_id = "updateScheduledMassMessage",
    request_body = UpdateMassMessageBody,
    responses(
        (status = 200, description = "`data` is the updated broadcast", body = Object),
        (status = 404, description = "Unknown account, broadcast, list, tier, user or media handle"),
        (status = 409, description = "The broadcast is no longer scheduled (sending, sent, cancelled or failed)"),
        (status = 422, description = "A past schedule, no text or media left, bad price, malformed id …"),
    ),
)]
async fn update_mass_message(
    record: AccountRecord,
    Path((_account, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateMassMessageBody>,
) -> Result<Metered, ApiError> {
    let current = find(&record, &id).await?;
    if current.state != state::SCHEDULED {
        return Err(broadcasts::not_editable(&current));
    }
    let scheduled_for = match body.scheduled_for {
        Some(_) => schedule(body.scheduled_for, now_ms(), current.scheduled_for)?,
        None => current.scheduled_for,
    };
    let media_changed = body.media_files.is_some() || body.previews.is_some();
    let audience_changed = body.list_ids.is_some()
        || body.exclude_list_ids.is_some()
        || body.tier_ids.is_some()
        || body.user_ids.is_some();
    let mut spec = current.spec.clone();
    if let Some(t) = body.text {
        spec.text = t;
    }
    if let Some(m) = body.media_files {
        spec.media_files = m;
        if body.previews.is_none() {
            // Previews follow the files they belong to.
            let files = spec.media_files.clone();
            spec.previews.retain(|k, _| files.contains(k));
        }
    }
    if let Some(p) = body.previews {
        spec.previews = p;
    }
    if let Some(v) = body.require_purchase {
        spec.require_purchase = v;
        if !v && body.price.is_none() {
            spec.price = None;
        }
    }
    if let Some(v) = body.require_subscription {
        spec.require_subscription = v;
    }
    if let Some(v) = body.require_follow {
        spec.require_follow = v;
    }
    if let Some(p) = body.price {
        spec.price = Some(p);
    }
    if let Some(v) = body.list_ids {
        spec.list_ids = v;
    }
    if let Some(v) = body.exclude_list_ids {
        spec.exclude_list_ids = v;
    }
    if let Some(v) = body.tier_ids {
        spec.tier_ids = v;
    }
    if let Some(v) = body.user_ids {
        spec.user_ids = v;
    }
    validate(&mut spec)?;
    // A group's lists and tier were merged in when it was accepted, so the
    // fields alone must still name someone.
    require_audience(&spec)?;
    let team = record.team().to_owned();
    let account = if audience_changed {
        let account = record.connected().await?;
        if spec.user_ids.contains(&account.fansly_id) {
            return Err(bad(format!(
                "userIds: {} is the connected account itself",
                account.fansly_id
            )));
        }
        Some(account)
    } else {
        None
    };
    if media_changed {
        resolve_media(&record.state, &team, &record.account.id, &mut spec).await?;
    }
    let (fansly, db) = (record.state.fansly.clone(), record.state.db.clone());
    let due = record.state.broadcasts_due.clone();
    record
        .bill(prices::MASS_MESSAGING_UPDATE, async move {
            if let Some(account) = &account {
                audience::check_audience(&fansly, account, &spec).await?;
            }
            let b = broadcasts::update(&db, &current, &spec, scheduled_for).await?;
            due.wake();
            Ok(b.to_json())
        })
        .await
}

/// Cancel Scheduled Mass Message: a scheduled broadcast never fires; one
/// being sent stops before its next recipient (those already sent stay).
#[utoipa::path(
    delete,
    path = "/api/fansly/{fanslyAccount}/mass-messaging/{broadcast_id}",
    operation_id = "cancelScheduledMassMessage",
    responses(
        (status = 200, description = "`data` is the cancelled broadcast with its progress", body = Object),
        (status = 404, description = "Unknown account or broadcast"),
        (status = 409, description = "The broadcast already ended (sent, cancelled or failed)"),
        (status = 422, description = "A malformed id"),
    ),
)]
async fn cancel_mass_message(
    record: AccountRecord,
    Path((_account, id)): Path<(String, String)>,
) -> Result<Metered, ApiError> {
    let current = find(&record, &id).await?;
    if !matches!(current.state.as_str(), state::SCHEDULED | state::SENDING) {
        return Err(ApiError::Conflict(format!(
            "broadcast {} is already {}; only a scheduled or sending broadcast can be cancelled",
            current.id, current.state
        )));
    }
    let db = record.state.db.clone();
    record
        .bill(prices::MASS_MESSAGING_CANCEL, async move {
            Ok(broadcasts::cancel(&db, &current).await?.to_json())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            text: "hi".into(),
            user_ids: vec!["123".into()],
            ..Spec::default()
        }
    }

    type Tweak = Box<dyn Fn(&mut Spec)>;

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(Tweak, &str)> = vec![
            (Box::new(|s| s.user_ids.clear()), "audience is empty"),
            (Box::new(|s| s.text.clear()), "text is required"),
            (Box::new(|s| s.list_ids = vec!["x".into()]), "listIds"),
            (
                Box::new(|s| s.price = Some(5000)),
                "price needs requirePurchase",
            ),
            (
                Box::new(|s| {
                    s.require_purchase = true;
                    s.price = Some(1)
                }),
                "price must be between",
            ),
            (
                Box::new(|s| {
                    s.previews
                        .insert("a".into(), "b".into())
                        .map(drop)
                        .unwrap_or(())
                }),
                "previews",
            ),
        ];
        for (tweak, expected) in cases {
            let mut s = spec();
            tweak(&mut s);
            let err = validate(&mut s).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} lacks {expected}");
        }
        let mut s = spec();
        s.user_ids = vec!["123".into(), "123".into()];
        validate(&mut s).unwrap();
        assert_eq!(s.user_ids, vec!["123".to_owned()]);
    }

    #[test]
    fn schedules_must_be_future_unless_kept() {
        assert!(schedule(Some(10), 100, None).is_err());
        assert_eq!(schedule(Some(10), 100, Some(10)).unwrap(), Some(10));
        assert_eq!(schedule(Some(200), 100, None).unwrap(), Some(200));
        assert_eq!(schedule(None, 100, None).unwrap(), None);
    }
}
