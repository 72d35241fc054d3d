//! The JSON admin API (`/admin/...`), mountable anywhere.

use crate::Wasim;
use crate::directory::{AddressBookContact, UserEvent, UsersBody};
use crate::faults::Fault;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

/// The admin routes, relative (`/users`, `/scan-qr`, ...): nest them under `/admin`
/// (as [`crate::router`] does) or anywhere else.
pub fn admin_router(handle: Wasim) -> Router {
    Router::new()
        .route("/users", post(upsert_users).get(list_users))
        .route("/scan-qr", post(scan_qr))
        .route("/pair-code", post(pair_code))
        .route("/accounts", get(accounts))
        .route("/accounts/{phone}/contacts", post(add_contact))
        .route("/users/{phone}/events", post(push_event))
        .route("/faults", post(fault))
        .route("/stats", get(stats))
        .with_state(handle)
}

fn bad(e: anyhow::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": e.to_string()})),
    )
        .into_response()
}

fn reply(r: anyhow::Result<()>) -> Response {
    match r {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => bad(e),
    }
}

async fn upsert_users(State(h): State<Wasim>, Json(body): Json<UsersBody>) -> Response {
    let n = body.users.len();
    match h.upsert_users(body.users).await {
        Ok(()) => Json(json!({"ok": true, "upserted": n})).into_response(),
        Err(e) => bad(e),
    }
}

async fn list_users(State(h): State<Wasim>) -> Response {
    Json(json!({"users": h.users().await})).into_response()
}

#[derive(Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

async fn scan_qr(State(h): State<Wasim>, Query(q): Query<AccountQuery>, body: String) -> Response {
    // The raw QR string; a JSON string or `{"qr": ..., "account": ...}` is accepted too.
    let mut qr = body.trim().to_string();
    let mut account = q.account;
    if qr.starts_with('{') || qr.starts_with('"') {
        match serde_json::from_str::<serde_json::Value>(&qr) {
            Ok(serde_json::Value::String(s)) => qr = s,
            Ok(v) => {
                if let Some(s) = v.get("qr").and_then(|s| s.as_str()) {
                    qr = s.to_string();
                }
                if account.is_none() {
                    account = v
                        .get("account")
                        .and_then(|s| s.as_str())
                        .map(str::to_string);
                }
            }
            Err(_) => {}
        }
    }
    reply(h.scan_qr(&qr, account.as_deref()).await)
}

#[derive(Deserialize)]
struct PairCodeBody {
    account: String,
    code: String,
}

async fn pair_code(State(h): State<Wasim>, Json(b): Json<PairCodeBody>) -> Response {
    reply(h.pair_code(&b.account, &b.code).await)
}

async fn accounts(State(h): State<Wasim>) -> Response {
    Json(json!({"accounts": h.accounts().await})).into_response()
}

async fn add_contact(
    State(h): State<Wasim>,
    Path(phone): Path<String>,
    Json(c): Json<AddressBookContact>,
) -> Response {
    reply(h.add_contact(&phone, c).await)
}

async fn push_event(
    State(h): State<Wasim>,
    Path(phone): Path<String>,
    Json(ev): Json<UserEvent>,
) -> Response {
    reply(h.push_event(&phone, ev).await)
}

async fn fault(State(h): State<Wasim>, Json(f): Json<Fault>) -> Response {
    reply(h.fault(f).await)
}

async fn stats(State(h): State<Wasim>) -> Response {
    Json(h.stats().await).into_response()
}
