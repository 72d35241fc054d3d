//! `GET /api/{session}/webhooks/deliveries`: the session's recent webhook delivery
//! outcomes, delivered and failed, newest first (the dashboard's "Recent
//! deliveries"). Ours: WAHA has no such route. The log keeps the newest
//! [`MAX_DELIVERIES_PER_SESSION`] per session; URLs come redacted.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wacontacts_core::webhook::{DeliveryRecord, MAX_DELIVERIES_PER_SESSION};

use crate::api::openapi::SessionErrors;
use crate::api::webhooks::existing_session;
use crate::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::state::AppState;

/// Default page size.
const DEFAULT_LIMIT: u32 = 50;

/// One POST of one event to one receiver.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// The event id (the envelope's `id`, the same on every attempt).
    #[schema(example = "evt_0190aabbccdd0123456789abcdef")]
    pub id: String,
    #[schema(example = "contact.update")]
    pub event: String,
    /// The receiver, without user info and with query values as `***`.
    #[schema(example = "https://hooks.example.com/in?token=***")]
    pub url: String,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's HTTP status; null when it did not answer.
    #[schema(example = 200)]
    pub status: Option<u16>,
    /// Why it failed (`HTTP 503`, `timed out`, `could not connect`, `request
    /// failed`); null when delivered.
    pub error: Option<String>,
    /// Attempts made at this event so far, this one included (1 = first).
    pub attempts: u32,
    /// When the attempt ended, Unix ms.
    pub attempted_at: i64,
}

impl From<DeliveryRecord> for WebhookDelivery {
    fn from(r: DeliveryRecord) -> Self {
        WebhookDelivery {
            id: r.event_id,
            event: r.event,
            url: r.url,
            delivered: r.delivered,
            status: r.status,
            error: r.error,
            attempts: r.attempts,
            attempted_at: r.at_ms,
        }
    }
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// At most this many, newest first: 1–200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<u32>,
    /// Skip this many of the newest first: 0–200 (default 0; the log keeps 200).
    #[param(minimum = 0, maximum = 200, example = 0)]
    pub offset: Option<u32>,
}

/// A session's recent webhook deliveries, delivered and failed, newest first.
#[utoipa::path(get, path = "/api/{session}/webhooks/deliveries", tag = "webhooks",
    params(crate::api::openapi::SessionPath, DeliveriesQuery),
    responses((status = 200, body = [WebhookDelivery]),
        SessionErrors))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
    AppQuery(q): AppQuery<DeliveriesQuery>,
) -> Result<AppJson<Vec<WebhookDelivery>>, ApiError> {
    let name = existing_session(&state, &session).await?;
    let max = MAX_DELIVERIES_PER_SESSION;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=max).contains(&limit) {
        let message = format!("limit is 1-{max}");
        return Err(ApiError::bad_request("invalid_limit", message).with_value(limit));
    }
    let offset = q.offset.unwrap_or(0);
    if offset > max {
        let message = format!("offset is 0-{max}");
        return Err(ApiError::bad_request("invalid_offset", message).with_value(offset));
    }
    let log = state
        .webhooks
        .deliveries(&name, limit, offset)
        .await
        .map_err(|e| ApiError::internal(e.0))?;
    Ok(AppJson(log.into_iter().map(Into::into).collect()))
}
