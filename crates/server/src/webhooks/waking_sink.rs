//! The engine's sink, wrapped so that each stored fact wakes its session's delivery
//! task: the fact's webhook event entered the outbox in the same transaction, and an
//! idle task would otherwise only find it at its next safety poll.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use wacontacts_core::contact::{AddressBookEntry, BlocklistUpdate, NumberChange};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::{ContactEventSink, StoreResult};
use wacontacts_core::session::SessionName;

use super::Dispatcher;

/// Delegates every fact to `inner`; after a stored one, wakes the dispatcher (once
/// it is set: the dispatcher needs the engine, which needs this sink).
pub struct WakingSink {
    inner: Arc<dyn ContactEventSink>,
    dispatcher: Arc<OnceLock<Dispatcher>>,
}

impl WakingSink {
    pub fn new(inner: Arc<dyn ContactEventSink>, dispatcher: Arc<OnceLock<Dispatcher>>) -> Self {
        WakingSink { inner, dispatcher }
    }

    fn woke(&self, session: &SessionName, stored: StoreResult<()>) -> StoreResult<()> {
        if stored.is_ok()
            && let Some(d) = self.dispatcher.get()
        {
            d.wake(session);
        }
        stored
    }
}

#[async_trait]
impl ContactEventSink for WakingSink {
    async fn address_book_contact(
        &self,
        session: &SessionName,
        entry: AddressBookEntry,
    ) -> StoreResult<()> {
        let r = self.inner.address_book_contact(session, entry).await;
        self.woke(session, r)
    }

    async fn push_name(
        &self,
        session: &SessionName,
        who: &ContactRef,
        push_name: &str,
    ) -> StoreResult<()> {
        let r = self.inner.push_name(session, who, push_name).await;
        self.woke(session, r)
    }

    async fn lid_mapping(
        &self,
        session: &SessionName,
        lid: &Lid,
        phone: &PhoneNumber,
    ) -> StoreResult<()> {
        let r = self.inner.lid_mapping(session, lid, phone).await;
        self.woke(session, r)
    }

    async fn picture_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture_id: Option<&str>,
    ) -> StoreResult<()> {
        let r = self.inner.picture_changed(session, who, picture_id).await;
        self.woke(session, r)
    }

    async fn about_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        about: &str,
    ) -> StoreResult<()> {
        let r = self.inner.about_changed(session, who, about).await;
        self.woke(session, r)
    }

    async fn identity_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        implicit: bool,
        at_ms: i64,
        key: Option<[u8; 32]>,
    ) -> StoreResult<()> {
        let r = self
            .inner
            .identity_changed(session, who, implicit, at_ms, key)
            .await;
        self.woke(session, r)
    }

    async fn number_changed(&self, session: &SessionName, change: NumberChange) -> StoreResult<()> {
        let r = self.inner.number_changed(session, change).await;
        self.woke(session, r)
    }

    async fn blocklist_changed(
        &self,
        session: &SessionName,
        update: BlocklistUpdate,
    ) -> StoreResult<()> {
        let r = self.inner.blocklist_changed(session, update).await;
        self.woke(session, r)
    }

    async fn business_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        is_business: bool,
        verified_name: Option<&str>,
    ) -> StoreResult<()> {
        let r = self
            .inner
            .business_changed(session, who, is_business, verified_name)
            .await;
        self.woke(session, r)
    }

    async fn own_push_name(&self, session: &SessionName, push_name: &str) -> StoreResult<()> {
        let r = self.inner.own_push_name(session, push_name).await;
        self.woke(session, r)
    }
}
