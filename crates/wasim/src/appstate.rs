//! App-state (syncd): the account's collections as the server stores them, the key the
//! phone shares, `w:sync:app:state` IQs, and address-book (`contact`) mutations.

use crate::conn::{iq_error, iq_result, notification};
use crate::directory::{AddressBookContact, normalize_phone};
use crate::persist::Bytes;
use crate::state::Shared;
use crate::state::{Account, World};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wacore::appstate::errors::AppStateError;
use wacore::appstate::hash::{HashState, generate_patch_mac};
use wacore::appstate::keys::{ExpandedAppStateKeys, expand_app_state_keys};
use wacore::appstate::processor::{PatchProcessingResult, process_patch};
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::buffa::{self, Message};
use waproto::whatsapp as wa;

const COLLECTIONS: &[&str] = &[
    "critical_block",
    "critical_unblock_low",
    "regular_high",
    "regular_low",
    "regular",
];

#[derive(Default)]
struct Collection {
    state: HashState,
    /// index MAC -> value MAC of the current SET records.
    values: HashMap<Vec<u8>, Vec<u8>>,
    /// index MAC -> the current SET record (what a snapshot carries).
    records: BTreeMap<Vec<u8>, wa::SyncdRecord>,
    /// Encoded patches; patch i has version i + 1.
    patches: Vec<Vec<u8>>,
}

/// [`AppState`] as the state file holds it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedAppState {
    key_id: Bytes,
    key_data: Bytes,
    collections: Vec<SavedCollection>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedCollection {
    name: String,
    state: HashState,
    values: Vec<(Bytes, Bytes)>,
    records: Vec<Bytes>,
    patches: Vec<Bytes>,
}

/// The app-state of one account.
pub(crate) struct AppState {
    pub key_id: Vec<u8>,
    pub key_data: [u8; 32],
    keys: Arc<ExpandedAppStateKeys>,
    collections: BTreeMap<String, Collection>,
}

impl AppState {
    pub fn new() -> Self {
        use rand::RngExt;
        let mut rng = rand::rng();
        let key_data: [u8; 32] = rng.random();
        let mut key_id = vec![0u8, 0];
        key_id.extend_from_slice(&rng.random::<[u8; 4]>());
        Self {
            keys: Arc::new(expand_app_state_keys(&key_data)),
            key_id,
            key_data,
            collections: COLLECTIONS
                .iter()
                .map(|c| (c.to_string(), Collection::default()))
                .collect(),
        }
    }

    pub fn save(&self) -> SavedAppState {
        SavedAppState {
            key_id: Bytes(self.key_id.clone()),
            key_data: Bytes(self.key_data.to_vec()),
            collections: self
                .collections
                .iter()
                .map(|(name, c)| SavedCollection {
                    name: name.clone(),
                    state: c.state.clone(),
                    values: c
                        .values
                        .iter()
                        .map(|(k, v)| (Bytes(k.clone()), Bytes(v.clone())))
                        .collect(),
                    records: c
                        .records
                        .values()
                        .map(|r| Bytes(r.encode_to_vec()))
                        .collect(),
                    patches: c.patches.iter().map(|p| Bytes(p.clone())).collect(),
                })
                .collect(),
        }
    }

    pub fn load(s: SavedAppState) -> anyhow::Result<Self> {
        let key_data: [u8; 32] = s.key_data.array()?;
        let mut collections = BTreeMap::new();
        for c in s.collections {
            let mut records = BTreeMap::new();
            for r in c.records {
                let rec = wa::SyncdRecord::decode_from_slice(&r.0)?;
                let index_mac = rec.index.blob.clone().unwrap_or_default();
                records.insert(index_mac, rec);
            }
            collections.insert(
                c.name,
                Collection {
                    state: c.state,
                    values: c.values.into_iter().map(|(k, v)| (k.0, v.0)).collect(),
                    records,
                    patches: c.patches.into_iter().map(|p| p.0).collect(),
                },
            );
        }
        Ok(Self {
            keys: Arc::new(expand_app_state_keys(&key_data)),
            key_id: s.key_id.0,
            key_data,
            collections,
        })
    }

    /// The protocol message the phone sends to share the key.
    pub fn key_share_message(&self) -> wa::Message {
        wa::Message {
            protocol_message: buffa::MessageField::some(wa::message::ProtocolMessage {
                r#type: Some(wa::message::protocol_message::Type::APP_STATE_SYNC_KEY_SHARE),
                app_state_sync_key_share: buffa::MessageField::some(
                    wa::message::AppStateSyncKeyShare {
                        keys: vec![wa::message::AppStateSyncKey {
                            key_id: buffa::MessageField::some(wa::message::AppStateSyncKeyId {
                                key_id: Some(self.key_id.clone()),
                            }),
                            key_data: buffa::MessageField::some(wa::message::AppStateSyncKeyData {
                                key_data: Some(self.key_data.to_vec()),
                                fingerprint: buffa::MessageField::some(
                                    wa::message::AppStateSyncKeyFingerprint {
                                        raw_id: Some(1),
                                        current_index: Some(0),
                                        device_indexes: vec![0],
                                    },
                                ),
                                timestamp: Some(wacore::time::now_millis()),
                            }),
                        }],
                    },
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Appends a server-built patch of SET mutations to `collection`; returns its version.
    pub fn push_sets(
        &mut self,
        collection: &str,
        sets: Vec<(Vec<u8>, wa::SyncActionValue, i32)>,
    ) -> u64 {
        use rand::RngExt;
        let keys = self.keys.clone();
        let key_id = self.key_id.clone();
        let col = self.collections.entry(collection.to_string()).or_default();
        let version = col.state.version + 1;
        let mutations = sets
            .iter()
            .map(|(index, value, v)| {
                let iv: [u8; 16] = rand::rng().random();
                wacore::appstate::encode::encode_record(
                    wa::syncd_mutation::SyncdOperation::SET,
                    index,
                    value,
                    &keys,
                    &key_id,
                    &iv,
                    *v,
                )
                .0
            })
            .collect();
        let mut patch = wa::SyncdPatch {
            version: buffa::MessageField::some(wa::SyncdVersion {
                version: Some(version),
            }),
            mutations,
            key_id: buffa::MessageField::some(wa::KeyId {
                id: Some(key_id.clone()),
            }),
            device_index: Some(0),
            ..Default::default()
        };
        if let Err(e) = apply(col, &patch, &keys, &key_id, collection) {
            tracing::warn!("wasim: own patch failed to apply: {e:?}");
        }
        patch.snapshot_mac = Some(
            col.state
                .generate_snapshot_mac(collection, &keys.snapshot_mac),
        );
        patch.patch_mac = Some(generate_patch_mac(
            &patch,
            collection,
            &keys.patch_mac,
            version,
        ));
        col.patches.push(patch.encode_to_vec());
        version
    }
}

impl Collection {
    /// The collection as it stands, as a `SyncdSnapshot`: every current record, the
    /// version, and the snapshot MAC over the LTHash of the records.
    fn snapshot(
        &self,
        keys: &ExpandedAppStateKeys,
        key_id: &[u8],
        name: &str,
    ) -> wa::SyncdSnapshot {
        wa::SyncdSnapshot {
            version: buffa::MessageField::some(wa::SyncdVersion {
                version: Some(self.state.version),
            }),
            records: self.records.values().cloned().collect(),
            mac: Some(self.state.generate_snapshot_mac(name, &keys.snapshot_mac)),
            key_id: buffa::MessageField::some(wa::KeyId {
                id: Some(key_id.to_vec()),
            }),
        }
    }
}

fn attr_is(n: &Node, key: &str, value: &str) -> bool {
    n.attrs.get(key).is_some_and(|v| v.as_str() == value)
}

/// Processes `patch` on top of `state` (moved forward on success; `prev_value_mac` gives
/// the current value MAC of an index). With `verify` the patch is checked as a device
/// receiving it checks it: known key, patch MAC, index and value MACs, no index twice,
/// and a snapshot MAC that matches the state it produces.
fn process(
    state: &mut HashState,
    prev_value_mac: impl Fn(&[u8]) -> Option<Vec<u8>>,
    patch: &wa::SyncdPatch,
    keys: &Arc<ExpandedAppStateKeys>,
    key_id: &[u8],
    name: &str,
    verify: bool,
) -> anyhow::Result<PatchProcessingResult> {
    if verify && patch.key_id.id.as_deref() != Some(key_id) {
        anyhow::bail!("patch under an unknown app-state key");
    }
    let mut next = state.clone();
    let res = process_patch(
        patch,
        &mut next,
        |id| {
            if id == key_id {
                Ok(keys.clone())
            } else {
                Err(AppStateError::KeyNotFound)
            }
        },
        |index_mac| Ok(prev_value_mac(index_mac)),
        verify,
        name,
    )
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    if verify {
        let expected = next.generate_snapshot_mac(name, &keys.snapshot_mac);
        if patch.snapshot_mac.as_deref() != Some(expected.as_slice()) {
            anyhow::bail!("snapshot MAC does not match the collection after the patch");
        }
    }
    *state = next;
    Ok(res)
}

/// Applies a server-built patch to the server's mirror of the collection.
fn apply(
    col: &mut Collection,
    patch: &wa::SyncdPatch,
    keys: &Arc<ExpandedAppStateKeys>,
    key_id: &[u8],
    name: &str,
) -> anyhow::Result<()> {
    let values = &col.values;
    let res = process(
        &mut col.state,
        |m| values.get(m).cloned(),
        patch,
        keys,
        key_id,
        name,
        false,
    )?;
    for m in &res.removed_index_macs {
        col.values.remove(m);
    }
    for m in &res.added_macs {
        col.values.insert(m.index_mac.clone(), m.value_mac.clone());
    }
    track_records(&mut col.records, patch);
    Ok(())
}

/// Keeps the collection's current records in step with an applied patch.
fn track_records(records: &mut BTreeMap<Vec<u8>, wa::SyncdRecord>, patch: &wa::SyncdPatch) {
    for m in &patch.mutations {
        let Some(rec) = m.record.as_option() else {
            continue;
        };
        let Some(index_mac) = rec.index.as_option().and_then(|i| i.blob.clone()) else {
            continue;
        };
        if m.operation
            .is_some_and(|op| op == wa::syncd_mutation::SyncdOperation::REMOVE)
        {
            records.remove(&index_mac);
        } else {
            records.insert(index_mac, rec.clone());
        }
    }
}

/// Applies the patches a client sent, all or none: each is verified (see [`process`])
/// against the collection as it stands after the ones before it. Returns the decoded
/// mutations.
fn apply_client_patches(
    col: &mut Collection,
    patches: &[wa::SyncdPatch],
    keys: &Arc<ExpandedAppStateKeys>,
    key_id: &[u8],
    name: &str,
) -> anyhow::Result<Vec<wacore::appstate::Mutation>> {
    let mut state = col.state.clone();
    // Value MACs the patches changed so far: `None` = removed.
    let mut staged: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
    let mut mutations = Vec::new();
    for patch in patches {
        let values = &col.values;
        let lookup = |m: &[u8]| match staged.get(m) {
            Some(v) => v.clone(),
            None => values.get(m).cloned(),
        };
        let res = process(&mut state, lookup, patch, keys, key_id, name, true)?;
        for m in res.removed_index_macs {
            staged.insert(m, None);
        }
        for m in res.added_macs {
            staged.insert(m.index_mac, Some(m.value_mac));
        }
        mutations.extend(res.mutations);
    }
    col.state = state;
    for (index_mac, value_mac) in staged {
        match value_mac {
            Some(v) => col.values.insert(index_mac, v),
            None => col.values.remove(&index_mac),
        };
    }
    for p in patches {
        track_records(&mut col.records, p);
    }
    col.patches
        .extend(patches.iter().map(|p| p.encode_to_vec()));
    Ok(mutations)
}

/// The `contact` action of an address-book entry; it carries the person's LID and
/// username when the directory knows them (as WhatsApp's phone does).
fn contact_value(
    c: &AddressBookContact,
    lid: Option<String>,
    username: Option<String>,
) -> wa::SyncActionValue {
    wa::SyncActionValue {
        timestamp: Some(wacore::time::now_millis()),
        contact_action: buffa::MessageField::some(wa::sync_action_value::ContactAction {
            full_name: c.full_name.clone(),
            first_name: c.first_name.clone(),
            lid_jid: lid.map(|l| format!("{l}@lid")),
            username,
            save_on_primary_addressbook: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn contact_index(phone: &str) -> Vec<u8> {
    serde_json::to_vec(&["contact", &format!("{phone}@s.whatsapp.net")]).expect("json")
}

/// The first sync content of a new account: its push name.
pub(crate) fn seed_account(w: &mut World, account: &str) {
    let push_name = w
        .users
        .get(account)
        .and_then(|u| u.info.push_name.clone())
        .unwrap_or_else(|| "Wasim".to_string());
    let Some(acc) = w.accounts.get_mut(account) else {
        return;
    };
    let value = wa::SyncActionValue {
        timestamp: Some(wacore::time::now_millis()),
        push_name_setting: buffa::MessageField::some(wa::sync_action_value::PushNameSetting {
            name: Some(push_name),
        }),
        ..Default::default()
    };
    let index = serde_json::to_vec(&["setting_pushName"]).expect("json");
    acc.appstate
        .push_sets("critical_block", vec![(index, value, 1)]);
}

/// Records `contact` in the account's address book and its app-state (no notification).
pub(crate) fn record_contact(w: &mut World, account: &str, contact: AddressBookContact) -> u64 {
    let phone = normalize_phone(&contact.phone);
    let contact = AddressBookContact {
        phone: phone.clone(),
        ..contact
    };
    let lid = w.users.get(&phone).and_then(|u| u.info.lid.clone());
    let username = w.users.get(&phone).and_then(|u| u.info.username.clone());
    let acc: &mut Account = w.accounts.get_mut(account).expect("account exists");
    match acc.contacts.iter_mut().find(|c| c.phone == phone) {
        Some(c) => *c = contact.clone(),
        None => acc.contacts.push(contact.clone()),
    }
    acc.appstate.push_sets(
        "critical_unblock_low",
        vec![(
            contact_index(&phone),
            contact_value(&contact, lid, username),
            2,
        )],
    )
}

/// The phone adds or renames an address-book contact and tells its companions.
pub(crate) async fn add_contact(
    shared: &Shared,
    account: &str,
    contact: AddressBookContact,
) -> anyhow::Result<()> {
    let account = normalize_phone(account);
    let mut w = shared.world.lock().await;
    if !w.accounts.contains_key(&account) {
        w.account_mut(&account, &shared.config.default_push_name);
        seed_account(&mut w, &account);
    }
    let version = record_contact(&mut w, &account, contact);
    notify_server_sync(shared, &mut w, &account, "critical_unblock_low", version);
    Ok(())
}

/// `<notification type="server_sync">` to every linked device of the account (queued for
/// the offline ones), naming the collection and its version after the change, one
/// notification per change as WhatsApp sends them.
pub(crate) fn notify_server_sync(
    shared: &Shared,
    w: &mut World,
    account: &str,
    collection: &str,
    version: u64,
) {
    for device in w.devices_of(account) {
        let n = notification(
            shared,
            &format!("{account}@s.whatsapp.net"),
            "server_sync",
            vec![
                NodeBuilder::new("collection")
                    .attr("name", collection)
                    .attr("version", version.to_string())
                    .build(),
            ],
        );
        w.deliver(account, device, n);
    }
}

/// Answers `<iq xmlns="w:sync:app:state">`: fetches (patches since a version) and
/// writes (a patch from the client).
pub(crate) fn handle_iq(w: &mut World, account: &str, iq: &Node, snapshots: bool) -> Node {
    let id = iq
        .attrs
        .get("id")
        .map(|v| v.as_str().into_owned())
        .unwrap_or_default();
    let Some(sync) = iq.get_optional_child("sync") else {
        return iq_error(&id, 400, "bad-request");
    };
    let World {
        accounts,
        media,
        stats,
        ..
    } = w;
    let Some(acc) = accounts.get_mut(account) else {
        return iq_error(&id, 401, "not-authorized");
    };
    let mut out = Vec::new();
    let mut changed = Vec::new();
    for c in sync.get_children_by_tag("collection") {
        let name = c
            .attrs
            .get("name")
            .map(|v| v.as_str().into_owned())
            .unwrap_or_default();
        let since: u64 = c
            .attrs
            .get("version")
            .and_then(|v| v.as_str().parse().ok())
            .unwrap_or(0);
        let keys = acc.appstate.keys.clone();
        let col = acc.appstate.collections.entry(name.clone()).or_default();
        let patches: Vec<&Node> = c.get_children_by_tag("patch").collect();
        if !patches.is_empty() {
            // A write.
            if since != col.state.version {
                out.push(collection_node(&name, col, since, Some(409)));
                continue;
            }
            // Clients send patches without a version (whatsmeow and whatsapp-rust
            // alike): the server numbers them, base + 1, + 2, ...
            let decoded: Option<Vec<wa::SyncdPatch>> = patches
                .iter()
                .zip(since + 1..)
                .map(|(p, version)| match &p.content {
                    Some(wacore_binary::NodeContent::Bytes(raw)) => {
                        let mut patch = wa::SyncdPatch::decode_from_slice(raw).ok()?;
                        patch.version = buffa::MessageField::some(wa::SyncdVersion {
                            version: Some(version),
                        });
                        Some(patch)
                    }
                    _ => None,
                })
                .collect();
            let key_id = acc.appstate.key_id.clone();
            let applied = decoded
                .ok_or_else(|| anyhow::anyhow!("a patch that does not decode"))
                .and_then(|ps| apply_client_patches(col, &ps, &keys, &key_id, &name));
            match applied {
                Ok(mutations) => {
                    changed.extend(mutations);
                    out.push(
                        NodeBuilder::new("collection")
                            .attr("name", name.clone())
                            .attr("version", col.state.version.to_string())
                            .build(),
                    );
                }
                Err(e) => {
                    // Nothing applied. whatsapp-rust (after WA Web's
                    // WAWebSyncdResponseParser) and whatsmeow treat 400 as fatal.
                    tracing::debug!("wasim: client patch for {name} rejected: {e}");
                    out.push(error_collection(
                        &name,
                        col.state.version,
                        400,
                        "bad-request",
                    ));
                }
            }
        } else if snapshots && attr_is(c, "return_snapshot", "true") && col.state.version > 0 {
            // As on a first sync with WhatsApp: the collection as one snapshot, an
            // encrypted blob the client downloads from the media host.
            let blob = col.snapshot(&keys, &acc.appstate.key_id, &name);
            let reference = media.put(&blob.encode_to_vec());
            stats
                .accounts
                .entry(account.to_string())
                .or_default()
                .snapshots += 1;
            out.push(
                NodeBuilder::new("collection")
                    .attr("name", name.clone())
                    .attr("version", col.state.version.to_string())
                    .children([NodeBuilder::new("snapshot")
                        .bytes(reference.encode_to_vec())
                        .build()])
                    .build(),
            );
        } else {
            out.push(collection_node(&name, col, since, None));
        }
    }
    // Mirror contact writes into the address book.
    for m in changed {
        if m.index.first().map(String::as_str) == Some("contact")
            && let Some(jid) = m.index.get(1)
            && let Some(action) = m
                .action_value
                .as_ref()
                .and_then(|v| v.contact_action.as_option())
        {
            let phone = normalize_phone(jid);
            let c = AddressBookContact {
                phone: phone.clone(),
                full_name: action.full_name.clone(),
                first_name: action.first_name.clone(),
            };
            match acc.contacts.iter_mut().find(|x| x.phone == phone) {
                Some(x) => *x = c,
                None => acc.contacts.push(c),
            }
        }
    }
    iq_result(&id, vec![NodeBuilder::new("sync").children(out).build()])
}

fn collection_node(name: &str, col: &Collection, since: u64, error: Option<u16>) -> Node {
    let patches: Vec<Node> = col
        .patches
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as u64) + 1 > since)
        .map(|(_, p)| NodeBuilder::new("patch").bytes(p.clone()).build())
        .collect();
    let mut b = NodeBuilder::new("collection")
        .attr("name", name.to_string())
        .attr("version", col.state.version.to_string());
    if let Some(code) = error {
        b = b.attr("type", "error").children([
            error_node(code, "conflict"),
            NodeBuilder::new("patches").children(patches).build(),
        ]);
    } else if !patches.is_empty() {
        b = b.children([NodeBuilder::new("patches").children(patches).build()]);
    }
    b.build()
}

/// `<collection name version type="error"><error code text/></collection>`: a refused
/// write, inside a successful IQ result, as WhatsApp answers it.
fn error_collection(name: &str, version: u64, code: u16, text: &str) -> Node {
    NodeBuilder::new("collection")
        .attr("name", name.to_string())
        .attr("version", version.to_string())
        .attr("type", "error")
        .children([error_node(code, text)])
        .build()
}

fn error_node(code: u16, text: &str) -> Node {
    NodeBuilder::new("error")
        .attr("code", code.to_string())
        .attr("text", text.to_string())
        .build()
}
