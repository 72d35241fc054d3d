//! Sessions: one linked WhatsApp account each, named by the user.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name used when a route omits the session.
pub const DEFAULT_SESSION: &str = "default";

/// A session's name: 1–64 characters of `[A-Za-z0-9_-]`, so it is safe in paths,
/// file names and log lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SessionName(String);

/// Why a string is not a session name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionNameError {
    #[error("session name must not be empty")]
    Empty,
    #[error("session name is longer than 64 characters")]
    TooLong,
    #[error("session name may only contain letters, digits, '_' and '-'")]
    BadCharacter,
}

impl SessionName {
    /// Parses a user-given name. Input: any string; edge cases: empty, over 64
    /// characters and anything outside `[A-Za-z0-9_-]` are errors.
    pub fn parse(input: &str) -> Result<Self, SessionNameError> {
        if input.is_empty() {
            return Err(SessionNameError::Empty);
        }
        if input.len() > 64 {
            return Err(SessionNameError::TooLong);
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(SessionNameError::BadCharacter);
        }
        Ok(Self(input.to_owned()))
    }

    /// The session used when a route names none.
    pub fn default_name() -> Self {
        Self(DEFAULT_SESSION.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SessionName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A session's lifecycle state, spelled as WAHA spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    Stopped,
    Starting,
    ScanQrCode,
    Working,
    Failed,
}

impl SessionStatus {
    /// The WAHA spelling, also the value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "STOPPED",
            Self::Starting => "STARTING",
            Self::ScanQrCode => "SCAN_QR_CODE",
            Self::Working => "WORKING",
            Self::Failed => "FAILED",
        }
    }

    /// Parses the stored spelling; unknown values are `None`.
    pub fn from_str_opt(s: &str) -> Option<Self> {
        Some(match s {
            "STOPPED" => Self::Stopped,
            "STARTING" => Self::Starting,
            "SCAN_QR_CODE" => Self::ScanQrCode,
            "WORKING" => Self::Working,
            "FAILED" => Self::Failed,
            _ => return None,
        })
    }
}

/// The linked account of a session, once it has logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The account's phone number in WAHA's chat-id form, `15551234567@c.us`.
    pub id: String,
    /// The account's own push name (may be empty until WhatsApp sends it).
    pub push_name: String,
    /// The account's LID, `123456789012345@lid`, when known.
    pub lid: Option<String>,
    /// This companion device's full JID, `15551234567:7@s.whatsapp.net`.
    pub jid: String,
}

impl Me {
    /// The account's own phone number, parsed from `id`.
    pub fn phone(&self) -> Option<crate::ids::PhoneNumber> {
        let digits = self.id.split('@').next()?;
        crate::ids::PhoneNumber::parse(digits).ok()
    }
}

/// A session's live state as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// WAHA's lifecycle status.
    pub status: SessionStatus,
    /// Why the session left WORKING or never got there: set with FAILED (e.g.
    /// "logged out from the phone") and with STOPPED after a logout; `None`
    /// otherwise.
    pub reason: Option<String>,
    /// The linked account, once the session has logged in.
    pub me: Option<Me>,
}

impl SessionState {
    /// The state of a session that is not running.
    pub fn stopped() -> Self {
        Self {
            status: SessionStatus::Stopped,
            reason: None,
            me: None,
        }
    }
}

/// A session as stored: what the user created, its config and its last known status.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub name: SessionName,
    /// The user's session config (a JSON object).
    pub config: serde_json::Value,
    pub status: SessionStatus,
    /// Whether the user wants it running (restored on start-up).
    pub desired_running: bool,
    pub failure_reason: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What creating a session needs.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub name: SessionName,
    pub config: serde_json::Value,
}

/// Why a session operation of the engine failed. The HTTP layer maps these to
/// status codes (`NotRunning`/`AlreadyLinked` 409/422, `RateLimited` 429,
/// `Timeout` 504, `Device`/`WhatsApp` 500/502, `ShuttingDown` 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The session is not started (or was stopped) and the operation needs a
    /// running one.
    #[error("session is not running")]
    NotRunning,
    /// A pair code was asked for a session that is already linked to an account.
    #[error("session is already linked to a WhatsApp account")]
    AlreadyLinked,
    /// The phone number given for a pair code is not digits with country code.
    #[error("invalid phone number for a pair code: {0}")]
    InvalidPhone(String),
    /// WhatsApp refused for now (too many requests); try again later.
    #[error("WhatsApp is rate limiting this request")]
    RateLimited,
    /// WhatsApp did not answer in time (or the socket did not come up in time).
    #[error("timed out waiting for WhatsApp")]
    Timeout,
    /// The session's device store could not be opened, written or removed.
    #[error("device store: {0}")]
    Device(String),
    /// WhatsApp (or the connection to it) failed the request.
    #[error("whatsapp: {0}")]
    WhatsApp(String),
    /// The engine is shutting down and takes no new work.
    #[error("engine is shutting down")]
    ShuttingDown,
    /// Another process holds the session's lease (it runs the session there).
    #[error("session is running in another process")]
    Elsewhere,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        assert!(SessionName::parse("default").is_ok());
        assert!(SessionName::parse("a-B_9").is_ok());
        assert!(SessionName::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(SessionName::parse(""), Err(SessionNameError::Empty));
        assert_eq!(
            SessionName::parse(&"x".repeat(65)),
            Err(SessionNameError::TooLong)
        );
        assert_eq!(
            SessionName::parse("a b"),
            Err(SessionNameError::BadCharacter)
        );
        assert_eq!(SessionName::parse("ü"), Err(SessionNameError::BadCharacter));
        assert_eq!(
            SessionName::parse("../x"),
            Err(SessionNameError::BadCharacter)
        );
    }

    #[test]
    fn status_spelling_round_trips() {
        for s in [
            SessionStatus::Stopped,
            SessionStatus::Starting,
            SessionStatus::ScanQrCode,
            SessionStatus::Working,
            SessionStatus::Failed,
        ] {
            assert_eq!(SessionStatus::from_str_opt(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
        }
    }
}
