//! Traits the services need from the outside world, each method with the one line a
//! caller needs: WhatsApp (`Directory` and `SessionRuntime`, implemented by the
//! engine), storage (`ContactStore`, `SessionStore`, and `ContactEventSink` for the
//! facts WhatsApp's events tell, implemented by the store) and time (`Clock`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::contact::{
    AddressBookEntry, BlockEntry, BlockedContact, BlocklistUpdate, CachedExistence, Contact,
    ExistenceResult, LidMapping, ListCursor, Listing, NumberChange, Page, ProfilePicture, UserInfo,
};
use crate::ids::{ContactRef, Lid, PhoneNumber};
use crate::session::{
    EngineError, NewSession, SessionName, SessionRecord, SessionState, SessionStatus,
};
use crate::username::{CheckKey, Username, UsernameQuery};

/// A storage failure (database down, disk full, a row that does not parse). Its
/// text is for logs, never for a client.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StoreError(#[from] pub anyhow::Error);

/// What storage calls return.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a WhatsApp directory call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The session is not connected and logged in to WhatsApp.
    #[error("session is not connected to WhatsApp")]
    NotConnected,
    /// WhatsApp answered 429 (rate-overlimit): slow down. `retry_after_secs` is
    /// WhatsApp's own backoff hint when it sent one.
    #[error("WhatsApp is rate limiting this session")]
    RateLimited { retry_after_secs: Option<u32> },
    /// WhatsApp has nothing under that id (e.g. no such user, no LID mapping).
    #[error("not found on WhatsApp")]
    NotFound,
    /// The user's privacy settings hide what was asked.
    #[error("hidden by the user's privacy settings")]
    HiddenByPrivacy,
    /// WhatsApp did not answer within the call's timeout.
    #[error("WhatsApp did not answer in time")]
    Timeout,
    /// Anything else, with WhatsApp's or the library's words.
    #[error("{0}")]
    Other(String),
}

/// WhatsApp's directory as one linked session sees it. Batch in, map out: every
/// call is one WhatsApp query however many ids it carries; ids WhatsApp says
/// nothing about are absent from the map.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Which of `phones` have a WhatsApp account (one usync query). Every input
    /// number is a key of the answer, existing or not.
    async fn is_on_whatsapp(
        &self,
        phones: &[PhoneNumber],
    ) -> Result<HashMap<PhoneNumber, ExistenceResult>, DirectoryError>;

    /// Who holds each of the usernames asked (one usync query): found only when the
    /// username exists and the PIN, where the holder set one, is right (a wrong PIN
    /// answers as not found). Every input is a key of the answer. WhatsApp answers
    /// with the LID, and with the phone number only when it chooses to tell it.
    async fn find_usernames(
        &self,
        asked: &[UsernameQuery],
    ) -> Result<HashMap<UsernameQuery, ExistenceResult>, DirectoryError>;

    /// About text, LID, picture id and business facts of `who` (one usync query).
    async fn user_info(
        &self,
        who: &[ContactRef],
    ) -> Result<HashMap<ContactRef, UserInfo>, DirectoryError>;

    /// The profile picture of `who`, small (`preview`) or full size; `Ok(None)`
    /// when there is none or it is hidden from this account.
    async fn profile_picture(
        &self,
        who: &ContactRef,
        preview: bool,
    ) -> Result<Option<ProfilePicture>, DirectoryError>;

    /// Blocks the account of `lid`; WhatsApp wants its phone number beside the LID
    /// when known (`None` blocks by LID alone).
    async fn block(&self, lid: &Lid, phone: Option<&PhoneNumber>) -> Result<(), DirectoryError>;

    /// Unblocks the account of `lid` (WhatsApp keys blocks by LID).
    async fn unblock(&self, lid: &Lid) -> Result<(), DirectoryError>;

    /// The account's blocklist as WhatsApp holds it.
    async fn blocklist(&self) -> Result<Vec<BlockEntry>, DirectoryError>;

    /// Saves `phone` in the phone's address book under these names (app-state
    /// write, synced to the phone and every linked device; keyed by number).
    async fn save_contact(
        &self,
        phone: &PhoneNumber,
        full_name: &str,
        first_name: Option<&str>,
    ) -> Result<(), DirectoryError>;

    /// The LIDs of `phones` that this session's client already learned (no
    /// network); unknown numbers are absent (`is_on_whatsapp` learns them).
    async fn known_lids(
        &self,
        phones: &[PhoneNumber],
    ) -> Result<HashMap<PhoneNumber, Lid>, DirectoryError>;

    /// The phone number of `lid` that this session's client already learned (no
    /// network); `Ok(None)` when unknown.
    async fn known_phone(&self, lid: &Lid) -> Result<Option<PhoneNumber>, DirectoryError>;
}

/// Where the engine reports what WhatsApp's events tell about contacts, one call
/// per fact, keyed by session. Calls of one session arrive in the order WhatsApp
/// sent the facts, never concurrently for one session. A fact WhatsApp told must not
/// be lost: an `Err` means it was not stored, and the engine retries it (holding
/// back the events after it) until it is.
#[async_trait]
pub trait ContactEventSink: Send + Sync {
    /// An address-book entry of the phone was added or changed (also every entry
    /// of a full app-state sync). Its LID↔phone pair, when both are known, is
    /// also reported through `lid_mapping`.
    async fn address_book_contact(
        &self,
        session: &SessionName,
        entry: AddressBookEntry,
    ) -> StoreResult<()>;

    /// `who` calls themselves `push_name` (from an incoming message or history sync).
    async fn push_name(
        &self,
        session: &SessionName,
        who: &ContactRef,
        push_name: &str,
    ) -> StoreResult<()>;

    /// `lid` and `phone` are the same account (learned from any source).
    async fn lid_mapping(
        &self,
        session: &SessionName,
        lid: &Lid,
        phone: &PhoneNumber,
    ) -> StoreResult<()>;

    /// `who` changed their profile picture to `picture_id` (`None` = removed).
    async fn picture_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture_id: Option<&str>,
    ) -> StoreResult<()>;

    /// `who` changed their "about" text.
    async fn about_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        about: &str,
    ) -> StoreResult<()>;

    /// `who`'s identity key changed (reinstall or new phone): their security
    /// code changed. `implicit` = noticed while decrypting rather than announced
    /// by the server. `at_ms` = Unix milliseconds when the engine saw it. `key` =
    /// the new 32-byte public identity key, when the engine could read it.
    async fn identity_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        implicit: bool,
        at_ms: i64,
        key: Option<[u8; 32]>,
    ) -> StoreResult<()>;

    /// Someone changed their number, keeping their account; keep the history.
    async fn number_changed(&self, session: &SessionName, change: NumberChange) -> StoreResult<()>;

    /// The account's blocklist changed (or was fetched in full).
    async fn blocklist_changed(
        &self,
        session: &SessionName,
        update: BlocklistUpdate,
    ) -> StoreResult<()>;

    /// `who` is (`is_business`) a business account, with this verified name
    /// (`None` = none or removed).
    async fn business_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        is_business: bool,
        verified_name: Option<&str>,
    ) -> StoreResult<()>;

    /// The linked account's own push name is now `push_name`.
    async fn own_push_name(&self, session: &SessionName, push_name: &str) -> StoreResult<()>;
}

/// Contacts and LID mappings of every session, as the contact service reads and
/// writes them. Every id is typed; a stored row that does not parse is an error.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// A page of a session's contacts in a stable order.
    async fn list_contacts(
        &self,
        session: &SessionName,
        listing: Listing,
        page: Page,
    ) -> StoreResult<Vec<Contact>>;

    /// A chunk of a listing read by key: from `page.offset` without a cursor, else
    /// right after `after`; also the cursor of the next chunk (`None` at the end).
    async fn list_contacts_chunk(
        &self,
        session: &SessionName,
        listing: Listing,
        after: Option<&ListCursor>,
        page: Page,
    ) -> StoreResult<(Vec<Contact>, Option<ListCursor>)>;

    /// A chunk of the contacts whose name, push name, verified or business name holds
    /// the search's text, or whose number or LID holds its digits, in the listing's
    /// order: from `page.offset` without a cursor, else right after `after`; also the
    /// next chunk's cursor (`None` at the end), as [`ContactStore::list_contacts_chunk`].
    async fn search_contacts(
        &self,
        session: &SessionName,
        search: &crate::search::ContactSearch,
        listing: Listing,
        after: Option<&ListCursor>,
        page: Page,
    ) -> StoreResult<(Vec<Contact>, Option<ListCursor>)>;

    /// One contact by phone or LID (a LID finds the phone's row once mapped).
    async fn get_contact(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> StoreResult<Option<Contact>>;

    /// The contact whose username is `username`, when one is known (from the
    /// address book or a username check); the most recently updated one if several.
    async fn contact_by_username(
        &self,
        session: &SessionName,
        username: &Username,
    ) -> StoreResult<Option<Contact>>;

    /// The number changes that led to `phone`, oldest first.
    async fn number_history(
        &self,
        session: &SessionName,
        phone: &PhoneNumber,
    ) -> StoreResult<Vec<NumberChange>>;

    /// Records that `lid` and `phone` are one account, merging what was known under each.
    async fn add_lid_mapping(
        &self,
        session: &SessionName,
        lid: &Lid,
        phone: &PhoneNumber,
    ) -> StoreResult<()>;

    /// The phone number of `lid`, when known.
    async fn phone_for_lid(
        &self,
        session: &SessionName,
        lid: &Lid,
    ) -> StoreResult<Option<PhoneNumber>>;

    /// The LIDs of many numbers in one read; unknown numbers are absent.
    async fn lids_for_phones(
        &self,
        session: &SessionName,
        phones: &[PhoneNumber],
    ) -> StoreResult<HashMap<PhoneNumber, Lid>>;

    /// A page of the LID map, ordered by LID.
    async fn list_lid_map(&self, session: &SessionName, page: Page)
    -> StoreResult<Vec<LidMapping>>;

    /// How many LID mappings a session knows.
    async fn count_lid_map(&self, session: &SessionName) -> StoreResult<u64>;

    /// Caches a fetched "about" (`None` = unset or hidden), fetched at `at_ms`.
    async fn cache_about(
        &self,
        session: &SessionName,
        who: &ContactRef,
        about: Option<&str>,
        at_ms: i64,
    ) -> StoreResult<()>;

    /// Caches a fetched profile picture (`None` = none or hidden), fetched at `at_ms`.
    async fn cache_picture(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture: Option<&ProfilePicture>,
        at_ms: i64,
    ) -> StoreResult<()>;

    /// Records a business flag and verified name that WhatsApp told.
    async fn set_business(
        &self,
        session: &SessionName,
        who: &ContactRef,
        is_business: bool,
        verified_name: Option<&str>,
    ) -> StoreResult<()>;

    /// Adds (`blocked`) or removes one blocklist entry (WhatsApp keys them by LID).
    async fn set_blocked(
        &self,
        session: &SessionName,
        who: &ContactRef,
        blocked: bool,
    ) -> StoreResult<()>;

    /// The blocklist as last synced, LIDs resolved to numbers where known.
    async fn blocklist(&self, session: &SessionName) -> StoreResult<Vec<BlockedContact>>;

    /// Applies an address-book entry (saved on the phone or by us).
    async fn save_address_book(
        &self,
        session: &SessionName,
        entry: &AddressBookEntry,
    ) -> StoreResult<()>;
}

/// The existence cache: WhatsApp's answers to checks, by number or username asked
/// (a username with a PIN is its own key: see [`CheckKey::cache_key`]).
#[async_trait]
pub trait CheckStore: Send + Sync {
    /// The cached answers for `keys` in one read; keys never checked are absent.
    async fn cached_checks(
        &self,
        session: &SessionName,
        keys: &[CheckKey],
    ) -> StoreResult<HashMap<CheckKey, CachedExistence>>;

    /// Stores answers in one transaction, with what they carry: the LID↔number
    /// pairs, and the usernames of the contacts they name.
    async fn cache_checks(
        &self,
        session: &SessionName,
        answers: &[(CheckKey, CachedExistence)],
    ) -> StoreResult<()>;

    /// When the answers cached at or after `since_ms` were looked up (Unix ms, oldest
    /// first): each is one lookup the budget spent, so a restart keeps counting them.
    async fn lookups_since(&self, session: &SessionName, since_ms: i64) -> StoreResult<Vec<i64>>;
}

/// The sessions the user created, as stored.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session; `false` when one with that name exists.
    async fn create_session(&self, new: &NewSession) -> StoreResult<bool>;

    /// Every session, by name.
    async fn list_sessions(&self) -> StoreResult<Vec<SessionRecord>>;

    /// One session.
    async fn get_session(&self, name: &SessionName) -> StoreResult<Option<SessionRecord>>;

    /// Replaces a session's config; `false` when there is no such session.
    async fn update_session_config(
        &self,
        name: &SessionName,
        config: &serde_json::Value,
    ) -> StoreResult<bool>;

    /// Records the last known status (and why, for FAILED).
    async fn set_session_status(
        &self,
        name: &SessionName,
        status: SessionStatus,
        reason: Option<&str>,
    ) -> StoreResult<()>;

    /// Records whether the user wants the session running after a restart.
    async fn set_desired_running(&self, name: &SessionName, running: bool) -> StoreResult<()>;

    /// Forgets a session and everything stored under it.
    async fn delete_session(&self, name: &SessionName) -> StoreResult<()>;
}

/// The engine that runs sessions: links, logs in, keeps them connected.
#[async_trait]
pub trait SessionRuntime: Send + Sync {
    /// The live state (STOPPED for a session never started).
    fn state(&self, name: &SessionName) -> SessionState;

    /// Starts a session (idempotent): QR codes for a new device, login otherwise.
    async fn start(&self, name: &SessionName) -> Result<(), EngineError>;

    /// Disconnects, keeping the device keys.
    async fn stop(&self, name: &SessionName) -> Result<(), EngineError>;

    /// Unlinks the device from the account and wipes its keys.
    async fn logout(&self, name: &SessionName) -> Result<(), EngineError>;

    /// Stops and removes the device state without unlinking.
    async fn delete(&self, name: &SessionName) -> Result<(), EngineError>;

    /// The QR string to show now, while the session waits for a scan.
    fn qr(&self, name: &SessionName) -> Option<String>;

    /// Asks WhatsApp for a pair code for `phone_digits` (country code included).
    async fn request_code(
        &self,
        name: &SessionName,
        phone_digits: &str,
    ) -> Result<String, EngineError>;

    /// WhatsApp's directory as the session sees it, while it runs.
    fn directory(&self, name: &SessionName) -> Option<Arc<dyn Directory>>;

    /// Whether this process runs the session (holds its lease); when not, its live
    /// state is another process's and the stored status is the one to show.
    fn runs_here(&self, _name: &SessionName) -> bool {
        true
    }
}

/// Time, injected so that policies can be tested at their boundaries.
#[async_trait]
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Waits `duration` (a fake clock advances instead).
    async fn sleep(&self, duration: std::time::Duration);
}

/// The wall clock's Unix milliseconds: the one place every crate reads it (the
/// services read time through [`Clock`], which production implements with this).
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A task to run on its own.
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// Runs tasks that must finish even if the request that started them goes away
/// (a batch of number checks that other requests wait for).
pub trait Spawner: Send + Sync {
    /// Runs `task` in the background.
    fn spawn(&self, task: Task);
}

/// The durable queue of number checks answered later (On-Prem `no_wait`), and the
/// callback URL their answers go to. Rows survive restarts until delivered.
#[async_trait]
pub trait CheckQueueStore: Send + Sync {
    /// Appends `items` (input as sent, number) in order, all or none: `false` when
    /// the session's queue (checked or not, until delivered) would exceed `max` rows.
    async fn enqueue_checks(
        &self,
        session: &SessionName,
        items: &[(String, PhoneNumber)],
        force: bool,
        max: u64,
    ) -> StoreResult<bool>;

    /// The oldest `limit` queued numbers not checked yet.
    async fn pending_checks(
        &self,
        session: &SessionName,
        limit: u32,
    ) -> StoreResult<Vec<crate::queued::QueuedCheck>>;

    /// Records the answers of checked rows by id; they wait for delivery.
    async fn finish_checks(
        &self,
        session: &SessionName,
        done: &[(i64, crate::queued::CheckOutcome)],
    ) -> StoreResult<()>;

    /// The oldest `limit` answered rows not yet delivered, with their ids.
    async fn undelivered_checks(
        &self,
        session: &SessionName,
        limit: u32,
    ) -> StoreResult<Vec<(i64, crate::queued::CheckOutcome)>>;

    /// Forgets rows whose answers the callback accepted.
    async fn delivered_checks(&self, session: &SessionName, ids: &[i64]) -> StoreResult<()>;

    /// Sessions with queued or undelivered rows (their workers resume at start-up).
    async fn sessions_with_queued_checks(&self) -> StoreResult<Vec<SessionName>>;

    /// The session's callback URL for answers (`None` = not set).
    async fn check_callback_url(&self, session: &SessionName) -> StoreResult<Option<String>>;

    /// Sets (or, with `None`, clears) the session's callback URL.
    async fn set_check_callback_url(
        &self,
        session: &SessionName,
        url: Option<&str>,
    ) -> StoreResult<()>;
}

/// Delivers answers of queued checks to the user's callback URL (HTTP lives in the
/// server crate; core only knows whether it worked).
#[async_trait]
pub trait CallbackSender: Send + Sync {
    /// POSTs `{"contacts": [...]}` to `url`; `Err` with a reason (for the log, no
    /// secrets) unless the receiver answered 2xx.
    async fn send(&self, url: &str, outcomes: &[crate::queued::CheckOutcome])
    -> Result<(), String>;
}
