//! Liveness and readiness: `/ping`, `/health`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppJson;
use crate::state::AppState;

/// Answer of `GET /ping`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pong {
    /// Always "pong".
    pub message: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/ping", tag = "health",
    responses((status = 200, body = Pong)))]
pub async fn ping() -> AppJson<Pong> {
    AppJson(Pong {
        message: "pong".into(),
    })
}

/// Health of one part.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartHealth {
    /// "ok" or "error".
    pub status: String,
    /// Why it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A session's status, as reported by `/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionHealth {
    pub name: String,
    /// STOPPED, STARTING, SCAN_QR_CODE, WORKING or FAILED.
    pub status: String,
}

/// Answer of `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// "ok" when every part is ok, else "error".
    pub status: String,
    pub database: PartHealth,
    pub sessions: Vec<SessionHealth>,
}

/// Readiness: the database and each session's status; 503 when the database fails.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, AppJson<Health>) {
    let (database, sessions) = match state.sessions.list(true).await {
        Ok(list) => (
            PartHealth {
                status: "ok".into(),
                error: None,
            },
            list.into_iter()
                .map(|s| SessionHealth {
                    name: s.record.name.to_string(),
                    status: s.status.as_str().into(),
                })
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "health check: database failed");
            (
                PartHealth {
                    status: "error".into(),
                    error: Some("database query failed".into()),
                },
                Vec::new(),
            )
        }
    };
    let ok = database.status == "ok";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        AppJson(Health {
            status: if ok { "ok" } else { "error" }.into(),
            database,
            sessions,
        }),
    )
}
