//! Sessions API in WAHA's shapes: `POST/GET /api/sessions`,
//! `GET/PUT/DELETE /api/sessions/{session}`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wacontacts_core::service::{Lifecycle, SessionError, SessionView};
use wacontacts_core::session::{EngineError, Me};
use wacontacts_core::session::{SessionName, SessionNameError};

use crate::api::openapi::{LifecycleErrors, SessionErrors, SessionPath};
use crate::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::state::AppState;

/// A webhook target in a session's config (WAHA's `WebhookConfig`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConfig {
    /// Where events are POSTed: an absolute http:// or https:// URL (400 otherwise).
    #[schema(
        pattern = r"^https?://\S{2,2000}$",
        example = "https://example.com/hooks/wacontacts"
    )]
    pub url: String,
    /// Event names to send: `*`, `session.status`, `contact.upsert`, `contact.update`,
    /// `contact.identity_changed`, `contact.number_changed`, `lid.mapping`,
    /// `blocklist.update`, `contacts.check` (others: 400 `unknown_webhook_event`).
    #[serde(default)]
    #[schema(value_type = Vec<WebhookEventName>)]
    pub events: Vec<String>,
    /// `{key}`: sign bodies with HMAC-SHA512 under this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HmacConfig>)]
    pub hmac: Option<serde_json::Value>,
    /// `{delaySeconds (0-3600, default 2), attempts (1-100, default 15), policy
    /// (constant|linear|exponential, default exponential)}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RetriesConfig>)]
    pub retries: Option<serde_json::Value>,
    /// `[{name, value}]` headers added to each delivery (at most 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub custom_headers: Option<Vec<CustomHeader>>,
}

/// A webhook event name (`*` = all).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum WebhookEventName {
    #[schema(rename = "*")]
    All,
    #[schema(rename = "session.status")]
    SessionStatus,
    #[schema(rename = "contact.upsert")]
    ContactUpsert,
    #[schema(rename = "contact.update")]
    ContactUpdate,
    #[schema(rename = "contact.identity_changed")]
    ContactIdentityChanged,
    #[schema(rename = "contact.number_changed")]
    ContactNumberChanged,
    #[schema(rename = "lid.mapping")]
    LidMapping,
    #[schema(rename = "blocklist.update")]
    BlocklistUpdate,
    #[schema(rename = "contacts.check")]
    ContactsCheck,
}

/// `hmac` of a webhook (schema only; stored as given once checked).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct HmacConfig {
    /// The HMAC-SHA512 key, 1-1024 characters.
    #[schema(min_length = 1, max_length = 1024)]
    key: String,
}

/// `retries` of a webhook (schema only; stored as given once checked).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct RetriesConfig {
    /// Base wait in seconds, 0-3600 (default 2).
    #[schema(minimum = 0, maximum = 3600)]
    delay_seconds: Option<f64>,
    /// Attempts in all, 1-100 (default 15).
    #[schema(minimum = 1, maximum = 100)]
    attempts: Option<u32>,
    /// Default exponential.
    policy: Option<RetryPolicyName>,
}

/// How the wait between attempts grows.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum RetryPolicyName {
    Constant,
    Linear,
    Exponential,
}

/// A header added to webhook deliveries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomHeader {
    /// An HTTP header name.
    #[schema(pattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")]
    pub name: String,
    /// Visible ASCII and spaces.
    #[schema(pattern = "^[ -~]{0,4096}$")]
    pub value: String,
}

/// A session's config (WAHA's `SessionConfig`). A field this server does not act on
/// (proxy, noweb, …) is refused with 400 `unsupported_config_field` unless it is null;
/// nothing is stored and ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionConfig {
    /// Free-form string pairs echoed in every webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Only `false`: per-session debug logs are not served (400 `unsupported_config_field`).
    /// Left out of the document, which cannot say "only false" in a way client generators
    /// read (openapi-python-client drops the whole schema over a boolean enum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub debug: Option<bool>,
    /// The number-check ban guard of this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<ChecksConfig>,
    /// At most 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 10)]
    pub webhooks: Option<Vec<WebhookConfig>>,
    /// Other WAHA config fields: refused unless null (and then not stored); not in
    /// the document, which says `additionalProperties: false`.
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `config.checks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChecksConfig {
    /// Uncached number checks allowed per rolling hour (overrides `--check-budget-per-hour`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_per_hour: Option<u32>,
}

/// Body of `POST /api/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCreateRequest {
    /// 1–64 of `[A-Za-z0-9_-]`; "default" when omitted.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::session_name)]
    pub name: Option<String>,
    /// Start the session after creating it (default true).
    #[serde(default)]
    pub start: Option<bool>,
    #[serde(default)]
    pub config: Option<SessionConfig>,
    /// WAHA apps: none are served, so only empty (400 `unsupported_field` otherwise).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>, max_items = 0)]
    pub apps: Option<serde_json::Value>,
}

/// Body of `PUT /api/sessions/{session}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionUpdateRequest {
    #[serde(default)]
    pub config: Option<SessionConfig>,
    /// WAHA apps: none are served, so only empty (400 `unsupported_field` otherwise).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>, max_items = 0)]
    pub apps: Option<serde_json::Value>,
}

/// A session in short (WAHA's `SessionDTO`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub name: String,
    /// STOPPED, STARTING, SCAN_QR_CODE, WORKING or FAILED.
    pub status: String,
    #[schema(value_type = SessionConfig)]
    pub config: serde_json::Value,
}

/// WAHA's `timestamps` of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionTimestamps {
    /// Last activity, ms since the epoch; null when unknown.
    pub activity: Option<i64>,
}

/// A session in full (WAHA's `SessionInfo`), plus why it failed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub name: String,
    pub status: String,
    #[schema(value_type = SessionConfig)]
    pub config: serde_json::Value,
    /// The linked account, when known.
    pub me: Option<MeInfo>,
    #[schema(value_type = Option<Object>)]
    pub presence: Option<serde_json::Value>,
    pub timestamps: SessionTimestamps,
    /// Why the session is FAILED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// Query of `GET /api/sessions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include STOPPED sessions (default false).
    #[serde(default)]
    #[param(example = true)]
    pub all: Option<bool>,
    /// WAHA's `expand=apps`: no apps are served, so only empty (400 `unsupported_parameter`).
    #[serde(default)]
    #[param(max_length = 0)]
    pub expand: Option<String>,
}

/// The linked account (WAHA's `MeInfo`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeInfo {
    /// `15551234567@c.us`.
    pub id: String,
    pub push_name: String,
    /// `123456789012345@lid`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    /// This device: `15551234567:7@s.whatsapp.net`.
    pub jid: String,
}

impl From<Me> for MeInfo {
    fn from(me: Me) -> Self {
        Self {
            id: me.id,
            push_name: me.push_name,
            lid: me.lid,
            jid: me.jid,
        }
    }
}

impl From<SessionView> for SessionDto {
    fn from(v: SessionView) -> Self {
        Self {
            name: v.record.name.to_string(),
            status: v.status.as_str().into(),
            config: v.record.config,
        }
    }
}

impl From<SessionView> for SessionInfo {
    fn from(v: SessionView) -> Self {
        Self {
            name: v.record.name.to_string(),
            status: v.status.as_str().into(),
            config: v.record.config,
            me: v.me.map(Into::into),
            presence: None,
            timestamps: SessionTimestamps { activity: None },
            failure_reason: v.reason,
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::NotFound(name) => ApiError::not_found(
                "session_not_found",
                format!("Session '{name}' does not exist"),
            )
            .with_value(name.to_string()),
            SessionError::AlreadyExists(name) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "session_exists",
                format!("Session '{name}' already exists; use PUT to update it"),
            )
            .with_value(name.to_string()),
            SessionError::NotWorking {
                name,
                status,
                expected,
            } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "session_not_ready",
                format!(
                    "Session '{name}' is {}; this needs {}",
                    status.as_str(),
                    expected.as_str()
                ),
            )
            .with_field("error", "Session status is not as expected")
            .with_field("session", name.to_string())
            .with_field("status", status.as_str())
            .with_field("expected", vec![expected.as_str()]),
            SessionError::Engine(e) => engine_error(e),
            SessionError::Store(e) => ApiError::internal(e.0),
        }
    }
}

/// Maps the engine's refusals to HTTP.
fn engine_error(err: EngineError) -> ApiError {
    let message = err.to_string();
    match err {
        EngineError::NotRunning => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "session_not_running",
            message,
        ),
        EngineError::AlreadyLinked => {
            ApiError::new(StatusCode::CONFLICT, "session_already_linked", message)
        }
        EngineError::InvalidPhone(input) => {
            ApiError::bad_request("invalid_phone", message).with_value(input)
        }
        EngineError::RateLimited => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
        EngineError::Timeout => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "whatsapp_timeout", message)
        }
        EngineError::ShuttingDown => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
        }
        EngineError::Elsewhere => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "session_unavailable",
            message,
        ),
        EngineError::WhatsApp(detail) => ApiError::upstream(detail),
        EngineError::Device(e) => ApiError::internal(anyhow::anyhow!("device store: {e}")),
    }
}

/// Parses a session name from user input, answering 400 with the offending value.
pub fn parse_session_name(input: &str) -> Result<SessionName, ApiError> {
    SessionName::parse(input).map_err(|e: SessionNameError| {
        ApiError::bad_request("invalid_session_name", e.to_string()).with_value(input.to_owned())
    })
}

/// Checks what serde cannot: every webhook is one we will act on (http(s) URL,
/// known events, a retry policy we implement, valid headers).
fn validated_config(
    config: Option<SessionConfig>,
    apps: Option<&serde_json::Value>,
) -> Result<serde_json::Value, ApiError> {
    if let Some(apps) = apps.filter(|a| !a.is_null() && a.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Err(ApiError::bad_request(
            "unsupported_field",
            "apps are not served: leave apps empty",
        )
        .with_value(apps.clone()));
    }
    let mut config = config.unwrap_or_default();
    if config.debug == Some(true) {
        return Err(ApiError::bad_request(
            "unsupported_config_field",
            "per-session debug logs are not served (set RUST_LOG instead)",
        )
        .with_value("debug"));
    }
    if let Some(field) = config
        .other
        .iter()
        .find(|(_, v)| !v.is_null())
        .map(|(k, _)| k)
    {
        return Err(ApiError::bad_request(
            "unsupported_config_field",
            format!("config.{field} is not acted on by this server"),
        )
        .with_value(field.clone()));
    }
    config.other.clear();
    let value = serde_json::to_value(config).map_err(|e| ApiError::internal(e.into()))?;
    crate::webhooks::targets_from_config(&value)
        .map_err(|e| ApiError::bad_request(e.code, e.message).with_value(e.value))?;
    Ok(value)
}

/// Creates a session, and starts it unless `start` is false (201).
#[utoipa::path(post, path = "/api/sessions", tag = "sessions",
    request_body = SessionCreateRequest,
    responses(
        (status = 201, body = SessionDto),
        (status = 400, description = "An invalid name, config or body", body = crate::error::ErrorBody),
        (status = 422, description = "The name is taken (`session_exists`)", body = crate::error::ErrorBody),
        (status = 503, description = "The server is shutting down (`shutting_down`)", body = crate::error::ErrorBody)))]
pub async fn create_session(
    State(state): State<AppState>,
    AppJson(body): AppJson<SessionCreateRequest>,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    let name = match body.name.as_deref() {
        Some(n) => parse_session_name(n)?,
        None => SessionName::default_name(),
    };
    let config = validated_config(body.config, body.apps.as_ref())?;
    let record = state
        .sessions
        .create(name, config, body.start.unwrap_or(true))
        .await?;
    Ok((StatusCode::CREATED, AppJson(record.into())))
}

/// Lists sessions; `all=true` includes STOPPED ones.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", params(ListQuery),
    responses((status = 200, body = Vec<SessionInfo>),
        (status = 400, description = "An invalid query parameter", body = crate::error::ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<AppJson<Vec<SessionInfo>>, ApiError> {
    if let Some(expand) = query.expand.filter(|e| !e.is_empty()) {
        return Err(ApiError::bad_request(
            "unsupported_parameter",
            "expand is not served: no apps",
        )
        .with_value(expand));
    }
    let list = state.sessions.list(query.all.unwrap_or(false)).await?;
    Ok(AppJson(list.into_iter().map(Into::into).collect()))
}

/// One session.
#[utoipa::path(get, path = "/api/sessions/{session}", tag = "sessions",
    params(SessionPath),
    responses((status = 200, body = SessionInfo), SessionErrors))]
pub async fn get_session(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<AppJson<SessionInfo>, ApiError> {
    let name = parse_session_name(&session)?;
    Ok(AppJson(state.sessions.get(&name).await?.into()))
}

/// Replaces a session's config.
#[utoipa::path(put, path = "/api/sessions/{session}", tag = "sessions",
    params(SessionPath),
    request_body = SessionUpdateRequest,
    responses((status = 200, body = SessionDto), SessionErrors))]
pub async fn update_session(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
    AppJson(body): AppJson<SessionUpdateRequest>,
) -> Result<AppJson<SessionDto>, ApiError> {
    let name = parse_session_name(&session)?;
    let config = validated_config(body.config, body.apps.as_ref())?;
    Ok(AppJson(state.sessions.update(&name, config).await?.into()))
}

/// Deletes a session (idempotent, as in WAHA).
#[utoipa::path(delete, path = "/api/sessions/{session}", tag = "sessions",
    params(SessionPath),
    responses((status = 200, description = "Deleted, or there was nothing to delete: `{}`", body = Object),
        (status = 400, description = "An invalid session name", body = crate::error::ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<AppJson<serde_json::Value>, ApiError> {
    let name = parse_session_name(&session)?;
    state.sessions.delete(&name).await?;
    Ok(AppJson(serde_json::json!({})))
}

/// Body of WAHA's deprecated `POST /api/sessions/start|logout`. WAHA's `start` also
/// takes a `config` to upsert; that is not served, so it is refused (400), not ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionNameBody {
    /// The session; "default" when omitted.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::session_name)]
    pub name: Option<String>,
}

/// Body of WAHA's deprecated `POST /api/sessions/stop`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStopBody {
    /// The session; "default" when omitted.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::session_name)]
    pub name: Option<String>,
    /// Also log out (unlink the device and wipe its keys); default false, as WAHA's.
    #[serde(default)]
    pub logout: Option<bool>,
}

fn name_or_default(name: Option<&str>) -> Result<SessionName, ApiError> {
    match name {
        Some(n) => parse_session_name(n),
        None => Ok(SessionName::default_name()),
    }
}

/// Runs one lifecycle operation and answers WAHA's 201 with the session.
async fn lifecycle(
    state: &AppState,
    name: Result<SessionName, ApiError>,
    op: Lifecycle,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    let view = state.sessions.apply(&name?, op).await?;
    Ok((StatusCode::CREATED, AppJson(view.into())))
}

/// Starts a session (idempotent).
#[utoipa::path(post, path = "/api/sessions/{session}/start", tag = "sessions",
    params(SessionPath),
    responses((status = 201, body = SessionDto), LifecycleErrors))]
pub async fn start_session(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    lifecycle(&state, parse_session_name(&session), Lifecycle::Start).await
}

/// Stops a session, keeping the link.
#[utoipa::path(post, path = "/api/sessions/{session}/stop", tag = "sessions",
    params(SessionPath),
    responses((status = 201, body = SessionDto), LifecycleErrors))]
pub async fn stop_session(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    lifecycle(&state, parse_session_name(&session), Lifecycle::Stop).await
}

/// Logs a session out: unlinks the device and wipes its keys.
#[utoipa::path(post, path = "/api/sessions/{session}/logout", tag = "sessions",
    params(SessionPath),
    responses((status = 201, body = SessionDto), LifecycleErrors))]
pub async fn logout_session(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    lifecycle(&state, parse_session_name(&session), Lifecycle::Logout).await
}

/// Restarts a session: stops and starts it.
#[utoipa::path(post, path = "/api/sessions/{session}/restart", tag = "sessions",
    params(SessionPath),
    responses((status = 201, body = SessionDto), LifecycleErrors))]
pub async fn restart_session(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    lifecycle(&state, parse_session_name(&session), Lifecycle::Restart).await
}

/// Starts the session named in the body (WAHA's deprecated form).
#[utoipa::path(post, path = "/api/sessions/start", tag = "sessions", request_body = SessionNameBody,
    responses((status = 201, body = SessionDto), LifecycleErrors))]
pub async fn start_session_by_body(
    State(state): State<AppState>,
    AppJson(body): AppJson<SessionNameBody>,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    lifecycle(
        &state,
        name_or_default(body.name.as_deref()),
        Lifecycle::Start,
    )
    .await
}

/// Stops the session named in the body (WAHA's deprecated form).
#[utoipa::path(post, path = "/api/sessions/stop", tag = "sessions", request_body = SessionStopBody,
    responses((status = 201, body = SessionDto), LifecycleErrors))]
pub async fn stop_session_by_body(
    State(state): State<AppState>,
    AppJson(body): AppJson<SessionStopBody>,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    let op = match body.logout {
        Some(true) => Lifecycle::Logout,
        _ => Lifecycle::Stop,
    };
    lifecycle(&state, name_or_default(body.name.as_deref()), op).await
}

/// Logs out the session named in the body (WAHA's deprecated form).
#[utoipa::path(post, path = "/api/sessions/logout", tag = "sessions", request_body = SessionNameBody,
    responses((status = 201, body = SessionDto), LifecycleErrors))]
pub async fn logout_session_by_body(
    State(state): State<AppState>,
    AppJson(body): AppJson<SessionNameBody>,
) -> Result<(StatusCode, AppJson<SessionDto>), ApiError> {
    lifecycle(
        &state,
        name_or_default(body.name.as_deref()),
        Lifecycle::Logout,
    )
    .await
}

/// The linked account; 422 until it is known.
#[utoipa::path(get, path = "/api/sessions/{session}/me", tag = "sessions",
    params(SessionPath),
    responses((status = 200, body = MeInfo), SessionErrors,
        (status = 422, description = "The account is not known yet: the session is not WORKING (`session_not_ready`)", body = crate::error::ErrorBody)))]
pub async fn get_me(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<AppJson<MeInfo>, ApiError> {
    let name = parse_session_name(&session)?;
    let view = state.sessions.get(&name).await?;
    match view.me {
        Some(me) => Ok(AppJson(me.into())),
        None => Err(SessionError::NotWorking {
            name,
            status: view.status,
            expected: wacontacts_core::session::SessionStatus::Working,
        }
        .into()),
    }
}
