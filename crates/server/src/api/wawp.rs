//! Wawp's v2 dialect: its routes under `/v2`, with the session in `instance_id` and
//! the API key in `access_token`, and its own shapes where its documentation has them
//! (`../shared/reference/products/wawp-v2-api-shapes.md`). Where Wawp's pages
//! contradict each other the answer is a superset of every reading, plus WAHA's
//! fields; only `id` cannot be both, and follows Wawp's contact page (an object).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use wacontacts_core::contact::ContactDetails;
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::session::SessionName;

use crate::api::dialect::{Dialect, documented};
use crate::api::sessions::parse_session_name;
use crate::api::waha::{ContactFields, chat_id};
use crate::api::{contacts, lids};
use crate::error::ApiError;
use crate::state::AppState;

/// Wawp: the session is `instance_id`, always given.
#[derive(Debug)]
pub struct Wawp;

impl Dialect for Wawp {
    type Contact = WawpContact;
    type Picture = WawpPicture;
    type LidPair = WawpLid;
    /// "A simple integer", as Wawp's LID count page says.
    type Count = u64;

    /// Wawp documents "up to 1000" per page.
    const MAX_PAGE: u32 = 1_000;
    /// Wawp's "CRM sync": name, push name, picture and about in one call.
    const PROFILE_IN_CONTACT: bool = true;

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

    fn contact(details: ContactDetails) -> WawpContact {
        let c = &details.contact;
        let id = c.id();
        let picture = c.picture_url.clone();
        let push_name = c.push_name.clone();
        WawpContact {
            id: WawpId {
                server: match &id {
                    Some(ContactRef::Lid(_)) => "lid",
                    _ => "c.us",
                },
                user: match &id {
                    Some(ContactRef::Phone(p)) => p.wa_id(),
                    Some(ContactRef::Lid(l)) => l.user().to_owned(),
                    None => String::new(),
                },
                serialized: id.as_ref().map(chat_id).unwrap_or_default(),
            },
            push_name,
            is_enterprise: false,
            profile_pic_url: picture.clone(),
            profile_pic: picture,
            fields: details.into(),
        }
    }

    fn picture(who: &ContactRef, url: Option<String>) -> WawpPicture {
        WawpPicture {
            id: chat_id(who),
            profile_picture_url: url.clone(),
            url,
        }
    }

    fn lid_pair(lid: Option<&Lid>, phone: Option<&PhoneNumber>) -> WawpLid {
        WawpLid {
            lid: lid.map(Lid::to_string),
            number: phone.map(PhoneNumber::wa_id),
            pn: phone.map(|p| chat_id(&ContactRef::Phone(*p))),
        }
    }

    fn count(count: u64) -> u64 {
        count
    }
}

/// A contact's id as whatsapp-web.js serializes it (Wawp's contact page).
#[derive(Debug, Serialize, ToSchema)]
pub struct WawpId {
    /// `c.us`, or `lid` while the number is unknown.
    pub server: &'static str,
    /// The digits before the `@`.
    pub user: String,
    /// `15551234567@c.us`.
    #[serde(rename = "_serialized")]
    pub serialized: String,
}

/// A contact in Wawp's shape: its fields, both spellings its pages use, and WAHA's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WawpContact {
    pub id: WawpId,
    /// The overview's spelling of `pushname`.
    pub push_name: Option<String>,
    /// Enterprise (official API) account: never known to a linked device, so false.
    pub is_enterprise: bool,
    /// The profile picture URL (24 h cache); null when none or hidden.
    pub profile_pic_url: Option<String>,
    /// Same as `profilePicUrl` (the overview uses both names).
    pub profile_pic: Option<String>,
    #[serde(flatten)]
    pub fields: ContactFields,
}

/// The profile-picture answer: Wawp's `{id, url}` and WAHA's `profilePictureURL`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WawpPicture {
    /// `15551234567@c.us`.
    pub id: String,
    /// Null when none or hidden.
    pub url: Option<String>,
    #[serde(rename = "profilePictureURL")]
    pub profile_picture_url: Option<String>,
}

/// A LID ↔ number pair: Wawp's `{lid, number}` (bare digits) and WAHA's `pn`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WawpLid {
    /// `123456789012345@lid`; null when unknown.
    pub lid: Option<String>,
    /// Bare digits; null when unknown.
    pub number: Option<String>,
    /// `15551234567@c.us`; null when unknown.
    pub pn: Option<String>,
}

/// Wawp's edge, around every `/v2` request: its credentials are moved where the routes
/// read them (an `access-token` header, or `instance_id`/`access_token` in the JSON
/// body of a POST or PUT, as Wawp's own client sends them, go into the query unless it
/// has them already; bodies are read within the body limit), and its answers get the
/// statuses Wawp documents ([`documented_status`]).
pub async fn edge(State(body_limit): State<usize>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/v2/") {
        return next.run(request).await;
    }
    let request = match credentials_into_query(body_limit, request).await {
        Ok(request) => request,
        Err(refusal) => return documented_status(refusal).await,
    };
    let response = next.run(request).await;
    documented_status(response).await
}

/// The request with Wawp's credentials from the `access-token` header or a JSON body
/// added to its query; a body over the limit is refused.
async fn credentials_into_query(body_limit: usize, request: Request) -> Result<Request, Response> {
    let (mut parts, body) = request.into_parts();
    let mut found: Vec<(&'static str, String)> = Vec::new();
    if let Some(token) = parts
        .headers
        .get("access-token")
        .and_then(|v| v.to_str().ok())
    {
        found.push(("access_token", token.to_owned()));
    }
    let is_json = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = if is_json && matches!(parts.method, Method::POST | Method::PUT) {
        let Ok(bytes) = axum::body::to_bytes(body, body_limit).await else {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is larger than the server accepts",
            )
            .into_response());
        };
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&bytes) {
            for key in ["instance_id", "access_token"] {
                if let Some(serde_json::Value::String(v)) = map.get(key) {
                    found.push((key, v.clone()));
                }
            }
        }
        Body::from(bytes)
    } else {
        body
    };
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let missing: Vec<_> = found
        .into_iter()
        .filter(|(k, _)| !query.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(q) = parts.uri.query() {
            query.extend_pairs(form_urlencoded::parse(q.as_bytes()));
        }
        query.extend_pairs(missing);
        let path_and_query = format!("{}?{}", parts.uri.path(), query.finish());
        if let Ok(uri) = path_and_query.parse() {
            parts.uri = uri;
        }
    }
    Ok(Request::from_parts(parts, body))
}

/// Wawp documents 400, 401, 404 and 500 for its routes: other refusals are answered
/// with the nearest of those (a session not WORKING → 400, hidden by privacy → 404,
/// WhatsApp failing, unreachable or slow → 500), keeping our body and its `code`.
/// 429 (rate limits, with `Retry-After`), 413 and 415 keep their meaning.
async fn documented_status(response: Response) -> Response {
    let status = match response.status() {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        StatusCode::FORBIDDEN => StatusCode::NOT_FOUND,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => return response,
    };
    let (mut parts, body) = response.into_parts();
    // Error bodies are small; one that is not ours passes unchanged.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (status, "").into_response();
    };
    parts.status = status;
    let Ok(serde_json::Value::Object(mut json)) = serde_json::from_slice(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    json.insert("statusCode".into(), status.as_u16().into());
    if json
        .get("error")
        .is_some_and(|e| e.as_str() != Some("Session status is not as expected"))
    {
        json.insert(
            "error".into(),
            status.canonical_reason().unwrap_or("Error").into(),
        );
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        Body::from(serde_json::Value::Object(json).to_string()),
    )
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
    use crate::api::contacts::{ContactUpdateBody, PhoneParam, RefreshParam};
    use crate::api::lids::PhoneNumbersBody;
    use crate::api::openapi::{
        ContactPath, ContactQuery, InstanceQuery, LidPath, PhonePath, WawpErrors,
    };
    use crate::api::waha::{About, ContactRequest, NumberExists, Success};

    /// Listing parameters of Wawp's `/v2/contacts/all`.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    #[allow(non_snake_case)]
    pub struct WawpListParams {
        /// `id` (default) or `name`.
        #[param(inline, value_type = Option<crate::api::openapi::SortBy>, example = "name")]
        sortBy: Option<String>,
        /// `ASC` (Wawp's spelling) or `DESC`, in any case.
        #[param(pattern = "^([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc])$", example = "ASC")]
        sortOrder: Option<String>,
        /// Page size, 1–1000 (Wawp's cap). Without it the whole list is streamed.
        #[param(minimum = 1, maximum = 1000, example = 50)]
        limit: Option<u32>,
        /// Rows to skip (default 0).
        #[param(minimum = 0, example = 0)]
        offset: Option<u64>,
        /// Only contacts whose name or (3+ digits) number holds this text, as WAHA's
        /// `/api/contacts/all`; a blank term filters nothing.
        #[param(max_length = 100, example = "ada")]
        search: Option<String>,
    }

    /// Paging of Wawp's LID list.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct WawpLidPage {
        /// Page size, 1–1000 (default 100).
        #[param(minimum = 1, maximum = 1000, example = 100)]
        limit: Option<u32>,
        /// Rows to skip (default 0).
        #[param(minimum = 0, example = 0)]
        offset: Option<u64>,
    }

    /// WAHA's listing, session from `instance_id`.
    #[utoipa::path(get, path = "/v2/contacts/all", tag = "wawp", operation_id = "wawp_list_contacts",
        params(InstanceQuery, WawpListParams),
        responses((status = 200, body = Vec<WawpContact>), WawpErrors))]
    pub fn list_contacts() {}

    /// One contact by `contactId` (an id, a number, or `@username`).
    #[utoipa::path(get, path = "/v2/contacts", tag = "wawp", operation_id = "wawp_get_contact",
        params(InstanceQuery, crate::api::usernames::ContactOrUsernameQuery),
        responses((status = 200, body = WawpContact), WawpErrors))]
    pub fn get_contact() {}

    /// One contact by path.
    #[utoipa::path(get, path = "/v2/contacts/{id}", tag = "wawp", operation_id = "wawp_get_contact_by_path",
        params(ContactPath, InstanceQuery),
        responses((status = 200, body = WawpContact), WawpErrors))]
    pub fn get_contact_by_path() {}

    /// Saves the contact in the phone's address book.
    #[utoipa::path(put, path = "/v2/contacts/{id}", tag = "wawp", operation_id = "wawp_save_contact",
        params(ContactPath, InstanceQuery), request_body = ContactUpdateBody,
        responses((status = 200, body = Success), WawpErrors))]
    pub fn save_contact() {}

    /// Whether `phone`, or `username`, is on WhatsApp.
    #[utoipa::path(get, path = "/v2/contacts/check-exists", tag = "wawp", operation_id = "wawp_check_exists",
        params(InstanceQuery, PhoneParam),
        responses((status = 200, body = NumberExists), WawpErrors))]
    pub fn check_exists() {}

    /// The contact's "about" text.
    #[utoipa::path(get, path = "/v2/contacts/about", tag = "wawp", operation_id = "wawp_get_about",
        params(InstanceQuery, ContactQuery, RefreshParam),
        responses((status = 200, body = About), WawpErrors))]
    pub fn get_about() {}

    /// The picture URL.
    #[utoipa::path(get, path = "/v2/contacts/profile-picture", tag = "wawp",
        operation_id = "wawp_get_profile_picture", params(InstanceQuery, ContactQuery, RefreshParam),
        responses((status = 200, body = WawpPicture), WawpErrors))]
    pub fn get_profile_picture() {}

    /// Blocks (`contactId` in the query; a JSON body may repeat it).
    #[utoipa::path(post, path = "/v2/contacts/block", tag = "wawp", operation_id = "wawp_block",
        params(InstanceQuery, ContactQuery),
        request_body(content = Option<ContactRequest>, description = "Optional: `contactId` may come here instead of the query"),
        responses((status = 201, body = Success), WawpErrors))]
    pub fn block() {}

    /// Unblocks (`contactId` in the query; a JSON body may repeat it).
    #[utoipa::path(post, path = "/v2/contacts/unblock", tag = "wawp", operation_id = "wawp_unblock",
        params(InstanceQuery, ContactQuery),
        request_body(content = Option<ContactRequest>, description = "Optional: `contactId` may come here instead of the query"),
        responses((status = 201, body = Success), WawpErrors))]
    pub fn unblock() {}

    /// Known LID mappings.
    #[utoipa::path(get, path = "/v2/lids", tag = "wawp", operation_id = "wawp_list_lids",
        params(InstanceQuery, WawpLidPage),
        responses((status = 200, body = Vec<WawpLid>), WawpErrors))]
    pub fn list_lids() {}

    /// How many mappings are known.
    #[utoipa::path(get, path = "/v2/lids/count", tag = "wawp", operation_id = "wawp_count_lids",
        params(InstanceQuery), responses((status = 200, body = u64, content_type = "application/json",
            description = "The number of known mappings"), WawpErrors))]
    pub fn count_lids() {}

    /// The number of a LID.
    #[utoipa::path(get, path = "/v2/lids/{lid}", tag = "wawp", operation_id = "wawp_pn_by_lid",
        params(LidPath, InstanceQuery),
        responses((status = 200, body = WawpLid), WawpErrors))]
    pub fn pn_by_lid() {}

    /// The LID of a number.
    #[utoipa::path(get, path = "/v2/lids/pn/{phoneNumber}", tag = "wawp", operation_id = "wawp_lid_by_pn",
        params(PhonePath, InstanceQuery),
        responses((status = 200, body = WawpLid), WawpErrors))]
    pub fn lid_by_pn() {}

    /// The LIDs of many numbers.
    #[utoipa::path(post, path = "/v2/lids/pn", tag = "wawp", operation_id = "wawp_lids_by_pns",
        params(InstanceQuery), request_body = PhoneNumbersBody,
        responses((status = 200, body = Vec<WawpLid>), WawpErrors))]
    pub fn lids_by_pns() {}
}
