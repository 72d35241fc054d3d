//! The contact service: one place that every dialect calls. Reads come from the store
//! (kept current by WhatsApp's events); WhatsApp is asked only when the store cannot
//! answer or its answer is stale, and what WhatsApp says is written back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wacontacts_core::contact::ExistenceResult;
use wacontacts_core::ids::{ContactRef, Lid};
use wacontacts_core::phone::{PhoneNumber, candidates};
use wacontacts_core::ports::{Directory, DirectoryError};
use wacontacts_core::session::SessionName;
use wacontacts_engine::Me;
use wacontacts_store::{
    AddressBookRow, BlockRow, ContactSort, LidMapRow, ListCursor, NumberChangeRow, Store,
    StoredContact,
};

use crate::sessions::{SessionError, SessionService};

/// How long a session may stay STARTING before a contact call gives up on it.
pub const STARTING_PATIENCE: Duration = Duration::from_secs(5);
/// How long a fetched "about" text or picture URL is served from the store.
pub const PROFILE_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Why a contact operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("contact not found")]
    ContactNotFound(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A contact with what the dialects add around it.
#[derive(Debug, Clone)]
pub struct ContactView {
    pub contact: StoredContact,
    /// The contact is the linked account itself.
    pub is_me: bool,
    /// Numbers this contact had before (oldest first); filled for single lookups.
    pub previous_numbers: Vec<NumberChangeRow>,
}

/// WhatsApp's answer about one number, in the canonical form it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existence {
    pub exists: bool,
    /// The number as WhatsApp knows it (e.g. Brazil with or without the 9th digit).
    pub phone: Option<PhoneNumber>,
    pub lid: Option<Lid>,
}

/// A page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

#[derive(Clone)]
pub struct ContactService {
    store: Store,
    sessions: SessionService,
}

impl std::fmt::Debug for ContactService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactService")
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn fresh(fetched_ms: Option<i64>) -> bool {
    fetched_ms.is_some_and(|t| now_ms() - t < PROFILE_CACHE_TTL.as_millis() as i64)
}

impl ContactService {
    pub fn new(store: Store, sessions: SessionService) -> Self {
        Self { store, sessions }
    }

    /// Requires a WORKING session (waiting briefly while it starts); returns who it is.
    pub async fn working(&self, session: &SessionName) -> Result<Option<Me>, ContactError> {
        Ok(self
            .sessions
            .require_working(session, STARTING_PATIENCE)
            .await?
            .me)
    }

    /// The session's WhatsApp directory, once it is WORKING.
    async fn directory(&self, session: &SessionName) -> Result<Arc<dyn Directory>, ContactError> {
        self.working(session).await?;
        self.sessions
            .engine()
            .directory(session)
            .ok_or(ContactError::Directory(DirectoryError::NotConnected))
    }

    fn is_me(me: &Option<Me>, c: &StoredContact) -> bool {
        match (me, &c.pn) {
            (Some(me), Some(pn)) => me.id.split('@').next() == Some(pn.as_str()),
            _ => false,
        }
    }

    /// A page of contacts in a stable order.
    pub async fn list(
        &self,
        session: &SessionName,
        sort: ContactSort,
        descending: bool,
        page: Page,
    ) -> Result<Vec<ContactView>, ContactError> {
        let me = self.working(session).await?;
        let rows = self
            .store
            .list_contacts(session, sort, descending, page.limit, page.offset)
            .await?;
        Ok(rows
            .into_iter()
            .map(|contact| ContactView {
                is_me: Self::is_me(&me, &contact),
                contact,
                previous_numbers: Vec::new(),
            })
            .collect())
    }

    /// A chunk of a listing read by key: starts at `offset` without a cursor, else right
    /// after it; returns the cursor of the next chunk (`None` at the end).
    pub async fn list_chunk(
        &self,
        session: &SessionName,
        sort: ContactSort,
        descending: bool,
        after: Option<&ListCursor>,
        page: Page,
    ) -> Result<(Vec<ContactView>, Option<ListCursor>), ContactError> {
        let me = self.working(session).await?;
        let (rows, next) = self
            .store
            .list_contacts_chunk(session, sort, descending, after, page.offset, page.limit)
            .await?;
        let rows = rows
            .into_iter()
            .map(|contact| ContactView {
                is_me: Self::is_me(&me, &contact),
                contact,
                previous_numbers: Vec::new(),
            })
            .collect();
        Ok((rows, next))
    }

    /// One contact, with its number history.
    pub async fn get(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> Result<ContactView, ContactError> {
        let me = self.working(session).await?;
        let contact = self
            .store
            .get_contact(session, who)
            .await?
            .ok_or_else(|| ContactError::ContactNotFound(who.to_string()))?;
        let previous_numbers = match &contact.pn {
            Some(pn) => self.store.number_history(session, pn).await?,
            None => Vec::new(),
        };
        Ok(ContactView {
            is_me: Self::is_me(&me, &contact),
            contact,
            previous_numbers,
        })
    }

    /// Whether `phone` is on WhatsApp, asking for every form WhatsApp may know it
    /// under (Brazil's 9th digit, Mexico's 1, Argentina's 9) in one query.
    pub async fn check_exists(
        &self,
        session: &SessionName,
        phone: &PhoneNumber,
    ) -> Result<Existence, ContactError> {
        let directory = self.directory(session).await?;
        let forms = candidates(phone);
        let answers: HashMap<PhoneNumber, ExistenceResult> =
            directory.is_on_whatsapp(&forms).await?;
        let found = forms
            .iter()
            .filter_map(|f| answers.get(f))
            .find(|r| r.exists);
        let Some(found) = found else {
            return Ok(Existence {
                exists: false,
                phone: None,
                lid: None,
            });
        };
        let canonical = found.phone.unwrap_or(*phone);
        if let Some(lid) = &found.lid {
            self.store.add_lid_mapping(session, lid, &canonical).await?;
        }
        Ok(Existence {
            exists: true,
            phone: Some(canonical),
            lid: found.lid.clone(),
        })
    }

    /// The "about" text; `None` when unset or hidden. Served from the store for 24 h.
    pub async fn about(
        &self,
        session: &SessionName,
        who: &ContactRef,
        refresh: bool,
    ) -> Result<Option<String>, ContactError> {
        let directory = self.directory(session).await?;
        if !refresh
            && let Some(c) = self.store.get_contact(session, who).await?
            && fresh(c.about_fetched_ms)
        {
            return Ok(c.about);
        }
        let info = directory.user_info(std::slice::from_ref(who)).await?;
        let about = info.get(who).and_then(|i| i.about.clone());
        self.store.set_about(session, who, about.as_deref()).await?;
        Ok(about)
    }

    /// The profile picture URL; `None` when there is none or it is hidden. Served
    /// from the store for 24 h.
    pub async fn picture_url(
        &self,
        session: &SessionName,
        who: &ContactRef,
        refresh: bool,
    ) -> Result<Option<String>, ContactError> {
        let directory = self.directory(session).await?;
        if !refresh
            && let Some(c) = self.store.get_contact(session, who).await?
            && fresh(c.picture_fetched_ms)
        {
            return Ok(c.picture_url);
        }
        let picture = match directory.profile_picture(who, false).await {
            Ok(p) => p,
            Err(DirectoryError::HiddenByPrivacy | DirectoryError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        self.store
            .cache_picture(
                session,
                who,
                picture.as_ref().map(|p| p.id.as_str()),
                picture.as_ref().map(|p| p.url.as_str()),
            )
            .await?;
        Ok(picture.map(|p| p.url))
    }

    /// Blocks or unblocks on WhatsApp, then records it.
    pub async fn set_blocked(
        &self,
        session: &SessionName,
        who: &ContactRef,
        blocked: bool,
    ) -> Result<(), ContactError> {
        let directory = self.directory(session).await?;
        if blocked {
            directory.block(who).await?;
        } else {
            directory.unblock(who).await?;
        }
        self.store.set_blocked(session, who, blocked).await?;
        Ok(())
    }

    /// The blocklist as last synced from WhatsApp.
    pub async fn blocklist(&self, session: &SessionName) -> Result<Vec<BlockRow>, ContactError> {
        self.working(session).await?;
        Ok(self.store.blocklist(session).await?)
    }

    /// Saves a name in the phone's address book (app state), then in the store.
    pub async fn save(
        &self,
        session: &SessionName,
        who: &ContactRef,
        first_name: &str,
        last_name: &str,
    ) -> Result<(), ContactError> {
        let directory = self.directory(session).await?;
        let full_name = [first_name.trim(), last_name.trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let first = Some(first_name.trim()).filter(|s| !s.is_empty());
        directory.save_contact(who, &full_name, first).await?;
        self.store
            .apply_address_book(
                session,
                who,
                AddressBookRow {
                    phone: who.phone(),
                    lid: who.lid(),
                    full_name: Some(&full_name),
                    first_name: first,
                    username: None,
                },
            )
            .await?;
        Ok(())
    }

    /// A page of known LID mappings.
    pub async fn lids(
        &self,
        session: &SessionName,
        page: Page,
    ) -> Result<Vec<LidMapRow>, ContactError> {
        self.working(session).await?;
        Ok(self
            .store
            .list_lid_map(session, page.limit, page.offset)
            .await?)
    }

    /// How many LID mappings are known.
    pub async fn lid_count(&self, session: &SessionName) -> Result<u64, ContactError> {
        self.working(session).await?;
        Ok(self.store.count_lid_map(session).await?)
    }

    /// The phone number of a LID, from the store, else from what the engine learned.
    pub async fn pn_for_lid(
        &self,
        session: &SessionName,
        lid: &Lid,
    ) -> Result<Option<PhoneNumber>, ContactError> {
        let directory = self.directory(session).await?;
        if let Some(pn) = self.store.pn_for_lid(session, lid).await?
            && let Ok(p) = PhoneNumber::parse(&format!("+{pn}"))
        {
            return Ok(Some(p));
        }
        let found = directory.pn_for_lid(lid).await?;
        if let Some(pn) = &found {
            self.store.add_lid_mapping(session, lid, pn).await?;
        }
        Ok(found)
    }

    /// The LIDs of phone numbers, from the store, else from what the engine learned.
    pub async fn lids_for_pns(
        &self,
        session: &SessionName,
        phones: &[PhoneNumber],
    ) -> Result<Vec<(PhoneNumber, Option<Lid>)>, ContactError> {
        let directory = self.directory(session).await?;
        let stored = self.store.lids_for_pns(session, phones).await?;
        let mut out = Vec::with_capacity(phones.len());
        for pn in phones {
            let known = stored.get(&pn.wa_id());
            let lid = match known.and_then(|l| Lid::parse(&format!("{l}@lid")).ok()) {
                Some(l) => Some(l),
                None => {
                    let found = directory.lid_for_pn(pn).await?;
                    if let Some(l) = &found {
                        self.store.add_lid_mapping(session, l, pn).await?;
                    }
                    found
                }
            };
            out.push((*pn, lid));
        }
        Ok(out)
    }
}
