//! Traits the services need from the outside world: WhatsApp (`Directory`,
//! implemented by the engine) and the facts WhatsApp's events tell
//! (`ContactEventSink`, implemented by the store).

use std::collections::HashMap;

use async_trait::async_trait;

use crate::contact::{
    AddressBookEntry, BlockEntry, BlocklistUpdate, ExistenceResult, NumberChange, ProfilePicture,
    UserInfo,
};
use crate::ids::{ContactRef, Lid, PhoneNumber};
use crate::session::SessionName;

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

    /// Blocks `who` (needs its LID↔phone mapping; `NotFound` without one).
    async fn block(&self, who: &ContactRef) -> Result<(), DirectoryError>;

    /// Unblocks `who`.
    async fn unblock(&self, who: &ContactRef) -> Result<(), DirectoryError>;

    /// The account's blocklist as WhatsApp holds it.
    async fn blocklist(&self) -> Result<Vec<BlockEntry>, DirectoryError>;

    /// Saves `who` in the phone's address book under these names (app-state
    /// write, synced to the phone and every linked device).
    async fn save_contact(
        &self,
        who: &ContactRef,
        full_name: &str,
        first_name: Option<&str>,
    ) -> Result<(), DirectoryError>;

    /// The LID of `phone`, from what this session already learned; `Ok(None)`
    /// when unknown (an `is_on_whatsapp` call learns it).
    async fn lid_for_pn(&self, phone: &PhoneNumber) -> Result<Option<Lid>, DirectoryError>;

    /// The phone number of `lid`, from what this session already learned;
    /// `Ok(None)` when unknown.
    async fn pn_for_lid(&self, lid: &Lid) -> Result<Option<PhoneNumber>, DirectoryError>;
}

/// Where the engine reports what WhatsApp's events tell about contacts, one call
/// per fact, keyed by session. Calls of one session arrive in the order WhatsApp
/// sent the facts, never concurrently for one session. The sink owns failures
/// (log, retry): the engine neither waits for nor retries them.
#[async_trait]
pub trait ContactEventSink: Send + Sync {
    /// An address-book entry of the phone was added or changed (also every entry
    /// of a full app-state sync). Its LID↔phone pair, when both are known, is
    /// also reported through `lid_mapping`.
    async fn address_book_contact(&self, session: &SessionName, entry: AddressBookEntry);

    /// `who` calls themselves `push_name` (from an incoming message or history sync).
    async fn push_name(&self, session: &SessionName, who: &ContactRef, push_name: &str);

    /// `lid` and `phone` are the same account (learned from any source).
    async fn lid_mapping(&self, session: &SessionName, lid: &Lid, phone: &PhoneNumber);

    /// `who` changed their profile picture to `picture_id` (`None` = removed).
    async fn picture_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture_id: Option<&str>,
    );

    /// `who` changed their "about" text.
    async fn about_changed(&self, session: &SessionName, who: &ContactRef, about: &str);

    /// `who`'s identity key changed (reinstall or new phone): their security
    /// code changed. `implicit` = noticed while decrypting rather than announced
    /// by the server. `at_ms` = Unix milliseconds when the engine saw it.
    async fn identity_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        implicit: bool,
        at_ms: i64,
    );

    /// Someone changed their number, keeping their account; keep the history.
    async fn number_changed(&self, session: &SessionName, change: NumberChange);

    /// The account's blocklist changed (or was fetched in full).
    async fn blocklist_changed(&self, session: &SessionName, update: BlocklistUpdate);

    /// `who` is (`is_business`) a business account, with this verified name
    /// (`None` = none or removed).
    async fn business_changed(
        &self,
        session: &SessionName,
        who: &ContactRef,
        is_business: bool,
        verified_name: Option<&str>,
    );

    /// The linked account's own push name is now `push_name`.
    async fn own_push_name(&self, session: &SessionName, push_name: &str);
}
