//! Liveness and readiness: `/ping`, `/health`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use wacontacts_core::session::SessionStatus;

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

/// A session's status, as reported by `/health` to callers with the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionHealth {
    pub name: String,
    /// STOPPED, STARTING, SCAN_QR_CODE, WORKING or FAILED.
    pub status: String,
}

/// How many sessions are in each status (every status is present, 0 when none).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct SessionCounts {
    pub total: usize,
    #[serde(rename = "STOPPED")]
    pub stopped: usize,
    #[serde(rename = "STARTING")]
    pub starting: usize,
    #[serde(rename = "SCAN_QR_CODE")]
    pub scan_qr_code: usize,
    #[serde(rename = "WORKING")]
    pub working: usize,
    #[serde(rename = "FAILED")]
    pub failed: usize,
}

impl SessionCounts {
    fn add(&mut self, status: SessionStatus) {
        self.total += 1;
        *match status {
            SessionStatus::Stopped => &mut self.stopped,
            SessionStatus::Starting => &mut self.starting,
            SessionStatus::ScanQrCode => &mut self.scan_qr_code,
            SessionStatus::Working => &mut self.working,
            SessionStatus::Failed => &mut self.failed,
        } += 1;
    }
}

/// This process among those sharing the database.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeHealth {
    /// The node id (`--node-id`).
    pub id: String,
    /// How many sessions this node holds (runs, or answers for when stopped).
    pub sessions: usize,
    /// The URL other nodes forward requests to: only for callers with the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The names of the sessions this node holds: only for callers with the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Vec<String>>,
}

/// Answer of `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// "ok" when every part is ok, else "error".
    pub status: String,
    pub database: PartHealth,
    /// Sessions per status; public.
    pub session_counts: SessionCounts,
    /// Each session's name and status: only for callers that send a valid `X-Api-Key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<SessionHealth>>,
    /// The node that answered and the sessions it holds.
    pub node: NodeHealth,
}

/// Readiness: the database and how many sessions are in each status; with a valid
/// `X-Api-Key`, each session's name and status too. 503 when the database fails.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> (StatusCode, AppJson<Health>) {
    let keyed = headers
        .get("x-api-key")
        .is_some_and(|k| state.api_key.matches(k.as_bytes()));
    let mut counts = SessionCounts::default();
    let (database, sessions) = match state.sessions.list(true).await {
        Ok(list) => {
            list.iter().for_each(|s| counts.add(s.record.status));
            let sessions = keyed.then(|| {
                list.into_iter()
                    .map(|s| SessionHealth {
                        name: s.record.name.to_string(),
                        status: s.record.status.as_str().into(),
                    })
                    .collect()
            });
            (
                PartHealth {
                    status: "ok".into(),
                    error: None,
                },
                sessions,
            )
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "health check: database failed");
            (
                PartHealth {
                    status: "error".into(),
                    error: Some("database query failed".into()),
                },
                keyed.then(Vec::new),
            )
        }
    };
    let leases = state.proxy.leases();
    let held = leases.held();
    let node = NodeHealth {
        id: leases.node_id().to_string(),
        sessions: held.len(),
        url: keyed.then(|| leases.url().to_owned()),
        held: keyed.then(|| held.iter().map(ToString::to_string).collect()),
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
            session_counts: counts,
            sessions,
            node,
        }),
    )
}
