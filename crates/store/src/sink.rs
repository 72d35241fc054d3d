//! The store as the engine's [`ContactEventSink`]: each fact WhatsApp tells becomes a
//! row. Failures are logged (without ids) and dropped: the next sync tells again.

use async_trait::async_trait;
use wacontacts_core::contact::{AddressBookEntry, BlocklistUpdate, NumberChange};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::ContactEventSink;
use wacontacts_core::session::SessionName;

use crate::{AddressBookRow, Store};

fn logged(what: &'static str, result: anyhow::Result<()>) {
    if let Err(e) = result {
        tracing::warn!(fact = what, error = %format!("{e:#}"), "failed to store a contact fact");
    }
}

#[async_trait]
impl ContactEventSink for Store {
    async fn address_book_contact(&self, session: &SessionName, entry: AddressBookEntry) {
        let row = AddressBookRow {
            phone: entry.phone.as_ref(),
            lid: entry.lid.as_ref(),
            full_name: entry.full_name.as_deref(),
            first_name: entry.first_name.as_deref(),
            username: entry.username.as_deref(),
        };
        logged(
            "address_book",
            self.apply_address_book(session, &entry.who, row).await,
        );
    }

    async fn push_name(&self, session: &SessionName, who: &ContactRef, push_name: &str) {
        logged(
            "push_name",
            self.set_push_name(session, who, push_name).await,
        );
    }

    async fn lid_mapping(&self, session: &SessionName, lid: &Lid, phone: &PhoneNumber) {
        logged(
            "lid_mapping",
            self.add_lid_mapping(session, lid, phone).await,
        );
    }

    async fn picture_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture_id: Option<&str>,
    ) {
        logged(
            "picture",
            self.set_picture_id(session, who, picture_id).await,
        );
    }

    async fn about_changed(&self, session: &SessionName, who: &ContactRef, about: &str) {
        logged("about", self.set_about(session, who, Some(about)).await);
    }

    async fn identity_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        implicit: bool,
        at_ms: i64,
    ) {
        logged(
            "identity",
            self.record_identity_change(session, who, implicit, at_ms)
                .await,
        );
    }

    async fn number_changed(&self, session: &SessionName, change: NumberChange) {
        logged(
            "number_change",
            self.record_number_change(
                session,
                change.lid.as_ref(),
                &change.old_phone,
                &change.new_phone,
                change.at_ms,
            )
            .await,
        );
    }

    async fn blocklist_changed(&self, session: &SessionName, update: BlocklistUpdate) {
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
        logged("blocklist", result);
    }

    async fn business_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        is_business: bool,
        verified_name: Option<&str>,
    ) {
        logged(
            "business",
            self.set_business(session, who, is_business, verified_name)
                .await,
        );
    }

    async fn own_push_name(&self, session: &SessionName, push_name: &str) {
        logged(
            "own_push_name",
            self.set_own_push_name(session, push_name).await,
        );
    }
}
