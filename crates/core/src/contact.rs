//! Contacts as the service sees them: what WhatsApp's directory answers and what
//! its events tell. Filled further by the contacts issues.

use crate::ids::{ContactRef, Lid, PhoneNumber};
use crate::username::Username;

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
    /// The account's username, when WhatsApp told it (usync's `username` protocol).
    pub username: Option<Username>,
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
            username: None,
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

/// A person of a session as the store knows them: typed ids, names, flags, and the
/// profile facts fetched from WhatsApp with when they were fetched. At least one of
/// `phone` and `lid` is set (the store refuses rows with neither).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// The phone number, when known (WhatsApp may know someone only by LID).
    pub phone: Option<PhoneNumber>,
    /// The LID, when known.
    pub lid: Option<Lid>,
    /// The full name saved in the phone's address book.
    pub name: Option<String>,
    /// The address book's first name.
    pub first_name: Option<String>,
    /// WhatsApp username, when WhatsApp told it.
    pub username: Option<String>,
    /// The name the person set for themselves.
    pub push_name: Option<String>,
    /// The business's own name, for business accounts.
    pub business_name: Option<String>,
    /// The business's verified name.
    pub verified_name: Option<String>,
    pub is_business: bool,
    /// Saved in the phone's address book.
    pub is_my_contact: bool,
    /// On the account's blocklist.
    pub is_blocked: bool,
    /// The "about" text; `None` when unset, hidden or never fetched.
    pub about: Option<String>,
    /// When `about` was last fetched from WhatsApp or pushed by it (Unix ms).
    pub about_fetched_ms: Option<i64>,
    /// The current profile picture's id, when known.
    pub picture_id: Option<String>,
    /// The picture's download URL; `None` when none, hidden or not fetched.
    pub picture_url: Option<String>,
    /// When the picture was last fetched (Unix ms).
    pub picture_fetched_ms: Option<i64>,
    /// Last change of the row (Unix ms).
    pub updated_ms: i64,
}

impl Contact {
    /// A contact known by `id` (its phone number or LID) and nothing else yet.
    pub fn new(id: &ContactRef) -> Self {
        Self {
            phone: id.phone().copied(),
            lid: id.lid().cloned(),
            ..Self::default()
        }
    }

    /// The id WhatsApp chats use: the phone number when known, else the LID.
    /// `None` only for a contact built with neither, which the store never returns.
    pub fn id(&self) -> Option<ContactRef> {
        match (&self.phone, &self.lid) {
            (Some(p), _) => Some(ContactRef::Phone(*p)),
            (None, Some(l)) => Some(ContactRef::Lid(l.clone())),
            (None, None) => None,
        }
    }
}

/// One contact with what a single lookup adds around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactDetails {
    pub contact: Contact,
    /// The contact is the linked account itself.
    pub is_me: bool,
    /// Numbers this contact had before, oldest first (single lookups only).
    pub previous_numbers: Vec<NumberChange>,
}

/// A LID and the phone number of the same account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LidMapping {
    pub lid: Lid,
    pub phone: PhoneNumber,
}

/// One entry of the account's blocklist as stored, with the LID resolved to the
/// number where known. At least one of `phone` and `lid` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedContact {
    pub phone: Option<PhoneNumber>,
    /// Set when WhatsApp keyed the block by LID.
    pub lid: Option<Lid>,
    /// When it was blocked (Unix ms), when WhatsApp said.
    pub blocked_ms: Option<i64>,
}

/// WhatsApp's answer about one number or username, in the canonical form it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existence {
    pub exists: bool,
    /// The number as WhatsApp knows it (e.g. Brazil with or without the 9th digit).
    pub phone: Option<PhoneNumber>,
    pub lid: Option<Lid>,
    /// The account's username, when WhatsApp told it (asked by username, or its
    /// `username` protocol answered).
    pub username: Option<Username>,
}

impl Existence {
    /// The answer for a number or username without an account.
    pub fn not_found() -> Self {
        Self {
            exists: false,
            phone: None,
            lid: None,
            username: None,
        }
    }
}

/// Order of a contact listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactSort {
    /// By id: phone numbers in digit order, LID-only contacts after them.
    Id,
    /// By display name (address-book name, else push name), case-insensitive, then id.
    Name,
}

/// A listing's sort and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    pub sort: ContactSort,
    pub descending: bool,
}

/// A page request: at most `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

/// Where the next chunk of a streamed listing starts. Opaque outside the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    /// The last row's sort name.
    pub sort_name: String,
    /// The last row's key.
    pub key: String,
}

/// A cached answer to "is this number on WhatsApp?", with when it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedExistence {
    pub existence: Existence,
    /// When WhatsApp answered (Unix ms).
    pub checked_ms: i64,
}
