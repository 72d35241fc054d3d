//! Number checks answered later (On-Prem's `blocking: no_wait`): what is queued,
//! and what the callback receives.

use crate::ids::PhoneNumber;

/// On-Prem's status of one checked number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    /// Not checked yet: the answer comes in a callback.
    Processing,
    /// On WhatsApp.
    Valid,
    /// Not on WhatsApp, or not a number at all.
    Invalid,
    /// The check failed (WhatsApp's error or rate limit, or the session is down).
    Failed,
}

impl CheckStatus {
    /// On-Prem's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Processing => "processing",
            CheckStatus::Valid => "valid",
            CheckStatus::Invalid => "invalid",
            CheckStatus::Failed => "failed",
        }
    }

    /// Parses On-Prem's spelling (as stored).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "processing" => CheckStatus::Processing,
            "valid" => CheckStatus::Valid,
            "invalid" => CheckStatus::Invalid,
            "failed" => CheckStatus::Failed,
            _ => return None,
        })
    }
}

/// One answer in On-Prem's terms: the input as sent, its status and, when valid,
/// the number WhatsApp knows (`wa_id`, digits without `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub input: String,
    pub status: CheckStatus,
    pub wa_id: Option<String>,
}

/// A number waiting in a session's durable queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCheck {
    /// The row's id: the queue's order.
    pub id: i64,
    /// The input as the client sent it (echoed in the callback).
    pub input: String,
    /// The number it normalized to.
    pub phone: PhoneNumber,
    /// Skip the cache (the cooldown still applies).
    pub force: bool,
}
