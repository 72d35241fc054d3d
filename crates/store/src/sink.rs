//! The store as the engine's [`ContactEventSink`]: each fact WhatsApp tells becomes a
//! row, and its webhook event enters the outbox in the same transaction. A failed
//! write is returned to the engine, which retries it: nothing is dropped.

use async_trait::async_trait;
use serde_json::json;
use wacontacts_core::contact::{AddressBookEntry, BlocklistUpdate, NumberChange};
use wacontacts_core::identity::identity_hash;
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::{ContactEventSink, StoreError, StoreResult};
use wacontacts_core::session::SessionName;
use wacontacts_core::webhook::{self as hook, payload};

use crate::Store;
use crate::ports::address_book_row;

/// A failed write, with which fact it was (no ids: they are personal data).
fn stored(what: &'static str, result: anyhow::Result<()>) -> StoreResult<()> {
    result.map_err(|e| StoreError(e.context(format!("Failed to store a {what} fact"))))
}

/// A `contact.update` event about `who` carrying `fields`.
fn update(who: &ContactRef, fields: serde_json::Value) -> crate::webhooks::Emit {
    Some((hook::CONTACT_UPDATE, payload::contact_update(who, fields)))
}

#[async_trait]
impl ContactEventSink for Store {
    async fn address_book_contact(
        &self,
        session: &SessionName,
        entry: AddressBookEntry,
    ) -> StoreResult<()> {
        let who = entry
            .phone
            .map(ContactRef::Phone)
            .unwrap_or(entry.who.clone());
        let event = payload::contact_upsert(
            &who,
            entry.lid.as_ref(),
            entry.full_name.as_deref(),
            entry.first_name.as_deref(),
        );
        stored(
            "address_book",
            self.apply_address_book(
                session,
                &entry.who,
                address_book_row(&entry),
                Some((hook::CONTACT_UPSERT, event)),
            )
            .await,
        )
    }

    async fn push_name(
        &self,
        session: &SessionName,
        who: &ContactRef,
        push_name: &str,
    ) -> StoreResult<()> {
        // Every message carries the sender's push name: tell only a change.
        let known = self
            .get_contact(session, who)
            .await
            .map_err(|e| StoreError(e.context("Failed to read a contact")))?;
        let same = known.is_some_and(|c| c.push_name.as_deref() == Some(push_name));
        let emit = (!same)
            .then(|| update(who, json!({ "pushname": push_name })))
            .flatten();
        stored(
            "push_name",
            self.set_push_name(session, who, push_name, emit).await,
        )
    }

    async fn lid_mapping(
        &self,
        session: &SessionName,
        lid: &Lid,
        phone: &PhoneNumber,
    ) -> StoreResult<()> {
        let emit = Some((hook::LID_MAPPING, payload::lid_mapping(lid, phone)));
        stored(
            "lid_mapping",
            self.add_lid_mapping(session, lid, phone, emit).await,
        )
    }

    async fn picture_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture_id: Option<&str>,
    ) -> StoreResult<()> {
        let emit = update(who, json!({ "pictureId": picture_id }));
        stored(
            "picture",
            self.set_picture_id(session, who, picture_id, emit).await,
        )
    }

    async fn about_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        about: &str,
    ) -> StoreResult<()> {
        let emit = update(who, json!({ "about": about }));
        stored(
            "about",
            self.set_about(session, who, Some(about), crate::now_ms(), emit)
                .await,
        )
    }

    async fn identity_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        implicit: bool,
        at_ms: i64,
        key: Option<[u8; 32]>,
    ) -> StoreResult<()> {
        let hash = key.as_ref().map(identity_hash);
        let emit = Some((
            hook::CONTACT_IDENTITY_CHANGED,
            payload::identity_changed(who, hash.as_deref(), at_ms),
        ));
        stored(
            "identity",
            self.record_identity_change(session, who, implicit, at_ms, hash.as_deref(), emit)
                .await,
        )
    }

    async fn number_changed(&self, session: &SessionName, change: NumberChange) -> StoreResult<()> {
        let emit = Some((
            hook::CONTACT_NUMBER_CHANGED,
            payload::number_changed(&change),
        ));
        stored(
            "number_change",
            self.record_number_change(
                session,
                change.lid.as_ref(),
                &change.old_phone,
                &change.new_phone,
                change.at_ms,
                emit,
            )
            .await,
        )
    }

    async fn blocklist_changed(
        &self,
        session: &SessionName,
        update: BlocklistUpdate,
    ) -> StoreResult<()> {
        let result = match update {
            BlocklistUpdate::Full(entries) => {
                let ids: Vec<ContactRef> = entries.iter().map(|e| e.who.clone()).collect();
                let emit = Some((hook::BLOCKLIST_UPDATE, payload::blocklist_full(&ids)));
                let rows: Vec<_> = entries
                    .into_iter()
                    .map(|e| (e.who, e.blocked_at.map(|s| s.saturating_mul(1000))))
                    .collect();
                self.replace_blocklist(session, &rows, emit).await
            }
            BlocklistUpdate::Changed { who, blocked } => {
                let emit = Some((
                    hook::BLOCKLIST_UPDATE,
                    payload::blocklist_changed(&who, blocked),
                ));
                self.set_blocked(session, &who, blocked, emit).await
            }
        };
        stored("blocklist", result)
    }

    async fn business_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        is_business: bool,
        verified_name: Option<&str>,
    ) -> StoreResult<()> {
        let emit = update(
            who,
            json!({ "isBusiness": is_business, "verifiedName": verified_name }),
        );
        stored(
            "business",
            self.set_business(session, who, is_business, verified_name, emit)
                .await,
        )
    }

    async fn own_push_name(&self, session: &SessionName, push_name: &str) -> StoreResult<()> {
        stored(
            "own_push_name",
            self.set_own_push_name(session, push_name).await,
        )
    }
}
