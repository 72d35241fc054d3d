//! WhatsApp usernames at the HTTP edge: parsing `@handle` and its PIN into core
//! types (400 `invalid_username` / `invalid_pin` with the value), the username form of
//! the bulk check's input, and `contactId=@handle` on the one-contact route.

use serde::Deserialize;
use utoipa::ToSchema;
use wacontacts_core::ids::ContactRef;
use wacontacts_core::service::ContactService;
use wacontacts_core::session::SessionName;
use wacontacts_core::username::{Username, UsernameError, UsernamePin, UsernameQuery};

use crate::error::ApiError;

fn rejected(e: UsernameError) -> ApiError {
    let value = e.input().to_owned();
    ApiError::bad_request(e.code(), e.to_string()).with_value(value)
}

/// Parses `handle` or `@handle`.
pub fn parse_username(input: &str) -> Result<Username, ApiError> {
    Username::parse(input).map_err(rejected)
}

/// A username lookup from its parts; a PIN without a username is refused by the caller.
pub fn parse_lookup(username: &str, pin: Option<&str>) -> Result<UsernameQuery, ApiError> {
    Ok(UsernameQuery {
        username: parse_username(username)?,
        pin: pin.map(UsernamePin::parse).transpose().map_err(rejected)?,
    })
}

/// Whether a `contactId` names a username (`@handle`) rather than a number or JID.
pub fn is_username_ref(input: &str) -> bool {
    input.trim_start().starts_with('@')
}

/// The contact a `contactId` names: `@handle` is looked up among the session's known
/// contacts (404 `username_not_found`), anything else parses as a number or JID.
pub async fn resolve_contact(
    contacts: &ContactService,
    session: &SessionName,
    input: &str,
) -> Result<ContactRef, ApiError> {
    if is_username_ref(input) {
        let username = parse_username(input)?;
        Ok(contacts.find_username(session, &username).await?)
    } else {
        crate::api::contacts::parse_contact(input)
    }
}

/// One username of the bulk check: `"alice"`, `"@alice"`, or `{"username", "pin"}`
/// for a username whose holder set a PIN.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UsernameItem {
    Plain(String),
    WithPin {
        username: String,
        /// The holder's 4-digit PIN.
        #[serde(default)]
        pin: Option<String>,
    },
}

impl UsernameItem {
    /// The username as sent (echoed in the answer).
    pub fn username(&self) -> &str {
        match self {
            UsernameItem::Plain(u) | UsernameItem::WithPin { username: u, .. } => u,
        }
    }

    /// Parses it into a lookup.
    pub fn parse(&self) -> Result<UsernameQuery, ApiError> {
        match self {
            UsernameItem::Plain(u) => parse_lookup(u, None),
            UsernameItem::WithPin { username, pin } => parse_lookup(username, pin.as_deref()),
        }
    }
}

/// One contact, in the query, by id, number or username.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, non_snake_case)]
pub struct ContactOrUsernameQuery {
    /// The contact: `15551234567@c.us`, `15551234567`, `+1 (555) 123-4567`,
    /// `…@s.whatsapp.net`, `…@lid`, or `@username` (`%40username`) for a contact whose
    /// username is known (from the address book or a username check; 404 otherwise).
    #[param(
        pattern = r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$|^[1-9][0-9]{0,23}@lid$|^@[a-z0-9._]{3,35}$",
        example = "15550100001@c.us"
    )]
    contactId: String,
}
