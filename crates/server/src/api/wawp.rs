//! Wawp's v2 dialect: its routes under `/v2`, with the session in `instance_id` and
//! the API key in `access_token` (query parameters; the auth layer reads the key).
//! Answers are WAHA's shapes, served by the shared handlers.

use std::collections::HashMap;

use utoipa_axum::router::OpenApiRouter;
use wacontacts_core::contact::ContactDetails;
use wacontacts_core::session::SessionName;

use crate::api::dialect::{Dialect, documented};
use crate::api::sessions::parse_session_name;
use crate::api::waha::WahaContact;
use crate::api::{contacts, lids};
use crate::error::ApiError;
use crate::state::AppState;

/// Wawp: the session is `instance_id`, always given.
#[derive(Debug)]
pub struct Wawp;

impl Dialect for Wawp {
    type Contact = WahaContact;

    fn session(
        _path: &HashMap<String, String>,
        query: &HashMap<String, String>,
        _body_session: Option<&str>,
    ) -> Result<SessionName, ApiError> {
        match query.get("instance_id") {
            Some(id) => parse_session_name(id),
            None => Err(ApiError::bad_request(
                "missing_instance_id",
                "instance_id is required",
            )),
        }
    }

    fn contact(details: ContactDetails) -> WahaContact {
        details.into()
    }
}

/// Wawp's contact and LID routes.
pub fn routes() -> OpenApiRouter<AppState> {
    use contacts as c;
    OpenApiRouter::new()
        .routes(documented::<docs::__path_list_contacts, _, _>(
            c::list_contacts::<Wawp>,
        ))
        .routes(documented::<docs::__path_get_contact, _, _>(
            c::get_contact::<Wawp>,
        ))
        .routes(documented::<docs::__path_get_contact_by_path, _, _>(
            c::get_contact::<Wawp>,
        ))
        .routes(documented::<docs::__path_save_contact, _, _>(
            c::save_contact::<Wawp>,
        ))
        .routes(documented::<docs::__path_check_exists, _, _>(
            c::check_exists::<Wawp>,
        ))
        .routes(documented::<docs::__path_get_about, _, _>(
            c::get_about::<Wawp>,
        ))
        .routes(documented::<docs::__path_get_profile_picture, _, _>(
            c::get_profile_picture::<Wawp>,
        ))
        .routes(documented::<docs::__path_block, _, _>(c::block::<Wawp>))
        .routes(documented::<docs::__path_unblock, _, _>(c::unblock::<Wawp>))
        .routes(documented::<docs::__path_list_lids, _, _>(
            lids::list_lids::<Wawp>,
        ))
        .routes(documented::<docs::__path_count_lids, _, _>(
            lids::count_lids::<Wawp>,
        ))
        .routes(documented::<docs::__path_pn_by_lid, _, _>(
            lids::pn_by_lid::<Wawp>,
        ))
        .routes(documented::<docs::__path_lid_by_pn, _, _>(
            lids::lid_by_pn::<Wawp>,
        ))
        .routes(documented::<docs::__path_lids_by_pns, _, _>(
            lids::lids_by_pns::<Wawp>,
        ))
}

/// The OpenAPI description of Wawp's routes (the stubs only carry the attributes).
/// Operation ids carry a `wawp_` prefix: they are unique in the document.
#[allow(dead_code)]
mod docs {
    use super::*;
    use crate::api::contacts::{ContactUpdateBody, ListParams, PhoneParam, RefreshParam};
    use crate::api::lids::{CountResponse, LidPage, LidToPhoneNumber, PhoneNumbersBody};
    use crate::api::openapi::{
        ContactPath, ContactQuery, InstanceQuery, LidPath, PhonePath, StoreErrors, WhatsAppErrors,
    };
    use crate::api::waha::{About, ContactRequest, NumberExists, ProfilePictureUrl, Success};

    /// WAHA's listing, session from `instance_id`.
    #[utoipa::path(get, path = "/v2/contacts/all", tag = "wawp", operation_id = "wawp_list_contacts",
        params(InstanceQuery, ListParams),
        responses((status = 200, body = Vec<WahaContact>), StoreErrors))]
    pub fn list_contacts() {}

    /// One contact by `contactId`.
    #[utoipa::path(get, path = "/v2/contacts", tag = "wawp", operation_id = "wawp_get_contact",
        params(InstanceQuery, ContactQuery),
        responses((status = 200, body = WahaContact), StoreErrors))]
    pub fn get_contact() {}

    /// One contact by path.
    #[utoipa::path(get, path = "/v2/contacts/{id}", tag = "wawp", operation_id = "wawp_get_contact_by_path",
        params(ContactPath, InstanceQuery),
        responses((status = 200, body = WahaContact), StoreErrors))]
    pub fn get_contact_by_path() {}

    /// Saves the contact in the phone's address book.
    #[utoipa::path(put, path = "/v2/contacts/{id}", tag = "wawp", operation_id = "wawp_save_contact",
        params(ContactPath, InstanceQuery), request_body = ContactUpdateBody,
        responses((status = 200, body = Success), WhatsAppErrors))]
    pub fn save_contact() {}

    /// Whether `phone` is on WhatsApp.
    #[utoipa::path(get, path = "/v2/contacts/check-exists", tag = "wawp", operation_id = "wawp_check_exists",
        params(InstanceQuery, PhoneParam),
        responses((status = 200, body = NumberExists), WhatsAppErrors))]
    pub fn check_exists() {}

    /// The contact's "about" text.
    #[utoipa::path(get, path = "/v2/contacts/about", tag = "wawp", operation_id = "wawp_get_about",
        params(InstanceQuery, ContactQuery, RefreshParam),
        responses((status = 200, body = About), WhatsAppErrors))]
    pub fn get_about() {}

    /// The picture URL.
    #[utoipa::path(get, path = "/v2/contacts/profile-picture", tag = "wawp",
        operation_id = "wawp_get_profile_picture", params(InstanceQuery, ContactQuery, RefreshParam),
        responses((status = 200, body = ProfilePictureUrl), WhatsAppErrors))]
    pub fn get_profile_picture() {}

    /// Blocks (`contactId` in the query; a JSON body may repeat it).
    #[utoipa::path(post, path = "/v2/contacts/block", tag = "wawp", operation_id = "wawp_block",
        params(InstanceQuery, ContactQuery),
        request_body(content = Option<ContactRequest>, description = "Optional: `contactId` may come here instead of the query"),
        responses((status = 201, body = Success), WhatsAppErrors))]
    pub fn block() {}

    /// Unblocks (`contactId` in the query; a JSON body may repeat it).
    #[utoipa::path(post, path = "/v2/contacts/unblock", tag = "wawp", operation_id = "wawp_unblock",
        params(InstanceQuery, ContactQuery),
        request_body(content = Option<ContactRequest>, description = "Optional: `contactId` may come here instead of the query"),
        responses((status = 201, body = Success), WhatsAppErrors))]
    pub fn unblock() {}

    /// Known LID mappings.
    #[utoipa::path(get, path = "/v2/lids", tag = "wawp", operation_id = "wawp_list_lids",
        params(InstanceQuery, LidPage),
        responses((status = 200, body = Vec<LidToPhoneNumber>), StoreErrors))]
    pub fn list_lids() {}

    /// How many mappings are known.
    #[utoipa::path(get, path = "/v2/lids/count", tag = "wawp", operation_id = "wawp_count_lids",
        params(InstanceQuery), responses((status = 200, body = CountResponse), StoreErrors))]
    pub fn count_lids() {}

    /// The number of a LID.
    #[utoipa::path(get, path = "/v2/lids/{lid}", tag = "wawp", operation_id = "wawp_pn_by_lid",
        params(LidPath, InstanceQuery),
        responses((status = 200, body = LidToPhoneNumber), WhatsAppErrors))]
    pub fn pn_by_lid() {}

    /// The LID of a number.
    #[utoipa::path(get, path = "/v2/lids/pn/{phoneNumber}", tag = "wawp", operation_id = "wawp_lid_by_pn",
        params(PhonePath, InstanceQuery),
        responses((status = 200, body = LidToPhoneNumber), WhatsAppErrors))]
    pub fn lid_by_pn() {}

    /// The LIDs of many numbers.
    #[utoipa::path(post, path = "/v2/lids/pn", tag = "wawp", operation_id = "wawp_lids_by_pns",
        params(InstanceQuery), request_body = PhoneNumbersBody,
        responses((status = 200, body = Vec<LidToPhoneNumber>), WhatsAppErrors))]
    pub fn lids_by_pns() {}
}
