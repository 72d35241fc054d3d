//! Session leases: several wacontacts processes ("nodes") share one database and each
//! session runs in exactly one of them, the holder of its lease. A lease is a row
//! (session, holder, expiry) that its holder renews; a node that stops renewing (dead,
//! hung, cut off) loses its sessions to the others once the expiry passes. Every change
//! is a compare-and-set in the store, so no lock service or advisory lock is needed
//! (SQLite works as well as PostgreSQL).
//!
//! The rules here are pure (times are Unix ms passed in): when a lease expires, how
//! often it is renewed, each node's fair share of the sessions, which sessions a node
//! takes or releases, and where a request for a session is answered.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::StoreResult;
use crate::session::SessionName;

/// Whether this process runs a session now (holds its lease): the gate of the
/// per-session background work (webhook delivery, the check queue's worker).
pub type RunsHere = std::sync::Arc<dyn Fn(&SessionName) -> bool + Send + Sync>;

/// Default lease lifetime: a dead node's sessions are taken over within
/// `ttl + renew period` (20 s), plus the login.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15);
/// Shortest lease lifetime accepted: below it, a database hiccup or a GC pause of
/// a second would make healthy nodes lose their sessions.
pub const MIN_TTL: Duration = Duration::from_secs(3);
/// Longest lease lifetime accepted (a takeover would take over five minutes).
pub const MAX_TTL: Duration = Duration::from_secs(300);

/// A node's id: 1 to 64 characters of `A-Z a-z 0-9 . _ -` (it goes in the database,
/// logs and `/health`; never a phone number or a secret).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

impl NodeId {
    /// Parses an id; the error says which rule it breaks.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 64 {
            return Err("a node id has 1 to 64 characters".into());
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err("a node id has only letters, digits, '.', '_' and '-'".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// An id made of any text (a host name) and a suffix, with characters outside the
    /// alphabet replaced by `-` and the text cut so the whole fits in 64 characters.
    pub fn sanitized(text: &str, suffix: &str) -> Self {
        let mut base: String = text
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if base.is_empty() {
            base = "node".into();
        }
        base.truncate(63usize.saturating_sub(suffix.len()).max(1));
        Self(format!("{base}-{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Timings of leases and heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// How long a lease (and a node's heartbeat) counts after its last renewal.
    pub ttl: Duration,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        Self { ttl: DEFAULT_TTL }
    }
}

impl LeasePolicy {
    /// A policy with `ttl`, which must lie in [`MIN_TTL`, `MAX_TTL`].
    pub fn new(ttl: Duration) -> Result<Self, String> {
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(format!(
                "the lease TTL must be between {} and {} seconds",
                MIN_TTL.as_secs(),
                MAX_TTL.as_secs()
            ));
        }
        Ok(Self { ttl })
    }

    /// How often a node renews its leases and heartbeat, and rebalances: a third of
    /// the TTL, so two renewals may fail before a lease lapses.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// The expiry of a lease renewed at `now_ms`.
    pub fn expiry(&self, now_ms: i64) -> i64 {
        now_ms + self.ttl.as_millis() as i64
    }

    /// Nodes whose heartbeat is later than this are live.
    pub fn live_after(&self, now_ms: i64) -> i64 {
        now_ms - self.ttl.as_millis() as i64
    }
}

/// A node as the registry has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: NodeId,
    /// How other nodes reach it (`http://host:port`, no trailing slash).
    pub url: String,
    /// Its last heartbeat, Unix ms.
    pub heartbeat_ms: i64,
}

/// A session with its lease, as the balancing reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub session: SessionName,
    /// The user wants it running (it is started by whoever holds it).
    pub wanted: bool,
    /// The node holding it, if any (`None`: never leased, or released).
    pub holder: Option<NodeId>,
    /// Unix ms after which the lease is void unless renewed.
    pub expires_ms: i64,
}

impl LeaseRow {
    /// Held by someone whose lease has not expired at `now_ms`.
    pub fn is_held(&self, now_ms: i64) -> bool {
        self.holder.is_some() && self.expires_ms > now_ms
    }
}

/// One session's lease with its holder's registry entry, for routing a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLease {
    pub wanted: bool,
    pub holder: Option<NodeInfo>,
    pub expires_ms: i64,
}

/// Where a request for a session is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Here: this node holds the session, may take it (nobody holds it, or the
    /// lease expired), or there is no such session.
    Local,
    /// At the holder, a live node that is not this one.
    Remote(NodeInfo),
    /// Its holder stopped answering but its lease has not expired yet: a takeover
    /// is under way.
    Unavailable,
}

/// Where a request for a session with `lease` (`None`: no such session) is answered
/// by node `me` at `now_ms`.
pub fn route(
    me: &NodeId,
    now_ms: i64,
    policy: &LeasePolicy,
    lease: Option<&SessionLease>,
) -> Route {
    let Some(lease) = lease else {
        return Route::Local;
    };
    match &lease.holder {
        Some(holder) if &holder.id != me && lease.expires_ms > now_ms => {
            if holder.heartbeat_ms > policy.live_after(now_ms) {
                Route::Remote(holder.clone())
            } else {
                Route::Unavailable
            }
        }
        _ => Route::Local,
    }
}

/// Each live node's fair share of `sessions`: ceil(sessions / nodes), so that the
/// shares cover every session and no node waits for another to go below it.
pub fn fair_share(sessions: usize, live_nodes: usize) -> usize {
    sessions.div_ceil(live_nodes.max(1))
}

/// What a node does after one look at the leases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Free or expired sessions to try to take (compare-and-set; another node may win).
    pub take: Vec<SessionName>,
    /// Held sessions to stop here and hand back.
    pub release: Vec<SessionName>,
}

/// Which sessions node `me` takes or releases, given every session's lease `rows`,
/// the ids of the live nodes (`me` counts as live) and `busy`, the sessions it holds
/// that must not move now (linking: a QR code on someone's screen, or starting).
///
/// Every session has a holder, running or not (the holder also delivers a stopped
/// session's webhooks and answers its requests). Running and stopped sessions are
/// shared out separately, so that the running ones (the load) are spread evenly:
/// above its fair share of a kind a node releases the extras (not busy ones, last by
/// name); below it, it takes free or expired ones, starting at a place that depends on
/// its id so that nodes racing for the same sessions mostly pick different ones.
pub fn plan(
    me: &NodeId,
    now_ms: i64,
    live: &HashSet<NodeId>,
    rows: &[LeaseRow],
    busy: &dyn Fn(&SessionName) -> bool,
) -> Plan {
    let nodes = live.len() + usize::from(!live.contains(me));
    let mut plan = Plan::default();
    for wanted in [true, false] {
        let kind: Vec<&LeaseRow> = rows.iter().filter(|r| r.wanted == wanted).collect();
        plan_kind(me, now_ms, nodes, &kind, busy, &mut plan);
    }
    plan
}

fn plan_kind(
    me: &NodeId,
    now_ms: i64,
    nodes: usize,
    rows: &[&LeaseRow],
    busy: &dyn Fn(&SessionName) -> bool,
    plan: &mut Plan,
) {
    let share = fair_share(rows.len(), nodes);
    let mut mine: Vec<&SessionName> = rows
        .iter()
        .filter(|r| r.holder.as_ref() == Some(me) && r.expires_ms > now_ms)
        .map(|r| &r.session)
        .collect();
    mine.sort();
    if mine.len() > share {
        let extra = mine.len() - share;
        plan.release.extend(
            mine.iter()
                .rev()
                .filter(|s| !busy(s))
                .take(extra)
                .map(|s| (*s).clone()),
        );
    } else if mine.len() < share {
        let mut free: Vec<&SessionName> = rows
            .iter()
            .filter(|r| !r.is_held(now_ms))
            .map(|r| &r.session)
            .collect();
        free.sort();
        if !free.is_empty() {
            let start = spread(me) % free.len();
            free.rotate_left(start);
        }
        plan.take
            .extend(free.into_iter().take(share - mine.len()).cloned());
    }
}

/// A number that differs between node ids (FNV-1a), stable across runs.
fn spread(me: &NodeId) -> usize {
    me.as_str().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) as usize
}

/// The leases and the node registry, in the shared database. Every write is one
/// atomic statement: a compare-and-set, so two nodes never both think they won.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Records `node`'s heartbeat at `now_ms`, its advertised `url` and `incarnation`
    /// (this process's token), unless another incarnation of `node` beat later than
    /// `live_after_ms`: then nothing is written and the answer is `false` (another live
    /// process runs under this node id).
    async fn heartbeat(
        &self,
        node: &NodeId,
        incarnation: &str,
        url: &str,
        now_ms: i64,
        live_after_ms: i64,
    ) -> StoreResult<bool>;
    /// Nodes whose last heartbeat is later than `after_ms`.
    async fn live_nodes(&self, after_ms: i64) -> StoreResult<Vec<NodeInfo>>;
    /// Removes registry entries whose heartbeat is older than `before_ms` (nodes gone for good).
    async fn forget_nodes(&self, before_ms: i64) -> StoreResult<u64>;
    /// Every session with its lease (holder `None` and expiry 0 when never leased).
    async fn lease_rows(&self) -> StoreResult<Vec<LeaseRow>>;
    /// One session's lease and holder (`None` when the session does not exist).
    async fn session_lease(&self, session: &SessionName) -> StoreResult<Option<SessionLease>>;
    /// Takes `session` for `node` until `expires_ms` if it is free, expired at `now_ms`
    /// or already `node`'s; `false` when another node holds it or the session is gone.
    async fn acquire(
        &self,
        session: &SessionName,
        node: &NodeId,
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<bool>;
    /// Extends every lease `node` holds to `expires_ms`; returns the sessions it holds.
    async fn renew(&self, node: &NodeId, expires_ms: i64) -> StoreResult<Vec<SessionName>>;
    /// Hands `session` back if `node` holds it; `false` when it did not.
    async fn release(&self, session: &SessionName, node: &NodeId) -> StoreResult<bool>;
    /// Hands back every lease of `node` and removes it from the registry (clean shutdown).
    async fn leave(&self, node: &NodeId) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(s: &str) -> NodeId {
        NodeId::parse(s).unwrap()
    }

    fn name(s: &str) -> SessionName {
        SessionName::parse(s).unwrap()
    }

    fn row(s: &str, wanted: bool, holder: Option<&str>, expires_ms: i64) -> LeaseRow {
        LeaseRow {
            session: name(s),
            wanted,
            holder: holder.map(node),
            expires_ms,
        }
    }

    fn live(ids: &[&str]) -> HashSet<NodeId> {
        ids.iter().map(|s| node(s)).collect()
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn node_ids_keep_to_their_alphabet() {
        assert!(NodeId::parse("web-1.eu_a").is_ok());
        assert!(NodeId::parse("").is_err());
        assert!(NodeId::parse("a b").is_err());
        assert!(NodeId::parse(&"x".repeat(65)).is_err());
        let id = NodeId::sanitized("my host\n", "ab12");
        assert_eq!(id.as_str(), "my-host-ab12");
        assert!(NodeId::parse(NodeId::sanitized(&"h".repeat(100), "ab12").as_str()).is_ok());
        assert_eq!(NodeId::sanitized("", "x").as_str(), "node-x");
    }

    #[test]
    fn ttl_is_bounded_and_renewal_is_a_third() {
        assert!(LeasePolicy::new(Duration::from_secs(1)).is_err());
        assert!(LeasePolicy::new(Duration::from_secs(301)).is_err());
        let p = LeasePolicy::default();
        assert_eq!(p.renew_every(), Duration::from_secs(5));
        assert_eq!(p.expiry(NOW), NOW + 15_000);
        // A dead holder's sessions are free after at most ttl + one period: < 30 s.
        assert!(p.ttl + p.renew_every() < Duration::from_secs(30));
    }

    #[test]
    fn fair_share_rounds_up() {
        assert_eq!(fair_share(20, 2), 10);
        assert_eq!(fair_share(21, 2), 11);
        assert_eq!(fair_share(3, 0), 3);
        assert_eq!(fair_share(0, 3), 0);
    }

    #[test]
    fn a_lone_node_takes_every_session() {
        let rows = vec![
            row("a", true, None, 0),
            row("b", true, Some("dead"), NOW - 1),
            row("c", false, None, 0),
        ];
        let p = plan(&node("n1"), NOW, &live(&["n1"]), &rows, &|_| false);
        let mut take = p.take;
        take.sort();
        assert_eq!(take, vec![name("a"), name("b"), name("c")]);
        assert!(p.release.is_empty());
    }

    #[test]
    fn unexpired_leases_of_others_are_not_taken() {
        let rows = vec![row("a", true, Some("n2"), NOW + 1)];
        let p = plan(&node("n1"), NOW, &live(&["n1"]), &rows, &|_| false);
        assert!(p.take.is_empty(), "n2's lease is valid until it expires");
    }

    #[test]
    fn above_fair_share_the_extras_are_released_but_not_busy_ones() {
        let rows: Vec<LeaseRow> = (0..4)
            .map(|i| row(&format!("s{i}"), true, Some("n1"), NOW + 5))
            .collect();
        let p = plan(&node("n1"), NOW, &live(&["n1", "n2"]), &rows, &|_| false);
        assert_eq!(p.release, vec![name("s3"), name("s2")]);
        assert!(p.take.is_empty());
        let p = plan(&node("n1"), NOW, &live(&["n1", "n2"]), &rows, &|s| {
            s.as_str() == "s3"
        });
        assert_eq!(p.release, vec![name("s2"), name("s1")]);
    }

    #[test]
    fn below_fair_share_free_sessions_are_taken_up_to_the_share() {
        let mut rows: Vec<LeaseRow> = (0..5)
            .map(|i| row(&format!("s{i}"), true, Some("n2"), NOW + 5))
            .collect();
        rows.extend((5..10).map(|i| row(&format!("s{i}"), true, None, 0)));
        let p = plan(&node("n1"), NOW, &live(&["n1", "n2"]), &rows, &|_| false);
        assert_eq!(p.take.len(), 5);
        assert!(p.take.iter().all(|s| s.as_str() >= "s5"));
        // At its share, a node takes nothing more.
        let held: Vec<LeaseRow> = rows
            .iter()
            .map(|r| LeaseRow {
                holder: Some(r.holder.clone().unwrap_or_else(|| node("n1"))),
                expires_ms: NOW + 5,
                ..r.clone()
            })
            .collect();
        let p = plan(&node("n1"), NOW, &live(&["n1", "n2"]), &held, &|_| false);
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn running_and_stopped_sessions_are_shared_out_separately() {
        // n1 holds both running sessions, n2 both stopped ones: each gives one away.
        let rows = vec![
            row("r1", true, Some("n1"), NOW + 5),
            row("r2", true, Some("n1"), NOW + 5),
            row("s1", false, Some("n2"), NOW + 5),
            row("s2", false, Some("n2"), NOW + 5),
        ];
        let p = plan(&node("n1"), NOW, &live(&["n1", "n2"]), &rows, &|_| false);
        assert_eq!(p.release, vec![name("r2")]);
        assert!(p.take.is_empty(), "n2's stopped sessions are validly held");
        // A lone node holds stopped sessions too (it answers for them).
        let rows = vec![row("s1", false, None, 0)];
        let p = plan(&node("n1"), NOW, &live(&["n1"]), &rows, &|_| false);
        assert_eq!(p.take, vec![name("s1")]);
    }

    #[test]
    fn two_nodes_split_twenty_sessions_without_moving_any_twice() {
        // Both start empty; each plans, takes what it planned if still free.
        let mut rows: Vec<LeaseRow> = (0..20)
            .map(|i| row(&format!("s{i:02}"), true, None, 0))
            .collect();
        let nodes = live(&["a", "b"]);
        for _ in 0..3 {
            for me in ["a", "b"] {
                let p = plan(&node(me), NOW, &nodes, &rows, &|_| false);
                for s in p.take {
                    let r = rows.iter_mut().find(|r| r.session == s).unwrap();
                    if !r.is_held(NOW) {
                        r.holder = Some(node(me));
                        r.expires_ms = NOW + 5;
                    }
                }
                assert!(p.release.is_empty(), "no churn once shared");
            }
        }
        let count = |me: &str| {
            rows.iter()
                .filter(|r| r.holder.as_ref() == Some(&node(me)))
                .count()
        };
        assert_eq!((count("a"), count("b")), (10, 10));
    }

    #[test]
    fn requests_go_to_the_live_holder_or_wait_for_a_takeover() {
        let p = LeasePolicy::default();
        let me = node("n1");
        let other = NodeInfo {
            id: node("n2"),
            url: "http://n2:3000".into(),
            heartbeat_ms: NOW - 1_000,
        };
        let lease = |holder: Option<NodeInfo>, expires_ms, wanted| SessionLease {
            wanted,
            holder,
            expires_ms,
        };
        assert_eq!(route(&me, NOW, &p, None), Route::Local);
        assert_eq!(
            route(
                &me,
                NOW,
                &p,
                Some(&lease(Some(other.clone()), NOW + 9, true))
            ),
            Route::Remote(other.clone())
        );
        let mine = NodeInfo {
            id: me.clone(),
            ..other.clone()
        };
        assert_eq!(
            route(&me, NOW, &p, Some(&lease(Some(mine), NOW + 9, true))),
            Route::Local
        );
        assert_eq!(
            route(
                &me,
                NOW,
                &p,
                Some(&lease(Some(other.clone()), NOW - 1, true))
            ),
            Route::Local
        );
        // A holder whose heartbeat stopped, lease not expired yet: wait for the takeover.
        let silent = NodeInfo {
            heartbeat_ms: NOW - 20_000,
            ..other.clone()
        };
        assert_eq!(
            route(&me, NOW, &p, Some(&lease(Some(silent), NOW + 9, true))),
            Route::Unavailable
        );
        // Nobody holds it, or its lease expired: this node may take it.
        assert_eq!(
            route(&me, NOW, &p, Some(&lease(None, 0, true))),
            Route::Local
        );
    }
}
