//! The contact rules: listings and lookups from the store; about texts and pictures
//! cached for the policy's TTL (hidden and missing both `None`); blocks, saves and LID
//! lookups that learn the missing half of a LID↔phone pair (store first, then what the
//! client already knows, then one usync query) and write back every answer.

use std::collections::HashMap;
use std::sync::Arc;

use crate::contact::{
    AddressBookEntry, BlockedContact, Contact, ContactDetails, Existence, LidMapping, ListCursor,
    Listing, Page,
};
use crate::ids::{ContactRef, Lid, PhoneNumber};
use crate::phone::candidates;
use crate::ports::{ContactStore, Directory, DirectoryError, StoreError};
use crate::service::sessions::{SessionError, SessionService};
use crate::session::{Me, SessionName};
use crate::username::Username;

/// Why a contact operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The store has no such contact.
    #[error("contact not found")]
    ContactNotFound(ContactRef),
    /// No contact of the session has this username.
    #[error("no contact has this username")]
    UsernameNotFound(Username),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session's lookup budget has no room for this many uncached numbers.
    #[error("the lookup budget of {budget} numbers per hour is spent")]
    BudgetExceeded {
        /// The session's budget per hour.
        budget: u32,
        /// Numbers the request needed looked up.
        needed: u32,
        /// When enough lookups are free again; `None` when the request needs more
        /// than a whole hour's budget.
        retry_after_secs: Option<u32>,
    },
}

type Result<T> = std::result::Result<T, ContactError>;

/// The contact service. Cheap to clone.
#[derive(Clone)]
pub struct ContactService {
    store: Arc<dyn ContactStore>,
    sessions: SessionService,
}

impl std::fmt::Debug for ContactService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactService")
    }
}

fn is_me(me: Option<&Me>, contact: &Contact) -> bool {
    match (me.and_then(Me::phone), contact.phone) {
        (Some(mine), Some(theirs)) => mine == theirs,
        _ => false,
    }
}

fn listed(me: Option<&Me>, contacts: Vec<Contact>) -> Vec<ContactDetails> {
    contacts
        .into_iter()
        .map(|contact| ContactDetails {
            is_me: is_me(me, &contact),
            contact,
            previous_numbers: Vec::new(),
        })
        .collect()
}

impl ContactService {
    pub fn new(store: Arc<dyn ContactStore>, sessions: SessionService) -> Self {
        Self { store, sessions }
    }

    fn now_ms(&self) -> i64 {
        self.sessions.clock().now_ms()
    }

    /// Requires a WORKING session (waiting briefly while it starts); returns who it is.
    pub async fn working(&self, session: &SessionName) -> Result<Option<Me>> {
        Ok(self.sessions.require_working(session).await?.me)
    }

    /// The session's WhatsApp directory, once it is WORKING.
    async fn directory(&self, session: &SessionName) -> Result<Arc<dyn Directory>> {
        self.working(session).await?;
        self.sessions
            .directory(session)
            .ok_or(ContactError::Directory(DirectoryError::NotConnected))
    }

    /// A page of contacts in a stable order.
    pub async fn list(
        &self,
        session: &SessionName,
        listing: Listing,
        page: Page,
    ) -> Result<Vec<ContactDetails>> {
        let me = self.working(session).await?;
        let rows = self.store.list_contacts(session, listing, page).await?;
        Ok(listed(me.as_ref(), rows))
    }

    /// A chunk of the contacts matching `search`, in the listing's order: from
    /// `page.offset` without a cursor, else right after it; also the next cursor.
    pub async fn search_chunk(
        &self,
        session: &SessionName,
        search: &crate::search::ContactSearch,
        listing: Listing,
        after: Option<&ListCursor>,
        page: Page,
    ) -> Result<(Vec<ContactDetails>, Option<ListCursor>)> {
        let me = self.working(session).await?;
        let (rows, next) = self
            .store
            .search_contacts(session, search, listing, after, page)
            .await?;
        Ok((listed(me.as_ref(), rows), next))
    }

    /// A chunk of a listing read by key: from `page.offset` without a cursor, else
    /// right after it; also the cursor of the next chunk (`None` at the end).
    pub async fn list_chunk(
        &self,
        session: &SessionName,
        listing: Listing,
        after: Option<&ListCursor>,
        page: Page,
    ) -> Result<(Vec<ContactDetails>, Option<ListCursor>)> {
        let me = self.working(session).await?;
        let (rows, next) = self
            .store
            .list_contacts_chunk(session, listing, after, page)
            .await?;
        Ok((listed(me.as_ref(), rows), next))
    }

    /// One contact, with its number history.
    pub async fn get(&self, session: &SessionName, who: &ContactRef) -> Result<ContactDetails> {
        let me = self.working(session).await?;
        let contact = self
            .store
            .get_contact(session, who)
            .await?
            .ok_or_else(|| ContactError::ContactNotFound(who.clone()))?;
        let previous_numbers = match &contact.phone {
            Some(phone) => self.store.number_history(session, phone).await?,
            None => Vec::new(),
        };
        Ok(ContactDetails {
            is_me: is_me(me.as_ref(), &contact),
            contact,
            previous_numbers,
        })
    }

    /// Who, among the session's contacts, has `username` (from the address book or
    /// an earlier username check). `UsernameNotFound` when nobody known has it.
    pub async fn find_username(
        &self,
        session: &SessionName,
        username: &Username,
    ) -> Result<ContactRef> {
        self.working(session).await?;
        self.store
            .contact_by_username(session, username)
            .await?
            .and_then(|c| c.id())
            .ok_or_else(|| ContactError::UsernameNotFound(username.clone()))
    }

    /// One contact with its "about" text and picture URL current: each is served
    /// from the cache while fresh, else fetched. A WhatsApp failure keeps what the
    /// cache holds (logged): the contact itself comes from the store either way.
    pub async fn get_with_profile(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> Result<ContactDetails> {
        let mut details = self.get(session, who).await?;
        let directory = self
            .sessions
            .directory(session)
            .ok_or(ContactError::Directory(DirectoryError::NotConnected))?;
        let id = details.contact.id().unwrap_or_else(|| who.clone());
        let contact = &mut details.contact;
        if !self.fresh(contact.about_fetched_ms) {
            match self.fetch_about(session, directory.as_ref(), &id).await {
                Ok(about) => contact.about = about,
                Err(ContactError::Directory(e)) => {
                    tracing::warn!(session = %session, error = %e, "about not refreshed for a contact answer");
                }
                Err(e) => return Err(e),
            }
        }
        if !self.fresh(contact.picture_fetched_ms) {
            match self.fetch_picture(session, directory.as_ref(), &id).await {
                Ok(url) => contact.picture_url = url,
                Err(ContactError::Directory(e)) => {
                    tracing::warn!(session = %session, error = %e, "picture not refreshed for a contact answer");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(details)
    }

    /// Whether something fetched at `fetched_ms` may still be served now.
    fn fresh(&self, fetched_ms: Option<i64>) -> bool {
        self.sessions
            .policy()
            .profile_fresh(fetched_ms, self.now_ms())
    }

    /// Whether `phone` is on WhatsApp, asking for every form WhatsApp may know it
    /// under (Brazil's 9th digit, Mexico's 1, Argentina's 9) in one query. The
    /// canonical number's LID and business facts are written back.
    pub async fn check_exists(
        &self,
        session: &SessionName,
        phone: &PhoneNumber,
    ) -> Result<Existence> {
        let directory = self.directory(session).await?;
        self.ask_exists(session, directory.as_ref(), phone).await
    }

    async fn ask_exists(
        &self,
        session: &SessionName,
        directory: &dyn Directory,
        phone: &PhoneNumber,
    ) -> Result<Existence> {
        let forms = candidates(phone);
        let answers = directory.is_on_whatsapp(&forms).await?;
        let Some(found) = forms
            .iter()
            .filter_map(|f| answers.get(f))
            .find(|r| r.exists)
        else {
            return Ok(Existence::not_found());
        };
        let canonical = found.phone.unwrap_or(*phone);
        if let Some(lid) = &found.lid {
            self.store.add_lid_mapping(session, lid, &canonical).await?;
        }
        if found.is_business {
            self.store
                .set_business(
                    session,
                    &ContactRef::Phone(canonical),
                    true,
                    found.verified_name.as_deref(),
                )
                .await?;
        }
        Ok(Existence {
            exists: true,
            phone: Some(canonical),
            lid: found.lid.clone(),
            username: found.username.clone(),
        })
    }

    /// The "about" text; `None` when unset, hidden or missing. Served from the store
    /// while fresh (`refresh` skips it); every fetch is cached, `None` included.
    pub async fn about(
        &self,
        session: &SessionName,
        who: &ContactRef,
        refresh: bool,
    ) -> Result<Option<String>> {
        let directory = self.directory(session).await?;
        if !refresh
            && let Some(c) = self.store.get_contact(session, who).await?
            && self.fresh(c.about_fetched_ms)
        {
            return Ok(c.about);
        }
        self.fetch_about(session, directory.as_ref(), who).await
    }

    /// Asks WhatsApp for `who`'s about text (hidden or missing: `None`) and writes
    /// back what the answer tells: the about with its time, the LID, business facts.
    async fn fetch_about(
        &self,
        session: &SessionName,
        directory: &dyn Directory,
        who: &ContactRef,
    ) -> Result<Option<String>> {
        let info = match directory.user_info(std::slice::from_ref(who)).await {
            Ok(mut info) => info.remove(who),
            Err(DirectoryError::HiddenByPrivacy | DirectoryError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let about = info.as_ref().and_then(|i| i.about.clone());
        if let Some(info) = &info {
            if let (Some(lid), ContactRef::Phone(phone)) = (&info.lid, who) {
                self.store.add_lid_mapping(session, lid, phone).await?;
            }
            if info.is_business {
                self.store
                    .set_business(session, who, true, info.verified_name.as_deref())
                    .await?;
            }
        }
        self.store
            .cache_about(session, who, about.as_deref(), self.now_ms())
            .await?;
        Ok(about)
    }

    /// The profile picture URL; `None` when there is none or it is hidden. Served
    /// from the store while fresh (`refresh` skips it).
    pub async fn picture_url(
        &self,
        session: &SessionName,
        who: &ContactRef,
        refresh: bool,
    ) -> Result<Option<String>> {
        let directory = self.directory(session).await?;
        if !refresh
            && let Some(c) = self.store.get_contact(session, who).await?
            && self.fresh(c.picture_fetched_ms)
        {
            return Ok(c.picture_url);
        }
        self.fetch_picture(session, directory.as_ref(), who).await
    }

    /// Asks WhatsApp for `who`'s picture URL (hidden or none: `None`) and caches it.
    async fn fetch_picture(
        &self,
        session: &SessionName,
        directory: &dyn Directory,
        who: &ContactRef,
    ) -> Result<Option<String>> {
        let picture = match directory.profile_picture(who, false).await {
            Ok(p) => p,
            Err(DirectoryError::HiddenByPrivacy | DirectoryError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        self.store
            .cache_picture(session, who, picture.as_ref(), self.now_ms())
            .await?;
        Ok(picture.map(|p| p.url))
    }

    /// Both halves of `who`'s LID↔phone pair as far as they can be learned: the
    /// store, then what the client already knows, then (for a number) one usync
    /// query. Whatever is learned is written back.
    async fn pair(
        &self,
        session: &SessionName,
        directory: &dyn Directory,
        who: &ContactRef,
    ) -> Result<(Option<PhoneNumber>, Option<Lid>)> {
        match who {
            ContactRef::Phone(phone) => {
                let mut lid = self
                    .store
                    .lids_for_phones(session, std::slice::from_ref(phone))
                    .await?
                    .remove(phone);
                if lid.is_none() {
                    lid = directory
                        .known_lids(std::slice::from_ref(phone))
                        .await?
                        .remove(phone);
                    if let Some(l) = &lid {
                        self.store.add_lid_mapping(session, l, phone).await?;
                    }
                }
                if lid.is_none() {
                    let found = self.ask_exists(session, directory, phone).await?;
                    return Ok((found.phone.or(Some(*phone)), found.lid));
                }
                Ok((Some(*phone), lid))
            }
            ContactRef::Lid(lid) => {
                let mut phone = self.store.phone_for_lid(session, lid).await?;
                if phone.is_none() {
                    phone = directory.known_phone(lid).await?;
                    if let Some(p) = &phone {
                        self.store.add_lid_mapping(session, lid, p).await?;
                    }
                }
                Ok((phone, Some(lid.clone())))
            }
        }
    }

    /// Blocks or unblocks on WhatsApp, then records it. A number whose LID nobody
    /// knows yet is looked up first; one WhatsApp does not know is `NotFound`.
    pub async fn set_blocked(
        &self,
        session: &SessionName,
        who: &ContactRef,
        blocked: bool,
    ) -> Result<()> {
        let directory = self.directory(session).await?;
        let (phone, lid) = self.pair(session, directory.as_ref(), who).await?;
        let lid = lid.ok_or(DirectoryError::NotFound)?;
        if blocked {
            directory.block(&lid, phone.as_ref()).await?;
        } else {
            directory.unblock(&lid).await?;
        }
        self.store
            .set_blocked(session, &ContactRef::Lid(lid), blocked)
            .await?;
        Ok(())
    }

    /// The blocklist as last synced from WhatsApp.
    pub async fn blocklist(&self, session: &SessionName) -> Result<Vec<BlockedContact>> {
        self.working(session).await?;
        Ok(self.store.blocklist(session).await?)
    }

    /// Saves a name in the phone's address book (app state), then in the store.
    /// WhatsApp keys the address book by number: a LID needs its number known.
    pub async fn save(
        &self,
        session: &SessionName,
        who: &ContactRef,
        first_name: &str,
        last_name: &str,
    ) -> Result<()> {
        let directory = self.directory(session).await?;
        let full_name = [first_name.trim(), last_name.trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let first = Some(first_name.trim()).filter(|s| !s.is_empty());
        let (phone, lid) = match who {
            ContactRef::Phone(p) => {
                let lid = self
                    .store
                    .lids_for_phones(session, std::slice::from_ref(p))
                    .await?
                    .remove(p);
                (Some(*p), lid)
            }
            ContactRef::Lid(_) => self.pair(session, directory.as_ref(), who).await?,
        };
        let phone = phone.ok_or(DirectoryError::NotFound)?;
        directory.save_contact(&phone, &full_name, first).await?;
        let entry = AddressBookEntry {
            who: ContactRef::Phone(phone),
            phone: Some(phone),
            lid,
            full_name: Some(full_name),
            first_name: first.map(str::to_owned),
            username: None,
            at_ms: self.now_ms(),
        };
        self.store.save_address_book(session, &entry).await?;
        Ok(())
    }

    /// A page of known LID mappings.
    pub async fn lids(&self, session: &SessionName, page: Page) -> Result<Vec<LidMapping>> {
        self.working(session).await?;
        Ok(self.store.list_lid_map(session, page).await?)
    }

    /// How many LID mappings are known.
    pub async fn lid_count(&self, session: &SessionName) -> Result<u64> {
        self.working(session).await?;
        Ok(self.store.count_lid_map(session).await?)
    }

    /// The phone number of a LID: the store, else what the client learned (written back).
    pub async fn phone_for_lid(
        &self,
        session: &SessionName,
        lid: &Lid,
    ) -> Result<Option<PhoneNumber>> {
        let directory = self.directory(session).await?;
        let who = ContactRef::Lid(lid.clone());
        Ok(self.pair(session, directory.as_ref(), &who).await?.0)
    }

    /// The LIDs of phone numbers, in input order: the store in one read, then what
    /// the client learned in one directory call for the rest (written back).
    pub async fn lids_for_phones(
        &self,
        session: &SessionName,
        phones: &[PhoneNumber],
    ) -> Result<Vec<(PhoneNumber, Option<Lid>)>> {
        let directory = self.directory(session).await?;
        let mut known: HashMap<PhoneNumber, Lid> =
            self.store.lids_for_phones(session, phones).await?;
        let missing: Vec<PhoneNumber> = phones
            .iter()
            .filter(|p| !known.contains_key(p))
            .copied()
            .collect();
        if !missing.is_empty() {
            for (phone, lid) in directory.known_lids(&missing).await? {
                self.store.add_lid_mapping(session, &lid, &phone).await?;
                known.insert(phone, lid);
            }
        }
        Ok(phones.iter().map(|p| (*p, known.get(p).cloned())).collect())
    }
}
