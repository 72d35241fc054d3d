//! whatsapp-rust events → facts about contacts → the store's [`ContactEventSink`].
//!
//! [`facts`] is a pure translation (unit-tested below); [`pump`] is the one task
//! per running session that applies them to the sink in arrival order.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use wacontacts_core::contact::{AddressBookEntry, BlockEntry, BlocklistUpdate, NumberChange};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::{ContactEventSink, StoreResult};
use wacontacts_core::session::SessionName;
use whatsapp_rust::Client;
use whatsapp_rust::Jid;
use whatsapp_rust::types::events::{BusinessUpdateType, Event, EventKind, IdentityChange};

use crate::convert;

/// Event kinds that carry facts about contacts.
pub(crate) const CONTACT_KINDS: &[EventKind] = &[
    EventKind::ContactUpdate,
    EventKind::Messages,
    EventKind::HistorySync,
    EventKind::PushNameUpdate,
    EventKind::PictureUpdate,
    EventKind::UserAboutUpdate,
    EventKind::IdentityChange,
    EventKind::ContactNumberChanged,
    EventKind::BusinessStatusUpdate,
    EventKind::SelfPushNameUpdated,
    EventKind::DeviceListUpdate,
    EventKind::Notification,
];

/// One fact for the sink; each variant is one sink method.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fact {
    AddressBook(AddressBookEntry),
    PushName(ContactRef, String),
    LidMapping(Lid, PhoneNumber),
    Picture(ContactRef, Option<String>),
    About(ContactRef, String),
    /// Who, implicit, when, and the new key once read from the Signal store.
    Identity(ContactRef, bool, i64, Option<[u8; 32]>),
    NumberChanged(NumberChange),
    Blocklist(BlocklistUpdate),
    Business(ContactRef, bool, Option<String>),
    OwnPushName(String),
}

/// Applies one fact to the sink once.
async fn apply(sink: &dyn ContactEventSink, session: &SessionName, fact: Fact) -> StoreResult<()> {
    match fact {
        Fact::AddressBook(entry) => sink.address_book_contact(session, entry).await,
        Fact::PushName(who, name) => sink.push_name(session, &who, &name).await,
        Fact::LidMapping(lid, pn) => sink.lid_mapping(session, &lid, &pn).await,
        Fact::Picture(who, id) => sink.picture_changed(session, &who, id.as_deref()).await,
        Fact::About(who, about) => sink.about_changed(session, &who, &about).await,
        Fact::Identity(who, implicit, at, key) => {
            sink.identity_changed(session, &who, implicit, at, key)
                .await
        }
        Fact::NumberChanged(change) => sink.number_changed(session, change).await,
        Fact::Blocklist(update) => sink.blocklist_changed(session, update).await,
        Fact::Business(who, is_business, name) => {
            sink.business_changed(session, &who, is_business, name.as_deref())
                .await
        }
        Fact::OwnPushName(name) => sink.own_push_name(session, &name).await,
    }
}

/// First wait after a failed write; doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest wait between two tries of one fact.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Applies one fact to the sink until it is stored: a fact WhatsApp told is never
/// dropped. Each failure is logged at error level (the first, then every tenth);
/// while it retries, the facts after it wait, and so (through the bounded queue)
/// does the client that reads them from WhatsApp.
pub(crate) async fn apply_durably(sink: &dyn ContactEventSink, session: &SessionName, fact: Fact) {
    let mut wait = RETRY_FIRST;
    for attempt in 1u64.. {
        match apply(sink, session, fact.clone()).await {
            Ok(()) => {
                if attempt > 1 {
                    tracing::warn!(session = %session, attempts = attempt, "stored a contact fact after retrying");
                }
                return;
            }
            Err(e) => {
                if attempt == 1 || attempt % 10 == 0 {
                    tracing::error!(session = %session, attempt, error = %format!("{e:#}"), "failed to store a contact fact; retrying");
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Orders the blocklist snapshot that [`after_connect`] fetches against the changes
/// the pump applies meanwhile. whatsapp-rust hands the `Connected` event and the
/// notifications to different tasks, so a snapshot fetched just before a block can be
/// stored just after the block's notification, and would undo it. The count of
/// changes applied, under one lock: a snapshot is stored only if no change was
/// applied since it was asked for; otherwise it is asked for again. The lock is held
/// for store writes only, never across a call to WhatsApp.
#[derive(Default)]
pub(crate) struct BlocklistOrder {
    changes_applied: tokio::sync::Mutex<u64>,
}

/// Snapshots asked for again, at most, when changes keep arriving during the fetch.
const BLOCKLIST_SNAPSHOT_TRIES: u32 = 5;

/// Feeds the events of one client to the sink until the client is gone. An
/// identity change first waits (bounded) for the contact's new identity key.
pub(crate) async fn pump(
    sink: Arc<dyn ContactEventSink>,
    session: SessionName,
    client: Weak<Client>,
    mut events: mpsc::Receiver<Arc<Event>>,
    blocklist: Arc<BlocklistOrder>,
) {
    while let Some(event) = events.recv().await {
        let key = match (&*event, client.upgrade()) {
            (Event::IdentityChange(change), Some(client)) => {
                new_identity_key(&client, change).await
            }
            _ => None,
        };
        for mut fact in facts(&event, now_ms()) {
            if let Fact::Identity(_, _, _, k) = &mut fact {
                *k = key;
            }
            if matches!(fact, Fact::Blocklist(_)) {
                let mut applied = blocklist.changes_applied.lock().await;
                apply_durably(&*sink, &session, fact).await;
                *applied += 1;
            } else {
                apply_durably(&*sink, &session, fact).await;
            }
        }
    }
}

/// Longest wait for a contact's new identity key after an identity change.
const IDENTITY_KEY_WAIT: Duration = Duration::from_secs(10);

/// The contact's identity key as whatsapp-rust stores it after a change. On a
/// server notice, whatsapp-rust deletes the old key and re-establishes the Signal
/// session, fetching the new key with the prekey bundle; asserting the session
/// here waits for (or does) that fetch. A locally detected change already stored
/// the new key. `None` when it cannot be read in time (the change is still told).
async fn new_identity_key(client: &Client, change: &IdentityChange) -> Option<[u8; 32]> {
    use whatsapp_rust::wacore::types::jid::JidExt;
    let user = change.user.to_non_ad();
    let established = tokio::time::timeout(
        IDENTITY_KEY_WAIT,
        client.signal().assert_sessions(std::slice::from_ref(&user)),
    )
    .await;
    if !matches!(established, Ok(Ok(()))) {
        tracing::warn!("could not re-establish the session after an identity change");
    }
    let mut candidates = vec![user.clone()];
    candidates.extend(change.lid_user.as_ref().map(Jid::to_non_ad));
    if let Ok(Some(entry)) = client.get_lid_pn_entry(&user).await {
        candidates.push(Jid::lid(&*entry.lid));
    }
    let backend = client.persistence_manager().backend();
    for jid in candidates {
        let address = jid.to_protocol_address_string();
        if let Ok(Some(key)) = backend.load_identity(&address).await {
            return Some(key);
        }
    }
    None
}

/// What a freshly connected session reports once: its own LID mapping and push
/// name, and the blocklist as WhatsApp holds it.
pub(crate) async fn after_connect(
    sink: Arc<dyn ContactEventSink>,
    session: SessionName,
    client: Arc<Client>,
    blocklist: Arc<BlocklistOrder>,
    timeout: Duration,
) {
    if let (Some(pn), Some(lid)) = (client.pn(), client.lid())
        && let (Some(pn), Some(lid)) = (convert::phone(&pn), convert::lid(&lid))
    {
        apply_durably(&*sink, &session, Fact::LidMapping(lid, pn)).await;
    }
    let push_name = client.push_name();
    if !push_name.is_empty() {
        apply_durably(&*sink, &session, Fact::OwnPushName(push_name)).await;
    }
    for _ in 0..BLOCKLIST_SNAPSHOT_TRIES {
        let asked_after = *blocklist.changes_applied.lock().await;
        let Ok(Ok(entries)) =
            tokio::time::timeout(timeout, client.blocking().get_blocklist()).await
        else {
            return;
        };
        let list = entries
            .iter()
            .filter_map(|e| {
                Some(BlockEntry {
                    who: convert::contact_ref(&e.jid)?,
                    blocked_at: e.timestamp.map(|t| t as i64),
                })
            })
            .collect();
        let applied = blocklist.changes_applied.lock().await;
        if *applied == asked_after {
            let full = Fact::Blocklist(BlocklistUpdate::Full(list));
            apply_durably(&*sink, &session, full).await;
            return;
        }
    }
    tracing::warn!(session = %session, "blocklist kept changing while it was fetched; kept the changes as told");
}

use wacontacts_core::ports::unix_now_ms as now_ms;

/// The LID↔PN pair of two JIDs in either order, when one is each.
fn pair(a: &Jid, b: &Jid) -> Option<Fact> {
    let (lid, pn) = if a.is_lid() && b.is_pn() {
        (a, b)
    } else if a.is_pn() && b.is_lid() {
        (b, a)
    } else {
        return None;
    };
    Some(Fact::LidMapping(convert::lid(lid)?, convert::phone(pn)?))
}

fn parse_jid(text: &str) -> Option<Jid> {
    text.parse::<Jid>().ok()
}

/// Translates one event into the facts it tells. `now_ms` stamps facts the
/// event carries no time for.
#[allow(clippy::collapsible_match)] // one arm per event kind reads better
pub(crate) fn facts(event: &Event, now_ms: i64) -> Vec<Fact> {
    let mut out = Vec::new();
    match event {
        Event::ContactUpdate(update) => {
            let action = &update.action;
            let key = &update.jid;
            let lid_jid = action.lid_jid.as_deref().and_then(parse_jid);
            let pn_jid = action.pn_jid.as_deref().and_then(parse_jid);
            let phone_jid = if key.is_pn() {
                Some(key.clone())
            } else {
                pn_jid.filter(|j| j.is_pn())
            };
            let lid_jid = if key.is_lid() {
                Some(key.clone())
            } else {
                lid_jid.filter(|j| j.is_lid())
            };
            let Some(who) = convert::contact_ref(key) else {
                return out;
            };
            let phone = phone_jid.as_ref().and_then(convert::phone);
            let lid = lid_jid.as_ref().and_then(convert::lid);
            if let (Some(lid), Some(phone)) = (&lid, &phone) {
                out.push(Fact::LidMapping(lid.clone(), *phone));
            }
            out.push(Fact::AddressBook(AddressBookEntry {
                who,
                phone,
                lid,
                full_name: action.full_name.clone().filter(|s| !s.is_empty()),
                first_name: action.first_name.clone().filter(|s| !s.is_empty()),
                username: action.username.clone().filter(|s| !s.is_empty()),
                at_ms: update.timestamp.timestamp_millis(),
            }));
        }
        Event::Messages(batch) => {
            for message in batch.iter() {
                let info = &message.info;
                let source = &info.source;
                if source.is_from_me {
                    continue;
                }
                let sender = source.sender.to_non_ad();
                let alt = source.sender_alt.as_ref().map(|j| j.to_non_ad());
                if let Some(alt) = &alt
                    && let Some(fact) = pair(&sender, alt)
                {
                    out.push(fact);
                }
                let Some(who) = convert::contact_ref(&sender) else {
                    continue;
                };
                if !info.push_name.is_empty() {
                    out.push(Fact::PushName(who.clone(), info.push_name.clone()));
                }
                if let Some(verified) = &info.verified_name
                    && let Some(name) = verified.name.as_ref().filter(|n| !n.is_empty())
                {
                    out.push(Fact::Business(who, true, Some(name.clone())));
                }
            }
        }
        Event::HistorySync(lazy) => {
            if let Some(sync) = lazy.get() {
                for mapping in &sync.phone_number_to_lid_mappings {
                    if let (Some(pn), Some(lid)) = (
                        mapping.pn_jid.as_deref().and_then(parse_jid),
                        mapping.lid_jid.as_deref().and_then(parse_jid),
                    ) && let Some(fact) = pair(&lid, &pn)
                    {
                        out.push(fact);
                    }
                }
                for pushname in &sync.pushnames {
                    let (Some(id), Some(name)) =
                        (pushname.id.as_deref(), pushname.pushname.as_deref())
                    else {
                        continue;
                    };
                    if name.is_empty() {
                        continue;
                    }
                    if let Some(who) = parse_jid(id).as_ref().and_then(convert::contact_ref) {
                        out.push(Fact::PushName(who, name.to_string()));
                    }
                }
            }
        }
        Event::PushNameUpdate(update) => {
            if let Some(who) = convert::contact_ref(&update.jid.to_non_ad())
                && !update.new_push_name.is_empty()
            {
                out.push(Fact::PushName(who, update.new_push_name.clone()));
            }
        }
        Event::PictureUpdate(update) => {
            if let Some(who) = convert::contact_ref(&update.jid) {
                if update.removed {
                    out.push(Fact::Picture(who, None));
                } else if let Some(id) = &update.picture_id {
                    out.push(Fact::Picture(who, Some(id.clone())));
                }
            }
        }
        Event::UserAboutUpdate(update) => {
            if let Some(who) = convert::contact_ref(&update.jid.to_non_ad()) {
                out.push(Fact::About(who, update.status.clone()));
            }
        }
        Event::IdentityChange(change) => {
            let user = change.user.to_non_ad();
            if let Some(lid) = &change.lid_user
                && let Some(fact) = pair(&lid.to_non_ad(), &user)
            {
                out.push(fact);
            }
            if let Some(who) = convert::contact_ref(&user) {
                out.push(Fact::Identity(who, change.implicit, now_ms, None));
            }
        }
        Event::ContactNumberChanged(change) => {
            let lid = change.new_lid.as_ref().or(change.old_lid.as_ref());
            if let (Some(old_phone), Some(new_phone)) = (
                convert::phone(&change.old_jid.to_non_ad()),
                convert::phone(&change.new_jid.to_non_ad()),
            ) {
                let lid = lid.and_then(convert::lid);
                if let Some(lid) = &lid {
                    out.push(Fact::LidMapping(lid.clone(), new_phone));
                }
                out.push(Fact::NumberChanged(NumberChange {
                    lid,
                    old_phone,
                    new_phone,
                    at_ms: change.timestamp.timestamp_millis(),
                }));
            }
        }
        Event::BusinessStatusUpdate(update) => {
            let subject = update.target_jid.as_ref().unwrap_or(&update.jid);
            if let Some(who) = convert::contact_ref(&subject.to_non_ad()) {
                match update.update_type {
                    BusinessUpdateType::RemovedAsBusiness => {
                        out.push(Fact::Business(who, false, None));
                    }
                    BusinessUpdateType::VerifiedNameChanged => {
                        out.push(Fact::Business(
                            who,
                            true,
                            update.verified_name.clone().filter(|n| !n.is_empty()),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Event::SelfPushNameUpdated(update) => {
            if !update.new_name.is_empty() {
                out.push(Fact::OwnPushName(update.new_name.clone()));
            }
        }
        Event::DeviceListUpdate(update) => {
            if let Some(lid) = &update.lid_user
                && let Some(fact) = pair(&lid.to_non_ad(), &update.user.to_non_ad())
            {
                out.push(fact);
            }
        }
        Event::Notification(node) => {
            out.extend(blocklist_notification(node));
        }
        Event::RawNode(node) => {
            out.extend(blocklist_notification(node));
        }
        _ => {}
    }
    out
}

/// `<notification type="blocklist"><item jid=".." action="block|unblock"/></notification>`:
/// a block or unblock made on another device of the account.
/// Whether a raw stanza is a blocklist change: `<notification type="blocklist">`, or
/// `<notification type="account_sync"><blocklist>…` as WhatsApp sends the account's
/// other devices after a block (whatsmeow's `handleBlocklist`).
pub(crate) fn is_blocklist_stanza(event: &Event) -> bool {
    let Event::RawNode(node) = event else {
        return false;
    };
    let node = node.get();
    node.tag == "notification"
        && matches!(
            node.attrs().optional_string("type").as_deref(),
            Some("blocklist" | "account_sync")
        )
}

fn blocklist_notification(node: &whatsapp_rust::OwnedNodeRef) -> Vec<Fact> {
    let node = node.get();
    if node.tag != "notification" {
        return Vec::new();
    }
    let items = match node.attrs().optional_string("type").as_deref() {
        Some("blocklist") => node.get_children_by_tag("item").collect::<Vec<_>>(),
        Some("account_sync") => node
            .get_children_by_tag("blocklist")
            .flat_map(|b| b.get_children_by_tag("item"))
            .collect(),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for item in items {
        let mut attrs = item.attrs();
        let Some(jid) = attrs.optional_string("jid").map(|j| j.into_owned()) else {
            continue;
        };
        let Some(action) = attrs.optional_string("action") else {
            continue;
        };
        let blocked = match action.as_ref() {
            "block" => true,
            "unblock" => false,
            _ => continue,
        };
        if let Some(who) = parse_jid(&jid).as_ref().and_then(convert::contact_ref) {
            out.push(Fact::Blocklist(BlocklistUpdate::Changed { who, blocked }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_rust::bytes::Bytes;
    use whatsapp_rust::chrono::{TimeZone, Utc};
    use whatsapp_rust::types::events::{
        BatchOrigin, ContactNumberChanged, ContactUpdate, IdentityChange, InboundMessage,
        LazyHistorySync, MessageBatch, PictureUpdate,
    };
    use whatsapp_rust::types::message::MessageInfo;
    use whatsapp_rust::waproto::buffa::Message as _;
    use whatsapp_rust::waproto::whatsapp as wa;

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }
    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }
    fn lid(s: &str) -> Lid {
        Lid::parse(s).unwrap()
    }

    /// A store that fails its first `failures` writes (disk full, database locked).
    struct FlakySink {
        failures: std::sync::atomic::AtomicUsize,
        stored: std::sync::Mutex<Vec<String>>,
    }

    impl FlakySink {
        fn write(&self, fact: String) -> StoreResult<()> {
            use std::sync::atomic::Ordering;
            if self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(anyhow::anyhow!("database is locked").into());
            }
            self.stored.lock().unwrap().push(fact);
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl ContactEventSink for FlakySink {
        async fn address_book_contact(
            &self,
            _: &SessionName,
            e: AddressBookEntry,
        ) -> StoreResult<()> {
            self.write(format!("contact {}", e.who))
        }
        async fn push_name(&self, _: &SessionName, who: &ContactRef, n: &str) -> StoreResult<()> {
            self.write(format!("push_name {who} {n}"))
        }
        async fn lid_mapping(&self, _: &SessionName, l: &Lid, p: &PhoneNumber) -> StoreResult<()> {
            self.write(format!("lid {l} {p}"))
        }
        async fn picture_changed(
            &self,
            _: &SessionName,
            _: &ContactRef,
            _: Option<&str>,
        ) -> StoreResult<()> {
            self.write("picture".into())
        }
        async fn about_changed(&self, _: &SessionName, _: &ContactRef, _: &str) -> StoreResult<()> {
            self.write("about".into())
        }
        async fn identity_changed(
            &self,
            _: &SessionName,
            _: &ContactRef,
            _: bool,
            _: i64,
            _: Option<[u8; 32]>,
        ) -> StoreResult<()> {
            self.write("identity".into())
        }
        async fn number_changed(&self, _: &SessionName, _: NumberChange) -> StoreResult<()> {
            self.write("number".into())
        }
        async fn blocklist_changed(&self, _: &SessionName, _: BlocklistUpdate) -> StoreResult<()> {
            self.write("blocklist".into())
        }
        async fn business_changed(
            &self,
            _: &SessionName,
            _: &ContactRef,
            _: bool,
            _: Option<&str>,
        ) -> StoreResult<()> {
            self.write("business".into())
        }
        async fn own_push_name(&self, _: &SessionName, _: &str) -> StoreResult<()> {
            self.write("own".into())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn facts_survive_a_store_that_fails_its_first_writes() {
        let sink = FlakySink {
            failures: 5.into(),
            stored: Default::default(),
        };
        let session = SessionName::parse("s").unwrap();
        let a = ContactRef::Phone(phone("15550100001"));
        let facts = [
            Fact::PushName(a.clone(), "Ada".into()),
            Fact::LidMapping(lid("100@lid"), phone("15550100001")),
            Fact::PushName(a, "Ada L".into()),
        ];
        for fact in facts {
            apply_durably(&sink, &session, fact).await;
        }
        assert_eq!(
            *sink.stored.lock().unwrap(),
            [
                "push_name +15550100001 Ada",
                "lid 100@lid +15550100001",
                "push_name +15550100001 Ada L"
            ],
            "every fact stored, in order"
        );
    }

    #[test]
    fn address_book_entry_feeds_the_lid_map() {
        let action = wa::sync_action_value::ContactAction {
            full_name: Some("Alice Smith".into()),
            first_name: Some("Alice".into()),
            lid_jid: Some("123456789012345@lid".into()),
            ..Default::default()
        };
        let event = Event::ContactUpdate(
            ContactUpdate::builder()
                .jid(jid("15550001111@s.whatsapp.net"))
                .timestamp(Utc.timestamp_millis_opt(1_700_000_000_000).unwrap())
                .action(Box::new(action))
                .from_full_sync(true)
                .build(),
        );
        let facts = facts(&event, 0);
        assert_eq!(
            facts,
            vec![
                Fact::LidMapping(lid("123456789012345@lid"), phone("15550001111")),
                Fact::AddressBook(AddressBookEntry {
                    who: ContactRef::Phone(phone("15550001111")),
                    phone: Some(phone("15550001111")),
                    lid: Some(lid("123456789012345@lid")),
                    full_name: Some("Alice Smith".into()),
                    first_name: Some("Alice".into()),
                    username: None,
                    at_ms: 1_700_000_000_000,
                }),
            ]
        );
    }

    #[test]
    fn lid_keyed_address_book_entry_without_pn() {
        let event = Event::ContactUpdate(
            ContactUpdate::builder()
                .jid(jid("123456789012345@lid"))
                .timestamp(Utc.timestamp_millis_opt(5).unwrap())
                .action(Box::new(wa::sync_action_value::ContactAction {
                    full_name: Some(String::new()),
                    ..Default::default()
                }))
                .from_full_sync(false)
                .build(),
        );
        let facts = facts(&event, 0);
        assert_eq!(facts.len(), 1);
        let Fact::AddressBook(entry) = &facts[0] else {
            panic!("{facts:?}")
        };
        assert_eq!(entry.who, ContactRef::Lid(lid("123456789012345@lid")));
        assert_eq!(entry.phone, None);
        assert_eq!(entry.full_name, None, "empty names are no names");
    }

    fn message(sender: &str, alt: Option<&str>, push_name: &str, from_me: bool) -> InboundMessage {
        let mut info = MessageInfo::default();
        info.source.sender = jid(sender);
        info.source.chat = jid(sender).to_non_ad();
        info.source.sender_alt = alt.map(jid);
        info.source.is_from_me = from_me;
        info.push_name = push_name.into();
        InboundMessage::builder()
            .message(Arc::new(wa::Message::default()))
            .info(Arc::new(info))
            .build()
    }

    #[test]
    fn push_names_come_from_incoming_messages() {
        let batch = MessageBatch::builder()
            .messages(Arc::from(vec![
                message(
                    "123456789012345:3@lid",
                    Some("15550001111@s.whatsapp.net"),
                    "Alice Push",
                    false,
                ),
                message("15550002222@s.whatsapp.net", None, "", false),
                message("15550003333@s.whatsapp.net", None, "Me Myself", true),
                message("120363000000000000@g.us", None, "Group", false),
            ]))
            .origin(BatchOrigin::Live)
            .build();
        let facts = facts(&Event::Messages(batch), 0);
        assert_eq!(
            facts,
            vec![
                Fact::LidMapping(lid("123456789012345@lid"), phone("15550001111")),
                Fact::PushName(
                    ContactRef::Lid(lid("123456789012345@lid")),
                    "Alice Push".into()
                ),
            ]
        );
    }

    #[test]
    fn picture_identity_and_number_changes() {
        let removed = Event::PictureUpdate(
            PictureUpdate::builder()
                .jid(jid("15550001111@s.whatsapp.net"))
                .timestamp(Utc::now())
                .removed(true)
                .build(),
        );
        assert_eq!(
            facts(&removed, 0),
            vec![Fact::Picture(ContactRef::Phone(phone("15550001111")), None)]
        );

        let identity = Event::IdentityChange(
            IdentityChange::builder()
                .user(jid("15550001111@s.whatsapp.net"))
                .lid_user(jid("123456789012345@lid"))
                .implicit(false)
                .build(),
        );
        assert_eq!(
            facts(&identity, 42),
            vec![
                Fact::LidMapping(lid("123456789012345@lid"), phone("15550001111")),
                Fact::Identity(ContactRef::Phone(phone("15550001111")), false, 42, None),
            ]
        );

        let changed = Event::ContactNumberChanged(
            ContactNumberChanged::builder()
                .old_jid(jid("15550001111@s.whatsapp.net"))
                .new_jid(jid("15550009999@s.whatsapp.net"))
                .old_lid(jid("123456789012345@lid"))
                .timestamp(Utc.timestamp_millis_opt(7_000).unwrap())
                .build(),
        );
        assert_eq!(
            facts(&changed, 0),
            vec![
                Fact::LidMapping(lid("123456789012345@lid"), phone("15550009999")),
                Fact::NumberChanged(NumberChange {
                    lid: Some(lid("123456789012345@lid")),
                    old_phone: phone("15550001111"),
                    new_phone: phone("15550009999"),
                    at_ms: 7_000,
                }),
            ]
        );
    }

    /// zlib with one stored (uncompressed) deflate block.
    fn zlib_stored(data: &[u8]) -> Vec<u8> {
        assert!(data.len() < 65_536);
        let mut out = vec![0x78, 0x01, 0x01];
        let len = data.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(data);
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in data {
            a = (a + u32::from(byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        out.extend_from_slice(&((b << 16) | a).to_be_bytes());
        out
    }

    #[test]
    fn history_sync_push_names_and_mappings() {
        let sync = wa::HistorySync {
            pushnames: vec![
                wa::Pushname {
                    id: Some("15550001111@s.whatsapp.net".into()),
                    pushname: Some("Alice".into()),
                },
                wa::Pushname {
                    id: Some("120363000000000000@g.us".into()),
                    pushname: Some("A group".into()),
                },
            ],
            phone_number_to_lid_mappings: vec![wa::PhoneNumberToLIDMapping {
                pn_jid: Some("15550002222@s.whatsapp.net".into()),
                lid_jid: Some("222222222222222@lid".into()),
            }],
            ..Default::default()
        };
        let raw = sync.encode_to_vec();
        let lazy = LazyHistorySync::new(Bytes::from(zlib_stored(&raw)), raw.len(), 4, None, None);
        let facts = facts(&Event::HistorySync(Box::new(lazy)), 0);
        assert_eq!(
            facts,
            vec![
                Fact::LidMapping(lid("222222222222222@lid"), phone("15550002222")),
                Fact::PushName(ContactRef::Phone(phone("15550001111")), "Alice".into()),
            ]
        );
    }
}
