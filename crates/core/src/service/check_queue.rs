//! Checks answered later (On-Prem `blocking: no_wait`): numbers go into a durable
//! queue in the store; one worker per session drains it through [`CheckService`]
//! (so the cache, single-flight, batching and the budget all apply) and POSTs the
//! answers to the session's callback URL, keeping them until the receiver accepts.
//!
//! The worker never spins: with nothing to do it waits for a wake-up (new numbers,
//! a new callback URL); over the budget it sleeps until the budget has room again;
//! a failing receiver or session is retried with exponential backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;

use crate::contact::Existence;
use crate::ids::PhoneNumber;
use crate::lease::RunsHere;
use crate::ports::{CallbackSender, CheckQueueStore, Clock, DirectoryError, Spawner, StoreError};
use crate::queued::{CheckOutcome, CheckStatus, QueuedCheck};
use crate::service::checks::CheckService;
use crate::service::contacts::ContactError;
use crate::session::SessionName;
use crate::username::CheckKey;

/// The queue's limits and timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Most rows a session's queue holds (checked or not, until delivered).
    pub max_queued: u64,
    /// Most numbers the worker hands to the check service at once.
    pub chunk: u32,
    /// Most answers in one callback.
    pub delivery_chunk: u32,
    /// First retry delay of a failed delivery or lookup; doubles up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            max_queued: 100_000,
            chunk: 500,
            delivery_chunk: 1_000,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        }
    }
}

/// Why numbers were not queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The session's queue is full: nothing was queued.
    #[error("the check queue holds at most {max} numbers")]
    Full { max: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The answer of one lookup in On-Prem's terms (`wa_id` is the number WhatsApp knows).
pub fn outcome(input: String, existence: &Existence) -> CheckOutcome {
    match existence.phone.filter(|_| existence.exists) {
        Some(phone) => CheckOutcome {
            input,
            status: CheckStatus::Valid,
            wa_id: Some(phone.wa_id()),
        },
        None => CheckOutcome {
            input,
            status: CheckStatus::Invalid,
            wa_id: None,
        },
    }
}

struct Shared {
    store: Arc<dyn CheckQueueStore>,
    checks: CheckService,
    sender: Arc<dyn CallbackSender>,
    clock: Arc<dyn Clock>,
    spawner: Arc<dyn Spawner>,
    policy: QueuePolicy,
    /// Wake-up channels of the running workers.
    workers: Mutex<HashMap<SessionName, mpsc::Sender<()>>>,
    /// Set by [`CheckQueue::stop`]: workers end, none start.
    stopped: std::sync::atomic::AtomicBool,
    /// Which sessions this process works for (the holder of a session's lease);
    /// every session when unset.
    runs_here: std::sync::OnceLock<RunsHere>,
}

/// The queue service. Cheap to clone.
#[derive(Clone)]
pub struct CheckQueue {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CheckQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckQueue")
    }
}

/// What a worker does after one step.
enum Next {
    /// More to do now.
    Again,
    /// Nothing to do until woken.
    Idle,
    /// Wait this long (or until woken).
    Wait(Duration),
}

/// A worker's memory between steps.
struct Worker {
    session: SessionName,
    /// Current retry delay of deliveries.
    delivery_backoff: Duration,
    /// No delivery before this time (Unix ms).
    deliver_after_ms: i64,
    /// Current retry delay of failed lookups.
    check_backoff: Duration,
}

impl CheckQueue {
    pub fn new(
        store: Arc<dyn CheckQueueStore>,
        checks: CheckService,
        sender: Arc<dyn CallbackSender>,
        clock: Arc<dyn Clock>,
        spawner: Arc<dyn Spawner>,
        policy: QueuePolicy,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                checks,
                sender,
                clock,
                spawner,
                policy,
                workers: Mutex::new(HashMap::new()),
                stopped: Default::default(),
                runs_here: Default::default(),
            }),
        }
    }

    /// The limits in force.
    pub fn policy(&self) -> &QueuePolicy {
        &self.shared.policy
    }

    /// Queues `items` (input as sent, number) for a later check and wakes the
    /// session's worker; all or none (`Full` when the queue has no room).
    pub async fn enqueue(
        &self,
        session: &SessionName,
        items: &[(String, PhoneNumber)],
        force: bool,
    ) -> Result<(), QueueError> {
        let max = self.shared.policy.max_queued;
        if !items.is_empty() {
            if !self
                .shared
                .store
                .enqueue_checks(session, items, force, max)
                .await?
            {
                return Err(QueueError::Full { max });
            }
            self.wake(session);
        }
        Ok(())
    }

    /// Limits the workers to the sessions `runs_here` says this process holds: a
    /// worker ends once its session is not held here, and none starts for such a
    /// session (its holder drains its queue). Set once, before any work.
    pub fn set_gate(&self, runs_here: RunsHere) {
        let _ = self.shared.runs_here.set(runs_here);
    }

    /// Starts workers for every session with queued rows (after a restart, or once
    /// sessions were taken over from another process: the rows are in the shared store).
    pub async fn resume(&self) -> Result<usize, StoreError> {
        let sessions = self.shared.store.sessions_with_queued_checks().await?;
        for s in &sessions {
            self.wake(s);
        }
        Ok(sessions.len())
    }

    /// The session's callback URL.
    pub async fn callback_url(&self, session: &SessionName) -> Result<Option<String>, StoreError> {
        self.shared.store.check_callback_url(session).await
    }

    /// Sets (or clears) the callback URL; waiting answers go there at once.
    pub async fn set_callback_url(
        &self,
        session: &SessionName,
        url: Option<&str>,
    ) -> Result<(), StoreError> {
        self.shared
            .store
            .set_check_callback_url(session, url)
            .await?;
        self.wake(session);
        Ok(())
    }

    /// Ends every worker after its current step (on shutdown); what is queued stays
    /// in the store for the next start.
    pub fn stop(&self) {
        use std::sync::atomic::Ordering;
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Closing the wake-up channels ends the workers' waits.
        self.shared
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Wakes the session's worker, starting one if none runs.
    fn wake(&self, session: &SessionName) {
        let mut workers = self
            .shared
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self
            .shared
            .stopped
            .load(std::sync::atomic::Ordering::SeqCst)
            || !self.shared.runs_here(session)
        {
            return;
        }
        if let Some(tx) = workers.get_mut(session) {
            match tx.try_send(()) {
                Ok(()) => return,
                Err(e) if e.is_full() => return,
                Err(_) => {} // the worker ended: start another
            }
        }
        let (tx, rx) = mpsc::channel(1);
        workers.insert(session.clone(), tx);
        let worker = Worker {
            session: session.clone(),
            delivery_backoff: self.shared.policy.retry_min,
            deliver_after_ms: 0,
            check_backoff: self.shared.policy.retry_min,
        };
        let shared = self.shared.clone();
        self.shared
            .spawner
            .spawn(Box::pin(async move { shared.run(worker, rx).await }));
    }
}

impl Shared {
    fn runs_here(&self, session: &SessionName) -> bool {
        self.runs_here.get().is_none_or(|gate| gate(session))
    }

    /// Whether the worker of `session` should end: the service stopped, or the session
    /// is held by another process now (then the worker is forgotten, under the lock a
    /// wake-up takes, so a takeover back here starts a new one).
    fn should_end(&self, session: &SessionName) -> bool {
        if self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return true;
        }
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if self.runs_here(session) {
            return false;
        }
        workers.remove(session);
        true
    }

    /// Steps until the wake-up channel closes (the service is gone) or the session
    /// moves to another process.
    async fn run(self: Arc<Self>, mut worker: Worker, mut wake: mpsc::Receiver<()>) {
        loop {
            if self.should_end(&worker.session) {
                return;
            }
            match self.step(&mut worker).await {
                Next::Again => continue,
                Next::Idle => {
                    if wake.next().await.is_none() {
                        return;
                    }
                }
                Next::Wait(d) => {
                    let sleep = self.clock.sleep(d);
                    futures::pin_mut!(sleep);
                    if let futures::future::Either::Left((None, _)) =
                        futures::future::select(wake.next(), sleep).await
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Delivers what waits for delivery, then checks what the budget allows.
    async fn step(&self, w: &mut Worker) -> Next {
        let delivery = self.deliver(w).await;
        let checking = self.check(w).await;
        match (delivery, checking) {
            (_, Next::Again) | (Next::Again, _) => Next::Again,
            (Next::Wait(a), Next::Wait(b)) => Next::Wait(a.min(b)),
            (Next::Wait(d), Next::Idle) | (Next::Idle, Next::Wait(d)) => Next::Wait(d),
            (Next::Idle, Next::Idle) => Next::Idle,
        }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Sends the oldest undelivered answers to the callback URL.
    async fn deliver(&self, w: &mut Worker) -> Next {
        let now = self.now_ms();
        if w.deliver_after_ms > now {
            return Next::Wait(Duration::from_millis((w.deliver_after_ms - now) as u64));
        }
        let limit = self.policy.delivery_chunk;
        let rows = match self.store.undelivered_checks(&w.session, limit).await {
            Ok(rows) if rows.is_empty() => return Next::Idle,
            Ok(rows) => rows,
            Err(e) => return self.delivery_failed(w, &format!("{e:#}")),
        };
        let url = match self.store.check_callback_url(&w.session).await {
            Ok(Some(url)) => url,
            // Kept until a URL is set (which wakes the worker).
            Ok(None) => return Next::Idle,
            Err(e) => return self.delivery_failed(w, &format!("{e:#}")),
        };
        let (ids, outcomes): (Vec<i64>, Vec<CheckOutcome>) = rows.into_iter().unzip();
        if let Err(e) = self.sender.send(&url, &outcomes).await {
            return self.delivery_failed(w, &e);
        }
        if let Err(e) = self.store.delivered_checks(&w.session, &ids).await {
            // Delivered again later: at least once.
            return self.delivery_failed(w, &format!("{e:#}"));
        }
        w.delivery_backoff = self.policy.retry_min;
        Next::Again
    }

    fn delivery_failed(&self, w: &mut Worker, why: &str) -> Next {
        let wait = w.delivery_backoff;
        tracing::warn!(session = %w.session, error = why, retry_in_ms = wait.as_millis() as u64, "check results not delivered; retrying");
        w.delivery_backoff = (wait * 2).min(self.policy.retry_max);
        w.deliver_after_ms = self.now_ms() + wait.as_millis() as i64;
        Next::Wait(wait)
    }

    /// Checks the oldest queued numbers, as many as the budget allows.
    async fn check(&self, w: &mut Worker) -> Next {
        let rows = match self
            .store
            .pending_checks(&w.session, self.policy.chunk)
            .await
        {
            Ok(rows) if rows.is_empty() => return Next::Idle,
            Ok(rows) => rows,
            Err(e) => return self.check_failed(w, &format!("{e:#}")),
        };
        // One `force` per call: the leading rows that share the first row's.
        let force = rows[0].force;
        let rows: Vec<QueuedCheck> = rows.into_iter().take_while(|r| r.force == force).collect();
        let keys: Vec<CheckKey> = rows.iter().map(|r| CheckKey::Phone(r.phone)).collect();
        let partial = match self.checks.check_partial(&w.session, &keys, force).await {
            Ok(partial) => partial,
            Err(ContactError::Directory(DirectoryError::RateLimited { retry_after_secs })) => {
                return Next::Wait(secs_or(retry_after_secs, self.policy.retry_max));
            }
            Err(e) => return self.check_failed(w, &format!("{e:#}")),
        };
        let mut done = Vec::with_capacity(rows.len());
        let mut error = None;
        for (row, answer) in rows.into_iter().zip(partial.answers) {
            match answer {
                Some(Ok(existence)) => done.push((row.id, outcome(row.input, &existence))),
                Some(Err(e)) => error = Some(e),
                None => {}
            }
        }
        if !done.is_empty()
            && let Err(e) = self.store.finish_checks(&w.session, &done).await
        {
            return self.check_failed(w, &format!("{e:#}"));
        }
        if let Some(e) = error {
            // Kept processing: WhatsApp failing, slow or rate limiting is retried.
            return match e {
                DirectoryError::RateLimited { retry_after_secs } => {
                    Next::Wait(secs_or(retry_after_secs, self.policy.retry_max))
                }
                e => self.check_failed(w, &e.to_string()),
            };
        }
        w.check_backoff = self.policy.retry_min;
        if !done.is_empty() {
            Next::Again
        } else {
            // Nothing fit: the budget (or WhatsApp's pause) has room again then.
            Next::Wait(secs_or(partial.retry_after_secs, self.policy.retry_max))
        }
    }

    fn check_failed(&self, w: &mut Worker, why: &str) -> Next {
        let wait = w.check_backoff;
        tracing::warn!(session = %w.session, error = why, retry_in_ms = wait.as_millis() as u64, "queued checks not checked; retrying");
        w.check_backoff = (wait * 2).min(self.policy.retry_max);
        Next::Wait(wait)
    }
}

/// `secs` as a duration (at least a second), or `fallback`.
fn secs_or(secs: Option<u32>, fallback: Duration) -> Duration {
    secs.map_or(fallback, |s| Duration::from_secs(u64::from(s.max(1))))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::policy::CheckPolicy;
    use crate::ports::{StoreResult, Task};
    use crate::service::fakes::{World, phone};
    use crate::session::SessionStatus;

    struct TokioSpawner;

    impl Spawner for TokioSpawner {
        fn spawn(&self, task: Task) {
            tokio::spawn(task);
        }
    }

    /// The queue's rows in memory: (id, session, input, phone, force, outcome).
    #[derive(Default)]
    struct MemQueue {
        rows: Mutex<Vec<(i64, QueuedCheck, Option<CheckOutcome>)>>,
        url: Mutex<Option<String>>,
    }

    #[async_trait]
    impl CheckQueueStore for MemQueue {
        async fn enqueue_checks(
            &self,
            _: &SessionName,
            items: &[(String, PhoneNumber)],
            force: bool,
            max: u64,
        ) -> StoreResult<bool> {
            let mut rows = self.rows.lock().unwrap();
            if (rows.len() + items.len()) as u64 > max {
                return Ok(false);
            }
            for (input, phone) in items {
                let id = rows.len() as i64 + 1;
                let row = QueuedCheck {
                    id,
                    input: input.clone(),
                    phone: *phone,
                    force,
                };
                rows.push((id, row, None));
            }
            Ok(true)
        }
        async fn pending_checks(
            &self,
            _: &SessionName,
            limit: u32,
        ) -> StoreResult<Vec<QueuedCheck>> {
            let rows = self.rows.lock().unwrap();
            let pending = rows.iter().filter(|r| r.2.is_none());
            Ok(pending.take(limit as usize).map(|r| r.1.clone()).collect())
        }
        async fn finish_checks(
            &self,
            _: &SessionName,
            done: &[(i64, CheckOutcome)],
        ) -> StoreResult<()> {
            let mut rows = self.rows.lock().unwrap();
            for (id, outcome) in done {
                if let Some(row) = rows.iter_mut().find(|r| r.0 == *id) {
                    row.2 = Some(outcome.clone());
                }
            }
            Ok(())
        }
        async fn undelivered_checks(
            &self,
            _: &SessionName,
            limit: u32,
        ) -> StoreResult<Vec<(i64, CheckOutcome)>> {
            let rows = self.rows.lock().unwrap();
            let done = rows.iter().filter_map(|r| Some((r.0, r.2.clone()?)));
            Ok(done.take(limit as usize).collect())
        }
        async fn delivered_checks(&self, _: &SessionName, ids: &[i64]) -> StoreResult<()> {
            self.rows.lock().unwrap().retain(|r| !ids.contains(&r.0));
            Ok(())
        }
        async fn sessions_with_queued_checks(&self) -> StoreResult<Vec<SessionName>> {
            Ok(Vec::new())
        }
        async fn check_callback_url(&self, _: &SessionName) -> StoreResult<Option<String>> {
            Ok(self.url.lock().unwrap().clone())
        }
        async fn set_check_callback_url(
            &self,
            _: &SessionName,
            url: Option<&str>,
        ) -> StoreResult<()> {
            *self.url.lock().unwrap() = url.map(str::to_owned);
            Ok(())
        }
    }

    /// Refuses the first `failures` callbacks, then records what it gets.
    #[derive(Default)]
    struct Receiver {
        failures: AtomicUsize,
        got: Mutex<Vec<CheckOutcome>>,
    }

    #[async_trait]
    impl CallbackSender for Receiver {
        async fn send(&self, _: &str, outcomes: &[CheckOutcome]) -> Result<(), String> {
            if self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err("503".into());
            }
            self.got.lock().unwrap().extend_from_slice(outcomes);
            Ok(())
        }
    }

    /// Polls `done` for at most 10 s.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn answers_wait_for_a_url_then_survive_failed_deliveries() {
        let w = World::new(SessionStatus::Working).await;
        let valid = phone("15550100001");
        w.directory.registered.lock().unwrap().insert(valid, None);
        let checks = CheckService::new(
            w.store.clone(),
            w.sessions.clone(),
            Arc::new(TokioSpawner),
            CheckPolicy::default(),
        );
        let store = Arc::new(MemQueue::default());
        let receiver = Arc::new(Receiver {
            failures: AtomicUsize::new(3),
            ..Receiver::default()
        });
        let queue = CheckQueue::new(
            store.clone(),
            checks,
            receiver.clone(),
            w.clock.clone(),
            Arc::new(TokioSpawner),
            QueuePolicy {
                max_queued: 3,
                ..QueuePolicy::default()
            },
        );
        let items = vec![
            ("+1 555 010 0001".to_owned(), valid),
            ("15550100002".to_owned(), phone("15550100002")),
        ];
        queue.enqueue(&w.session, &items, false).await.unwrap();
        assert!(matches!(
            queue.enqueue(&w.session, &items, false).await,
            Err(QueueError::Full { max: 3 })
        ));
        // Checked, but kept: no URL yet.
        until("the checks", || {
            store.rows.lock().unwrap().iter().all(|r| r.2.is_some())
        })
        .await;
        assert_eq!(store.rows.lock().unwrap().len(), 2);
        assert!(receiver.got.lock().unwrap().is_empty());
        queue
            .set_callback_url(&w.session, Some("http://x/"))
            .await
            .unwrap();
        until("the delivery", || store.rows.lock().unwrap().is_empty()).await;
        let r = receiver;
        assert_eq!(
            r.failures.load(Ordering::SeqCst),
            0,
            "three refusals, then accepted"
        );
        let got = r.got.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                CheckOutcome {
                    input: "+1 555 010 0001".into(),
                    status: CheckStatus::Valid,
                    wa_id: Some("15550100001".into()),
                },
                CheckOutcome {
                    input: "15550100002".into(),
                    status: CheckStatus::Invalid,
                    wa_id: None,
                },
            ]
        );
        queue.stop();
    }
}
