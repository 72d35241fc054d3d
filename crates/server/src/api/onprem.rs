//! WhatsApp Business On-Premises' dialect (`/v1`), as its contacts page shows it
//! (`../shared/reference/products/onprem-v1-contacts.txt`): `POST /v1/contacts`
//! (blocking `wait` or `no_wait`), the callback URL in `/v1/settings/application`,
//! and `POST /v1/users/login`. Every `/v1` route acts on one configured session
//! (`--onprem-session`) and answers errors as `{"errors": [{code, title, details}]}`
//! with On-Prem's numeric codes.
//!
//! Numbers follow On-Prem's convention: with `+` they are international; without,
//! national numbers of the linked account's own country (`6315551002` on a `+91`
//! account is `+916315551002`). An input that is no dialable number at all (or not a
//! valid one for its country) is `invalid`, as On-Prem answers numbers it cannot
//! translate: it is not on WhatsApp, and nothing is looked up for it.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wacontacts_core::phone::{Convention, PhoneNumber, normalize};
use wacontacts_core::queued::{CheckOutcome, CheckStatus};
use wacontacts_core::service::{CheckQueue, ContactError, PartialCheck, QueueError, outcome};
use wacontacts_core::session::SessionName;
use wacontacts_core::username::CheckKey;

use crate::error::{ApiError, AppJson, AppPath};
use crate::state::AppState;

/// Most numbers in one `POST /v1/contacts` (as WAHA's bulk check).
pub const MAX_CONTACTS: usize = 10_000;
/// Longest callback URL accepted.
const MAX_URL: usize = 2_048;

/// What `/v1` needs besides the services: its session, the queue of `no_wait`
/// checks and how long login tokens last.
#[derive(Clone, Debug)]
pub struct OnPrem {
    pub session: SessionName,
    pub queue: CheckQueue,
    pub token_ttl: std::time::Duration,
}

/// `blocking` of `POST /v1/contacts`.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Blocking {
    /// Answer at once; numbers not in the cache are `processing` and come later in
    /// a callback to the webhook URL.
    #[default]
    NoWait,
    /// Check every number before answering.
    Wait,
}

/// Body of `POST /v1/contacts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactsBody {
    /// `no_wait` (default) or `wait`.
    #[serde(default)]
    pub blocking: Blocking,
    /// 1 to 10,000 numbers in any dialable format; without `+` they are national
    /// numbers of the linked account's country.
    #[schema(min_items = 1, max_items = 10000, example = json!(["+1 631 555 1001", "6315551002"]))]
    pub contacts: Vec<String>,
    /// Skip the 7-day cache (default false); a number checked within the hour is
    /// still answered from the cache (the ban guard's cooldown).
    #[serde(default)]
    pub force_check: bool,
}

/// On-Prem's status of a number.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnPremStatus {
    Processing,
    Valid,
    Invalid,
    Failed,
}

impl From<CheckStatus> for OnPremStatus {
    fn from(s: CheckStatus) -> Self {
        match s {
            CheckStatus::Processing => OnPremStatus::Processing,
            CheckStatus::Valid => OnPremStatus::Valid,
            CheckStatus::Invalid => OnPremStatus::Invalid,
            CheckStatus::Failed => OnPremStatus::Failed,
        }
    }
}

/// One number's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremContact {
    /// The input as sent.
    pub input: String,
    pub status: OnPremStatus,
    /// The WhatsApp id (digits, no `+`) WhatsApp knows the number under; only when `valid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
}

/// `{"contacts": [...]}`, one per input in order (callbacks have the same shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremContacts {
    pub contacts: Vec<OnPremContact>,
}

impl From<CheckOutcome> for OnPremContact {
    fn from(o: CheckOutcome) -> Self {
        OnPremContact {
            input: o.input,
            status: o.status.into(),
            wa_id: o.wa_id,
        }
    }
}

fn contact(input: String, status: CheckStatus) -> CheckOutcome {
    CheckOutcome {
        input,
        status,
        wa_id: None,
    }
}

/// On-Prem's error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremErrors {
    pub errors: Vec<OnPremError>,
}

/// One error: On-Prem's numeric code and title, and what went wrong (with our own
/// stable code and the offending value).
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremError {
    /// 1005 access denied, 1006 resource not found, 1008 required parameter missing,
    /// 1009 parameter value not valid, 1010 parameter not required, 1011 service not
    /// ready, 1014 internal error, 1015 too many requests, 1000 generic error.
    pub code: u32,
    pub title: String,
    pub details: String,
}

/// Validates and checks contacts (`blocking: wait`), or answers what the cache
/// knows and queues the rest (`no_wait`).
///
/// Over the lookup budget, `wait` answers the numbers it could not check as
/// `failed` (On-Prem's "there was an error processing this check"), with a
/// `Retry-After` header saying when the budget has room again: an On-Prem client
/// handles statuses per number and re-sends the failed ones, whereas an error for
/// the whole request would also withhold the answers that were found. WhatsApp's
/// rate limit (429), a failed lookup and a session that lost WhatsApp are `failed` too.
#[utoipa::path(post, path = "/v1/contacts", tag = "onprem",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ContactsBody,
    responses(
        (status = 200, description = "One answer per input, in order", body = OnPremContacts,
            headers(("Retry-After" = u32, description = "With `wait`, when some numbers were `failed` for the budget: seconds until it has room"))),
        (status = 400, description = "Bad body: unknown field (1010), bad value (1009), missing `contacts` (1008)", body = OnPremErrors),
        (status = 404, description = "The configured session does not exist (1006)", body = OnPremErrors),
        (status = 429, description = "`no_wait`: the queue of pending checks is full (1015)", body = OnPremErrors),
        (status = 503, description = "The session is not WORKING or not connected (1011)", body = OnPremErrors),
    ))]
pub async fn check_contacts(
    State(state): State<AppState>,
    AppJson(body): AppJson<ContactsBody>,
) -> Result<Response, ApiError> {
    if body.contacts.is_empty() || body.contacts.len() > MAX_CONTACTS {
        return Err(ApiError::bad_request(
            "invalid_contacts",
            format!("contacts must hold 1 to {MAX_CONTACTS} numbers"),
        )
        .with_value(body.contacts.len()));
    }
    let session = &state.onprem.session;
    let view = state.sessions.require_working(session).await?;
    let convention = match view.me.as_ref().and_then(|me| me.phone()) {
        Some(own) => Convention::onprem_for_own_number(&own),
        None => Convention::OnPrem { own_region: None },
    };
    let parsed: Vec<Option<PhoneNumber>> = body
        .contacts
        .iter()
        .map(|c| normalize(c, &convention).ok())
        .collect();
    let keys: Vec<CheckKey> = parsed
        .iter()
        .flatten()
        .map(|p| CheckKey::Phone(*p))
        .collect();
    let (outcomes, retry_after) = match body.blocking {
        Blocking::Wait => {
            wait(
                &state,
                session,
                body.contacts,
                &parsed,
                &keys,
                body.force_check,
            )
            .await?
        }
        Blocking::NoWait => (
            no_wait(
                &state,
                session,
                body.contacts,
                &parsed,
                &keys,
                body.force_check,
            )
            .await?,
            None,
        ),
    };
    let answer = OnPremContacts {
        contacts: outcomes.into_iter().map(OnPremContact::from).collect(),
    };
    let mut response = AppJson(answer).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(response)
}

/// Checks now: answers per input, and when some were left for the budget, when to retry.
async fn wait(
    state: &AppState,
    session: &SessionName,
    inputs: Vec<String>,
    parsed: &[Option<PhoneNumber>],
    keys: &[CheckKey],
    force: bool,
) -> Result<(Vec<CheckOutcome>, Option<u32>), ApiError> {
    let partial = match state.checks.check_partial(session, keys, force).await {
        Ok(partial) => partial,
        // WhatsApp unreachable: every number that needed it failed, not the request.
        Err(ContactError::Directory(e)) => PartialCheck {
            answers: vec![Some(Err(e)); keys.len()],
            retry_after_secs: None,
        },
        Err(e) => return Err(e.into()),
    };
    let mut answers = partial.answers.into_iter();
    let mut deferred = false;
    let outcomes = inputs
        .into_iter()
        .zip(parsed)
        // `answers` holds one per parsed input: advance it only for those.
        .map(
            |(input, parsed)| match parsed.map(|_| answers.next().flatten()) {
                None => contact(input, CheckStatus::Invalid),
                Some(Some(Ok(existence))) => outcome(input, &existence),
                Some(Some(Err(_))) => contact(input, CheckStatus::Failed),
                Some(None) => {
                    deferred = true;
                    contact(input, CheckStatus::Failed)
                }
            },
        )
        .collect();
    Ok((outcomes, partial.retry_after_secs.filter(|_| deferred)))
}

/// Answers from the cache; queues the rest (`processing`) for the worker.
async fn no_wait(
    state: &AppState,
    session: &SessionName,
    inputs: Vec<String>,
    parsed: &[Option<PhoneNumber>],
    keys: &[CheckKey],
    force: bool,
) -> Result<Vec<CheckOutcome>, ApiError> {
    let mut cached = state.checks.cached(session, keys, force).await?.into_iter();
    let mut queue = Vec::new();
    let outcomes = inputs
        .into_iter()
        .zip(parsed)
        .map(
            |(input, parsed)| match (parsed, parsed.and_then(|_| cached.next().flatten())) {
                (None, _) => contact(input, CheckStatus::Invalid),
                (_, Some(existence)) => outcome(input, &existence),
                (Some(phone), None) => {
                    queue.push((input.clone(), *phone));
                    contact(input, CheckStatus::Processing)
                }
            },
        )
        .collect();
    state
        .onprem
        .queue
        .enqueue(session, &queue, force)
        .await
        .map_err(|e| match e {
            QueueError::Full { max } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "check_queue_full",
                format!("The queue of pending checks holds at most {max} numbers; retry once callbacks have drained it"),
            )
            .with_value(queue.len())
            .with_retry_after(60),
            QueueError::Store(e) => ApiError::internal(e.0),
        })?;
    Ok(outcomes)
}

/// On-Prem's application settings; only the webhook URL is served here.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremSettings {
    pub settings: OnPremSettingsDoc,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremSettingsDoc {
    pub application: OnPremApplicationSettings,
}

/// The application settings we act on.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremApplicationSettings {
    pub webhooks: OnPremWebhooks,
}

/// Where callbacks go.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremWebhooks {
    /// The `http(s)` URL that receives `no_wait` answers (`{"contacts": [...]}`).
    /// Absent when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://example.com/whatsapp/callback")]
    pub url: Option<String>,
}

/// Body of `PATCH /v1/settings/application`: only the webhook URL is served.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub webhooks: WebhooksPatch,
}

/// The new webhook URL.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhooksPatch {
    /// An absolute `http(s)` URL with a host, at most 2,048 characters (any URL that
    /// parses; the pattern shows a safe subset); `""` removes it (answers then wait
    /// in the queue).
    #[schema(
        max_length = 2048,
        pattern = r"^$|^https?://[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z][A-Za-z0-9-]*)*(:[1-9][0-9]{0,3})?(/[!-~]*)?$",
        example = "https://example.com/whatsapp/callback"
    )]
    pub url: String,
}

/// The application settings: the webhook URL.
#[utoipa::path(get, path = "/v1/settings/application", tag = "onprem",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The settings", body = OnPremSettings),
        (status = 404, description = "The configured session does not exist (1006)", body = OnPremErrors),
    ))]
pub async fn get_settings(
    State(state): State<AppState>,
) -> Result<AppJson<OnPremSettings>, ApiError> {
    let session = &state.onprem.session;
    state.sessions.get(session).await?;
    let url = state
        .onprem
        .queue
        .callback_url(session)
        .await
        .map_err(|e| ApiError::internal(e.0))?;
    Ok(AppJson(OnPremSettings {
        settings: OnPremSettingsDoc {
            application: OnPremApplicationSettings {
                webhooks: OnPremWebhooks { url },
            },
        },
    }))
}

/// Sets the webhook URL (the only application setting served: any other field is 400).
#[utoipa::path(patch, path = "/v1/settings/application", tag = "onprem",
    security(("bearer" = []), ("api_key" = [])),
    request_body = SettingsPatch,
    responses(
        (status = 200, description = "Saved (an empty object)", body = Object),
        (status = 400, description = "An unknown field (1010) or a bad URL (1009)", body = OnPremErrors),
        (status = 404, description = "The configured session does not exist (1006)", body = OnPremErrors),
    ))]
pub async fn patch_settings(
    State(state): State<AppState>,
    AppJson(body): AppJson<SettingsPatch>,
) -> Result<AppJson<serde_json::Value>, ApiError> {
    let url = match body.webhooks.url.as_str() {
        "" => None,
        url => Some(valid_url(url)?),
    };
    let session = &state.onprem.session;
    state.sessions.get(session).await?;
    state
        .onprem
        .queue
        .set_callback_url(session, url)
        .await
        .map_err(|e| ApiError::internal(e.0))?;
    Ok(AppJson(json!({})))
}

/// An absolute `http(s)` URL with a host, at most 2,048 characters.
fn valid_url(url: &str) -> Result<&str, ApiError> {
    let ok = url.len() <= MAX_URL
        && reqwest::Url::parse(url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
    if ok {
        Ok(url)
    } else {
        Err(ApiError::bad_request(
            "invalid_url",
            format!("webhooks.url must be an http(s) URL of at most {MAX_URL} characters"),
        )
        .with_value(url.chars().take(MAX_URL).collect::<String>()))
    }
}

/// A login token.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremUser {
    /// Send as `Authorization: Bearer <token>` to every `/v1` route.
    pub token: String,
    /// When it stops working: `2018-03-01 15:29:26+00:00` (UTC).
    #[schema(example = "2018-03-01 15:29:26+00:00")]
    pub expires_after: String,
}

/// `{"users": [{token, expires_after}]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremUsers {
    pub users: Vec<OnPremUser>,
}

/// Logs in with HTTP basic auth `admin:<API key>`; the token lasts 7 days.
/// On-Prem's first-login `new_password` is refused (400): the password is the API key.
#[utoipa::path(post, path = "/v1/users/login", tag = "onprem",
    security(("basic" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A token", body = OnPremUsers),
        (status = 400, description = "A body with fields (1010): none are served", body = OnPremErrors),
    ))]
pub async fn login(
    State(state): State<AppState>,
    request: Request,
) -> Result<AppJson<OnPremUsers>, ApiError> {
    // The body limit layer bounds it; an empty body or `{}` is what On-Prem clients send.
    let body: Bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is larger than the server accepts",
            )
        })?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
            Ok(fields) if fields.is_empty() => {}
            Ok(fields) => {
                let names: Vec<&String> = fields.keys().collect();
                return Err(ApiError::bad_request(
                    "unsupported_field",
                    "login takes no fields: the password is the server's API key",
                )
                .with_value(json!(names)));
            }
            Err(e) => return Err(ApiError::bad_request("invalid_json", e.to_string())),
        }
    }
    let expires = wacontacts_core::ports::unix_now_ms() + state.onprem.token_ttl.as_millis() as i64;
    Ok(AppJson(OnPremUsers {
        users: vec![OnPremUser {
            token: crate::onprem_auth::issue(&state.api_key, expires),
            expires_after: crate::onprem_auth::format_expiry(expires),
        }],
    }))
}

/// `{"contacts": {hash, created_timestamp, acknowledged}}`: On-Prem wraps the one
/// identity object in `contacts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnPremIdentity {
    pub contacts: crate::api::webhooks::IdentityInfo,
}

/// A contact's WhatsApp id in the path: digits with the country code (`16315551000`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct WaIdPath {
    /// The WhatsApp id, as `wa_id` answers it: digits with the country code. A number
    /// must be valid for its country (400, 1009, otherwise).
    #[param(pattern = "^[1-9][0-9]{6,14}$", example = "16315551000")]
    wa_id: String,
}

/// The latest identity change of a contact, as On-Prem's
/// `user_identity_changed` notifications are acknowledged against.
#[utoipa::path(get, path = "/v1/contacts/{wa_id}/identity", tag = "onprem", operation_id = "onprem_get_identity",
    security(("bearer" = []), ("api_key" = [])),
    params(WaIdPath),
    responses(
        (status = 200, description = "The latest identity change", body = OnPremIdentity),
        (status = 400, description = "A wa_id that is no phone number or LID (1009)", body = OnPremErrors),
        (status = 404, description = "No identity change seen for this contact, or the configured session does not exist (1006)", body = OnPremErrors),
    ))]
pub async fn get_identity(
    State(state): State<AppState>,
    AppPath(wa_id): AppPath<String>,
) -> Result<AppJson<OnPremIdentity>, ApiError> {
    let session = &state.onprem.session;
    state.sessions.get(session).await?;
    let who = crate::api::contacts::parse_contact(&wa_id)?;
    let latest = state.identity.latest(session, &who).await?;
    Ok(AppJson(OnPremIdentity {
        contacts: latest.into(),
    }))
}

/// Acknowledges the latest identity change by its hash; answers `{}`. A hash that
/// is not the latest one is 400 (1009).
#[utoipa::path(put, path = "/v1/contacts/{wa_id}/identity", tag = "onprem", operation_id = "onprem_put_identity",
    security(("bearer" = []), ("api_key" = [])),
    params(WaIdPath),
    request_body = crate::api::webhooks::IdentityAck,
    responses(
        (status = 200, description = "Acknowledged (an empty object)", body = Object),
        (status = 400, description = "A bad wa_id or body (1009, 1010), or a hash that is not the latest (1009)", body = OnPremErrors),
        (status = 404, description = "No identity change seen for this contact, or the configured session does not exist (1006)", body = OnPremErrors),
    ))]
pub async fn put_identity(
    State(state): State<AppState>,
    AppPath(wa_id): AppPath<String>,
    AppJson(body): AppJson<crate::api::webhooks::IdentityAck>,
) -> Result<AppJson<serde_json::Value>, ApiError> {
    let session = &state.onprem.session;
    state.sessions.get(session).await?;
    let who = crate::api::contacts::parse_contact(&wa_id)?;
    state
        .identity
        .acknowledge(session, &who, &body.hash)
        .await?;
    Ok(AppJson(json!({})))
}

/// On-Prem's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_contacts))
        .routes(routes!(get_identity, put_identity))
        .routes(routes!(get_settings, patch_settings))
        .routes(routes!(login))
}

/// Middleware: every error under `/v1` (the handlers', the extractors', auth's,
/// unknown routes', timeouts') in On-Prem's shape, keeping its status (a session not
/// WORKING is 503, "service not ready") and headers such as `Retry-After`.
pub async fn edge(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    if response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (parts.status, "").into_response();
    };
    let ours: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let code = ours["code"].as_str().unwrap_or_default();
    let mut details = match parts.status {
        StatusCode::UNAUTHORIZED => {
            "Send Authorization: Bearer <token> from POST /v1/users/login (basic auth admin:<API key>), or X-Api-Key".to_owned()
        }
        _ => ours["message"].as_str().unwrap_or("Request failed").to_owned(),
    };
    if !code.is_empty() {
        details.push_str(&format!(" [{code}]"));
    }
    if let Some(value) = ours.get("value") {
        details.push_str(&format!(" (value: {value})"));
    }
    let (status, code, title) = onprem_code(parts.status, code, &details);
    parts.status = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = OnPremErrors {
        errors: vec![OnPremError {
            code,
            title: title.to_owned(),
            details,
        }],
    };
    Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

/// On-Prem's code and title for one of our errors (and the status it answers).
fn onprem_code(status: StatusCode, code: &str, details: &str) -> (StatusCode, u32, &'static str) {
    match status.as_u16() {
        401 | 403 => (status, 1005, "Access denied"),
        404 => (status, 1006, "Resource not found"),
        400 if code.starts_with("missing") || details.contains("missing field") => {
            (status, 1008, "Required parameter is missing")
        }
        400 if code == "unsupported_field" || details.contains("unknown field") => {
            (status, 1010, "Parameter is not required")
        }
        400 | 413 | 415 => (status, 1009, "Parameter value is not valid"),
        422 | 503 => (StatusCode::SERVICE_UNAVAILABLE, 1011, "Service not ready"),
        429 => (status, 1015, "Too many requests"),
        405 => (status, 1000, "Generic error"),
        _ => (status, 1014, "Internal error"),
    }
}
