//! Shared state: the directory, the accounts and their linked devices, live connections,
//! standing faults and counters.

use crate::WasimConfig;
use crate::directory::{
    AccountInfo, AddressBookContact, DeviceInfo, DirectoryUser, normalize_phone, normalize_username,
};
use crate::faults::Fault;
use crate::noise::ServerIdentity;
use crate::signal::PeerKeys;
use crate::stats::Stats;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use tokio::sync::mpsc::UnboundedSender;
use wacore_binary::Node;

pub(crate) type ConnId = u64;

/// What a connection task is told to do.
#[derive(Debug)]
pub(crate) enum Out {
    Node(Node),
    /// Send this node, then close.
    NodeThenClose(Node),
    Close,
}

pub(crate) struct ConnEntry {
    pub tx: UnboundedSender<Out>,
    /// Set once logged in (or after pairing succeeded on this connection).
    pub account: Option<String>,
    pub device: Option<u16>,
}

/// A directory user and the keys of its phone (device 0).
pub(crate) struct User {
    pub info: DirectoryUser,
    pub keys: PeerKeys,
}

/// A companion device linked to an account.
pub(crate) struct Device {
    pub id: u16,
    pub noise_pub: [u8; 32],
    pub identity_pub: [u8; 32],
    pub registration_id: Option<u32>,
    pub signed_prekey: Option<(u32, [u8; 32], Vec<u8>)>,
    pub prekeys: VecDeque<(u32, [u8; 32])>,
    pub prekeys_uploaded: usize,
    pub conn: Option<ConnId>,
    /// The app-state key was sent to this device.
    pub key_shared: bool,
    /// The push-name history sync was sent to this device.
    pub history_sent: bool,
    /// Stanzas for the device while it is offline, delivered after its next login.
    pub pending: Vec<Node>,
}

pub(crate) struct Account {
    pub phone: String,
    pub contacts: Vec<AddressBookContact>,
    pub blocklist: BTreeMap<String, i64>,
    pub devices: BTreeMap<u16, Device>,
    /// The highest device id ever given to a companion of this account. WhatsApp never
    /// gives a removed companion's id to a new one (the ADV key index only counts up):
    /// a reused id would meet the old device's Signal sessions on every peer.
    pub last_device_id: u16,
    pub appstate: crate::appstate::AppState,
}

#[derive(Default)]
pub(crate) struct FaultState {
    pub delay_ms: HashMap<Option<String>, u64>,
    /// Remaining usync answers to refuse with 429 (`u32::MAX` = until cleared), per
    /// account (`None` = every account).
    pub usync_429: HashMap<Option<String>, u32>,
}

impl FaultState {
    pub fn delay_for(&self, account: Option<&str>) -> u64 {
        let a = account.and_then(|a| self.delay_ms.get(&Some(a.to_string())));
        a.or_else(|| self.delay_ms.get(&None)).copied().unwrap_or(0)
    }

    /// Whether this usync is refused; consumes one from a counted fault.
    pub fn take_usync_429(&mut self, account: Option<&str>) -> bool {
        for key in [account.map(str::to_string), None] {
            if let Some(n) = self.usync_429.get_mut(&key) {
                if *n == 0 {
                    continue;
                }
                if *n != u32::MAX {
                    *n -= 1;
                }
                return true;
            }
        }
        false
    }
}

pub(crate) struct PendingPairCode {
    pub conn: ConnId,
    pub pairing_ref: String,
    /// `salt || iv || AES-CTR(code-derived key, companion ephemeral pub)`.
    pub wrapped_companion_ephemeral: Vec<u8>,
    /// Set once the phone entered the code.
    pub phone_side: Option<PairCodePhoneSide>,
}

pub(crate) struct PairCodePhoneSide {
    pub companion_ephemeral: [u8; 32],
    pub primary_ephemeral: wacore::libsignal::protocol::KeyPair,
    pub done: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
}

#[derive(Default)]
pub(crate) struct World {
    pub users: BTreeMap<String, User>,
    /// LID user part -> phone.
    pub lids: HashMap<String, String>,
    pub accounts: BTreeMap<String, Account>,
    pub conns: HashMap<ConnId, ConnEntry>,
    /// QR ref -> the unpaired connection that showed it (with its static noise key).
    pub qr_refs: HashMap<String, (ConnId, [u8; 32])>,
    /// Pair-code requests by the phone number they were made for.
    pub pair_codes: HashMap<String, PendingPairCode>,
    /// Unpaired connections' registration data.
    pub registrations: HashMap<ConnId, crate::pairing::Registration>,
    pub faults: FaultState,
    pub stats: Stats,
    /// Encrypted blobs on the "media host" (app-state snapshots).
    pub media: crate::media::MediaStore,
    pub next_lid: u64,
}

impl World {
    /// Inserts or merges a user; returns its phone.
    pub fn upsert_user(&mut self, mut u: DirectoryUser) -> String {
        u.phone = normalize_phone(&u.phone);
        let phone = u.phone.clone();
        if let Some(lid) = u.lid.as_mut() {
            *lid = normalize_phone(lid);
        }
        if let Some(username) = u.username.as_mut() {
            *username = normalize_username(username);
        }
        match self.users.get_mut(&phone) {
            Some(existing) => {
                let e = &mut existing.info;
                if let Some(lid) = u.lid
                    && e.lid.as_ref() != Some(&lid)
                {
                    if let Some(old) = e.lid.take() {
                        self.lids.remove(&old);
                    }
                    self.lids.insert(lid.clone(), phone.clone());
                    e.lid = Some(lid);
                }
                macro_rules! merge {
                    ($($f:ident),*) => { $( if u.$f.is_some() { e.$f = u.$f; } )* };
                }
                merge!(
                    push_name,
                    about,
                    about_hidden,
                    picture_id,
                    picture_url,
                    picture_hidden,
                    business,
                    verified_name,
                    devices,
                    username,
                    pin
                );
            }
            None => {
                let lid = match u.lid.clone() {
                    Some(l) => l,
                    None => self.fresh_lid(),
                };
                self.lids.insert(lid.clone(), phone.clone());
                u.lid = Some(lid);
                self.users.insert(
                    phone.clone(),
                    User {
                        info: u,
                        keys: PeerKeys::generate(),
                    },
                );
            }
        }
        phone
    }

    /// The phone of the user whose username is `username` (normalized).
    pub fn user_by_username(&self, username: &str) -> Option<&str> {
        let username = normalize_username(username);
        self.users
            .iter()
            .find(|(_, u)| u.info.username.as_deref() == Some(username.as_str()))
            .map(|(phone, _)| phone.as_str())
    }

    fn fresh_lid(&mut self) -> String {
        loop {
            self.next_lid += 1;
            let lid = format!("{}", 100_000_000_000_000u64 + self.next_lid * 7919);
            if !self.lids.contains_key(&lid) {
                return lid;
            }
        }
    }

    pub fn lid_of(&self, phone: &str) -> String {
        self.users
            .get(phone)
            .and_then(|u| u.info.lid.clone())
            .unwrap_or_default()
    }

    /// The account (created when new, and made a directory user).
    pub fn account_mut(&mut self, phone: &str, push_name: &str) -> &mut Account {
        let phone = normalize_phone(phone);
        if !self.users.contains_key(&phone) {
            let mut u = DirectoryUser::new(phone.clone());
            u.push_name = Some(push_name.to_string());
            self.upsert_user(u);
        }
        self.accounts
            .entry(phone.clone())
            .or_insert_with(|| Account {
                phone: phone.clone(),
                contacts: Vec::new(),
                blocklist: BTreeMap::new(),
                devices: BTreeMap::new(),
                last_device_id: 0,
                appstate: crate::appstate::AppState::new(),
            })
    }

    pub fn send(&self, conn: ConnId, out: Out) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(out);
        }
    }

    /// Sends `node` to a linked device now, or queues it until the device logs in.
    pub fn deliver(&mut self, account: &str, device: u16, node: Node) {
        let Some(d) = self
            .accounts
            .get_mut(account)
            .and_then(|a| a.devices.get_mut(&device))
        else {
            return;
        };
        match d.conn {
            Some(c) => {
                if let Some(e) = self.conns.get(&c) {
                    let _ = e.tx.send(Out::Node(node));
                }
            }
            None => {
                // Bounded: a device that never comes back must not grow without end.
                if d.pending.len() < 10_000 {
                    d.pending.push(node);
                }
            }
        }
    }

    /// Every linked device of every account but `except`: (account, device).
    pub fn linked_devices_except(&self, except: &str) -> Vec<(String, u16)> {
        self.accounts
            .values()
            .filter(|a| a.phone != except)
            .flat_map(|a| a.devices.keys().map(|d| (a.phone.clone(), *d)))
            .collect()
    }

    /// Linked device ids of `account`.
    pub fn devices_of(&self, account: &str) -> Vec<u16> {
        self.accounts
            .get(account)
            .map(|a| a.devices.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn count_iq(&mut self, account: Option<&str>, xmlns: &str) {
        if let Some(a) = account {
            let s = self.stats.accounts.entry(a.to_string()).or_default();
            crate::stats::bump(&mut s.iq, xmlns);
        }
    }

    /// The answer to an IQ wasim does not know, as WhatsApp gives it for a request it
    /// does not support: `<error code="501" text="feature-not-implemented"/>`
    /// (counted in the account's `unsupported` stats).
    pub fn unsupported_iq(&mut self, account: &str, xmlns: &str, iq_id: &str) -> Node {
        let s = self.stats.accounts.entry(account.to_string()).or_default();
        crate::stats::bump(&mut s.unsupported, xmlns);
        crate::conn::iq_error(iq_id, 501, "feature-not-implemented")
    }
}

pub(crate) struct Shared {
    pub config: WasimConfig,
    pub world: tokio::sync::Mutex<World>,
    pub id: ServerIdentity,
    pub addr: OnceLock<SocketAddr>,
    pub stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    pub task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub active: AtomicUsize,
    pub next_conn: AtomicU64,
    pub next_id: AtomicU64,
    /// Bumped by whatever may change the durable state (the saver compares it).
    pub changes: AtomicU64,
    /// Where the state is saved, once [`crate::Wasim::persist_to`] was called.
    pub state_file: std::sync::Mutex<Option<std::path::PathBuf>>,
}

impl Shared {
    pub fn new(config: WasimConfig) -> Self {
        Self {
            config,
            world: tokio::sync::Mutex::new(World::default()),
            id: ServerIdentity::generate(),
            addr: OnceLock::new(),
            stop: std::sync::Mutex::new(None),
            task: std::sync::Mutex::new(None),
            active: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
            next_id: AtomicU64::new(1),
            changes: AtomicU64::new(0),
            state_file: std::sync::Mutex::new(None),
        }
    }

    /// Marks the durable state as (possibly) changed.
    pub fn touch(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A fresh stanza id.
    pub fn stanza_id(&self) -> String {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("wasim.{n}")
    }

    pub async fn upsert_users(&self, users: Vec<DirectoryUser>) -> anyhow::Result<()> {
        for u in &users {
            if normalize_phone(&u.phone).is_empty() {
                anyhow::bail!("user without phone");
            }
        }
        let mut w = self.world.lock().await;
        for u in users {
            w.upsert_user(u);
        }
        Ok(())
    }

    pub async fn users(&self) -> Vec<DirectoryUser> {
        let w = self.world.lock().await;
        w.users.values().map(|u| u.info.clone()).collect()
    }

    pub async fn stats(&self) -> Stats {
        self.world.lock().await.stats.clone()
    }

    pub async fn accounts(&self) -> Vec<AccountInfo> {
        let w = self.world.lock().await;
        w.accounts
            .values()
            .map(|a| AccountInfo {
                phone: a.phone.clone(),
                lid: w.lid_of(&a.phone),
                devices: a
                    .devices
                    .values()
                    .map(|d| DeviceInfo {
                        jid: format!("{}:{}@s.whatsapp.net", a.phone, d.id),
                        id: d.id,
                        connected: d.conn.is_some(),
                        prekeys_uploaded: d.prekeys_uploaded,
                    })
                    .collect(),
                contacts: a.contacts.clone(),
                blocklist: a.blocklist.keys().cloned().collect(),
            })
            .collect()
    }

    pub async fn close_all(&self) {
        let w = self.world.lock().await;
        for c in w.conns.values() {
            let _ = c.tx.send(Out::Close);
        }
    }
}

pub(crate) async fn apply_fault(shared: &Shared, fault: Fault) -> anyhow::Result<()> {
    let mut w = shared.world.lock().await;
    match fault {
        Fault::Drop { account } => {
            let account = account.map(|a| normalize_phone(&a));
            for c in w.conns.values() {
                if account.is_none() || c.account == account {
                    let _ = c.tx.send(Out::Close);
                }
            }
        }
        Fault::Delay { ms, account } => {
            let key = account.map(|a| normalize_phone(&a));
            if ms == 0 {
                w.faults.delay_ms.remove(&key);
            } else {
                w.faults.delay_ms.insert(key, ms);
            }
        }
        Fault::UsyncRateLimit { count, account } => {
            let key = account.map(|a| normalize_phone(&a));
            w.faults.usync_429.insert(key, count.unwrap_or(u32::MAX));
        }
        Fault::Logout { account, device } => {
            let account = normalize_phone(&account);
            let Some(acc) = w.accounts.get_mut(&account) else {
                anyhow::bail!("no account {account}");
            };
            let ids: Vec<u16> = acc
                .devices
                .keys()
                .copied()
                .filter(|d| device.is_none_or(|x| x == *d))
                .collect();
            let mut conns = Vec::new();
            for id in ids {
                if let Some(d) = acc.devices.remove(&id)
                    && let Some(c) = d.conn
                {
                    conns.push(c);
                }
            }
            for c in conns {
                w.send(c, Out::NodeThenClose(crate::conn::stream_error("401")));
            }
        }
        Fault::Clear => {
            w.faults = FaultState::default();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_merges_and_assigns_lids() {
        let mut w = World::default();
        let mut u = DirectoryUser::new("+1 555 000 1111");
        u.about = Some("a".into());
        w.upsert_user(u);
        let lid = w.users["15550001111"].info.lid.clone().unwrap();
        assert_eq!(w.lids[&lid], "15550001111");
        let mut again = DirectoryUser::new("15550001111");
        again.push_name = Some("P".into());
        w.upsert_user(again);
        let info = &w.users["15550001111"].info;
        assert_eq!(info.about.as_deref(), Some("a"), "absent fields stay");
        assert_eq!(info.push_name.as_deref(), Some("P"));
        assert_eq!(info.lid.as_deref(), Some(lid.as_str()));
        let mut other = DirectoryUser::new("15550002222");
        other.lid = Some("777".into());
        w.upsert_user(other);
        assert_eq!(w.lids["777"], "15550002222");
    }

    #[test]
    fn counted_usync_faults_run_out() {
        let mut f = FaultState::default();
        f.usync_429.insert(None, 2);
        assert!(f.take_usync_429(Some("1")));
        assert!(f.take_usync_429(None));
        assert!(!f.take_usync_429(Some("1")));
        f.usync_429.insert(Some("1".into()), u32::MAX);
        assert!(f.take_usync_429(Some("1")));
        assert!(f.take_usync_429(Some("1")));
        assert!(!f.take_usync_429(Some("2")));
    }
}
