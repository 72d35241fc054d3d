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

/// The ban guard's rules for number checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckPolicy {
    /// How long a "yes, on WhatsApp" answer is served from the cache.
    pub positive_ttl: Duration,
    /// How long a "not on WhatsApp" answer is served from the cache.
    pub negative_ttl: Duration,
    /// A forced re-check within this time of the last check answers from the cache.
    pub cooldown: Duration,
    /// Uncached numbers a session may look up per rolling hour.
    pub budget_per_hour: u32,
    /// How long the batcher waits for more numbers before it sends a query.
    pub batch_window: Duration,
    /// Most numbers in one usync query (their country variants ride along).
    pub batch_size: usize,
    /// Pause after WhatsApp's 429 when it sent no backoff of its own.
    pub rate_limit_pause: Duration,
    /// The budget's rolling window: an hour (tests shorten it).
    pub budget_window: Duration,
}

impl Default for CheckPolicy {
    fn default() -> Self {
        Self {
            positive_ttl: Duration::from_secs(7 * 24 * 3600),
            negative_ttl: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(3600),
            budget_per_hour: 200,
            batch_window: Duration::from_millis(20),
            batch_size: 500,
            rate_limit_pause: Duration::from_secs(60),
            budget_window: Duration::from_secs(3600),
        }
    }
}

impl CheckPolicy {
    /// Whether a check made at `checked_ms` answers a request at `now_ms`: a normal
    /// request while the answer is younger than its TTL (7 d positive, 24 h negative),
    /// a forced one only inside the cooldown.
    pub fn serves(&self, exists: bool, checked_ms: i64, now_ms: i64, force: bool) -> bool {
        let age = now_ms.saturating_sub(checked_ms);
        let limit = if force {
            self.cooldown
        } else if exists {
            self.positive_ttl
        } else {
            self.negative_ttl
        };
        age < limit.as_millis() as i64
    }
}

/// Lookups spent in the last window (an hour): a rolling window of (time, count) entries.
#[derive(Debug, Clone)]
pub struct Budget {
    spent: std::collections::VecDeque<(i64, u32)>,
    window_ms: i64,
}

/// The budget's default window.
const HOUR_MS: i64 = 3_600_000;

impl Default for Budget {
    fn default() -> Self {
        Self::with_window(Duration::from_millis(HOUR_MS as u64))
    }
}

impl Budget {
    /// A budget whose lookups count for `window` (an hour in production).
    pub fn with_window(window: Duration) -> Self {
        Self {
            spent: Default::default(),
            window_ms: (window.as_millis() as i64).max(1),
        }
    }

    /// A budget that already spent one lookup at each of `spent` (Unix ms, oldest
    /// first): what a restart reads back from the cache.
    pub fn with_spent(window: Duration, spent: &[i64]) -> Self {
        let mut budget = Self::with_window(window);
        for &at in spent {
            match budget.spent.back_mut() {
                Some((last, n)) if *last == at => *n += 1,
                _ => budget.spent.push_back((at, 1)),
            }
        }
        budget
    }

    fn expire(&mut self, now_ms: i64) {
        while self
            .spent
            .front()
            .is_some_and(|(at, _)| now_ms - at >= self.window_ms)
        {
            self.spent.pop_front();
        }
    }

    /// Lookups left of `limit` at `now_ms`.
    pub fn remaining(&mut self, now_ms: i64, limit: u32) -> u32 {
        self.expire(now_ms);
        let used: u32 = self.spent.iter().map(|(_, n)| n).sum();
        limit.saturating_sub(used)
    }

    /// Spends `n` lookups if all fit; else the seconds until they would fit (`None`
    /// when they never fit: more than the whole limit).
    pub fn try_spend(&mut self, now_ms: i64, n: u32, limit: u32) -> Result<(), Option<u32>> {
        if n == 0 {
            return Ok(());
        }
        if n > limit {
            return Err(None);
        }
        if self.remaining(now_ms, limit) >= n {
            self.spent.push_back((now_ms, n));
            return Ok(());
        }
        // The oldest entries free up first: wait until enough of them have.
        let mut freed = self.remaining(now_ms, limit);
        for (at, count) in &self.spent {
            freed += count;
            if freed >= n {
                let wait_ms = (at + self.window_ms - now_ms).max(0);
                return Err(Some(((wait_ms + 999) / 1000) as u32));
            }
        }
        Err(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_cache_ttls_and_cooldown() {
        let p = CheckPolicy::default();
        let ms = |d: Duration| d.as_millis() as i64;
        assert!(p.serves(true, 0, ms(p.positive_ttl) - 1, false));
        assert!(!p.serves(true, 0, ms(p.positive_ttl), false));
        assert!(p.serves(false, 0, ms(p.negative_ttl) - 1, false));
        assert!(!p.serves(false, 0, ms(p.negative_ttl), false));
        assert!(
            p.serves(true, 0, ms(p.cooldown) - 1, true),
            "forced inside the cooldown"
        );
        assert!(!p.serves(true, 0, ms(p.cooldown), true), "forced after it");
    }

    #[test]
    fn budget_rolls_over_an_hour() {
        let mut b = Budget::default();
        assert_eq!(b.try_spend(0, 150, 200), Ok(()));
        assert_eq!(b.try_spend(1_000, 40, 200), Ok(()));
        assert_eq!(b.remaining(1_000, 200), 10);
        // 20 more fit once the first 150 leave the window, an hour after t=0.
        assert_eq!(b.try_spend(2_000, 20, 200), Err(Some(3598)));
        assert_eq!(b.try_spend(3_600_000 - 1, 20, 200), Err(Some(1)));
        assert_eq!(b.try_spend(3_600_000, 20, 200), Ok(()));
        assert_eq!(b.remaining(3_600_000, 200), 140);
        assert_eq!(b.try_spend(3_600_000, 201, 200), Err(None), "never fits");
    }

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
