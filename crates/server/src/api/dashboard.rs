//! The dashboard: one web page at `/dashboard` with its script and style, embedded in
//! the binary (no build step, no separate web server). The page holds no data: it
//! asks for the API key once, keeps it in the tab's sessionStorage and calls the API
//! with it, so the page and its assets are public routes. A strict Content Security
//! Policy allows only our own script and style (no inline code), calls to this origin,
//! and pictures from this origin, `data:`/`blob:` (the QR code) and `https:`
//! (WhatsApp's picture CDN). `GET /` from a browser (`Accept: text/html`) is sent to
//! the page; API clients keep getting what they got before.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// Where the page lives.
pub const PATH: &str = "/dashboard";
/// The page's paths, all public (see `auth`).
pub const PUBLIC_PATHS: &[&str] = &[PATH, "/dashboard/app.js", "/dashboard/style.css"];

/// The Content-Security-Policy of every dashboard answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: https:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../../dashboard/index.html");
const APP_JS: &str = include_str!("../../dashboard/app.js");
const STYLE_CSS: &str = include_str!("../../dashboard/style.css");

/// The page and its assets.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(script))
        .routes(routes!(style))
}

/// An embedded asset with the page's security headers; revalidated on every load so an
/// upgraded server never runs an old script.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The dashboard page (it asks for the API key; it holds no data itself).
#[utoipa::path(get, path = "/dashboard", tag = "dashboard",
    responses((status = 200, description = "The dashboard page", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The dashboard's script.
#[utoipa::path(get, path = "/dashboard/app.js", tag = "dashboard",
    responses((status = 200, description = "The dashboard's script", content_type = "text/javascript", body = String)))]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// The dashboard's style sheet.
#[utoipa::path(get, path = "/dashboard/style.css", tag = "dashboard",
    responses((status = 200, description = "The dashboard's style sheet", content_type = "text/css", body = String)))]
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// Middleware: `GET /` (or `HEAD /`) from a browser, which asks for `text/html`, is
/// redirected to the dashboard (303). Anything else passes through unchanged, so an
/// API client calling `/` gets the same answer as before (401 without the key, else
/// 404 `route_not_found`).
pub async fn redirect_browsers(request: Request, next: Next) -> Response {
    let browser = request.uri().path() == "/"
        && matches!(*request.method(), Method::GET | Method::HEAD)
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if !browser {
        return next.run(request).await;
    }
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static(PATH))],
    )
        .into_response()
}
