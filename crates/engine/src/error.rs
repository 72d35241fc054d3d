//! Errors of the engine's session operations.

/// Why a session operation failed. The HTTP layer maps these to status codes
/// (suggested: `NotRunning`/`AlreadyLinked` 409/422, `RateLimited` 429,
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
}
