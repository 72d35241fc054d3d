//! Bounds on the memory a session's whatsapp-rust client keeps, whatever the size of
//! its address book or the traffic it sees.
//!
//! whatsapp-rust sizes its caches for one account that sends messages: its LID↔phone
//! cache is unbounded (like WhatsApp Web's plain `Map`s), its device registry holds
//! 5,000 entries, its coordination maps 10,000 locks. wacontacts runs thousands of
//! accounts in one process and sends no messages, so:
//!
//! - the LID↔phone cache ([`LidPnStore`]) reads through to the session's mappings in
//!   our database (`wa_lid_pn`, where the client persists every mapping it learns),
//!   with one memory tier shared by every session of the process and bounded in bytes
//!   ([`crate::EngineConfig::lid_cache_bytes`]); a mapping evicted from it is read
//!   again from the database on the next lookup, so eviction costs a query, never a
//!   mapping (a bound on the library's own in-process map would lose it: its
//!   `get_phone_number` has no database fallback);
//! - the caches that serve sending, groups and retries get small per-session
//!   capacities ([`session_cache_config`]); they are re-fetched from WhatsApp or the
//!   database on a miss.
//!
//! Bounded by the library and left as it is: the Signal write-back cache (2,000
//! entries per store, clean entries evicted first).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wacontacts_store::device::DeviceHandle;
use whatsapp_rust::cache_config::{CacheConfig, CacheEntryConfig, CacheStore, CacheStores};
use whatsapp_rust::lid_pn_cache::{LearningSource, LidPnEntry};
use whatsapp_rust::wacore::store::traits::{LidPnMappingEntry, ProtocolStore};

/// Per-session entries of the two maps the LID↔phone cache keeps in process whatever
/// its store: which pairs this process has persisted (a miss only re-persists), and
/// the 3-byte contact hashes of `<devices><update hash>` notifications (a miss leaves
/// that contact's device list to its next usync).
pub const LOCAL_LID_ENTRIES: u64 = 1_024;

/// The whatsapp-rust cache settings of one session. Capacities are entries per
/// session; timeouts are the library's.
pub(crate) fn session_cache_config(lid_store: Arc<dyn CacheStore>) -> CacheConfig {
    let one_hour = Some(Duration::from_secs(3600));
    let five_min = Some(Duration::from_secs(300));
    CacheConfig {
        // Groups: we read no group metadata.
        group_cache: CacheEntryConfig::new(one_hour, 16),
        // Device lists of the contacts a usync asked about (re-queried on a miss).
        device_registry_cache: CacheEntryConfig::new(one_hour, 256),
        lid_pn_cache: CacheEntryConfig::new(None, LOCAL_LID_ENTRIES),
        message_retry_counts: CacheEntryConfig::new(one_hour, 64),
        undecryptable_dispatched: CacheEntryConfig::new(five_min, 64),
        pdo_pending_requests: CacheEntryConfig::new(Some(Duration::from_secs(30)), 32),
        pdo_requested: CacheEntryConfig::new(Some(Duration::from_secs(24 * 3600)), 64),
        sender_key_devices_cache: CacheEntryConfig::new(one_hour, 16),
        session_recreate_history: CacheEntryConfig::new(one_hour, 64),
        // Soft caps: a lock a task holds is never evicted (the library's guard).
        session_locks_capacity: 256,
        chat_lanes_capacity: 256,
        group_distribution_locks_capacity: 16,
        resend_rate_limiter_capacity: 64,
        cache_stores: CacheStores {
            lid_pn_cache: Some(lid_store),
            ..CacheStores::default()
        },
        ..CacheConfig::default()
    }
}

/// whatsapp-rust's LID↔phone cache namespaces (`lid_pn_cache.rs`): keyed by LID user,
/// and by phone number user.
const NS_BY_LID: &str = "lid_pn_by_lid";
const NS_BY_PN: &str = "lid_pn_by_pn";

/// Which side of a mapping a key is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Side {
    Lid,
    Phone,
}

fn side_of(namespace: &str) -> anyhow::Result<Side> {
    match namespace {
        NS_BY_LID => Ok(Side::Lid),
        NS_BY_PN => Ok(Side::Phone),
        other => anyhow::bail!("not a LID cache namespace: {other}"),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    session: Arc<str>,
    side: Side,
    user: Box<str>,
}

/// The memory tier every session's [`LidPnStore`] shares: serialized entries
/// (whatsapp-rust's JSON of a [`LidPnEntry`]), weighed in bytes, least recently used
/// evicted first.
#[derive(Clone)]
pub(crate) struct LidMemory {
    cache: moka::sync::Cache<Key, Arc<[u8]>>,
}

/// What a key and its entry hold beyond their bytes (the key's session `Arc`, the
/// boxes, moka's node).
const ENTRY_OVERHEAD: u32 = 96;

impl LidMemory {
    pub(crate) fn new(max_bytes: u64) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Key, v: &Arc<[u8]>| {
                u32::try_from(k.user.len() + v.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .support_invalidation_closures()
            .build();
        Self { cache }
    }

    /// Bytes held (after pending evictions ran) and entries, over all sessions.
    pub(crate) fn usage(&self) -> LidCacheUsage {
        self.cache.run_pending_tasks();
        LidCacheUsage {
            bytes: self.cache.weighted_size(),
            entries: self.cache.entry_count(),
        }
    }

    /// One session's view, reading through to its device state.
    pub(crate) fn store_for(&self, device: DeviceHandle, session: &str) -> LidPnStore {
        LidPnStore {
            memory: self.clone(),
            device,
            session: Arc::from(session),
        }
    }
}

/// One session's LID↔phone cache store: the shared memory tier in front of the
/// session's `wa_lid_pn` rows.
pub(crate) struct LidPnStore {
    memory: LidMemory,
    device: DeviceHandle,
    session: Arc<str>,
}

impl LidPnStore {
    fn key(&self, side: Side, user: &str) -> Key {
        Key {
            session: self.session.clone(),
            side,
            user: user.into(),
        }
    }

    /// The mapping as the database has it, in the cache's serialized form.
    async fn load(&self, side: Side, user: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let row = match side {
            Side::Lid => self.device.get_lid_mapping(user).await?,
            Side::Phone => self.device.get_pn_mapping(user).await?,
        };
        row.map(|m| serde_json::to_vec(&entry_of(m)).map_err(Into::into))
            .transpose()
    }
}

/// whatsapp-rust's own conversion of a stored row (`client/lid_pn.rs`).
fn entry_of(m: LidPnMappingEntry) -> LidPnEntry {
    LidPnEntry::with_timestamp(
        m.lid,
        m.phone_number,
        m.created_at,
        LearningSource::parse(&m.learning_source),
    )
}

#[async_trait]
impl CacheStore for LidPnStore {
    /// Memory first, then the database (a closed session's database read is a miss).
    async fn get(&self, namespace: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let side = side_of(namespace)?;
        let k = self.key(side, key);
        if let Some(bytes) = self.memory.cache.get(&k) {
            return Ok(Some(bytes.to_vec()));
        }
        let loaded = self.load(side, key).await?;
        if let Some(bytes) = &loaded {
            self.memory.cache.insert(k, Arc::from(bytes.as_slice()));
        }
        Ok(loaded)
    }

    /// Memory only: the client persists the mapping itself (`wa_lid_pn`), right after
    /// or, for a pair it has already persisted, before.
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        _ttl: Option<Duration>,
    ) -> anyhow::Result<()> {
        let k = self.key(side_of(namespace)?, key);
        self.memory.cache.insert(k, Arc::from(value));
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> anyhow::Result<()> {
        self.memory
            .cache
            .invalidate(&self.key(side_of(namespace)?, key));
        Ok(())
    }

    /// Forgets this session's entries on that side (others' stay).
    async fn clear(&self, namespace: &str) -> anyhow::Result<()> {
        let side = side_of(namespace)?;
        let session = self.session.clone();
        self.memory
            .cache
            .invalidate_entries_if(move |k, _| k.side == side && k.session == session)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

/// Entry counts of what one session's client holds in this process, for benchmarks
/// and tests (whatsapp-rust's `memory_report`, reduced to what can grow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionMemory {
    /// LID↔phone entries in the client's own maps (0 while [`LidPnStore`] holds them).
    pub lid_pn_in_process: u64,
    pub device_registry: u64,
    pub signal_sessions: u64,
    pub signal_identities: u64,
    pub session_locks: u64,
    pub chat_lanes: u64,
}

impl SessionMemory {
    pub(crate) fn of(r: &whatsapp_rust::MemoryReport) -> Self {
        Self {
            lid_pn_in_process: r.lid_pn_lid_entries.entries + r.lid_pn_pn_entries.entries,
            device_registry: r.device_registry_cache.entries,
            signal_sessions: r.signal_sessions.entries,
            signal_identities: r.signal_identities.entries,
            session_locks: r.session_locks,
            chat_lanes: r.chat_lanes,
        }
    }
}

/// The shared LID↔phone memory tier: bytes (as weighed) and entries, all sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LidCacheUsage {
    pub bytes: u64,
    pub entries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wacontacts_core::session::SessionName;
    use whatsapp_rust::wacore::store::traits::DeviceStore;

    async fn devices(dir: &std::path::Path) -> wacontacts_store::device::Devices {
        wacontacts_store::Store::open_in_dir(dir)
            .await
            .unwrap()
            .devices()
    }

    fn row(lid: &str, phone: &str) -> LidPnMappingEntry {
        LidPnMappingEntry {
            lid: lid.into(),
            phone_number: phone.into(),
            created_at: 1_700_000_000,
            updated_at: 1_700_000_000,
            learning_source: "usync".into(),
        }
    }

    fn decoded(bytes: Option<Vec<u8>>) -> Option<(String, String)> {
        let e: LidPnEntry = serde_json::from_slice(&bytes?).unwrap();
        Some((e.lid.to_string(), e.phone_number.to_string()))
    }

    #[tokio::test]
    async fn an_evicted_mapping_is_read_again_from_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let devices = devices(dir.path()).await;
        let handle = devices.handle(&SessionName::parse("a").unwrap());
        // The account row, as the client's first `Bot::build` makes it.
        handle.create().await.unwrap();
        handle.put_lid_mapping(&row("111", "155")).await.unwrap();
        // A tier too small to keep anything.
        let memory = LidMemory::new(1);
        let store = memory.store_for(handle, "a");
        let want = Some(("111".to_owned(), "155".to_owned()));
        assert_eq!(decoded(store.get(NS_BY_LID, "111").await.unwrap()), want);
        assert_eq!(decoded(store.get(NS_BY_PN, "155").await.unwrap()), want);
        assert_eq!(store.get(NS_BY_LID, "222").await.unwrap(), None);
        assert_eq!(memory.usage().entries, 0);
        assert!(store.get("group", "x").await.is_err(), "not our namespace");
    }

    #[tokio::test]
    async fn clear_forgets_one_session_and_one_side() {
        let dir = tempfile::tempdir().unwrap();
        let devices = devices(dir.path()).await;
        let memory = LidMemory::new(1 << 20);
        let a = memory.store_for(devices.handle(&SessionName::parse("a").unwrap()), "a");
        let b = memory.store_for(devices.handle(&SessionName::parse("b").unwrap()), "b");
        let value = serde_json::to_vec(&entry_of(row("111", "155"))).unwrap();
        for store in [&a, &b] {
            store.set(NS_BY_LID, "111", &value, None).await.unwrap();
            store.set(NS_BY_PN, "155", &value, None).await.unwrap();
        }
        a.clear(NS_BY_LID).await.unwrap();
        // Neither in memory nor in the (empty) database any more.
        assert_eq!(a.get(NS_BY_LID, "111").await.unwrap(), None);
        assert!(a.get(NS_BY_PN, "155").await.unwrap().is_some());
        assert!(b.get(NS_BY_LID, "111").await.unwrap().is_some());
        a.delete(NS_BY_PN, "155").await.unwrap();
        assert_eq!(a.get(NS_BY_PN, "155").await.unwrap(), None);
    }
}
