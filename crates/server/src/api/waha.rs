//! WAHA's dialect (primary): its contact shapes, its error mapping, and its contact
//! routes, documented here and served by the shared handlers in `contacts` and
//! `lids`. Field names are WAHA's, letter for letter (`isWAContact`, `pushname`).

use std::collections::HashMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use wacontacts_core::contact::{self, ContactDetails};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::DirectoryError;
use wacontacts_core::service::ContactError;
use wacontacts_core::session::SessionName;

use crate::api::dialect::{Dialect, documented, session_or_default};
use crate::api::lids::{CountResponse, LidToPhoneNumber};
use crate::api::{contacts, lids};
use crate::error::ApiError;
use crate::state::AppState;

/// WAHA: the session in the path, else `session` in the query or body, else `default`.
#[derive(Debug)]
pub struct Waha;

impl Dialect for Waha {
    type Contact = WahaContact;
    type Picture = ProfilePictureUrl;
    type LidPair = LidToPhoneNumber;
    type Count = CountResponse;

    const MAX_PAGE: u32 = 10_000;
    const PROFILE_IN_CONTACT: bool = false;

    fn session(
        path: &HashMap<String, String>,
        query: &HashMap<String, String>,
        body_session: Option<&str>,
    ) -> Result<SessionName, ApiError> {
        session_or_default(path, query, body_session)
    }

    fn contact(details: ContactDetails) -> WahaContact {
        details.into()
    }

    fn picture(_: &ContactRef, url: Option<String>) -> ProfilePictureUrl {
        ProfilePictureUrl {
            profile_picture_url: url,
        }
    }

    fn lid_pair(lid: Option<&Lid>, phone: Option<&PhoneNumber>) -> LidToPhoneNumber {
        LidToPhoneNumber {
            lid: lid.map(Lid::to_string),
            pn: phone.map(|p| chat_id(&ContactRef::Phone(*p))),
        }
    }

    fn count(count: u64) -> CountResponse {
        CountResponse { count }
    }
}

/// A contact in WAHA's shape, plus our additive fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct WahaContact {
    /// `15551234567@c.us`, or `123456789012345@lid` while the number is unknown.
    pub id: String,
    #[serde(flatten)]
    pub fields: ContactFields,
}

/// Every field of WAHA's contact but `id` (Wawp's `id` differs, the rest is shared).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactFields {
    /// Phone digits with country code, when known.
    pub number: Option<String>,
    /// The name saved in the phone's address book.
    pub name: Option<String>,
    /// The name the person set for themselves.
    pub pushname: Option<String>,
    /// The address book's first name.
    pub short_name: Option<String>,
    pub is_me: bool,
    pub is_group: bool,
    /// On WhatsApp (WAHA's spelling).
    #[serde(rename = "isWAContact")]
    pub is_wa_contact: bool,
    pub is_my_contact: bool,
    pub is_blocked: bool,
    /// `123456789012345@lid`, when known.
    pub lid: Option<String>,
    pub first_name: Option<String>,
    pub business_name: Option<String>,
    pub verified_name: Option<String>,
    pub is_business: bool,
    /// The "about" text, when fetched or pushed.
    pub about: Option<String>,
    /// The contact's WhatsApp username (without `@`), when WhatsApp told it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Numbers this contact had before, oldest first (single-contact answers only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub previous_numbers: Vec<PreviousNumber>,
}

/// A number a contact had before a number change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousNumber {
    /// The old chat id, `15550000001@c.us`.
    pub id: String,
    /// When WhatsApp announced the change, ms since the epoch.
    pub changed_at: i64,
}

/// WAHA's chat id of a person: `DIGITS@c.us`, or `DIGITS@lid` without a number.
pub fn chat_id(who: &ContactRef) -> String {
    match who {
        ContactRef::Phone(p) => format!("{}@c.us", p.wa_id()),
        ContactRef::Lid(l) => l.to_string(),
    }
}

impl From<ContactDetails> for WahaContact {
    fn from(d: ContactDetails) -> Self {
        Self {
            id: d.contact.id().as_ref().map(chat_id).unwrap_or_default(),
            fields: d.into(),
        }
    }
}

impl From<ContactDetails> for ContactFields {
    fn from(d: ContactDetails) -> Self {
        let c = d.contact;
        Self {
            number: c.phone.map(|p| p.wa_id()),
            short_name: c.first_name.clone(),
            is_me: d.is_me,
            is_group: false,
            is_wa_contact: true,
            is_my_contact: c.is_my_contact,
            is_blocked: c.is_blocked,
            lid: c.lid.map(|l| l.to_string()),
            first_name: c.first_name,
            business_name: c.business_name,
            verified_name: c.verified_name,
            is_business: c.is_business,
            about: c.about,
            username: c.username,
            name: c.name,
            pushname: c.push_name,
            previous_numbers: d
                .previous_numbers
                .into_iter()
                .map(|h| PreviousNumber {
                    id: format!("{}@c.us", h.old_phone.wa_id()),
                    changed_at: h.at_ms,
                })
                .collect(),
        }
    }
}

/// WAHA's `WANumberExistResult`, plus the LID.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberExists {
    pub number_exists: bool,
    /// The chat id WhatsApp knows the number under (canonical form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    /// The account's WhatsApp username (without `@`), when WhatsApp told it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl From<wacontacts_core::contact::Existence> for NumberExists {
    /// `chatId` is the number's chat id; the LID when WhatsApp told no number (a
    /// username found by someone who does not have the number).
    fn from(found: wacontacts_core::contact::Existence) -> Self {
        Self {
            number_exists: found.exists,
            chat_id: found
                .phone
                .map(|p| chat_id(&ContactRef::Phone(p)))
                .or_else(|| found.lid.as_ref().map(|l| l.to_string())),
            lid: found.lid.map(|l| l.to_string()),
            username: found.username.map(|u| u.to_string()),
        }
    }
}

/// Answer of the about route.
#[derive(Debug, Serialize, ToSchema)]
pub struct About {
    /// Null when unset or hidden by the contact's privacy settings.
    pub about: Option<String>,
}

/// Answer of the profile-picture route.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfilePictureUrl {
    /// Null when there is no picture or it is hidden.
    #[serde(rename = "profilePictureURL")]
    pub profile_picture_url: Option<String>,
}

/// `{success: true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

/// Body of block/unblock (WAHA's `ContactRequest`; `chatId` accepted as an alias).
/// Documentation only: the shared handlers read it through `dialect::BodyScope`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactRequest {
    /// The contact: `15551234567@c.us`, `15551234567` or `…@lid`. A number must be
    /// valid for its country (400 otherwise).
    #[schema(schema_with = crate::api::openapi::contact_id)]
    pub contact_id: String,
    /// Alias of `contactId` sent by some WAHA clients (used when `contactId` is absent).
    pub chat_id: Option<String>,
    /// Session name (default "default").
    #[schema(schema_with = crate::api::openapi::session_name)]
    pub session: Option<String>,
}

/// One blocked contact.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockedContact {
    /// `…@c.us` when the number is known, else `…@lid`.
    pub id: String,
    /// `…@lid`, when WhatsApp keyed the block by LID.
    pub lid: Option<String>,
    /// When blocked, ms since the epoch, when WhatsApp said.
    pub blocked_at: Option<i64>,
}

impl From<contact::BlockedContact> for BlockedContact {
    fn from(b: contact::BlockedContact) -> Self {
        let id = match (&b.phone, &b.lid) {
            (Some(p), _) => chat_id(&ContactRef::Phone(*p)),
            (None, Some(l)) => l.to_string(),
            (None, None) => String::new(),
        };
        Self {
            id,
            lid: b.lid.map(|l| l.to_string()),
            blocked_at: b.blocked_ms,
        }
    }
}

impl From<ContactError> for ApiError {
    fn from(err: ContactError) -> Self {
        match err {
            ContactError::Session(e) => e.into(),
            ContactError::ContactNotFound(who) => {
                ApiError::not_found("contact_not_found", "No such contact in this session")
                    .with_value(chat_id(&who))
            }
            ContactError::UsernameNotFound(username) => ApiError::not_found(
                "username_not_found",
                "No contact of this session has this username",
            )
            .with_value(username.handle()),
            ContactError::Directory(e) => directory_error(e),
            ContactError::Store(e) => ApiError::internal(e.0),
            ContactError::BudgetExceeded {
                budget,
                needed,
                retry_after_secs,
            } => {
                let message = match retry_after_secs {
                    Some(_) => format!(
                        "This needs {needed} uncached lookups; the session's budget of {budget} per hour has not that many left"
                    ),
                    None => format!(
                        "This needs {needed} uncached lookups, more than the session's whole budget of {budget} per hour: send fewer numbers"
                    ),
                };
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "check_budget_exceeded",
                    message,
                )
                .with_retry_after(retry_after_secs.unwrap_or(3600))
                .with_field("budgetPerHour", budget)
                .with_field("needed", needed)
            }
        }
    }
}

/// Maps WhatsApp's refusals to HTTP. Library text goes to the log, never the body.
pub fn directory_error(err: DirectoryError) -> ApiError {
    let message = err.to_string();
    match err {
        DirectoryError::NotConnected => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "whatsapp_not_connected",
            message,
        )
        .with_retry_after(5),
        DirectoryError::RateLimited { retry_after_secs } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                .with_retry_after(retry_after_secs.unwrap_or(60))
        }
        DirectoryError::NotFound => ApiError::not_found("not_on_whatsapp", message),
        DirectoryError::HiddenByPrivacy => {
            ApiError::new(StatusCode::FORBIDDEN, "hidden_by_privacy", message)
        }
        DirectoryError::Timeout => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "whatsapp_timeout", message)
        }
        DirectoryError::Other(detail) => ApiError::upstream(detail),
    }
}

/// WAHA's contact and LID routes.
pub fn routes() -> OpenApiRouter<AppState> {
    use contacts as c;
    OpenApiRouter::new()
        .routes(documented::<docs::__path_list_contacts, _, _>(
            c::list_contacts::<Waha>,
        ))
        .routes(documented::<docs::__path_get_contact, _, _>(
            c::get_contact::<Waha>,
        ))
        .routes(documented::<docs::__path_get_session_contact, _, _>(
            c::get_contact::<Waha>,
        ))
        .routes(documented::<docs::__path_save_contact, _, _>(
            c::save_contact::<Waha>,
        ))
        .routes(documented::<docs::__path_check_exists, _, _>(
            c::check_exists::<Waha>,
        ))
        .routes(documented::<docs::__path_check_exists_bulk, _, _>(
            c::check_exists_bulk::<Waha>,
        ))
        .routes(documented::<docs::__path_check_budget, _, _>(
            c::check_budget::<Waha>,
        ))
        .routes(documented::<docs::__path_get_about, _, _>(
            c::get_about::<Waha>,
        ))
        .routes(documented::<docs::__path_get_profile_picture, _, _>(
            c::get_profile_picture::<Waha>,
        ))
        .routes(documented::<docs::__path_block, _, _>(c::block::<Waha>))
        .routes(documented::<docs::__path_unblock, _, _>(c::unblock::<Waha>))
        .routes(documented::<docs::__path_blocked, _, _>(c::blocked::<Waha>))
        .routes(documented::<docs::__path_list_lids, _, _>(
            lids::list_lids::<Waha>,
        ))
        .routes(documented::<docs::__path_count_lids, _, _>(
            lids::count_lids::<Waha>,
        ))
        .routes(documented::<docs::__path_pn_by_lid, _, _>(
            lids::pn_by_lid::<Waha>,
        ))
        .routes(documented::<docs::__path_lid_by_pn, _, _>(
            lids::lid_by_pn::<Waha>,
        ))
        .routes(documented::<docs::__path_lids_by_pns, _, _>(
            lids::lids_by_pns::<Waha>,
        ))
}

/// The OpenAPI description of WAHA's routes (the stubs only carry the attributes).
#[allow(dead_code)]
mod docs {
    use super::*;
    use crate::api::contacts::{
        BulkCheckBody, BulkCheckItem, CheckBudget, ContactUpdateBody, ListParams, PhoneParam,
        RefreshParam,
    };
    use crate::api::lids::{LidPage, PhoneNumbersBody};
    use crate::api::openapi::{
        ContactPath, ContactQuery, LidPath, PhonePath, SessionPath, SessionQuery, StoreErrors,
        WhatsAppErrors,
    };

    /// The session's contacts, paged and sorted, from the store.
    #[utoipa::path(get, path = "/api/contacts/all", tag = "contacts", params(SessionQuery, ListParams),
        responses((status = 200, body = Vec<WahaContact>), StoreErrors))]
    pub fn list_contacts() {}

    /// One contact, with the numbers it had before.
    #[utoipa::path(get, path = "/api/contacts", tag = "contacts", params(crate::api::usernames::ContactOrUsernameQuery, SessionQuery),
        responses((status = 200, body = WahaContact), StoreErrors))]
    pub fn get_contact() {}

    /// One contact, named in the path.
    #[utoipa::path(get, path = "/api/{session}/contacts/{id}", tag = "contacts",
        params(SessionPath, ContactPath),
        responses((status = 200, body = WahaContact), StoreErrors))]
    pub fn get_session_contact() {}

    /// Saves the contact in the phone's address book.
    #[utoipa::path(put, path = "/api/{session}/contacts/{id}", tag = "contacts",
        params(SessionPath, ContactPath), request_body = ContactUpdateBody,
        responses((status = 200, body = Success), WhatsAppErrors))]
    pub fn save_contact() {}

    /// Whether the number, or the username, is on WhatsApp, and under which id.
    #[utoipa::path(get, path = "/api/contacts/check-exists", tag = "contacts", params(PhoneParam, SessionQuery),
        responses((status = 200, body = NumberExists), WhatsAppErrors))]
    pub fn check_exists() {}

    /// Whether many numbers and usernames are on WhatsApp, one answer per input in
    /// order (numbers first, then usernames).
    ///
    /// Cached ones cost nothing; the uncached ones must fit in the session's lookup
    /// budget (429 `check_budget_exceeded` with `Retry-After` otherwise).
    #[utoipa::path(post, path = "/api/{session}/contacts/check-exists", tag = "contacts",
        params(SessionPath), request_body = BulkCheckBody,
        responses((status = 200, body = Vec<BulkCheckItem>), WhatsAppErrors))]
    pub fn check_exists_bulk() {}

    /// What is left of the session's lookup budget, with its counters.
    #[utoipa::path(get, path = "/api/{session}/contacts/check-exists/budget", tag = "contacts",
        params(SessionPath),
        responses((status = 200, body = CheckBudget), StoreErrors))]
    pub fn check_budget() {}

    /// The contact's "about" text (cached 24 h); null when unset or hidden.
    #[utoipa::path(get, path = "/api/contacts/about", tag = "contacts", params(ContactQuery, SessionQuery, RefreshParam),
        responses((status = 200, body = About), WhatsAppErrors))]
    pub fn get_about() {}

    /// The profile picture URL (cached 24 h); null when none or hidden.
    #[utoipa::path(get, path = "/api/contacts/profile-picture", tag = "contacts", params(ContactQuery, SessionQuery, RefreshParam),
        responses((status = 200, body = ProfilePictureUrl), WhatsAppErrors))]
    pub fn get_profile_picture() {}

    /// Blocks a contact.
    #[utoipa::path(post, path = "/api/contacts/block", tag = "contacts", request_body = ContactRequest,
        responses((status = 201, body = Success), WhatsAppErrors))]
    pub fn block() {}

    /// Unblocks a contact.
    #[utoipa::path(post, path = "/api/contacts/unblock", tag = "contacts", request_body = ContactRequest,
        responses((status = 201, body = Success), WhatsAppErrors))]
    pub fn unblock() {}

    /// The blocklist, as last synced from WhatsApp.
    #[utoipa::path(get, path = "/api/{session}/contacts/blocked", tag = "contacts",
        params(SessionPath), responses((status = 200, body = Vec<BlockedContact>), StoreErrors))]
    pub fn blocked() {}

    /// Known LID mappings, ordered by LID.
    #[utoipa::path(get, path = "/api/{session}/lids", tag = "lids",
        params(SessionPath, LidPage), responses((status = 200, body = Vec<LidToPhoneNumber>), StoreErrors))]
    pub fn list_lids() {}

    /// How many mappings are known.
    #[utoipa::path(get, path = "/api/{session}/lids/count", tag = "lids",
        params(SessionPath), responses((status = 200, body = CountResponse), StoreErrors))]
    pub fn count_lids() {}

    /// The phone number of a LID (`pn` null when unknown).
    #[utoipa::path(get, path = "/api/{session}/lids/{lid}", tag = "lids",
        params(SessionPath, LidPath),
        responses((status = 200, body = LidToPhoneNumber), WhatsAppErrors))]
    pub fn pn_by_lid() {}

    /// The LID of a number (`lid` null when unknown).
    #[utoipa::path(get, path = "/api/{session}/lids/pn/{phoneNumber}", tag = "lids",
        params(SessionPath, PhonePath),
        responses((status = 200, body = LidToPhoneNumber), WhatsAppErrors))]
    pub fn lid_by_pn() {}

    /// LIDs of many numbers at once, in input order.
    #[utoipa::path(post, path = "/api/{session}/lids/pn", tag = "lids",
        params(SessionPath), request_body = PhoneNumbersBody,
        responses((status = 200, body = Vec<LidToPhoneNumber>), WhatsAppErrors))]
    pub fn lids_by_pns() {}
}
