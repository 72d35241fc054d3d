//! Existence checks with the ban guard: normalize (at the edge) → cache → single-flight →
//! batcher → budget → `Directory`. WhatsApp bans accounts that look up many numbers
//! they never message, so every uncached number or username costs budget, keys already
//! being looked up are waited for rather than asked again, and keys that arrive within
//! a short window go out together (numbers in one usync query with their BR/MX/AR
//! variants, usernames in one more). A key is a [`CheckKey`]: a number, or a username
//! with the PIN it was asked with; both take this one path.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::channel::oneshot;

use crate::contact::{CachedExistence, Existence};
use crate::ids::PhoneNumber;
use crate::phone::candidates;
use crate::policy::{Budget, CheckPolicy};
use crate::ports::{CheckStore, Directory, DirectoryError, Spawner, StoreError};
use crate::service::contacts::ContactError;
use crate::service::sessions::{SessionService, SessionView};
use crate::session::SessionName;
use crate::username::{CheckKey, UsernameQuery};

/// One number's answer: WhatsApp's, or why the lookup failed.
pub type Answer = Result<Existence, DirectoryError>;

/// Counters of one session's checks, for `/metrics` and the budget route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Numbers and usernames asked for (after removing duplicates within a request).
    pub numbers: u64,
    /// Of those, answered from the cache.
    pub cache_hits: u64,
    /// Numbers and usernames looked up on WhatsApp (each costs budget).
    pub lookups: u64,
    /// usync queries sent.
    pub queries: u64,
    /// Requests refused because the budget was spent.
    pub refusals: u64,
}

/// Answers of [`CheckService::check_partial`], in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialCheck {
    /// `None`: not looked up now (over the budget, or WhatsApp's 429 pause).
    pub answers: Vec<Option<Answer>>,
    /// When some were left out: seconds until the budget or pause lets more through
    /// (`None` when the budget is zero or nothing was left out).
    pub retry_after_secs: Option<u32>,
}

/// What is left of a session's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    pub budget_per_hour: u32,
    pub remaining: u32,
    /// Set while WhatsApp's 429 pauses lookups: seconds left of the pause.
    pub paused_for_secs: Option<u32>,
    pub stats: CheckStats,
}

#[derive(Default)]
struct SessionChecks {
    budget: Budget,
    paused_until_ms: i64,
    /// Keys being looked up, with who waits for each.
    in_flight: HashMap<CheckKey, Vec<oneshot::Sender<Answer>>>,
    /// Keys waiting for the next batch.
    queue: Vec<CheckKey>,
    /// A batch task runs for this session.
    flushing: bool,
    /// WhatsApp's directory, as of the last request (the batch task uses it).
    directory: Option<Arc<dyn Directory>>,
    /// The latest answers, so that a request that read the cache just before a batch
    /// finished does not look the same numbers up again (bounded, oldest out first).
    recent: HashMap<CheckKey, CachedExistence>,
    recent_order: std::collections::VecDeque<CheckKey>,
    stats: CheckStats,
}

/// Most answers kept in [`SessionChecks::recent`], per session. They cover the
/// moments between a request's cache read and its queueing, so about two batches
/// (of the policy's default 500) are enough; the store keeps every answer.
const RECENT: usize = 1_024;

impl SessionChecks {
    fn remember(&mut self, key: CheckKey, answer: CachedExistence) {
        if self.recent.insert(key.clone(), answer).is_none() {
            self.recent_order.push_back(key);
            if self.recent_order.len() > RECENT
                && let Some(old) = self.recent_order.pop_front()
            {
                self.recent.remove(&old);
            }
        }
    }
}

struct Shared {
    store: Arc<dyn CheckStore>,
    sessions: SessionService,
    spawner: Arc<dyn Spawner>,
    policy: CheckPolicy,
    state: Mutex<HashMap<SessionName, SessionChecks>>,
}

/// The check service. Cheap to clone.
#[derive(Clone)]
pub struct CheckService {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CheckService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckService")
    }
}

fn lock(
    m: &Mutex<HashMap<SessionName, SessionChecks>>,
) -> MutexGuard<'_, HashMap<SessionName, SessionChecks>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// The session's check state, created with the policy's budget window.
    /// Reads back, once per session and process, the lookups the budget spent in
    /// its window before this process started (a restart must not refill it).
    async fn restore_budget(&self, session: &SessionName) -> Result<(), StoreError> {
        if lock(&self.state).contains_key(session) {
            return Ok(());
        }
        let window = self.policy.budget_window;
        let since = self.now_ms() - window.as_millis() as i64;
        let spent = self.store.lookups_since(session, since).await?;
        lock(&self.state)
            .entry(session.clone())
            .or_insert_with(|| SessionChecks {
                budget: Budget::with_spent(window, &spent),
                ..Default::default()
            });
        Ok(())
    }

    fn entry<'a>(
        &self,
        state: &'a mut HashMap<SessionName, SessionChecks>,
        session: &SessionName,
    ) -> &'a mut SessionChecks {
        state
            .entry(session.clone())
            .or_insert_with(|| SessionChecks {
                budget: Budget::with_window(self.policy.budget_window),
                ..Default::default()
            })
    }

    fn now_ms(&self) -> i64 {
        self.sessions.clock().now_ms()
    }

    /// The session's budget: `config.checks.budgetPerHour` when set, else the policy's.
    fn budget_of(&self, session: &SessionView) -> u32 {
        session.record.config["checks"]["budgetPerHour"]
            .as_u64()
            .map_or(self.policy.budget_per_hour, |n| {
                n.min(u32::MAX as u64) as u32
            })
    }

    /// Sends queued keys in batches until the queue is empty.
    async fn flush(self: Arc<Self>, session: SessionName) {
        self.sessions.clock().sleep(self.policy.batch_window).await;
        loop {
            let (batch, directory) = {
                let mut state = lock(&self.state);
                let checks = self.entry(&mut state, &session);
                if checks.queue.is_empty() {
                    checks.flushing = false;
                    return;
                }
                let n = checks.queue.len().min(self.policy.batch_size);
                let batch: Vec<CheckKey> = checks.queue.drain(..n).collect();
                checks.stats.queries += 1;
                (batch, checks.directory.clone())
            };
            let answers = match directory {
                Some(directory) => self.ask(&session, directory.as_ref(), &batch).await,
                None => Err(DirectoryError::NotConnected),
            };
            let mut state = lock(&self.state);
            let checks = self.entry(&mut state, &session);
            if let Err(DirectoryError::RateLimited { retry_after_secs }) = &answers {
                let pause = retry_after_secs
                    .map(|s| std::time::Duration::from_secs(u64::from(s)))
                    .unwrap_or(self.policy.rate_limit_pause);
                checks.paused_until_ms = self.now_ms() + pause.as_millis() as i64;
                tracing::warn!(session = %session, pause_secs = pause.as_secs(), "WhatsApp rate-limits checks: pausing lookups");
            }
            let now = self.now_ms();
            for key in &batch {
                if let Ok(map) = &answers
                    && let Some(existence) = map.get(key)
                {
                    let cached = CachedExistence {
                        existence: existence.clone(),
                        checked_ms: now,
                    };
                    checks.remember(key.clone(), cached);
                }
                let answer = match &answers {
                    Ok(map) => Ok(map.get(key).cloned().unwrap_or_else(Existence::not_found)),
                    Err(e) => Err(e.clone()),
                };
                for waiter in checks.in_flight.remove(key).unwrap_or_default() {
                    let _ = waiter.send(answer.clone());
                }
            }
        }
    }

    /// One usync query for the numbers of `batch` and every variant of them, one
    /// more for its usernames; answers are cached (with what they carry) before
    /// anyone sees them.
    async fn ask(
        &self,
        session: &SessionName,
        directory: &dyn Directory,
        batch: &[CheckKey],
    ) -> Result<HashMap<CheckKey, Existence>, DirectoryError> {
        let mut phones = Vec::new();
        let mut usernames = Vec::new();
        for key in batch {
            match key {
                CheckKey::Phone(p) => phones.push(*p),
                CheckKey::Username(q) => usernames.push(q.clone()),
            }
        }
        let mut out = HashMap::with_capacity(batch.len());
        if !phones.is_empty() {
            out.extend(ask_numbers(directory, &phones).await?);
        }
        if !usernames.is_empty() {
            out.extend(ask_usernames(directory, &usernames).await?);
        }
        let now = self.now_ms();
        let cached: Vec<(CheckKey, CachedExistence)> = out
            .iter()
            .map(|(key, existence)| {
                let answer = CachedExistence {
                    existence: existence.clone(),
                    checked_ms: now,
                };
                (key.clone(), answer)
            })
            .collect();
        if let Err(e) = self.store.cache_checks(session, &cached).await {
            // The answers still reach the callers; only the cache misses them.
            tracing::error!(session = %session, error = %format!("{e:#}"), "failed to cache check answers");
        }
        Ok(out)
    }
}

/// Numbers, with their BR/MX/AR variants, in one usync query: a number exists when
/// any of its forms does, under the form WhatsApp answered.
async fn ask_numbers(
    directory: &dyn Directory,
    batch: &[PhoneNumber],
) -> Result<Vec<(CheckKey, Existence)>, DirectoryError> {
    let forms: Vec<Vec<PhoneNumber>> = batch.iter().map(candidates).collect();
    let mut all: Vec<PhoneNumber> = forms.iter().flatten().copied().collect();
    all.sort();
    all.dedup();
    let answers = directory.is_on_whatsapp(&all).await?;
    Ok(batch
        .iter()
        .zip(&forms)
        .map(|(phone, forms)| {
            let found = forms
                .iter()
                .filter_map(|f| answers.get(f))
                .find(|r| r.exists);
            let existence = match found {
                Some(r) => Existence {
                    exists: true,
                    phone: Some(r.phone.unwrap_or(*phone)),
                    lid: r.lid.clone(),
                    username: r.username.clone(),
                },
                None => Existence::not_found(),
            };
            (CheckKey::Phone(*phone), existence)
        })
        .collect())
}

/// Usernames in one usync query. A found username carries the LID (and the number
/// when WhatsApp told it); its `username` is the one asked unless WhatsApp said more.
async fn ask_usernames(
    directory: &dyn Directory,
    batch: &[UsernameQuery],
) -> Result<Vec<(CheckKey, Existence)>, DirectoryError> {
    let answers = directory.find_usernames(batch).await?;
    Ok(batch
        .iter()
        .map(|q| {
            let existence = match answers.get(q) {
                Some(r) if r.exists => Existence {
                    exists: true,
                    phone: r.phone,
                    lid: r.lid.clone(),
                    username: Some(r.username.clone().unwrap_or_else(|| q.username.clone())),
                },
                _ => Existence::not_found(),
            };
            (CheckKey::Username(q.clone()), existence)
        })
        .collect())
}

impl CheckService {
    pub fn new(
        store: Arc<dyn CheckStore>,
        sessions: SessionService,
        spawner: Arc<dyn Spawner>,
        policy: CheckPolicy,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                sessions,
                spawner,
                policy,
                state: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Whether each of `keys` (numbers or usernames) is on WhatsApp, in input order.
    /// `force` skips the cache except inside the per-key cooldown. All uncached keys
    /// must fit in the session's budget, else nothing is looked up (`BudgetExceeded`).
    pub async fn check(
        &self,
        session: &SessionName,
        keys: &[CheckKey],
        force: bool,
    ) -> Result<Vec<Existence>, ContactError> {
        let partial = self.check_inner(session, keys, force, false).await?;
        partial
            .answers
            .into_iter()
            .map(|a| match a {
                Some(Ok(existence)) => Ok(existence),
                Some(Err(e)) => Err(e.into()),
                None => Err(DirectoryError::Other("a number was left unchecked".into()).into()),
            })
            .collect()
    }

    /// Like [`CheckService::check`], but answers what it can instead of refusing the
    /// whole request (On-Prem's per-number statuses and its queue): cached numbers,
    /// and as many uncached ones (in input order) as the budget has room for, are
    /// answered; the rest are `None`, with the seconds until the budget (or WhatsApp's
    /// 429 pause) lets more through. A failed lookup is that number's `Err`.
    pub async fn check_partial(
        &self,
        session: &SessionName,
        keys: &[CheckKey],
        force: bool,
    ) -> Result<PartialCheck, ContactError> {
        self.check_inner(session, keys, force, true).await
    }

    async fn check_inner(
        &self,
        session: &SessionName,
        keys: &[CheckKey],
        force: bool,
        partial: bool,
    ) -> Result<PartialCheck, ContactError> {
        let shared = &self.shared;
        let view = shared.sessions.require_working(session).await?;
        shared.restore_budget(session).await?;
        let directory = shared
            .sessions
            .directory(session)
            .ok_or(ContactError::Directory(DirectoryError::NotConnected))?;
        let unique: Vec<CheckKey> = {
            let mut seen = HashSet::new();
            keys.iter().filter(|k| seen.insert(*k)).cloned().collect()
        };
        let cached = shared.store.cached_checks(session, &unique).await?;
        let now = shared.now_ms();
        let mut known: HashMap<CheckKey, Existence> = HashMap::new();
        for p in &unique {
            if let Some(c) = cached.get(p)
                && shared
                    .policy
                    .serves(c.existence.exists, c.checked_ms, now, force)
            {
                known.insert(p.clone(), c.existence.clone());
            }
        }
        let todo: Vec<CheckKey> = unique
            .iter()
            .filter(|p| !known.contains_key(p))
            .cloned()
            .collect();
        let budget = shared.budget_of(&view);
        let mut waiting = Vec::with_capacity(todo.len());
        let mut deferred_for: Option<u32> = None;
        let start_flush = {
            let mut state = lock(&shared.state);
            let checks = shared.entry(&mut state, session);
            checks.stats.numbers += unique.len() as u64;
            checks.stats.cache_hits += known.len() as u64;
            // Answered by a batch that finished after this request read the cache.
            let policy = &shared.policy;
            let todo: Vec<CheckKey> = todo
                .into_iter()
                .filter(|p| match checks.recent.get(p) {
                    Some(c) if policy.serves(c.existence.exists, c.checked_ms, now, force) => {
                        known.insert(p.clone(), c.existence.clone());
                        checks.stats.cache_hits += 1;
                        false
                    }
                    _ => true,
                })
                .collect();
            let mut new: Vec<CheckKey> = todo
                .iter()
                .filter(|p| !checks.in_flight.contains_key(p))
                .cloned()
                .collect();
            let paused = !new.is_empty() && checks.paused_until_ms > now;
            if paused && partial {
                let secs = ((checks.paused_until_ms - now + 999) / 1000) as u32;
                deferred_for = Some(secs);
                new.clear();
            } else if paused {
                let secs = ((checks.paused_until_ms - now + 999) / 1000) as u32;
                return Err(DirectoryError::RateLimited {
                    retry_after_secs: Some(secs),
                }
                .into());
            }
            if let Err(retry_after_secs) = checks.budget.try_spend(now, new.len() as u32, budget) {
                checks.stats.refusals += 1;
                if !partial {
                    return Err(ContactError::BudgetExceeded {
                        budget,
                        needed: new.len() as u32,
                        retry_after_secs,
                    });
                }
                let fit = checks.budget.remaining(now, budget) as usize;
                let refused = (new.len() - fit).min(budget as usize) as u32;
                new.truncate(fit);
                let _ = checks.budget.try_spend(now, fit as u32, budget);
                deferred_for = checks
                    .budget
                    .try_spend(now, refused, budget)
                    .err()
                    .flatten();
            }
            let asked: HashSet<CheckKey> = new.iter().cloned().collect();
            let todo: Vec<CheckKey> = todo
                .into_iter()
                .filter(|p| asked.contains(p) || checks.in_flight.contains_key(p))
                .collect();
            checks.stats.lookups += new.len() as u64;
            for p in &todo {
                let (tx, rx) = oneshot::channel();
                checks.in_flight.entry(p.clone()).or_default().push(tx);
                waiting.push((p.clone(), rx));
            }
            checks.queue.extend(new);
            checks.directory = Some(directory);
            let start = !checks.flushing && !checks.queue.is_empty();
            checks.flushing |= start;
            start
        };
        if start_flush {
            let task = shared.clone().flush(session.clone());
            shared.spawner.spawn(Box::pin(task));
        }
        let mut failed: HashMap<CheckKey, DirectoryError> = HashMap::new();
        for (key, rx) in waiting {
            match rx
                .await
                .unwrap_or(Err(DirectoryError::Other("the check was abandoned".into())))
            {
                Ok(answer) => {
                    known.insert(key, answer);
                }
                Err(e) if partial => {
                    failed.insert(key, e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let answers = keys
            .iter()
            .map(|p| match (known.get(p), failed.get(p)) {
                (Some(existence), _) => Some(Ok(existence.clone())),
                (None, Some(e)) => Some(Err(e.clone())),
                (None, None) => None,
            })
            .collect();
        Ok(PartialCheck {
            answers,
            retry_after_secs: deferred_for,
        })
    }

    /// The answers the cache holds for `keys` (as a check would serve them), in
    /// input order; `None` for keys a check would look up. Costs no budget and
    /// asks WhatsApp nothing (On-Prem `no_wait` answers these at once).
    pub async fn cached(
        &self,
        session: &SessionName,
        keys: &[CheckKey],
        force: bool,
    ) -> Result<Vec<Option<Existence>>, ContactError> {
        let shared = &self.shared;
        let cached = shared.store.cached_checks(session, keys).await?;
        let now = shared.now_ms();
        let mut state = lock(&shared.state);
        let checks = shared.entry(&mut state, session);
        let policy = &shared.policy;
        Ok(keys
            .iter()
            .map(|p| {
                cached
                    .get(p)
                    .or_else(|| checks.recent.get(p))
                    .filter(|c| policy.serves(c.existence.exists, c.checked_ms, now, force))
                    .map(|c| c.existence.clone())
            })
            .collect())
    }

    /// What is left of the session's budget, and its counters.
    pub async fn budget(&self, session: &SessionName) -> Result<BudgetStatus, ContactError> {
        let shared = &self.shared;
        let budget = shared.budget_of(&shared.sessions.get(session).await?);
        shared.restore_budget(session).await?;
        let now = shared.now_ms();
        let mut state = lock(&shared.state);
        let checks = shared.entry(&mut state, session);
        let paused = checks.paused_until_ms - now;
        Ok(BudgetStatus {
            budget_per_hour: budget,
            remaining: checks.budget.remaining(now, budget),
            paused_for_secs: (paused > 0).then(|| ((paused + 999) / 1000) as u32),
            stats: checks.stats,
        })
    }

    /// Counters of every session that checked numbers, for `/metrics`.
    pub fn stats(&self) -> Vec<(SessionName, CheckStats)> {
        lock(&self.shared.state)
            .iter()
            .map(|(s, c)| (s.clone(), c.stats))
            .collect()
    }
}
