//! The product's time rules, pure: cache lifetimes and how long a caller waits for a
//! starting session. Times are Unix milliseconds from an injected [`crate::ports::Clock`].

use std::time::Duration;

/// The time rules of the contact and session services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a fetched "about" text or picture URL is served from the store.
    pub profile_ttl: Duration,
    /// How long a contact call waits for a STARTING session before giving up.
    pub starting_patience: Duration,
    /// How often a waiting call looks at the session again.
    pub starting_poll: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            profile_ttl: Duration::from_secs(24 * 60 * 60),
            starting_patience: Duration::from_secs(5),
            starting_poll: Duration::from_millis(100),
        }
    }
}

impl Policy {
    /// Whether something fetched at `fetched_ms` may still be served at `now_ms`:
    /// strictly younger than the profile TTL. Never fetched is never fresh; a
    /// fetch time in the future (clock moved back) counts as fresh.
    pub fn profile_fresh(&self, fetched_ms: Option<i64>, now_ms: i64) -> bool {
        fetched_ms.is_some_and(|t| now_ms.saturating_sub(t) < self.profile_ttl.as_millis() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_cache_boundary() {
        let p = Policy::default();
        let ttl = p.profile_ttl.as_millis() as i64;
        assert!(p.profile_fresh(Some(1_000), 1_000 + ttl - 1));
        assert!(!p.profile_fresh(Some(1_000), 1_000 + ttl));
        assert!(!p.profile_fresh(None, 0));
        assert!(p.profile_fresh(Some(5_000), 1_000));
    }
}
