//! The store behind core's ports: typed ids in, typed ids out. Rows are mapped to core
//! types here, at the store's edge; a row whose ids do not parse is an error, logged
//! with its session and key, never skipped.

use std::collections::HashMap;

use anyhow::anyhow;
use async_trait::async_trait;
use wacontacts_core::contact::{
    AddressBookEntry, BlockedContact, Contact, LidMapping, ListCursor, Listing, NumberChange, Page,
    ProfilePicture,
};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::{ContactStore, SessionStore, StoreResult};
use wacontacts_core::session::{NewSession, SessionName, SessionRecord, SessionStatus};
use wacontacts_core::username::Username;

use crate::contacts::{BlockRow, LidMapRow, NumberChangeRow};
use crate::{AddressBookRow, Store, StoredContact, Written};

/// A bad stored id: logged loudly with where it is, and returned as an error.
fn bad_row(session: &SessionName, key: &str, what: &str, value: &str) -> anyhow::Error {
    tracing::error!(session = %session, row = key, field = what, "a stored id does not parse");
    anyhow!("stored {what} '{value}' of row '{key}' in session '{session}' does not parse")
}

/// Stored phone digits (no `+`) as a number.
fn phone(session: &SessionName, key: &str, digits: &str) -> anyhow::Result<PhoneNumber> {
    let valid = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| PhoneNumber::parse(&format!("+{digits}")).ok())
        .flatten()
        .ok_or_else(|| bad_row(session, key, "phone number", digits))
}

/// Stored LID digits as a LID.
fn lid(session: &SessionName, key: &str, user: &str) -> anyhow::Result<Lid> {
    Lid::new(user).map_err(|_| bad_row(session, key, "LID", user))
}

fn opt_phone(s: &SessionName, key: &str, v: Option<&str>) -> anyhow::Result<Option<PhoneNumber>> {
    v.map(|d| phone(s, key, d)).transpose()
}

fn opt_lid(s: &SessionName, key: &str, v: Option<&str>) -> anyhow::Result<Option<Lid>> {
    v.map(|d| lid(s, key, d)).transpose()
}

impl StoredContact {
    /// The row as core's contact.
    pub(crate) fn into_contact(self, session: &SessionName) -> anyhow::Result<Contact> {
        let key = self.jid.as_str();
        let contact = Contact {
            phone: opt_phone(session, key, self.pn.as_deref())?,
            lid: opt_lid(session, key, self.lid.as_deref())?,
            name: self.name,
            first_name: self.first_name,
            username: self.username,
            push_name: self.push_name,
            business_name: self.business_name,
            verified_name: self.verified_name,
            is_business: self.is_business,
            is_my_contact: self.is_my_contact,
            is_blocked: self.is_blocked,
            about: self.about,
            about_fetched_ms: self.about_fetched_ms,
            picture_id: self.picture_id,
            picture_url: self.picture_url,
            picture_fetched_ms: self.picture_fetched_ms,
            updated_ms: self.updated_ms,
        };
        if contact.id().is_none() {
            return Err(bad_row(session, key, "key", key));
        }
        Ok(contact)
    }
}

fn contacts(session: &SessionName, rows: Vec<StoredContact>) -> anyhow::Result<Vec<Contact>> {
    rows.into_iter().map(|r| r.into_contact(session)).collect()
}

fn number_change(session: &SessionName, row: NumberChangeRow) -> anyhow::Result<NumberChange> {
    let key = format!("{}->{}", row.old_pn, row.new_pn);
    Ok(NumberChange {
        lid: opt_lid(session, &key, row.lid.as_deref())?,
        old_phone: phone(session, &key, &row.old_pn)?,
        new_phone: phone(session, &key, &row.new_pn)?,
        at_ms: row.at_ms,
    })
}

fn mapping(session: &SessionName, row: LidMapRow) -> anyhow::Result<LidMapping> {
    Ok(LidMapping {
        lid: lid(session, &row.lid, &row.lid)?,
        phone: phone(session, &row.lid, &row.pn)?,
    })
}

fn blocked(session: &SessionName, row: BlockRow) -> anyhow::Result<BlockedContact> {
    let key = row.jid.as_str();
    Ok(BlockedContact {
        phone: opt_phone(session, key, row.pn.as_deref())?,
        lid: opt_lid(session, key, row.lid.as_deref())?,
        blocked_ms: row.blocked_ms,
    })
}

#[async_trait]
impl ContactStore for Store {
    async fn list_contacts(
        &self,
        session: &SessionName,
        listing: Listing,
        page: Page,
    ) -> StoreResult<Vec<Contact>> {
        let rows = Store::list_contacts(
            self,
            session,
            listing.sort,
            listing.descending,
            page.limit,
            page.offset,
        )
        .await?;
        Ok(contacts(session, rows)?)
    }

    async fn search_contacts(
        &self,
        session: &SessionName,
        search: &wacontacts_core::search::ContactSearch,
        listing: Listing,
        after: Option<&ListCursor>,
        page: Page,
    ) -> StoreResult<(Vec<Contact>, Option<ListCursor>)> {
        let (rows, next) = Store::search_contacts(
            self,
            session,
            search,
            listing.sort,
            listing.descending,
            after,
            page.limit,
            page.offset,
        )
        .await?;
        Ok((contacts(session, rows)?, next))
    }

    async fn list_contacts_chunk(
        &self,
        session: &SessionName,
        listing: Listing,
        after: Option<&ListCursor>,
        page: Page,
    ) -> StoreResult<(Vec<Contact>, Option<ListCursor>)> {
        let (rows, next) = Store::list_contacts_chunk(
            self,
            session,
            listing.sort,
            listing.descending,
            after,
            page.offset,
            page.limit,
        )
        .await?;
        Ok((contacts(session, rows)?, next))
    }

    async fn get_contact(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> StoreResult<Option<Contact>> {
        let row = Store::get_contact(self, session, who).await?;
        Ok(row.map(|r| r.into_contact(session)).transpose()?)
    }

    async fn contact_by_username(
        &self,
        session: &SessionName,
        username: &Username,
    ) -> StoreResult<Option<Contact>> {
        let row = Store::contact_by_username(self, session, username).await?;
        Ok(row.map(|r| r.into_contact(session)).transpose()?)
    }

    async fn number_history(
        &self,
        session: &SessionName,
        phone: &PhoneNumber,
    ) -> StoreResult<Vec<NumberChange>> {
        let rows = Store::number_history(self, session, &phone.wa_id()).await?;
        Ok(rows
            .into_iter()
            .map(|r| number_change(session, r))
            .collect::<anyhow::Result<_>>()?)
    }

    async fn add_lid_mapping(
        &self,
        session: &SessionName,
        lid: &Lid,
        phone: &PhoneNumber,
    ) -> StoreResult<()> {
        Ok(Store::add_lid_mapping(self, session, lid, phone, None).await?)
    }

    async fn phone_for_lid(
        &self,
        session: &SessionName,
        lid: &Lid,
    ) -> StoreResult<Option<PhoneNumber>> {
        let digits = Store::pn_for_lid(self, session, lid).await?;
        Ok(opt_phone(session, &format!("{lid}"), digits.as_deref())?)
    }

    async fn lids_for_phones(
        &self,
        session: &SessionName,
        phones: &[PhoneNumber],
    ) -> StoreResult<HashMap<PhoneNumber, Lid>> {
        let found = Store::lids_for_pns(self, session, phones).await?;
        let mut out = HashMap::with_capacity(found.len());
        for p in phones {
            let digits = p.wa_id();
            if let Some(user) = found.get(&digits) {
                out.insert(*p, lid(session, &digits, user)?);
            }
        }
        Ok(out)
    }

    async fn list_lid_map(
        &self,
        session: &SessionName,
        page: Page,
    ) -> StoreResult<Vec<LidMapping>> {
        let rows = Store::list_lid_map(self, session, page.limit, page.offset).await?;
        Ok(rows
            .into_iter()
            .map(|r| mapping(session, r))
            .collect::<anyhow::Result<_>>()?)
    }

    async fn count_lid_map(&self, session: &SessionName) -> StoreResult<u64> {
        Ok(Store::count_lid_map(self, session).await?)
    }

    async fn cache_about(
        &self,
        session: &SessionName,
        who: &ContactRef,
        about: Option<&str>,
        at_ms: i64,
    ) -> StoreResult<()> {
        Ok(self.set_about(session, who, about, at_ms, None).await?)
    }

    async fn cache_picture(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture: Option<&ProfilePicture>,
        at_ms: i64,
    ) -> StoreResult<()> {
        let id = picture.map(|p| p.id.as_str());
        let url = picture.map(|p| p.url.as_str());
        Ok(Store::cache_picture(self, session, who, id, url, at_ms).await?)
    }

    async fn set_business(
        &self,
        session: &SessionName,
        who: &ContactRef,
        is_business: bool,
        verified_name: Option<&str>,
    ) -> StoreResult<()> {
        Ok(Store::set_business(self, session, who, is_business, verified_name, None).await?)
    }

    async fn set_blocked(
        &self,
        session: &SessionName,
        who: &ContactRef,
        blocked: bool,
    ) -> StoreResult<()> {
        Ok(Store::set_blocked(self, session, who, blocked, None).await?)
    }

    async fn blocklist(&self, session: &SessionName) -> StoreResult<Vec<BlockedContact>> {
        let rows = Store::blocklist(self, session).await?;
        Ok(rows
            .into_iter()
            .map(|r| blocked(session, r))
            .collect::<anyhow::Result<_>>()?)
    }

    async fn save_address_book(
        &self,
        session: &SessionName,
        entry: &AddressBookEntry,
    ) -> StoreResult<()> {
        Ok(self
            .apply_address_book(session, &entry.who, address_book_row(entry), None)
            .await?)
    }
}

/// An address-book entry as the row writer takes it.
pub(crate) fn address_book_row(entry: &AddressBookEntry) -> AddressBookRow<'_> {
    AddressBookRow {
        phone: entry.phone.as_ref(),
        lid: entry.lid.as_ref(),
        full_name: entry.full_name.as_deref(),
        first_name: entry.first_name.as_deref(),
        username: entry.username.as_deref(),
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn create_session(&self, new: &NewSession) -> StoreResult<bool> {
        Ok(Store::create_session(self, new).await?)
    }

    async fn list_sessions(&self) -> StoreResult<Vec<SessionRecord>> {
        Ok(Store::list_sessions(self).await?)
    }

    async fn get_session(&self, name: &SessionName) -> StoreResult<Option<SessionRecord>> {
        Ok(Store::get_session(self, name).await?)
    }

    async fn update_session_config(
        &self,
        name: &SessionName,
        config: &serde_json::Value,
    ) -> StoreResult<bool> {
        let written = Store::update_session_config(self, name, config).await?;
        Ok(written == Written::Done)
    }

    async fn set_session_status(
        &self,
        name: &SessionName,
        status: SessionStatus,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        Store::set_session_status(self, name, status, reason).await?;
        Ok(())
    }

    async fn set_desired_running(&self, name: &SessionName, running: bool) -> StoreResult<()> {
        self.set_session_desired_running(name, running).await?;
        Ok(())
    }

    async fn delete_session(&self, name: &SessionName) -> StoreResult<()> {
        Store::delete_session(self, name).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Backend;

    async fn a_row_with_a_bad_id_is_an_error_not_a_skip(backend: Backend) {
        let (_d, store, s) = crate::test_support::store_with_session(backend, "s").await;
        let good = PhoneNumber::parse("+15551234567").unwrap();
        store
            .set_push_name(&s, &ContactRef::Phone(good), "Ok", None)
            .await
            .unwrap();
        on_pool!(store.pool(), |pool| sqlx::query(
            "INSERT INTO contacts (session, jid, pn, updated_ms) VALUES ('s', 'x@s.whatsapp.net', 'x', 0)"
        )
        .execute(pool)
        .await
        .map(drop))
        .unwrap();
        let listing = Listing {
            sort: wacontacts_core::contact::ContactSort::Id,
            descending: false,
        };
        let page = Page {
            limit: 10,
            offset: 0,
        };
        let err = ContactStore::list_contacts(&store, &s, listing, page)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("x@s.whatsapp.net"), "{err}");
        let one = ContactStore::get_contact(&store, &s, &ContactRef::Phone(good))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(one.phone, Some(good));
        assert_eq!(one.push_name.as_deref(), Some("Ok"));
    }

    both_backends!(a_row_with_a_bad_id_is_an_error_not_a_skip,);
}
