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
#[allow(dead_code)]
mod docs {
    use super::*;
    use crate::api::contacts::{ContactUpdateBody, ListParams, PhoneParam, RefreshParam};
    use crate::api::lids::{CountResponse, LidPage, LidToPhoneNumber, PhoneNumbersBody};
    use crate::api::waha::{About, ContactRequest, NumberExists, ProfilePictureUrl, Success};
    use crate::error::ErrorBody;

    /// Wawp's instance, in the query.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct Instance {
        /// The session (Wawp's instance).
        instance_id: String,
    }

    /// The contact, in the query.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    #[allow(non_snake_case)]
    pub struct ContactParam {
        /// The contact's id or number (`chatId` is accepted too).
        contactId: String,
    }

    /// The contact, in the query or the body.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    #[allow(non_snake_case)]
    pub struct OptionalContactParam {
        /// The contact's id or number; else `contactId` in the JSON body.
        contactId: Option<String>,
    }

    /// WAHA's listing, session from `instance_id`.
    #[utoipa::path(get, path = "/v2/contacts/all", tag = "wawp", params(Instance, ListParams),
        responses((status = 200, body = Vec<WahaContact>), (status = 400, body = ErrorBody)))]
    pub fn list_contacts() {}

    /// One contact by `contactId`.
    #[utoipa::path(get, path = "/v2/contacts", tag = "wawp", params(Instance, ContactParam),
        responses((status = 200, body = WahaContact), (status = 404, body = ErrorBody)))]
    pub fn get_contact() {}

    /// One contact by path.
    #[utoipa::path(get, path = "/v2/contacts/{id}", tag = "wawp",
        params(("id" = String, Path), Instance),
        responses((status = 200, body = WahaContact), (status = 404, body = ErrorBody)))]
    pub fn get_contact_by_path() {}

    /// Saves the contact in the phone's address book.
    #[utoipa::path(put, path = "/v2/contacts/{id}", tag = "wawp",
        params(("id" = String, Path, description = "The chat id"), Instance),
        request_body = ContactUpdateBody, responses((status = 200, body = Success)))]
    pub fn save_contact() {}

    /// Whether `phone` is on WhatsApp.
    #[utoipa::path(get, path = "/v2/contacts/check-exists", tag = "wawp", params(Instance, PhoneParam),
        responses((status = 200, body = NumberExists)))]
    pub fn check_exists() {}

    /// The contact's "about" text.
    #[utoipa::path(get, path = "/v2/contacts/about", tag = "wawp", params(Instance, ContactParam, RefreshParam),
        responses((status = 200, body = About)))]
    pub fn get_about() {}

    /// The picture URL.
    #[utoipa::path(get, path = "/v2/contacts/profile-picture", tag = "wawp", params(Instance, ContactParam, RefreshParam),
        responses((status = 200, body = ProfilePictureUrl)))]
    pub fn get_profile_picture() {}

    /// Blocks (`contactId` in the query or a JSON body).
    #[utoipa::path(post, path = "/v2/contacts/block", tag = "wawp", params(Instance, OptionalContactParam),
        request_body(content = ContactRequest, description = "Optional when contactId is in the query"),
        responses((status = 201, body = Success)))]
    pub fn block() {}

    /// Unblocks (`contactId` in the query or a JSON body).
    #[utoipa::path(post, path = "/v2/contacts/unblock", tag = "wawp", params(Instance, OptionalContactParam),
        request_body(content = ContactRequest, description = "Optional when contactId is in the query"),
        responses((status = 201, body = Success)))]
    pub fn unblock() {}

    /// Known LID mappings.
    #[utoipa::path(get, path = "/v2/lids", tag = "wawp", params(Instance, LidPage),
        responses((status = 200, body = Vec<LidToPhoneNumber>)))]
    pub fn list_lids() {}

    /// How many mappings are known.
    #[utoipa::path(get, path = "/v2/lids/count", tag = "wawp", params(Instance),
        responses((status = 200, body = CountResponse)))]
    pub fn count_lids() {}

    /// The number of a LID.
    #[utoipa::path(get, path = "/v2/lids/{lid}", tag = "wawp",
        params(("lid" = String, Path), Instance),
        responses((status = 200, body = LidToPhoneNumber), (status = 422, body = ErrorBody)))]
    pub fn pn_by_lid() {}

    /// The LID of a number.
    #[utoipa::path(get, path = "/v2/lids/pn/{phoneNumber}", tag = "wawp",
        params(("phoneNumber" = String, Path), Instance),
        responses((status = 200, body = LidToPhoneNumber)))]
    pub fn lid_by_pn() {}

    /// The LIDs of many numbers.
    #[utoipa::path(post, path = "/v2/lids/pn", tag = "wawp", params(Instance),
        request_body = PhoneNumbersBody, responses((status = 200, body = Vec<LidToPhoneNumber>)))]
    pub fn lids_by_pns() {}
}
