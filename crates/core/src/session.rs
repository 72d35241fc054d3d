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
