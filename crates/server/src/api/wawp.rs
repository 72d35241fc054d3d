//! Wawp's v2 dialect: WAHA's contact and LID routes under `/v2`, with the session in
//! `instance_id` and the API key in `access_token` (both query parameters). Shapes are
//! WAHA's; this file only adapts the parameters.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use wacontacts_core::session::SessionName;

use crate::api::contacts::{
    About, ContactUpdateBody, NumberExists, ProfilePictureUrl, Success, WahaContact, about_answer,
    block_answer, contact_answer, exists_answer, list_response, parse_listing, picture_answer,
    save_answer,
};
use crate::api::lids::{self, CountResponse, LidToPhoneNumber, PhoneNumbersBody};
use crate::api::sessions::parse_session_name;
use crate::contacts::Page;
use crate::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::state::AppState;

/// Query parameters every Wawp route may carry.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct WawpQuery {
    /// The session (Wawp's instance).
    #[serde(rename = "instance_id")]
    pub instance_id: Option<String>,
    /// The API key (checked by the auth layer; listed for documentation).
    #[serde(rename = "access_token")]
    pub access_token: Option<String>,
    pub contact_id: Option<String>,
    /// Alias of `contactId`.
    pub chat_id: Option<String>,
    pub phone: Option<String>,
    pub refresh: Option<bool>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

impl WawpQuery {
    fn session(&self) -> Result<SessionName, ApiError> {
        match self.instance_id.as_deref() {
            Some(id) => parse_session_name(id),
            None => Err(ApiError::bad_request(
                "missing_instance_id",
                "instance_id is required",
            )),
        }
    }

    fn contact_id(&self) -> Result<&str, ApiError> {
        self.contact_id
            .as_deref()
            .or(self.chat_id.as_deref())
            .ok_or_else(|| ApiError::bad_request("missing_contact_id", "contactId is required"))
    }
}

/// GET /v2/contacts/all — WAHA's listing, session from `instance_id`.
#[utoipa::path(get, path = "/v2/contacts/all", tag = "wawp", params(WawpQuery),
    responses((status = 200, body = Vec<WahaContact>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_contacts(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<Response, ApiError> {
    let session = q.session()?;
    let listing = parse_listing(
        q.sort_by.as_deref(),
        q.sort_order.as_deref(),
        q.limit,
        q.offset,
    )?;
    list_response(state.contacts.clone(), session, listing, WahaContact::from).await
}

/// GET /v2/contacts — one contact by `contactId`.
#[utoipa::path(get, path = "/v2/contacts", tag = "wawp", params(WawpQuery),
    responses((status = 200, body = WahaContact), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_contact(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<WahaContact>, ApiError> {
    let session = q.session()?;
    Ok(AppJson(
        contact_answer(&state, &session, q.contact_id()?).await?,
    ))
}

/// GET /v2/contacts/{id} — one contact by path.
#[utoipa::path(get, path = "/v2/contacts/{id}", tag = "wawp",
    params(("id" = String, Path), WawpQuery),
    responses((status = 200, body = WahaContact), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_contact_by_path(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<WahaContact>, ApiError> {
    let session = q.session()?;
    Ok(AppJson(contact_answer(&state, &session, &id).await?))
}

/// PUT /v2/contacts/{id} — save the contact in the phone's address book.
#[utoipa::path(put, path = "/v2/contacts/{id}", tag = "wawp",
    params(("id" = String, Path, description = "The chat id"), WawpQuery),
    request_body = ContactUpdateBody, responses((status = 200, body = Success)))]
pub async fn save_contact(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    AppQuery(q): AppQuery<WawpQuery>,
    AppJson(body): AppJson<ContactUpdateBody>,
) -> Result<AppJson<Success>, ApiError> {
    let session = q.session()?;
    Ok(AppJson(save_answer(&state, &session, &id, &body).await?))
}

/// GET /v2/contacts/check-exists — is `phone` on WhatsApp.
#[utoipa::path(get, path = "/v2/contacts/check-exists", tag = "wawp", params(WawpQuery),
    responses((status = 200, body = NumberExists)))]
pub async fn check_exists(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<NumberExists>, ApiError> {
    let session = q.session()?;
    Ok(AppJson(
        exists_answer(&state, &session, q.phone.as_deref()).await?,
    ))
}

/// GET /v2/contacts/about — the contact's "about" text.
#[utoipa::path(get, path = "/v2/contacts/about", tag = "wawp", params(WawpQuery),
    responses((status = 200, body = About)))]
pub async fn get_about(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<About>, ApiError> {
    let session = q.session()?;
    let refresh = q.refresh.unwrap_or(false);
    Ok(AppJson(
        about_answer(&state, &session, q.contact_id()?, refresh).await?,
    ))
}

/// GET /v2/contacts/profile-picture — the picture URL.
#[utoipa::path(get, path = "/v2/contacts/profile-picture", tag = "wawp", params(WawpQuery),
    responses((status = 200, body = ProfilePictureUrl)))]
pub async fn get_profile_picture(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<ProfilePictureUrl>, ApiError> {
    let session = q.session()?;
    let refresh = q.refresh.unwrap_or(false);
    Ok(AppJson(
        picture_answer(&state, &session, q.contact_id()?, refresh).await?,
    ))
}

/// Optional JSON body of block/unblock: `{contactId}` or `{chatId}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactBody {
    contact_id: Option<String>,
    chat_id: Option<String>,
}

/// The contact of block/unblock: from the query, else from a JSON body.
fn contact_of(q: &WawpQuery, body: &Bytes) -> Result<String, ApiError> {
    if let Ok(id) = q.contact_id() {
        return Ok(id.to_owned());
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "missing_contact_id",
            "contactId is required",
        ));
    }
    let parsed: ContactBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    parsed
        .contact_id
        .or(parsed.chat_id)
        .ok_or_else(|| ApiError::bad_request("missing_contact_id", "contactId is required"))
}

async fn set_blocked(
    state: &AppState,
    q: &WawpQuery,
    body: &Bytes,
    blocked: bool,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    let session = q.session()?;
    block_answer(state, &session, &contact_of(q, body)?, blocked).await
}

/// POST /v2/contacts/block — block (`contactId` in the query or a JSON body).
#[utoipa::path(post, path = "/v2/contacts/block", tag = "wawp", params(WawpQuery),
    request_body(content = crate::api::contacts::ContactRequest, description = "Optional when contactId is in the query"),
    responses((status = 201, body = Success)))]
pub async fn block(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
    body: Bytes,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    set_blocked(&state, &q, &body, true).await
}

/// POST /v2/contacts/unblock — unblock (`contactId` in the query or a JSON body).
#[utoipa::path(post, path = "/v2/contacts/unblock", tag = "wawp", params(WawpQuery),
    request_body(content = crate::api::contacts::ContactRequest, description = "Optional when contactId is in the query"),
    responses((status = 201, body = Success)))]
pub async fn unblock(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
    body: Bytes,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    set_blocked(&state, &q, &body, false).await
}

/// GET /v2/lids — known LID mappings.
#[utoipa::path(get, path = "/v2/lids", tag = "wawp", params(WawpQuery),
    responses((status = 200, body = Vec<LidToPhoneNumber>)))]
pub async fn list_lids(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<Vec<LidToPhoneNumber>>, ApiError> {
    let session = q.session()?;
    let page = Page {
        limit: lids::checked_limit(q.limit)?,
        offset: q.offset.unwrap_or(0),
    };
    let rows = state.contacts.lids(&session, page).await?;
    Ok(AppJson(rows.into_iter().map(lids::mapping_row).collect()))
}

/// GET /v2/lids/count — how many mappings are known.
#[utoipa::path(get, path = "/v2/lids/count", tag = "wawp", params(WawpQuery),
    responses((status = 200, body = CountResponse)))]
pub async fn count_lids(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<CountResponse>, ApiError> {
    let session = q.session()?;
    let count = state.contacts.lid_count(&session).await?;
    Ok(AppJson(CountResponse { count }))
}

/// GET /v2/lids/{lid} — the number of a LID.
#[utoipa::path(get, path = "/v2/lids/{lid}", tag = "wawp",
    params(("lid" = String, Path), WawpQuery),
    responses((status = 200, body = LidToPhoneNumber), (status = 422, body = crate::error::ErrorBody)))]
pub async fn pn_by_lid(
    State(state): State<AppState>,
    AppPath(lid): AppPath<String>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<LidToPhoneNumber>, ApiError> {
    let session = q.session()?;
    Ok(AppJson(lids::lookup_pn(&state, &session, &lid).await?))
}

/// GET /v2/lids/pn/{phoneNumber} — the LID of a number.
#[utoipa::path(get, path = "/v2/lids/pn/{phoneNumber}", tag = "wawp",
    params(("phoneNumber" = String, Path), WawpQuery),
    responses((status = 200, body = LidToPhoneNumber)))]
pub async fn lid_by_pn(
    State(state): State<AppState>,
    AppPath(phone): AppPath<String>,
    AppQuery(q): AppQuery<WawpQuery>,
) -> Result<AppJson<LidToPhoneNumber>, ApiError> {
    let session = q.session()?;
    let mut found = lids::lookup_lids(&state, &session, &[phone]).await?;
    Ok(AppJson(found.remove(0)))
}

/// POST /v2/lids/pn — the LIDs of many numbers.
#[utoipa::path(post, path = "/v2/lids/pn", tag = "wawp", params(WawpQuery),
    request_body = PhoneNumbersBody, responses((status = 200, body = Vec<LidToPhoneNumber>)))]
pub async fn lids_by_pns(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WawpQuery>,
    AppJson(body): AppJson<PhoneNumbersBody>,
) -> Result<AppJson<Vec<LidToPhoneNumber>>, ApiError> {
    let session = q.session()?;
    Ok(AppJson(
        lids::lookup_lids(&state, &session, &body.phone_numbers).await?,
    ))
}
