//! WAHA-dialect routes of webhooks and identity changes:
//! `GET /api/{session}/webhooks/failed`, `POST /api/{session}/webhooks/failed/{id}/retry`,
//! `GET/PUT /api/{session}/contacts/{id}/identity`.
//!
//! The identity object has On-Premises' field names (`hash`, `created_timestamp`,
//! `acknowledged`) in every dialect: WAHA has no identity route, and one shape
//! lets the On-Prem route (`/v1/contacts/{wa_id}/identity`, which wraps it in
//! `{"contacts": …}`) share it.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wacontacts_core::identity::{IdentityError, IdentityRecord};
use wacontacts_core::session::SessionName;
use wacontacts_core::webhook::DeadLetter;

use crate::api::contacts::parse_contact;
use crate::api::openapi::SessionErrors;
use crate::api::sessions::parse_session_name;
use crate::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::state::AppState;

/// A contact's latest identity change (On-Premises' identity object).
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityInfo {
    /// Base64 of the first 8 bytes of SHA-256 of the new identity key, e.g.
    /// `UKD6Y/5SqDU=`; null when the key could not be read.
    pub hash: Option<String>,
    /// When the change was seen, Unix milliseconds.
    pub created_timestamp: i64,
    /// Whether it was confirmed with `PUT … {hash}`.
    pub acknowledged: bool,
}

impl From<IdentityRecord> for IdentityInfo {
    fn from(r: IdentityRecord) -> Self {
        IdentityInfo {
            hash: r.hash,
            created_timestamp: r.created_ms,
            acknowledged: r.acknowledged,
        }
    }
}

/// Body of `PUT …/identity`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityAck {
    /// The hash of the latest identity change, as `GET` shows it.
    pub hash: String,
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::NotFound => ApiError::not_found("identity_not_found", e.to_string()),
            IdentityError::HashMismatch { ref given } => {
                let given = given.clone();
                ApiError::bad_request("identity_hash_mismatch", e.to_string()).with_value(given)
            }
            IdentityError::Store(e) => ApiError::internal(e.0),
        }
    }
}

/// An identity error naming the contact asked for (`id` as given) when none is known.
fn identity_error(e: IdentityError, id: &str) -> ApiError {
    let not_found = matches!(e, IdentityError::NotFound);
    let error = ApiError::from(e);
    if not_found {
        error.with_value(id.to_owned())
    } else {
        error
    }
}

/// A session and one of its contacts, in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct ContactPath {
    /// Session name.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "default")]
    session: String,
    /// Phone number, chat id or LID (`15551234567@c.us`, `15551234567`, `…@lid`). A
    /// number must be valid for its country (400 otherwise).
    #[param(
        pattern = r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$|^[1-9][0-9]{0,23}@lid$",
        example = "15551234567@c.us"
    )]
    id: String,
}

/// A session and one of its webhook events, in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct EventPath {
    /// Session name.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "default")]
    session: String,
    /// The event id.
    #[param(example = "evt_0190aabbccdd0123456789abcdef")]
    id: String,
}

/// The session of a request, which must exist (404 otherwise).
pub(crate) async fn existing_session(
    state: &AppState,
    session: &str,
) -> Result<SessionName, ApiError> {
    let name = parse_session_name(session)?;
    state.sessions.get(&name).await?;
    Ok(name)
}

/// The latest identity (security code) change of a contact.
#[utoipa::path(get, path = "/api/{session}/contacts/{id}/identity", tag = "contacts",
    params(ContactPath),
    responses((status = 200, body = IdentityInfo),
        (status = 400, description = "An invalid session name or contact id", body = crate::error::ErrorBody),
        (status = 404, description = "No such session, or no identity change seen (`identity_not_found`)", body = crate::error::ErrorBody)))]
pub async fn get_identity(
    State(state): State<AppState>,
    AppPath((session, id)): AppPath<(String, String)>,
) -> Result<AppJson<IdentityInfo>, ApiError> {
    let name = existing_session(&state, &session).await?;
    let who = parse_contact(&id)?;
    let latest = state.identity.latest(&name, &who).await;
    Ok(AppJson(latest.map_err(|e| identity_error(e, &id))?.into()))
}

/// Acknowledges the latest identity change of a contact by its hash.
#[utoipa::path(put, path = "/api/{session}/contacts/{id}/identity", tag = "contacts",
    params(ContactPath),
    request_body = IdentityAck,
    responses((status = 200, body = IdentityInfo),
        (status = 400, description = "An invalid id or body, or a hash that is not the latest (`identity_hash_mismatch`)", body = crate::error::ErrorBody),
        (status = 404, description = "No such session, or no identity change seen (`identity_not_found`)", body = crate::error::ErrorBody)))]
pub async fn put_identity(
    State(state): State<AppState>,
    AppPath((session, id)): AppPath<(String, String)>,
    AppJson(body): AppJson<IdentityAck>,
) -> Result<AppJson<IdentityInfo>, ApiError> {
    let name = existing_session(&state, &session).await?;
    let who = parse_contact(&id)?;
    let record = state.identity.acknowledge(&name, &who, &body.hash).await;
    let record = record.map_err(|e| identity_error(e, &id))?;
    Ok(AppJson(record.into()))
}

/// A webhook event that ran out of attempts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedWebhook {
    /// The event id every delivery of it carried (and a retry carries).
    pub id: String,
    pub event: String,
    /// When the event happened, Unix ms (the envelope's `timestamp`).
    pub timestamp: i64,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempts: u32,
    /// The receiver's last answer (`HTTP 503`, `timed out`, …).
    pub last_error: String,
    /// When it was set aside, Unix ms.
    pub failed_at: i64,
}

impl From<DeadLetter> for FailedWebhook {
    fn from(d: DeadLetter) -> Self {
        FailedWebhook {
            id: d.id,
            event: d.event,
            timestamp: d.created_ms,
            payload: d.payload,
            attempts: d.attempts,
            last_error: d.last_error,
            failed_at: d.failed_ms,
        }
    }
}

/// Paging of dead letters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FailedQuery {
    /// At most this many, newest first: 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
}

/// Webhook events that ran out of attempts (dead letters), newest first.
#[utoipa::path(get, path = "/api/{session}/webhooks/failed", tag = "webhooks",
    params(crate::api::openapi::SessionPath, FailedQuery),
    responses((status = 200, body = [FailedWebhook]),
        (status = 400, description = "An invalid session name or limit", body = crate::error::ErrorBody),
        SessionErrors))]
pub async fn list_failed(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
    AppQuery(q): AppQuery<FailedQuery>,
) -> Result<AppJson<Vec<FailedWebhook>>, ApiError> {
    let name = existing_session(&state, &session).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_limit", "limit is 1-1000").with_value(limit));
    }
    let dead = state
        .webhooks
        .dead_letters(&name, limit)
        .await
        .map_err(|e| ApiError::internal(e.0))?;
    Ok(AppJson(dead.into_iter().map(Into::into).collect()))
}

/// `{id, retried}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetryResult {
    pub id: String,
    pub retried: bool,
}

/// Queues a dead letter again, with the same id, behind the session's waiting events.
#[utoipa::path(post, path = "/api/{session}/webhooks/failed/{id}/retry", tag = "webhooks",
    params(EventPath),
    responses((status = 202, body = RetryResult),
        (status = 400, description = "An invalid session name", body = crate::error::ErrorBody),
        (status = 404, description = "No such session, or no dead letter with that id (`webhook_not_found`)", body = crate::error::ErrorBody)))]
pub async fn retry_failed(
    State(state): State<AppState>,
    AppPath((session, id)): AppPath<(String, String)>,
) -> Result<(StatusCode, AppJson<RetryResult>), ApiError> {
    let name = existing_session(&state, &session).await?;
    let found = state
        .webhooks
        .retry(&name, &id)
        .await
        .map_err(|e| ApiError::internal(e.0))?;
    if !found {
        return Err(
            ApiError::not_found("webhook_not_found", "No dead letter with that id").with_value(id),
        );
    }
    Ok((
        StatusCode::ACCEPTED,
        AppJson(RetryResult { id, retried: true }),
    ))
}
