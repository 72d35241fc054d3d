//! The store as the engine's [`ContactEventSink`]: each fact WhatsApp tells becomes a
//! row. A failed write is returned to the engine, which retries it: nothing is dropped.

use async_trait::async_trait;
use wacontacts_core::contact::{AddressBookEntry, BlocklistUpdate, NumberChange};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::{ContactEventSink, StoreError, StoreResult};
use wacontacts_core::session::SessionName;

use crate::Store;
use crate::ports::address_book_row;

/// A failed write, with which fact it was (no ids: they are personal data).
fn stored(what: &'static str, result: anyhow::Result<()>) -> StoreResult<()> {
    result.map_err(|e| StoreError(e.context(format!("Failed to store a {what} fact"))))
}

#[async_trait]
impl ContactEventSink for Store {
    async fn address_book_contact(
        &self,
        session: &SessionName,
        entry: AddressBookEntry,
    ) -> StoreResult<()> {
        stored(
            "address_book",
            self.apply_address_book(session, &entry.who, address_book_row(&entry))
                .await,
        )
    }

    async fn push_name(
        &self,
        session: &SessionName,
        who: &ContactRef,
        push_name: &str,
    ) -> StoreResult<()> {
        stored(
            "push_name",
            self.set_push_name(session, who, push_name).await,
        )
    }

    async fn lid_mapping(
        &self,
        session: &SessionName,
        lid: &Lid,
        phone: &PhoneNumber,
    ) -> StoreResult<()> {
        stored(
            "lid_mapping",
            self.add_lid_mapping(session, lid, phone).await,
        )
    }

    async fn picture_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture_id: Option<&str>,
    ) -> StoreResult<()> {
        stored(
            "picture",
            self.set_picture_id(session, who, picture_id).await,
        )
    }

    async fn about_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        about: &str,
    ) -> StoreResult<()> {
        stored(
            "about",
            self.set_about(session, who, Some(about), crate::now_ms())
                .await,
        )
    }

    async fn identity_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        implicit: bool,
        at_ms: i64,
    ) -> StoreResult<()> {
        stored(
            "identity",
            self.record_identity_change(session, who, implicit, at_ms)
                .await,
        )
    }

    async fn number_changed(&self, session: &SessionName, change: NumberChange) -> StoreResult<()> {
        stored(
            "number_change",
            self.record_number_change(
                session,
                change.lid.as_ref(),
                &change.old_phone,
                &change.new_phone,
                change.at_ms,
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
                let rows: Vec<_> = entries
                    .into_iter()
                    .map(|e| (e.who, e.blocked_at.map(|s| s.saturating_mul(1000))))
                    .collect();
                self.replace_blocklist(session, &rows).await
            }
            BlocklistUpdate::Changed { who, blocked } => {
                self.set_blocked(session, &who, blocked).await
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
        stored(
            "business",
            self.set_business(session, who, is_business, verified_name)
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
