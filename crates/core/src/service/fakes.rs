//! In-memory doubles of the ports, for unit tests only (ours, and the server's).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::contact::{
    AddressBookEntry, BlockEntry, BlockedContact, CachedExistence, Contact, ExistenceResult,
    LidMapping, ListCursor, Listing, NumberChange, Page, ProfilePicture, UserInfo,
};
use crate::ids::{ContactRef, Lid, PhoneNumber};
use crate::policy::Policy;
use crate::ports::{
    CheckStore, Clock, ContactStore, Directory, DirectoryError, SessionRuntime, SessionStore,
    StoreResult,
};
use crate::service::{ContactService, SessionService};
use crate::session::{
    EngineError, NewSession, SessionName, SessionRecord, SessionState, SessionStatus,
};
use crate::username::{CheckKey, Username, UsernamePin, UsernameQuery};

pub fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

pub fn lid(s: &str) -> Lid {
    Lid::parse(s).unwrap()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap()
}

/// A clock that only moves when told to, or when someone sleeps on it.
#[derive(Default)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    pub fn now_ms_for_test(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }
}

#[async_trait]
impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    async fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}

/// Contacts, LID map and blocklist in memory.
#[derive(Default)]
pub struct FakeStore {
    pub contacts: Mutex<Vec<Contact>>,
    pub lids: Mutex<HashMap<PhoneNumber, Lid>>,
    pub blocked: Mutex<HashSet<ContactRef>>,
    pub saved: Mutex<Vec<AddressBookEntry>>,
    pub sessions: Mutex<Vec<SessionRecord>>,
    pub checks: Mutex<HashMap<CheckKey, CachedExistence>>,
    /// Chunks a streamed listing serves before failing (`usize::MAX`: never fails).
    pub chunks_before_failure: std::sync::atomic::AtomicUsize,
}

impl FakeStore {
    /// The contact row of `who`, created when missing.
    fn with_contact<R>(&self, who: &ContactRef, f: impl FnOnce(&mut Contact) -> R) -> R {
        let mut contacts = lock(&self.contacts);
        let i = match contacts.iter().position(|c| matches(c, who)) {
            Some(i) => i,
            None => {
                contacts.push(Contact::new(who));
                contacts.len() - 1
            }
        };
        f(&mut contacts[i])
    }

    pub fn contact(&self, who: &ContactRef) -> Option<Contact> {
        lock(&self.contacts)
            .iter()
            .find(|c| matches(c, who))
            .cloned()
    }
}

fn matches(c: &Contact, who: &ContactRef) -> bool {
    match who {
        ContactRef::Phone(p) => c.phone == Some(*p),
        ContactRef::Lid(l) => c.lid.as_ref() == Some(l),
    }
}

#[async_trait]
impl ContactStore for FakeStore {
    async fn list_contacts(
        &self,
        _: &SessionName,
        _: Listing,
        page: Page,
    ) -> StoreResult<Vec<Contact>> {
        let all = lock(&self.contacts).clone();
        Ok(all
            .into_iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .collect())
    }
    async fn search_contacts(
        &self,
        _: &SessionName,
        search: &crate::search::ContactSearch,
        _: Listing,
        _: Option<&ListCursor>,
        page: Page,
    ) -> StoreResult<(Vec<Contact>, Option<ListCursor>)> {
        let all = lock(&self.contacts).clone();
        let hit = |c: &Contact| {
            let name = [&c.name, &c.push_name, &c.verified_name, &c.business_name]
                .into_iter()
                .flatten()
                .any(|n| n.to_lowercase().contains(search.text()));
            let number = search.digits().is_some_and(|d| {
                c.phone.is_some_and(|p| p.wa_id().contains(d))
                    || c.lid.as_ref().is_some_and(|l| l.user().contains(d))
            });
            name || number
        };
        let found = all
            .into_iter()
            .filter(hit)
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .collect();
        Ok((found, None))
    }
    async fn list_contacts_chunk(
        &self,
        s: &SessionName,
        l: Listing,
        _: Option<&ListCursor>,
        page: Page,
    ) -> StoreResult<(Vec<Contact>, Option<ListCursor>)> {
        let left = self.chunks_before_failure.load(Ordering::SeqCst);
        if left == 0 {
            return Err(anyhow::anyhow!("disk I/O error").into());
        }
        self.chunks_before_failure.store(left - 1, Ordering::SeqCst);
        let rows = self.list_contacts(s, l, page).await?;
        // Never the end: the next chunk follows, until it fails.
        let next = ListCursor {
            sort_name: String::new(),
            key: String::new(),
        };
        Ok((rows, Some(next)))
    }
    async fn get_contact(&self, _: &SessionName, who: &ContactRef) -> StoreResult<Option<Contact>> {
        Ok(self.contact(who))
    }
    async fn contact_by_username(
        &self,
        _: &SessionName,
        username: &Username,
    ) -> StoreResult<Option<Contact>> {
        Ok(lock(&self.contacts)
            .iter()
            .find(|c| c.username.as_deref() == Some(username.as_str()))
            .cloned())
    }
    async fn number_history(
        &self,
        _: &SessionName,
        _: &PhoneNumber,
    ) -> StoreResult<Vec<NumberChange>> {
        Ok(Vec::new())
    }
    async fn add_lid_mapping(&self, _: &SessionName, l: &Lid, p: &PhoneNumber) -> StoreResult<()> {
        lock(&self.lids).insert(*p, l.clone());
        self.with_contact(&ContactRef::Phone(*p), |c| c.lid = Some(l.clone()));
        Ok(())
    }
    async fn phone_for_lid(&self, _: &SessionName, l: &Lid) -> StoreResult<Option<PhoneNumber>> {
        Ok(lock(&self.lids)
            .iter()
            .find(|(_, v)| *v == l)
            .map(|(p, _)| *p))
    }
    async fn lids_for_phones(
        &self,
        _: &SessionName,
        phones: &[PhoneNumber],
    ) -> StoreResult<HashMap<PhoneNumber, Lid>> {
        let lids = lock(&self.lids);
        Ok(phones
            .iter()
            .filter_map(|p| Some((*p, lids.get(p)?.clone())))
            .collect())
    }
    async fn list_lid_map(&self, _: &SessionName, _: Page) -> StoreResult<Vec<LidMapping>> {
        Ok(lock(&self.lids)
            .iter()
            .map(|(p, l)| LidMapping {
                lid: l.clone(),
                phone: *p,
            })
            .collect())
    }
    async fn count_lid_map(&self, _: &SessionName) -> StoreResult<u64> {
        Ok(lock(&self.lids).len() as u64)
    }
    async fn cache_about(
        &self,
        _: &SessionName,
        who: &ContactRef,
        about: Option<&str>,
        at: i64,
    ) -> StoreResult<()> {
        self.with_contact(who, |c| {
            c.about = about.map(str::to_owned);
            c.about_fetched_ms = Some(at);
        });
        Ok(())
    }
    async fn cache_picture(
        &self,
        _: &SessionName,
        who: &ContactRef,
        p: Option<&ProfilePicture>,
        at: i64,
    ) -> StoreResult<()> {
        self.with_contact(who, |c| {
            c.picture_url = p.map(|p| p.url.clone());
            c.picture_fetched_ms = Some(at);
        });
        Ok(())
    }
    async fn set_business(
        &self,
        _: &SessionName,
        who: &ContactRef,
        b: bool,
        n: Option<&str>,
    ) -> StoreResult<()> {
        self.with_contact(who, |c| {
            c.is_business = b;
            c.verified_name = n.map(str::to_owned);
        });
        Ok(())
    }
    async fn set_blocked(
        &self,
        _: &SessionName,
        who: &ContactRef,
        blocked: bool,
    ) -> StoreResult<()> {
        let mut set = lock(&self.blocked);
        if blocked {
            set.insert(who.clone());
        } else {
            set.remove(who);
        }
        Ok(())
    }
    async fn blocklist(&self, _: &SessionName) -> StoreResult<Vec<BlockedContact>> {
        Ok(lock(&self.blocked)
            .iter()
            .map(|who| BlockedContact {
                phone: who.phone().copied(),
                lid: who.lid().cloned(),
                blocked_ms: None,
            })
            .collect())
    }
    async fn save_address_book(&self, _: &SessionName, e: &AddressBookEntry) -> StoreResult<()> {
        lock(&self.saved).push(e.clone());
        Ok(())
    }
}

#[async_trait]
impl CheckStore for FakeStore {
    async fn cached_checks(
        &self,
        _: &SessionName,
        keys: &[CheckKey],
    ) -> StoreResult<HashMap<CheckKey, CachedExistence>> {
        let checks = lock(&self.checks);
        Ok(keys
            .iter()
            .filter_map(|k| Some((k.clone(), checks.get(k)?.clone())))
            .collect())
    }
    async fn cache_checks(
        &self,
        _: &SessionName,
        answers: &[(CheckKey, CachedExistence)],
    ) -> StoreResult<()> {
        lock(&self.checks).extend(answers.iter().cloned());
        Ok(())
    }
    async fn lookups_since(&self, _: &SessionName, since_ms: i64) -> StoreResult<Vec<i64>> {
        let mut at: Vec<i64> = lock(&self.checks)
            .values()
            .map(|c| c.checked_ms)
            .filter(|&t| t >= since_ms)
            .collect();
        at.sort_unstable();
        Ok(at)
    }
}

#[async_trait]
impl SessionStore for FakeStore {
    async fn create_session(&self, new: &NewSession) -> StoreResult<bool> {
        let mut all = lock(&self.sessions);
        if all.iter().any(|r| r.name == new.name) {
            return Ok(false);
        }
        all.push(SessionRecord {
            name: new.name.clone(),
            config: new.config.clone(),
            status: SessionStatus::Stopped,
            desired_running: false,
            failure_reason: None,
            created_ms: 0,
            updated_ms: 0,
        });
        Ok(true)
    }
    async fn list_sessions(&self) -> StoreResult<Vec<SessionRecord>> {
        Ok(lock(&self.sessions).clone())
    }
    async fn get_session(&self, name: &SessionName) -> StoreResult<Option<SessionRecord>> {
        Ok(lock(&self.sessions)
            .iter()
            .find(|r| &r.name == name)
            .cloned())
    }
    async fn update_session_config(
        &self,
        _: &SessionName,
        _: &serde_json::Value,
    ) -> StoreResult<bool> {
        Ok(true)
    }
    async fn set_session_status(
        &self,
        _: &SessionName,
        _: SessionStatus,
        _: Option<&str>,
    ) -> StoreResult<()> {
        Ok(())
    }
    async fn set_desired_running(&self, name: &SessionName, running: bool) -> StoreResult<()> {
        for r in lock(&self.sessions).iter_mut().filter(|r| &r.name == name) {
            r.desired_running = running;
        }
        Ok(())
    }
    async fn delete_session(&self, name: &SessionName) -> StoreResult<()> {
        lock(&self.sessions).retain(|r| &r.name != name);
        Ok(())
    }
}

/// WhatsApp as scripted by a test; every call is logged.
#[derive(Default)]
pub struct FakeDirectory {
    pub calls: Mutex<Vec<String>>,
    /// Numbers on WhatsApp, with their LIDs.
    pub registered: Mutex<HashMap<PhoneNumber, Option<Lid>>>,
    /// What `known_lids`/`known_phone` answer (the client's own cache).
    pub client_cache: Mutex<HashMap<PhoneNumber, Lid>>,
    /// What `user_info` answers (`None` = nothing for that user).
    pub info: Mutex<Option<Result<UserInfo, DirectoryError>>>,
    /// `is_on_whatsapp` answers 429 while set.
    pub rate_limited: std::sync::atomic::AtomicBool,
    /// What `profile_picture` answers.
    pub picture: Mutex<Option<Result<Option<ProfilePicture>, DirectoryError>>>,
    /// Usernames on WhatsApp: their LID and the PIN their holder set.
    pub usernames: Mutex<HashMap<Username, (Lid, Option<UsernamePin>)>>,
}

impl FakeDirectory {
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }
    fn log(&self, call: String) {
        lock(&self.calls).push(call);
    }
}

#[async_trait]
impl Directory for FakeDirectory {
    async fn is_on_whatsapp(
        &self,
        phones: &[PhoneNumber],
    ) -> Result<HashMap<PhoneNumber, ExistenceResult>, DirectoryError> {
        self.log(format!("is_on_whatsapp {}", phones.len()));
        if self.rate_limited.load(Ordering::SeqCst) {
            return Err(DirectoryError::RateLimited {
                retry_after_secs: Some(30),
            });
        }
        let registered = lock(&self.registered);
        Ok(phones
            .iter()
            .map(|p| {
                let answer = match registered.get(p) {
                    Some(lid) => ExistenceResult {
                        exists: true,
                        phone: Some(*p),
                        lid: lid.clone(),
                        is_business: false,
                        verified_name: None,
                        username: None,
                    },
                    None => ExistenceResult::not_found(),
                };
                (*p, answer)
            })
            .collect())
    }
    async fn find_usernames(
        &self,
        asked: &[UsernameQuery],
    ) -> Result<HashMap<UsernameQuery, ExistenceResult>, DirectoryError> {
        self.log(format!("find_usernames {}", asked.len()));
        let usernames = lock(&self.usernames);
        Ok(asked
            .iter()
            .map(|q| {
                let answer = match usernames.get(&q.username) {
                    Some((lid, pin)) if pin.as_ref().is_none_or(|p| Some(p) == q.pin.as_ref()) => {
                        ExistenceResult {
                            exists: true,
                            phone: None,
                            lid: Some(lid.clone()),
                            is_business: false,
                            verified_name: None,
                            username: Some(q.username.clone()),
                        }
                    }
                    _ => ExistenceResult::not_found(),
                };
                (q.clone(), answer)
            })
            .collect())
    }
    async fn user_info(
        &self,
        who: &[ContactRef],
    ) -> Result<HashMap<ContactRef, UserInfo>, DirectoryError> {
        self.log("user_info".into());
        match lock(&self.info).clone() {
            Some(Ok(info)) => Ok(who.iter().map(|w| (w.clone(), info.clone())).collect()),
            Some(Err(e)) => Err(e),
            None => Ok(HashMap::new()),
        }
    }
    async fn profile_picture(
        &self,
        _: &ContactRef,
        _: bool,
    ) -> Result<Option<ProfilePicture>, DirectoryError> {
        self.log("profile_picture".into());
        lock(&self.picture).clone().unwrap_or(Ok(None))
    }
    async fn block(&self, lid: &Lid, phone: Option<&PhoneNumber>) -> Result<(), DirectoryError> {
        self.log(format!("block {lid} {:?}", phone.map(|p| p.to_string())));
        Ok(())
    }
    async fn unblock(&self, lid: &Lid) -> Result<(), DirectoryError> {
        self.log(format!("unblock {lid}"));
        Ok(())
    }
    async fn blocklist(&self) -> Result<Vec<BlockEntry>, DirectoryError> {
        Ok(Vec::new())
    }
    async fn save_contact(
        &self,
        p: &PhoneNumber,
        full: &str,
        _: Option<&str>,
    ) -> Result<(), DirectoryError> {
        self.log(format!("save {p} {full}"));
        Ok(())
    }
    async fn known_lids(
        &self,
        phones: &[PhoneNumber],
    ) -> Result<HashMap<PhoneNumber, Lid>, DirectoryError> {
        self.log(format!("known_lids {}", phones.len()));
        let cache = lock(&self.client_cache);
        Ok(phones
            .iter()
            .filter_map(|p| Some((*p, cache.get(p)?.clone())))
            .collect())
    }
    async fn known_phone(&self, l: &Lid) -> Result<Option<PhoneNumber>, DirectoryError> {
        self.log("known_phone".into());
        Ok(lock(&self.client_cache)
            .iter()
            .find(|(_, v)| *v == l)
            .map(|(p, _)| *p))
    }
}

/// The engine as a test sets it: one status per session, one directory for all.
pub struct FakeRuntime {
    pub status: Mutex<HashMap<SessionName, SessionStatus>>,
    /// Statuses a STARTING session moves through, one per `state` read.
    pub script: Mutex<Vec<SessionStatus>>,
    pub directory: Arc<FakeDirectory>,
}

#[async_trait]
impl SessionRuntime for FakeRuntime {
    fn state(&self, name: &SessionName) -> SessionState {
        let mut status = lock(&self.status);
        let mut script = lock(&self.script);
        if !script.is_empty() {
            status.insert(name.clone(), script.remove(0));
        }
        SessionState {
            status: status.get(name).copied().unwrap_or(SessionStatus::Stopped),
            reason: None,
            me: None,
        }
    }
    async fn start(&self, name: &SessionName) -> Result<(), EngineError> {
        lock(&self.status).insert(name.clone(), SessionStatus::Working);
        Ok(())
    }
    async fn stop(&self, name: &SessionName) -> Result<(), EngineError> {
        lock(&self.status).insert(name.clone(), SessionStatus::Stopped);
        Ok(())
    }
    async fn logout(&self, name: &SessionName) -> Result<(), EngineError> {
        self.stop(name).await
    }
    async fn delete(&self, name: &SessionName) -> Result<(), EngineError> {
        lock(&self.status).remove(name);
        Ok(())
    }
    fn qr(&self, _: &SessionName) -> Option<String> {
        None
    }
    async fn request_code(&self, _: &SessionName, _: &str) -> Result<String, EngineError> {
        Err(EngineError::NotRunning)
    }
    fn directory(&self, _: &SessionName) -> Option<Arc<dyn Directory>> {
        Some(self.directory.clone())
    }
}

/// A contact service over fakes, with one session `s` in `status`.
pub struct World {
    pub store: Arc<FakeStore>,
    pub directory: Arc<FakeDirectory>,
    pub runtime: Arc<FakeRuntime>,
    pub clock: Arc<FakeClock>,
    pub sessions: SessionService,
    pub contacts: ContactService,
    pub session: SessionName,
}

impl World {
    pub async fn new(status: SessionStatus) -> Self {
        let store = Arc::new(FakeStore {
            chunks_before_failure: usize::MAX.into(),
            ..FakeStore::default()
        });
        let directory = Arc::new(FakeDirectory::default());
        let session = SessionName::parse("s").unwrap();
        let runtime = Arc::new(FakeRuntime {
            status: Mutex::new(HashMap::from([(session.clone(), status)])),
            script: Mutex::new(Vec::new()),
            directory: directory.clone(),
        });
        let clock = Arc::new(FakeClock::default());
        clock.advance(Duration::from_secs(1_000_000));
        let sessions = SessionService::new(
            store.clone(),
            runtime.clone(),
            clock.clone(),
            Policy::default(),
        );
        store
            .create_session(&NewSession {
                name: session.clone(),
                config: serde_json::json!({}),
            })
            .await
            .unwrap();
        let contacts = ContactService::new(store.clone(), sessions.clone());
        Self {
            store,
            directory,
            runtime,
            clock,
            sessions,
            contacts,
            session,
        }
    }
}
