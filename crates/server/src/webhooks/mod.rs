//! Webhook delivery: one task per session drains its outbox in order through
//! [`Deliverer`] (core), POSTing WAHA's envelope with reqwest, signed with
//! HMAC-SHA512 when the webhook has a key. A slow or dead receiver holds back only
//! its own session: every session has its own task, and every POST a timeout.

mod targets;
mod transport;
mod waking_sink;

pub use waking_sink::WakingSink;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use wacontacts_core::lease::RunsHere;
use wacontacts_core::ports::{Clock, SessionRuntime, SessionStore, StoreResult};
use wacontacts_core::session::SessionName;
use wacontacts_core::webhook::{Deliverer, DeliveryLog, DeliveryRecord, Outbox};

pub use targets::{ConfigTargets, GlobalWebhook, WebhookConfigError, targets_from_config};
pub use transport::{HttpTransport, sign};

/// Longest a session's task sleeps before looking at its outbox again when nothing
/// woke it: a safety net only, as every enqueue wakes it (stored facts through
/// [`WakingSink`], other events through [`Dispatcher::enqueue`]). Short polls cost
/// a store query per idle session each time, which thousands of sessions feel.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Wait after a store failure before the task tries again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Starts and wakes the per-session delivery tasks; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    deliverer: Deliverer,
    sessions: Arc<dyn SessionStore>,
    tasks: Mutex<HashMap<SessionName, Arc<Notify>>>,
    /// The sessions this process delivers for (those whose lease it holds); every
    /// session when unset.
    runs_here: std::sync::OnceLock<RunsHere>,
}

impl Inner {
    fn runs_here(&self, session: &SessionName) -> bool {
        self.runs_here.get().is_none_or(|gate| gate(session))
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dispatcher")
    }
}

impl Dispatcher {
    /// A dispatcher over `outbox`, delivering to the targets of each session's config
    /// (and `global`) with `runtime`'s `me` in the envelope; every POST's outcome
    /// goes to `log`.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        log: Arc<dyn DeliveryLog>,
        sessions: Arc<dyn SessionStore>,
        runtime: Arc<dyn SessionRuntime>,
        global: Option<GlobalWebhook>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let deliverer = Deliverer {
            outbox,
            log,
            transport: Arc::new(HttpTransport::new(runtime)?),
            targets: Arc::new(ConfigTargets::new(sessions.clone(), global)),
            clock,
        };
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                deliverer,
                sessions,
                tasks: Mutex::new(HashMap::new()),
                runs_here: Default::default(),
            }),
        })
    }

    /// Limits delivery to the sessions `runs_here` says this process holds: another
    /// process's sessions are delivered by it, and a task whose session moved away
    /// ends. Set once, before [`Dispatcher::spawn`].
    pub fn set_gate(&self, runs_here: RunsHere) {
        let _ = self.inner.runs_here.set(runs_here);
    }

    /// Starts the tasks of every session (and of every session with events left
    /// from before a restart), and a watcher that starts those of new sessions.
    pub fn spawn(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.start_known().await {
                    tracing::warn!(error = %format!("{e:#}"), "failed to list sessions for webhooks");
                }
                tokio::time::sleep(IDLE_POLL).await;
            }
        });
    }

    async fn start_known(&self) -> StoreResult<()> {
        let mut names: Vec<SessionName> = self
            .inner
            .sessions
            .list_sessions()
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        names.extend(self.inner.deliverer.outbox.sessions_with_pending().await?);
        for name in names {
            self.ensure(&name);
        }
        Ok(())
    }

    /// Starts `session`'s task if it is not running, and wakes it.
    pub fn wake(&self, session: &SessionName) {
        self.ensure(session).notify_one();
    }

    fn ensure(&self, session: &SessionName) -> Arc<Notify> {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = tasks.get(session) {
            return n.clone();
        }
        let notify = Arc::new(Notify::new());
        if !self.inner.runs_here(session) {
            // Its holder delivers; a wake-up here goes nowhere.
            return notify;
        }
        tasks.insert(session.clone(), notify.clone());
        let (inner, name, wake) = (self.inner.clone(), session.clone(), notify.clone());
        tokio::spawn(async move { run_session(inner, name, wake).await });
        notify
    }

    /// Queues `event` for `session` and wakes its task: the hook for events no
    /// stored fact carries (`session.status`; `contacts.check` results).
    pub async fn enqueue(
        &self,
        session: &SessionName,
        event: &str,
        payload: serde_json::Value,
    ) -> StoreResult<String> {
        let d = &self.inner.deliverer;
        let id = d
            .outbox
            .enqueue(session, event, &payload, d.clock.now_ms())
            .await?;
        self.wake(session);
        Ok(id)
    }
}

impl Dispatcher {
    /// The outbox depth as OpenMetrics gauges, summed over sessions (labels:
    /// `state` = `pending` | `dead` only); empty when the store cannot say.
    pub async fn depth_metrics(&self) -> String {
        let Ok(depth) = self.inner.deliverer.outbox.depth().await else {
            return String::new();
        };
        format!(
            "# HELP wacontacts_webhook_outbox Webhook events waiting (pending) or dead-lettered (dead).\n\
             # TYPE wacontacts_webhook_outbox gauge\n\
             wacontacts_webhook_outbox{{state=\"pending\"}} {}\n\
             wacontacts_webhook_outbox{{state=\"dead\"}} {}\n",
            depth.pending, depth.dead
        )
    }

    /// A session's dead letters, newest first.
    pub async fn dead_letters(
        &self,
        session: &SessionName,
        limit: u32,
    ) -> StoreResult<Vec<wacontacts_core::webhook::DeadLetter>> {
        self.inner
            .deliverer
            .outbox
            .dead_letters(session, limit)
            .await
    }

    /// A session's recent delivery outcomes, newest first (see [`DeliveryLog`]).
    pub async fn deliveries(
        &self,
        session: &SessionName,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.inner
            .deliverer
            .log
            .recent_deliveries(session, limit, offset)
            .await
    }

    /// Queues dead letter `id` again (same id) and wakes the session's task;
    /// `false` when there is no such dead letter.
    pub async fn retry(&self, session: &SessionName, id: &str) -> StoreResult<bool> {
        let found = self
            .inner
            .deliverer
            .outbox
            .retry_dead_letter(session, id)
            .await?;
        if found {
            self.wake(session);
        }
        Ok(found)
    }
}

/// One session's delivery loop, while this process holds the session.
async fn run_session(inner: Arc<Inner>, session: SessionName, wake: Arc<Notify>) {
    loop {
        {
            // Under the lock `ensure` takes: a takeover back here starts a new task.
            let mut tasks = inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
            if !inner.runs_here(&session) {
                tasks.remove(&session);
                return;
            }
        }
        let wait = match inner.deliverer.run_due(&session).await {
            Ok(None) => IDLE_POLL,
            Ok(Some(at)) => {
                let ms = at.saturating_sub(inner.deliverer.clock.now_ms()).max(0) as u64;
                Duration::from_millis(ms)
            }
            Err(e) => {
                tracing::warn!(session = %session, error = %format!("{e:#}"), "webhook outbox read failed");
                STORE_RETRY
            }
        };
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        // A wake-up (a new event, a retried dead letter) ends the wait early; an
        // event in backoff is still not sent before its time (run_due checks).
        let _ = tokio::time::timeout(wait.min(IDLE_POLL), wake.notified()).await;
    }
}
