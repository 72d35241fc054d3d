//! Catching up the recorded session statuses after the status recorder fell behind.
//!
//! The engine broadcasts status changes on a bounded channel (1,024 slots). When
//! thousands of sessions change at once (a restore after a restart, a network drop
//! that puts every session in STARTING), the recorder can lag and the channel drops
//! the oldest changes. What is recorded (`/health`'s counts, the status a restart
//! reads) would then stay stale until that session changes again. Instead, after a
//! lag the recorder writes every session's current live status where the recorded
//! one differs. The intermediate statuses it missed are not recorded (nor sent as
//! `session.status` webhooks): only the latest state of each session is.

use wacontacts_core::service::SessionService;
use wacontacts_core::session::SessionState;

/// Records the live status of every session whose recorded status differs; returns
/// how many it wrote. A failing store is logged and the catch-up ends there.
pub async fn record_current(sessions: &SessionService) -> usize {
    let list = match sessions.list(true).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot list sessions to catch up their statuses");
            return 0;
        }
    };
    let mut written = 0;
    for view in list {
        if view.status == view.record.status {
            continue;
        }
        let state = SessionState {
            status: view.status,
            reason: view.reason,
            me: view.me,
        };
        if let Err(e) = sessions.record_status(&view.record.name, &state).await {
            tracing::warn!(error = %format!("{e:#}"), "failed to record a session status");
            return written;
        }
        written += 1;
    }
    written
}
