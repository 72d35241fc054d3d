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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json_shapes() {
        let f: Fault = serde_json::from_str(r#"{"kind": "usyncRateLimit", "count": 2}"#).unwrap();
        assert_eq!(
            f,
            Fault::UsyncRateLimit {
                count: Some(2),
                account: None
            }
        );
        let f: Fault =
            serde_json::from_str(r#"{"kind": "delay", "ms": 100, "account": "1"}"#).unwrap();
        assert_eq!(
            f,
            Fault::Delay {
                ms: 100,
                account: Some("1".into())
            }
        );
        let f: Fault = serde_json::from_str(r#"{"kind": "drop"}"#).unwrap();
        assert_eq!(f, Fault::Drop { account: None });
        let f: Fault = serde_json::from_str(r#"{"kind": "logout", "account": "1"}"#).unwrap();
        assert_eq!(
            f,
            Fault::Logout {
                account: "1".into(),
                device: None
            }
        );
        let f: Fault = serde_json::from_str(r#"{"kind": "clear"}"#).unwrap();
        assert_eq!(f, Fault::Clear);
    }
}
