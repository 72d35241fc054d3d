//! Contacts as the service sees them: what WhatsApp's directory answers and what
//! its events tell. Filled further by the contacts issues.

use crate::ids::{ContactRef, Lid, PhoneNumber};

/// WhatsApp's answer to "is this number on WhatsApp?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistenceResult {
    /// The number has a WhatsApp account.
    pub exists: bool,
    /// The number as WhatsApp knows it (its canonical form, e.g. a Brazilian
    /// number with or without the 9th digit); `None` when it does not exist.
    pub phone: Option<PhoneNumber>,
    /// The account's LID, when WhatsApp told it.
    pub lid: Option<Lid>,
    /// A business account.
    pub is_business: bool,
    /// The business's verified name, when it has one.
    pub verified_name: Option<String>,
}

impl ExistenceResult {
    /// The answer for a number without an account.
    pub fn not_found() -> Self {
        Self {
            exists: false,
            phone: None,
            lid: None,
            is_business: false,
            verified_name: None,
        }
    }
}

/// What WhatsApp tells about one user (usync).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user's LID, when known.
    pub lid: Option<Lid>,
    /// The "about" text; `None` when unset or hidden by the user's privacy settings.
    pub about: Option<String>,
    /// Id of the current profile picture; `None` when none or hidden.
    pub picture_id: Option<String>,
    /// A business account.
    pub is_business: bool,
    /// The business's verified name, when it has one.
    pub verified_name: Option<String>,
    /// Device ids of the user (0 = the phone); empty when WhatsApp did not say.
    pub devices: Vec<u16>,
}

/// A profile picture's location, as WhatsApp hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePicture {
    /// Picture id; changes when the picture changes.
    pub id: String,
    /// Download URL (expires after a while).
    pub url: String,
    /// WhatsApp's direct path of the file, when given.
    pub direct_path: Option<String>,
}

/// One entry of the account's blocklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEntry {
    /// Who is blocked (WhatsApp keys blocks by LID nowadays).
    pub who: ContactRef,
    /// When it was blocked, Unix seconds, when WhatsApp said.
    pub blocked_at: Option<i64>,
}

/// An entry of the phone's address book, synced to linked devices through app state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressBookEntry {
    /// Who the entry is about, as WhatsApp keyed it (phone or LID).
    pub who: ContactRef,
    /// The entry's phone number, when known (the key itself or its `pn_jid`).
    pub phone: Option<PhoneNumber>,
    /// The entry's LID, when known (the key itself or its `lid_jid`).
    pub lid: Option<Lid>,
    /// The full name saved on the phone.
    pub full_name: Option<String>,
    /// The first name saved on the phone.
    pub first_name: Option<String>,
    /// WhatsApp username, when the entry carries one.
    pub username: Option<String>,
    /// Unix milliseconds of the change.
    pub at_ms: i64,
}

/// A change of the account's blocklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlocklistUpdate {
    /// The whole list as WhatsApp holds it now: everything else is unblocked.
    Full(Vec<BlockEntry>),
    /// One contact was blocked (`blocked: true`) or unblocked.
    Changed { who: ContactRef, blocked: bool },
}

/// Someone kept their account (same LID) but changed their phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberChange {
    /// The account's LID, when WhatsApp said (it stays the same).
    pub lid: Option<Lid>,
    /// The number before.
    pub old_phone: PhoneNumber,
    /// The number now.
    pub new_phone: PhoneNumber,
    /// Unix milliseconds of the change.
    pub at_ms: i64,
}
