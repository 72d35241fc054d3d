//! Counters the anti-ban tests read (`GET /admin/stats`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub accounts: BTreeMap<String, AccountStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountStats {
    /// IQs received, by xmlns.
    pub iq: BTreeMap<String, u64>,
    /// IQs answered `501 feature-not-implemented` (wasim, like WhatsApp, does not know
    /// them), by xmlns.
    #[serde(default)]
    pub unsupported: BTreeMap<String, u64>,
    /// Users asked about in usync queries (sum over queries).
    pub usync_users: u64,
    /// App-state snapshots served (first syncs that asked for one).
    #[serde(default)]
    pub snapshots: u64,
}

/// Distinct namespaces counted per map; the rest are counted under [`OTHER`], so a
/// client sending random namespaces cannot grow wasim's memory.
pub const MAX_NAMESPACES: usize = 64;

/// The key that counts namespaces beyond [`MAX_NAMESPACES`].
pub const OTHER: &str = "(other)";

/// Counts one under `key`, or under [`OTHER`] once the map is full.
pub(crate) fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
        return;
    }
    let key = if map.len() < MAX_NAMESPACES - 1 {
        key
    } else {
        OTHER
    };
    *map.entry(key.to_string()).or_default() += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_namespaces_are_bounded() {
        let mut m = BTreeMap::new();
        for i in 0..1000 {
            bump(&mut m, &format!("ns{i}"));
        }
        bump(&mut m, "ns0");
        assert_eq!(m.len(), MAX_NAMESPACES);
        assert_eq!(m["ns0"], 2);
        assert_eq!(m[OTHER], 1000 - (MAX_NAMESPACES as u64 - 1));
    }
}
