//! Several processes on one database: this node's leases (see `wacontacts_core::lease`
//! for the rules). Every session, running or not, is held by one live node, which runs
//! its WhatsApp client (when the user wants it running), delivers its webhooks and
//! drains its check queue; the other nodes forward its requests there ([`proxy`]).
//!
//! A loop renews this node's leases and heartbeat every third of the TTL, stops what it
//! lost, and takes or hands back sessions toward its fair share. A node that takes a
//! session logs it in from the device state in the shared database (no scan) and
//! resumes its outbox and queue, whose rows keep their ids: nothing goes out twice under
//! two different ids. A single node with no flags takes every lease: it behaves as one
//! process always did.

pub mod node;
pub mod proxy;
pub mod runtime;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use wacontacts_core::lease::{
    self, LeasePolicy, LeaseStore, NodeId, Route, RunsHere, SessionLease,
};
use wacontacts_core::ports::{StoreResult, unix_now_ms};
use wacontacts_core::service::CheckQueue;
use wacontacts_core::session::{SessionName, SessionStatus};
use wacontacts_engine::Engine;

use crate::webhooks::Dispatcher;

/// Registry entries silent this long are forgotten (nodes replaced, ids regenerated).
const FORGET_NODES_AFTER_MS: i64 = 24 * 3_600_000;

/// This node's leases; cheap to clone.
#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Leases")
    }
}

struct Inner {
    me: NodeId,
    /// This process's token in the registry: tells it from another process given the
    /// same node id.
    incarnation: String,
    url: String,
    policy: LeasePolicy,
    store: Arc<dyn LeaseStore>,
    engine: Engine,
    /// Sessions this node holds (and so runs, delivers for, drains).
    held: RwLock<HashSet<SessionName>>,
    /// Woken when a session comes here.
    followers: OnceLock<(Dispatcher, CheckQueue)>,
    /// Unix ms of the last renewal that succeeded (fencing: past it plus the TTL, this
    /// node cannot know it still holds anything, and stops everything).
    renewed_ms: AtomicU64,
    /// Statements the lease loop has sent (for the README's load figure).
    queries: AtomicU64,
    stopped: AtomicBool,
    /// Held through a round, a claim and [`Leases::leave`]: a round or a claim in
    /// flight when the process stops cannot take a lease after `leave` handed them back
    /// (seen: a session left held by a node gone from the registry, 503 for a TTL).
    changes: tokio::sync::Mutex<()>,
    /// Keeps the data dir's node id ours until [`Leases::leave`] (not until the last
    /// clone goes: the lease loop's may sleep for a renewal period after a stop, and
    /// the next process on this data dir must find the id free).
    identity: std::sync::Mutex<Option<node::Identity>>,
}

impl Leases {
    /// The leases of node `me`, reachable at `url`, kept in `store`, running sessions
    /// on `engine`; `identity` (the node id's lock) is kept for as long. Nothing is held until [`Leases::tick`] runs.
    pub fn new(
        me: NodeId,
        url: String,
        policy: LeasePolicy,
        store: Arc<dyn LeaseStore>,
        engine: Engine,
        identity: node::Identity,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                me,
                incarnation: format!("{:032x}", rand::random::<u128>()),
                url,
                policy,
                store,
                engine,
                held: RwLock::default(),
                followers: OnceLock::new(),
                renewed_ms: AtomicU64::new(0),
                queries: AtomicU64::new(0),
                stopped: AtomicBool::new(false),
                changes: tokio::sync::Mutex::new(()),
                identity: std::sync::Mutex::new(Some(identity)),
            }),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        &self.inner.me
    }

    /// The URL other nodes reach this one at.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The timings in force.
    pub fn policy(&self) -> &LeasePolicy {
        &self.inner.policy
    }

    /// Whether this node holds `session`.
    pub fn holds(&self, session: &SessionName) -> bool {
        self.inner
            .held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(session)
    }

    /// The sessions this node holds, by name.
    pub fn held(&self) -> Vec<SessionName> {
        let mut held: Vec<SessionName> = self
            .inner
            .held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        held.sort();
        held
    }

    /// Statements sent by the lease loop so far.
    pub fn queries(&self) -> u64 {
        self.inner.queries.load(Ordering::Relaxed)
    }

    /// OpenMetrics lines: this node (its id the only label, one per process) and the
    /// sessions it holds, and the lease loop's statements.
    pub fn metrics(&self) -> String {
        format!(
            "# HELP wacontacts_node_sessions Sessions this node holds.\n\
             # TYPE wacontacts_node_sessions gauge\n\
             wacontacts_node_sessions{{node=\"{}\"}} {}\n\
             # HELP wacontacts_lease_queries Database statements sent to keep and share leases.\n\
             # TYPE wacontacts_lease_queries counter\n\
             wacontacts_lease_queries_total {}\n",
            self.inner.me,
            self.held().len(),
            self.queries()
        )
    }

    /// The gate of per-session background work: true for sessions held here.
    pub fn gate(&self) -> RunsHere {
        let this = self.clone();
        Arc::new(move |s: &SessionName| this.holds(s))
    }

    /// The webhook dispatcher and check queue to wake for a session that comes here.
    pub fn follow(&self, webhooks: Dispatcher, queue: CheckQueue) {
        let _ = self.inner.followers.set((webhooks, queue));
    }

    fn counted(&self, n: u64) {
        self.inner.queries.fetch_add(n, Ordering::Relaxed);
    }

    /// Where a request for `session` is answered: here (taking the session first when
    /// nobody holds it, so this node runs it), at its live holder, or nowhere yet
    /// (a takeover is under way).
    pub async fn route(&self, session: &SessionName) -> StoreResult<Route> {
        if self.holds(session) {
            return Ok(Route::Local);
        }
        let found = self.inner.store.session_lease(session).await?;
        let now = unix_now_ms();
        match lease::route(&self.inner.me, now, &self.inner.policy, found.as_ref()) {
            Route::Local => match found {
                // No such session: the handler answers 404 here.
                None => Ok(Route::Local),
                Some(lease) => self.claim_for_request(session, &lease).await,
            },
            other => Ok(other),
        }
    }

    async fn claim_for_request(
        &self,
        session: &SessionName,
        lease: &SessionLease,
    ) -> StoreResult<Route> {
        if self.claim(session).await? {
            if lease.wanted {
                self.start(session);
            }
            return Ok(Route::Local);
        }
        // Another node won the race: ask again where it lives.
        let found = self.inner.store.session_lease(session).await?;
        match lease::route(
            &self.inner.me,
            unix_now_ms(),
            &self.inner.policy,
            found.as_ref(),
        ) {
            Route::Remote(node) => Ok(Route::Remote(node)),
            _ => Ok(Route::Unavailable),
        }
    }

    /// Takes `session` for this node if it is free, expired or already ours, and wakes
    /// its webhook task and queue worker; `false` when another node holds it. The
    /// caller starts the WhatsApp client when it should run.
    pub async fn claim(&self, session: &SessionName) -> StoreResult<bool> {
        if self.holds(session) {
            return Ok(true);
        }
        let _changing = self.inner.changes.lock().await;
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let now = unix_now_ms();
        let won = self
            .inner
            .store
            .acquire(session, &self.inner.me, now, self.inner.policy.expiry(now))
            .await?;
        if won {
            self.adopt(session);
            self.resume_queues().await;
        }
        Ok(won)
    }

    /// Marks `session` held here and wakes its background work.
    fn adopt(&self, session: &SessionName) {
        self.inner
            .held
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session.clone());
        if let Some((webhooks, _)) = self.inner.followers.get() {
            webhooks.wake(session);
        }
    }

    /// Starts the check-queue workers of the sessions held here that have queued
    /// checks (one query, whatever the number of sessions just taken).
    async fn resume_queues(&self) {
        if let Some((_, queue)) = self.inner.followers.get()
            && let Err(e) = queue.resume().await
        {
            tracing::warn!(error = %format!("{e:#}"), "failed to resume check queues");
        }
    }

    /// Starts the WhatsApp client of a session taken over (logs in from the stored
    /// device state), in the background.
    fn start(&self, session: &SessionName) {
        let (engine, name) = (self.inner.engine.clone(), session.clone());
        tokio::spawn(async move {
            if let Err(e) = engine.start(&name).await {
                tracing::warn!(session = %name, error = %e, "failed to start a session taken over");
            }
        });
    }

    /// Forgets `session` here (deleted).
    pub fn forget(&self, session: &SessionName) {
        self.inner
            .held
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(session);
    }

    /// Stops running `session` here, quietly (its new holder reports its status).
    async fn drop_local(&self, session: &SessionName) {
        self.forget(session);
        self.inner.engine.release(session).await;
    }

    /// One round: heartbeat, renewal (stopping what was lost), then taking or handing
    /// back sessions toward this node's fair share. Errors are logged; the next round
    /// tries again.
    pub async fn tick(&self) {
        let _changing = self.inner.changes.lock().await;
        if self.inner.stopped.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.round().await {
            tracing::warn!(error = %format!("{e:#}"), "lease round failed");
            self.fence().await;
        }
    }

    /// Enters the registry under this node's id, before the first round. Another live
    /// process under the same id (a `--node-id` given twice, a data dir copied to a
    /// second machine) would run the same sessions twice: this waits up to twice the
    /// TTL for its heartbeat to go stale (a crashed predecessor's does), then refuses
    /// to start. `sole_on_machine`: the id is the data dir's, locked here, and the
    /// database is a file on this machine, so no other process can hold it: a stale row
    /// of our own crashed run is taken over at once.
    pub async fn join(&self, sole_on_machine: bool) -> anyhow::Result<()> {
        let inner = &self.inner;
        let deadline = tokio::time::Instant::now() + inner.policy.ttl * 2;
        loop {
            let now = unix_now_ms();
            let live_after = if sole_on_machine {
                i64::MAX
            } else {
                inner.policy.live_after(now)
            };
            if inner
                .store
                .heartbeat(&inner.me, &inner.incarnation, &inner.url, now, live_after)
                .await?
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "node id {} is in use by another live process on this database: give each process its own --node-id (or its own data dir)",
                    inner.me
                );
            }
            tracing::warn!(node = %inner.me, "another process runs under this node id; waiting for its heartbeat to go stale");
            tokio::time::sleep(inner.policy.renew_every()).await;
        }
    }

    async fn round(&self) -> StoreResult<()> {
        let store = &self.inner.store;
        let policy = self.inner.policy;
        let me = &self.inner.me;
        let now = unix_now_ms();
        let incarnation = &self.inner.incarnation;
        if !store
            .heartbeat(
                me,
                incarnation,
                &self.inner.url,
                now,
                policy.live_after(now),
            )
            .await?
        {
            // We were silent for a TTL and another process took our id: our leases are
            // its now; the fence stops our sessions.
            return Err(anyhow::anyhow!(
                "another process took over node id {me}; this one stops its sessions"
            )
            .into());
        }
        // Before the renewal: a session claimed by a request while the renewal runs is
        // not in its answer, and is not lost.
        let held_before = self.held();
        let renewed: HashSet<SessionName> = store
            .renew(me, policy.expiry(now))
            .await?
            .into_iter()
            .collect();
        self.inner.renewed_ms.store(now as u64, Ordering::SeqCst);
        let rows = store.lease_rows().await?;
        let live: HashSet<NodeId> = store
            .live_nodes(policy.live_after(now))
            .await?
            .into_iter()
            .map(|n| n.id)
            .collect();
        self.counted(4);
        for lost in held_before.into_iter().filter(|s| !renewed.contains(s)) {
            tracing::warn!(session = %lost, "lease lost to another node; stopping the session here");
            self.drop_local(&lost).await;
        }
        let wanted: HashSet<&SessionName> = rows
            .iter()
            .filter(|r| r.wanted)
            .map(|r| &r.session)
            .collect();
        let wanted = |s: &SessionName| wanted.contains(s);
        let mut came = false;
        // Held here in the database but not running: ours from before a restart.
        for found in renewed.iter().filter(|s| !self.holds(s)) {
            came = true;
            self.adopt(found);
            if wanted(found) {
                self.start(found);
            }
        }
        let plan = lease::plan(me, now, &live, &rows, &|s| self.busy(s));
        for session in plan.release {
            tracing::info!(session = %session, "handing a session to another node (above fair share)");
            self.drop_local(&session).await;
            store.release(&session, me).await?;
            self.counted(1);
        }
        for session in plan.take {
            self.counted(1);
            if store.acquire(&session, me, now, policy.expiry(now)).await? {
                tracing::info!(session = %session, "took over a session");
                came = true;
                self.adopt(&session);
                if wanted(&session) {
                    self.start(&session);
                }
            }
        }
        if came {
            self.resume_queues().await;
        }
        Ok(())
    }

    /// A session that must not move now: linking (a QR code on someone's screen) or
    /// starting.
    fn busy(&self, session: &SessionName) -> bool {
        matches!(
            self.inner.engine.state(session).status,
            SessionStatus::ScanQrCode | SessionStatus::Starting
        )
    }

    /// After a failed round: once the last renewal is older than the TTL, the leases
    /// may be someone else's, so every session here stops.
    async fn fence(&self) {
        let renewed = self.inner.renewed_ms.load(Ordering::SeqCst) as i64;
        if unix_now_ms() - renewed < self.inner.policy.ttl.as_millis() as i64 {
            return;
        }
        for session in self.held() {
            tracing::warn!(session = %session, "leases not renewed in time; stopping the session here");
            self.drop_local(&session).await;
        }
    }

    /// Runs [`Leases::tick`] every renewal period until [`Leases::leave`].
    pub fn spawn(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(this.inner.policy.renew_every());
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if this.inner.stopped.load(Ordering::SeqCst) {
                    return;
                }
                this.tick().await;
            }
        });
    }

    /// Forgets registry entries of nodes long gone (once, at start).
    pub async fn prune(&self) {
        let before = unix_now_ms() - FORGET_NODES_AFTER_MS;
        if let Err(e) = self.inner.store.forget_nodes(before).await {
            tracing::warn!(error = %format!("{e:#}"), "failed to prune the node registry");
        }
    }

    /// Hands back every lease and leaves the registry (clean shutdown, after the
    /// sessions were disconnected): the other nodes take over at their next round.
    pub async fn leave(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let _changing = self.inner.changes.lock().await;
        self.inner
            .held
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        if let Err(e) = self.inner.store.leave(&self.inner.me).await {
            tracing::warn!(error = %format!("{e:#}"), "failed to hand back leases; they expire instead");
        }
        self.inner
            .identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}
