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
    /// Users asked about in usync queries (sum over queries).
    pub usync_users: u64,
}
