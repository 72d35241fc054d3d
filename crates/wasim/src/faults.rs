//! Faults on command (`POST /admin/faults`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Fault {
    /// Close the connections of `account` (all when absent) without a word.
    Drop {
        #[serde(default)]
        account: Option<String>,
    },
    /// Delay every answer (IQ results) by `ms` milliseconds; `ms: 0` ends the delay.
    Delay {
        ms: u64,
        #[serde(default)]
        account: Option<String>,
    },
    /// Answer the next `count` usync queries (every one when absent, until `clear`)
    /// with error 429 rate-overlimit.
    UsyncRateLimit {
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        account: Option<String>,
    },
    /// The phone logs the companion out: `<stream:error code="401"/>`, device removed.
    Logout {
        account: String,
        #[serde(default)]
        device: Option<u16>,
    },
    /// End every standing fault (delay, rate limit).
    Clear,
}
