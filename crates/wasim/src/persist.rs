//! wasim's state on disk: directory users with their phones' keys and Signal sessions,
//! accounts with their linked devices (keys, pre-keys, queued stanzas), address books,
//! app-state collections and blocklists. Restored, it lets every linked companion log in
//! again without a scan, as with the real WhatsApp.
//!
//! Written atomically (temp file + rename) at most every [`SAVE_EVERY`] while something
//! changed, and on [`crate::Wasim::shutdown`].

use crate::directory::{AddressBookContact, DirectoryUser};
use crate::state::{Account, Device, Shared, User, World};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the saver looks for changes.
pub const SAVE_EVERY: Duration = Duration::from_millis(500);

const FORMAT: u32 = 1;

/// Binary data, base64 in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s).map(Bytes).map_err(serde::de::Error::custom)
    }
}

impl Bytes {
    pub fn array<const N: usize>(&self) -> anyhow::Result<[u8; N]> {
        self.0
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("expected {N} bytes, got {}", self.0.len()))
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    next_lid: u64,
    users: Vec<SavedUser>,
    accounts: Vec<SavedAccount>,
}

#[derive(Serialize, Deserialize)]
struct SavedUser {
    info: DirectoryUser,
    keys: crate::signal::SavedKeys,
}

#[derive(Serialize, Deserialize)]
struct SavedAccount {
    phone: String,
    contacts: Vec<AddressBookContact>,
    blocklist: BTreeMap<String, i64>,
    devices: Vec<SavedDevice>,
    /// Absent in files written before it was kept: then the highest saved device.
    #[serde(default)]
    last_device_id: u16,
    appstate: crate::appstate::SavedAppState,
}

#[derive(Serialize, Deserialize)]
struct SavedDevice {
    id: u16,
    noise_pub: Bytes,
    identity_pub: Bytes,
    registration_id: Option<u32>,
    signed_prekey: Option<(u32, Bytes, Bytes)>,
    prekeys: Vec<(u32, Bytes)>,
    prekeys_uploaded: usize,
    key_shared: bool,
    history_sent: bool,
    /// Queued stanzas, marshalled.
    pending: Vec<Bytes>,
}

fn save_device(d: &Device) -> SavedDevice {
    SavedDevice {
        id: d.id,
        noise_pub: Bytes(d.noise_pub.to_vec()),
        identity_pub: Bytes(d.identity_pub.to_vec()),
        registration_id: d.registration_id,
        signed_prekey: d
            .signed_prekey
            .as_ref()
            .map(|(id, k, sig)| (*id, Bytes(k.to_vec()), Bytes(sig.clone()))),
        prekeys: d
            .prekeys
            .iter()
            .map(|(id, k)| (*id, Bytes(k.to_vec())))
            .collect(),
        prekeys_uploaded: d.prekeys_uploaded,
        key_shared: d.key_shared,
        history_sent: d.history_sent,
        pending: d
            .pending
            .iter()
            .filter_map(|n| wacore_binary::marshal::marshal(n).ok().map(Bytes))
            .collect(),
    }
}

fn load_device(d: SavedDevice) -> anyhow::Result<Device> {
    let pending = d
        .pending
        .iter()
        .map(|b| -> anyhow::Result<_> {
            let data = wacore_binary::util::unpack(&b.0)?;
            Ok(wacore_binary::marshal::unmarshal_ref(&data)?.to_owned())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Device {
        id: d.id,
        noise_pub: d.noise_pub.array()?,
        identity_pub: d.identity_pub.array()?,
        registration_id: d.registration_id,
        signed_prekey: d
            .signed_prekey
            .map(|(id, k, sig)| -> anyhow::Result<_> { Ok((id, k.array()?, sig.0)) })
            .transpose()?,
        prekeys: d
            .prekeys
            .into_iter()
            .map(|(id, k)| Ok((id, k.array()?)))
            .collect::<anyhow::Result<_>>()?,
        prekeys_uploaded: d.prekeys_uploaded,
        conn: None,
        key_shared: d.key_shared,
        history_sent: d.history_sent,
        pending,
    })
}

fn save(w: &World) -> anyhow::Result<Saved> {
    Ok(Saved {
        format: FORMAT,
        next_lid: w.next_lid,
        users: w
            .users
            .values()
            .map(|u| -> anyhow::Result<_> {
                Ok(SavedUser {
                    info: u.info.clone(),
                    keys: u.keys.save()?,
                })
            })
            .collect::<anyhow::Result<_>>()?,
        accounts: w
            .accounts
            .values()
            .map(|a| SavedAccount {
                phone: a.phone.clone(),
                contacts: a.contacts.clone(),
                blocklist: a.blocklist.clone(),
                devices: a.devices.values().map(save_device).collect(),
                last_device_id: a.last_device_id,
                appstate: a.appstate.save(),
            })
            .collect(),
    })
}

/// Replaces the durable part of `w` with `saved` (connections, faults and counters stay).
fn restore(w: &mut World, saved: Saved) -> anyhow::Result<()> {
    if saved.format != FORMAT {
        anyhow::bail!("unknown wasim state format {}", saved.format);
    }
    let mut users = BTreeMap::new();
    let mut lids = std::collections::HashMap::new();
    for u in saved.users {
        let phone = u.info.phone.clone();
        if let Some(lid) = &u.info.lid {
            lids.insert(lid.clone(), phone.clone());
        }
        let keys = crate::signal::PeerKeys::load(u.keys)?;
        users.insert(phone, User { info: u.info, keys });
    }
    let mut accounts = BTreeMap::new();
    for a in saved.accounts {
        let last_device_id = a
            .devices
            .iter()
            .map(|d| d.id)
            .max()
            .unwrap_or(0)
            .max(a.last_device_id);
        let devices = a
            .devices
            .into_iter()
            .map(|d| Ok((d.id, load_device(d)?)))
            .collect::<anyhow::Result<_>>()?;
        accounts.insert(
            a.phone.clone(),
            Account {
                phone: a.phone,
                contacts: a.contacts,
                blocklist: a.blocklist,
                devices,
                last_device_id,
                appstate: crate::appstate::AppState::load(a.appstate)?,
            },
        );
    }
    w.users = users;
    w.lids = lids;
    w.accounts = accounts;
    w.next_lid = saved.next_lid;
    Ok(())
}

/// Reads `path` into `w` when it exists.
pub(crate) fn load(w: &mut World, path: &Path) -> anyhow::Result<bool> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let saved: Saved = serde_json::from_slice(&text)?;
    restore(w, saved)?;
    Ok(true)
}

/// Writes the state to `path` atomically.
pub(crate) async fn write(shared: &Shared, path: &Path) -> anyhow::Result<()> {
    let json = {
        let w = shared.world.lock().await;
        serde_json::to_vec(&save(&w)?)?
    };
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    })
    .await??;
    Ok(())
}

/// Saves to `path` whenever the state changed, checking every [`SAVE_EVERY`], until
/// `shared` is dropped.
pub(crate) fn spawn_saver(shared: &Arc<Shared>, path: PathBuf) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        let mut saved_at = u64::MAX;
        loop {
            tokio::time::sleep(SAVE_EVERY).await;
            let Some(shared) = weak.upgrade() else { break };
            let now = shared.changes.load(Ordering::Relaxed);
            if now == saved_at {
                continue;
            }
            match write(&shared, &path).await {
                Ok(()) => saved_at = now,
                Err(e) => tracing::warn!("wasim: state not saved to {}: {e}", path.display()),
            }
        }
    })
}
