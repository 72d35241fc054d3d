//! One error type for every route, rendered as WAHA's JSON error shape:
//! `{"statusCode", "error", "message", "code", "value"?}`. Internals never leak: a 500
//! says only that something went wrong, and the cause goes to the log.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// An error answer: an HTTP status, a stable machine-readable code, a human message and,
/// where the input was at fault, the offending value.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    value: Option<serde_json::Value>,
    extra: Option<serde_json::Map<String, serde_json::Value>>,
    retry_after_secs: Option<u32>,
}

/// The JSON body of every error (WAHA dialect).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status code, repeated.
    pub status_code: u16,
    /// The HTTP reason phrase, e.g. "Bad Request".
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// What went wrong, for programs: stable across releases.
    pub code: String,
    /// The offending input, when the input was at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            value: None,
            extra: None,
            retry_after_secs: None,
        }
    }

    /// Attaches the offending input.
    pub fn with_value(mut self, value: impl Into<serde_json::Value>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Adds a dialect-specific field to the body (e.g. WAHA's `session`, `status`).
    pub fn with_field(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value.into());
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid X-Api-Key header is required",
        )
    }

    /// An unexpected failure: logged in full under a fresh `errorId`, answered 500
    /// `internal_error` with a fixed message and that id, never the error's text.
    pub fn internal(err: anyhow::Error) -> Self {
        let id = error_id();
        tracing::error!(error_id = %id, error = %format!("{err:#}"), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side; the server log has the details",
        )
        .with_field("errorId", id)
    }

    /// WhatsApp (or another service we call) failed in a way the client cannot act
    /// on: `detail` is logged under a fresh `errorId`, the client gets 502
    /// `whatsapp_error`, a fixed message and that id, never the library's text.
    pub fn upstream(detail: impl std::fmt::Display) -> Self {
        let id = error_id();
        tracing::warn!(error_id = %id, error = %detail, "WhatsApp error");
        Self::new(
            StatusCode::BAD_GATEWAY,
            "whatsapp_error",
            "WhatsApp answered with an error; the server log has the details",
        )
        .with_field("errorId", id)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl ApiError {
    /// The body this error answers with (for errors reported inside a 200 answer,
    /// such as one bad input of a batch).
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            status_code: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message.clone(),
            code: self.code.to_owned(),
            value: self.value.clone(),
        }
    }
}

/// 16 random hex digits that tie an error answer to its log line.
fn error_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message,
            code: self.code.to_owned(),
            value: self.value,
        };
        let mut json = serde_json::to_value(body).unwrap_or_default();
        if let (Some(extra), Some(obj)) = (self.extra, json.as_object_mut()) {
            obj.extend(extra);
        }
        let mut response = (self.status, Json(json)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// `Json` whose rejections answer in our error shape: malformed JSON and wrong fields
/// are 400, a missing or wrong content type 415, an oversized body 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let text = rejection.body_text();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Expected a body with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("invalid_json", text),
        JsonRejection::JsonDataError(_) => ApiError::bad_request("invalid_body", text),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is larger than the server accepts",
        ),
        _ => ApiError::bad_request("invalid_body", text),
    }
}

/// `Query` whose rejections answer 400 in our error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(rejection, parts)),
        }
    }
}

/// A 400 that shows the query it could not read, minus every credential in it (Wawp
/// carries the API key in `access_token`).
fn query_rejection(rejection: QueryRejection, parts: &Parts) -> ApiError {
    let query = parts.uri.query().unwrap_or_default();
    let mut message = rejection.body_text();
    let mut shown = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !is_credential(&form_decode(key)) {
            shown.push(pair);
            continue;
        }
        for secret in [value.to_owned(), form_decode(value)] {
            if !secret.is_empty() {
                message = message.replace(&secret, "[redacted]");
            }
        }
    }
    let err = ApiError::bad_request("invalid_query", message);
    if shown.is_empty() {
        err
    } else {
        err.with_value(shown.join("&"))
    }
}

/// True for query parameters that carry a credential: `access_token`, `api_key`,
/// `apikey`, `token`, `key` and their kin, in any case or separator.
fn is_credential(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    [
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "auth",
        "authorization",
        "signature",
    ]
    .iter()
    .any(|s| key.ends_with(s))
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` and `%XX`).
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Path` whose rejections answer 400 in our error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

impl<T, S> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::bad_request("invalid_path", rejection.body_text())
}

/// Answers routes that do not exist.
pub async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("route_not_found", "No such route").with_value(uri.path().to_owned())
}

/// Answers known routes called with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This route does not answer that method",
    )
    .with_value(method.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn internal_and_upstream_errors_hide_the_library_text() {
        let internal = ApiError::internal(
            anyhow::anyhow!("disk I/O error: /var/lib/secret.db").context("sqlx pool"),
        )
        .into_response();
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(internal).await;
        assert_eq!(body["code"], "internal_error");
        assert_eq!(body["statusCode"], 500);
        assert!(!body.to_string().contains("secret.db"), "{body}");
        assert!(!body.to_string().contains("sqlx"), "{body}");
        let id = body["errorId"].as_str().expect("errorId").to_owned();
        assert_eq!(id.len(), 16);

        let upstream =
            ApiError::upstream("iq error 500: internal-server-error (xmlns usync)").into_response();
        assert_eq!(upstream.status(), StatusCode::BAD_GATEWAY);
        let body = body_of(upstream).await;
        assert_eq!(body["code"], "whatsapp_error");
        assert!(!body.to_string().contains("usync"), "{body}");
        assert_ne!(body["errorId"], id, "every error has its own id");
    }

    #[tokio::test]
    async fn a_handler_failing_answers_a_fixed_500_over_the_router() {
        let app = Router::new().route(
            "/boom",
            get(|| async {
                Err::<(), ApiError>(anyhow::anyhow!("constraint failed: UNIQUE contacts.pk").into())
            }),
        );
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response).await;
        assert_eq!(
            body["message"],
            "Something went wrong on our side; the server log has the details"
        );
        assert!(!body.to_string().contains("UNIQUE"), "{body}");
    }

    #[test]
    fn credentials_are_recognized_in_any_spelling() {
        for key in [
            "access_token",
            "api_key",
            "apikey",
            "token",
            "key",
            "Api-Key",
            "X-API-KEY",
            "secret",
        ] {
            assert!(is_credential(key), "{key}");
        }
        for key in ["limit", "session", "instance_id", "contactId", "sortBy"] {
            assert!(!is_credential(key), "{key}");
        }
        assert_eq!(form_decode("access%5Ftoken"), "access_token");
        assert_eq!(form_decode("a+b%2"), "a b%2");
    }
}
