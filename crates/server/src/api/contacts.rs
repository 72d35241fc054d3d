//! Contacts in WAHA's dialect: `GET /api/contacts/all`, `GET /api/contacts`,
//! `GET /api/{session}/contacts/{id}`, `GET /api/contacts/check-exists`,
//! `GET /api/contacts/about`, `GET /api/contacts/profile-picture`,
//! `POST /api/contacts/block|unblock`, `GET /api/{session}/contacts/blocked`,
//! `PUT /api/{session}/contacts/{chatId}`. Shapes and parsing live here too, so the
//! Wawp adapter reuses them.

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wacontacts_core::ids::{ContactRef, IdError};
use wacontacts_core::phone::{Convention, PhoneNumber, normalize};
use wacontacts_core::ports::DirectoryError;
use wacontacts_core::session::SessionName;
use wacontacts_store::{ContactSort, StoredContact};

use crate::api::sessions::parse_session_name;
use crate::contacts::{ContactError, ContactService, ContactView, Page};
use crate::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::state::AppState;

/// Largest page a client may ask for; without `limit` the whole list is streamed.
pub const MAX_PAGE: u32 = 10_000;
/// Rows fetched per round trip while streaming a whole list.
const STREAM_CHUNK: u32 = 1_000;

/// A contact in WAHA's shape, plus our additive fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WahaContact {
    /// `15551234567@c.us`, or `123456789012345@lid` while the number is unknown.
    pub id: String,
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

/// Maps a stored contact's key to WAHA's id form.
pub fn waha_id(c: &StoredContact) -> String {
    match (&c.pn, &c.lid) {
        (Some(pn), _) => format!("{pn}@c.us"),
        (None, Some(lid)) => format!("{lid}@lid"),
        (None, None) => c.jid.clone(),
    }
}

impl From<ContactView> for WahaContact {
    fn from(v: ContactView) -> Self {
        let c = v.contact;
        Self {
            id: waha_id(&c),
            number: c.pn.clone(),
            short_name: c.first_name.clone(),
            is_me: v.is_me,
            is_group: false,
            is_wa_contact: true,
            is_my_contact: c.is_my_contact,
            is_blocked: c.is_blocked,
            lid: c.lid.as_ref().map(|l| format!("{l}@lid")),
            first_name: c.first_name,
            business_name: c.business_name,
            verified_name: c.verified_name,
            is_business: c.is_business,
            about: c.about,
            name: c.name,
            pushname: c.push_name,
            previous_numbers: v
                .previous_numbers
                .into_iter()
                .map(|h| PreviousNumber {
                    id: format!("{}@c.us", h.old_pn),
                    changed_at: h.at_ms,
                })
                .collect(),
        }
    }
}

impl From<ContactError> for ApiError {
    fn from(err: ContactError) -> Self {
        match err {
            ContactError::Session(e) => e.into(),
            ContactError::ContactNotFound(who) => {
                ApiError::not_found("contact_not_found", "No such contact in this session")
                    .with_value(who)
            }
            ContactError::Directory(e) => directory_error(e),
            ContactError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// Maps WhatsApp's refusals to HTTP.
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
        DirectoryError::Other(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "whatsapp_error", message)
        }
    }
}

/// Parses a person reference in WAHA's convention, answering 400 with the input.
pub fn parse_contact(input: &str) -> Result<ContactRef, ApiError> {
    ContactRef::parse(input, &Convention::Waha).map_err(|e: IdError| {
        ApiError::bad_request(e.code(), e.to_string()).with_value(input.to_owned())
    })
}

/// Parses a phone number in WAHA's convention, answering 400 with the input.
pub fn parse_phone(input: &str) -> Result<PhoneNumber, ApiError> {
    // Accept chat ids too (`…@c.us`), as WAHA's clients send them.
    match parse_contact(input)? {
        ContactRef::Phone(p) => Ok(p),
        ContactRef::Lid(_) => Err(ApiError::bad_request(
            "not_a_phone_number",
            "A phone number is needed here, not a LID",
        )
        .with_value(input.to_owned())),
    }
    .or_else(|e| {
        normalize(input, &Convention::Waha).map_err(|p| {
            if e.code() == "not_a_phone_number" {
                e
            } else {
                ApiError::bad_request(p.code(), p.to_string()).with_value(input.to_owned())
            }
        })
    })
}

/// The session named in a query, `default` when absent.
pub fn session_or_default(session: Option<&str>) -> Result<SessionName, ApiError> {
    match session {
        Some(s) => parse_session_name(s),
        None => Ok(SessionName::default_name()),
    }
}

/// Query of `GET /api/contacts/all`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Session name (default "default").
    pub session: Option<String>,
    /// `id` (default) or `name`.
    pub sort_by: Option<String>,
    /// `asc` (default) or `desc`.
    pub sort_order: Option<String>,
    /// Page size, 1–10000. Without it the whole list is streamed.
    pub limit: Option<u32>,
    /// Rows to skip (default 0).
    pub offset: Option<u64>,
}

/// Sort, order and page of a listing, validated.
pub struct Listing {
    pub sort: ContactSort,
    pub descending: bool,
    pub limit: Option<u32>,
    pub offset: u64,
}

/// Validates listing parameters at the edge.
pub fn parse_listing(
    sort_by: Option<&str>,
    sort_order: Option<&str>,
    limit: Option<u32>,
    offset: Option<u64>,
) -> Result<Listing, ApiError> {
    let sort = match sort_by.unwrap_or("id") {
        "id" => ContactSort::Id,
        "name" => ContactSort::Name,
        other => {
            return Err(
                ApiError::bad_request("invalid_sort_by", "sortBy must be 'id' or 'name'")
                    .with_value(other.to_owned()),
            );
        }
    };
    let descending = match sort_order.unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(ApiError::bad_request(
                "invalid_sort_order",
                "sortOrder must be 'asc' or 'desc'",
            )
            .with_value(other.to_owned()));
        }
    };
    if let Some(l) = limit
        && !(1..=MAX_PAGE).contains(&l)
    {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        )
        .with_value(l));
    }
    Ok(Listing {
        sort,
        descending,
        limit,
        offset: offset.unwrap_or(0),
    })
}

/// Answers a listing: one page as JSON, or (no limit) the whole list streamed in
/// chunks so memory stays bounded however many contacts there are.
pub async fn list_response<T, F>(
    contacts: ContactService,
    session: SessionName,
    listing: Listing,
    shape: F,
) -> Result<Response, ApiError>
where
    T: Serialize + Send + 'static,
    F: Fn(ContactView) -> T + Send + Sync + 'static,
{
    if let Some(limit) = listing.limit {
        let page = contacts
            .list(
                &session,
                listing.sort,
                listing.descending,
                Page {
                    limit,
                    offset: listing.offset,
                },
            )
            .await?;
        let body: Vec<T> = page.into_iter().map(shape).collect();
        return Ok(AppJson(body).into_response());
    }
    // Fail before streaming starts, so errors keep their status code.
    contacts.working(&session).await?;
    let shape = std::sync::Arc::new(shape);
    let (sort, descending) = (listing.sort, listing.descending);
    // Chunks continue by key, not by OFFSET: each costs the same however deep it is.
    let start = Some((listing.offset, None));
    let stream = futures::stream::unfold((start, true), move |(at, first)| {
        let contacts = contacts.clone();
        let session = session.clone();
        let shape = shape.clone();
        async move {
            let (offset, after) = at?;
            let page = Page {
                limit: STREAM_CHUNK,
                offset,
            };
            let listed = contacts
                .list_chunk(&session, sort, descending, after.as_ref(), page)
                .await;
            let (rows, next) = match listed {
                Ok(listed) => listed,
                Err(e) => {
                    let err = std::io::Error::other(e.to_string());
                    return Some((Err(err), (None, false)));
                }
            };
            let done = rows.len() < STREAM_CHUNK as usize;
            let mut out = Vec::with_capacity(rows.len() * 320 + 2);
            if first {
                out.push(b'[');
            }
            for (i, row) in rows.into_iter().enumerate() {
                if i > 0 || !first {
                    out.push(b',');
                }
                if let Err(e) = serde_json::to_writer(&mut out, &shape(row)) {
                    return Some((Err(std::io::Error::other(e)), (None, false)));
                }
            }
            if done {
                out.push(b']');
            }
            let next = next.filter(|_| !done).map(|cursor| (0, Some(cursor)));
            Some((Ok::<_, std::io::Error>(out), (next, false)))
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// One contact in WAHA's shape; `id` is any accepted contact form.
pub async fn contact_answer(
    state: &AppState,
    session: &SessionName,
    id: &str,
) -> Result<WahaContact, ApiError> {
    let who = parse_contact(id)?;
    Ok(state.contacts.get(session, &who).await?.into())
}

/// Whether `phone` (any dialable form; `None` = missing) is on WhatsApp.
pub async fn exists_answer(
    state: &AppState,
    session: &SessionName,
    phone: Option<&str>,
) -> Result<NumberExists, ApiError> {
    let Some(phone) = phone else {
        return Err(ApiError::bad_request("missing_phone", "phone is required"));
    };
    let phone = parse_phone(phone)?;
    let found = state.contacts.check_exists(session, &phone).await?;
    Ok(NumberExists {
        number_exists: found.exists,
        chat_id: found.phone.map(|p| format!("{}@c.us", p.wa_id())),
        lid: found.lid.map(|l| l.to_string()),
    })
}

/// The "about" text of `id`.
pub async fn about_answer(
    state: &AppState,
    session: &SessionName,
    id: &str,
    refresh: bool,
) -> Result<About, ApiError> {
    let who = parse_contact(id)?;
    let about = state.contacts.about(session, &who, refresh).await?;
    Ok(About { about })
}

/// The profile picture URL of `id`.
pub async fn picture_answer(
    state: &AppState,
    session: &SessionName,
    id: &str,
    refresh: bool,
) -> Result<ProfilePictureUrl, ApiError> {
    let who = parse_contact(id)?;
    let url = state.contacts.picture_url(session, &who, refresh).await?;
    Ok(ProfilePictureUrl {
        profile_picture_url: url,
    })
}

/// Blocks or unblocks `id`; WAHA answers 201.
pub async fn block_answer(
    state: &AppState,
    session: &SessionName,
    id: &str,
    blocked: bool,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    let who = parse_contact(id)?;
    state.contacts.set_blocked(session, &who, blocked).await?;
    Ok((StatusCode::CREATED, AppJson(Success { success: true })))
}

/// Saves `id` in the phone's address book under the body's names.
pub async fn save_answer(
    state: &AppState,
    session: &SessionName,
    id: &str,
    body: &ContactUpdateBody,
) -> Result<Success, ApiError> {
    let who = parse_contact(id)?;
    validate_names(body)?;
    state
        .contacts
        .save(session, &who, &body.first_name, &body.last_name)
        .await?;
    Ok(Success { success: true })
}

/// GET /api/contacts/all — the session's contacts, paged and sorted, from the store.
#[utoipa::path(get, path = "/api/contacts/all", tag = "contacts", params(ListQuery),
    responses((status = 200, body = Vec<WahaContact>), (status = 400, body = crate::error::ErrorBody),
        (status = 422, description = "Session not WORKING", body = crate::error::ErrorBody)))]
pub async fn list_contacts(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let session = session_or_default(q.session.as_deref())?;
    let listing = parse_listing(
        q.sort_by.as_deref(),
        q.sort_order.as_deref(),
        q.limit,
        q.offset,
    )?;
    list_response(state.contacts.clone(), session, listing, WahaContact::from).await
}

/// Query naming one contact.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ContactQuery {
    /// `15551234567@c.us`, `15551234567`, `+1 555…`, `…@s.whatsapp.net` or `…@lid`.
    pub contact_id: Option<String>,
    /// Session name (default "default").
    pub session: Option<String>,
    /// Skip the 24 h cache (about, profile picture).
    pub refresh: Option<bool>,
}

fn required_contact(q: &ContactQuery) -> Result<&str, ApiError> {
    q.contact_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("missing_contact_id", "contactId is required"))
}

/// GET /api/contacts — one contact.
#[utoipa::path(get, path = "/api/contacts", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = WahaContact), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_contact(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ContactQuery>,
) -> Result<AppJson<WahaContact>, ApiError> {
    let session = session_or_default(q.session.as_deref())?;
    Ok(AppJson(
        contact_answer(&state, &session, required_contact(&q)?).await?,
    ))
}

/// GET /api/{session}/contacts/{id} — one contact.
#[utoipa::path(get, path = "/api/{session}/contacts/{id}", tag = "contacts",
    params(("session" = String, Path), ("id" = String, Path, description = "Contact id or number")),
    responses((status = 200, body = WahaContact), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_session_contact(
    State(state): State<AppState>,
    AppPath((session, id)): AppPath<(String, String)>,
) -> Result<AppJson<WahaContact>, ApiError> {
    let session = parse_session_name(&session)?;
    Ok(AppJson(contact_answer(&state, &session, &id).await?))
}

/// Query of check-exists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CheckExistsQuery {
    /// The number, any dialable format with country code.
    pub phone: Option<String>,
    /// Session name (default "default").
    pub session: Option<String>,
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
}

/// GET /api/contacts/check-exists — is the number on WhatsApp, and under which id.
#[utoipa::path(get, path = "/api/contacts/check-exists", tag = "contacts", params(CheckExistsQuery),
    responses((status = 200, body = NumberExists), (status = 400, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
pub async fn check_exists(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<CheckExistsQuery>,
) -> Result<AppJson<NumberExists>, ApiError> {
    let session = session_or_default(q.session.as_deref())?;
    Ok(AppJson(
        exists_answer(&state, &session, q.phone.as_deref()).await?,
    ))
}

/// Answer of the about route.
#[derive(Debug, Serialize, ToSchema)]
pub struct About {
    /// Null when unset or hidden by the contact's privacy settings.
    pub about: Option<String>,
}

/// GET /api/contacts/about — the contact's "about" text (cached 24 h).
#[utoipa::path(get, path = "/api/contacts/about", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = About)))]
pub async fn get_about(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ContactQuery>,
) -> Result<AppJson<About>, ApiError> {
    let session = session_or_default(q.session.as_deref())?;
    let refresh = q.refresh.unwrap_or(false);
    Ok(AppJson(
        about_answer(&state, &session, required_contact(&q)?, refresh).await?,
    ))
}

/// Answer of the profile-picture route.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfilePictureUrl {
    /// Null when there is no picture or it is hidden.
    #[serde(rename = "profilePictureURL")]
    pub profile_picture_url: Option<String>,
}

/// GET /api/contacts/profile-picture — the picture URL (cached 24 h).
#[utoipa::path(get, path = "/api/contacts/profile-picture", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = ProfilePictureUrl)))]
pub async fn get_profile_picture(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ContactQuery>,
) -> Result<AppJson<ProfilePictureUrl>, ApiError> {
    let session = session_or_default(q.session.as_deref())?;
    let refresh = q.refresh.unwrap_or(false);
    Ok(AppJson(
        picture_answer(&state, &session, required_contact(&q)?, refresh).await?,
    ))
}

/// Body of block/unblock (WAHA's `ContactRequest`; `chatId` accepted as an alias).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactRequest {
    pub contact_id: Option<String>,
    /// Alias of `contactId` sent by some WAHA clients.
    pub chat_id: Option<String>,
    /// Session name (default "default").
    pub session: Option<String>,
}

/// `{success: true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

async fn set_blocked(
    state: &AppState,
    body: ContactRequest,
    blocked: bool,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    let session = session_or_default(body.session.as_deref())?;
    let Some(id) = body.contact_id.as_deref().or(body.chat_id.as_deref()) else {
        return Err(ApiError::bad_request(
            "missing_contact_id",
            "contactId is required",
        ));
    };
    block_answer(state, &session, id, blocked).await
}

/// POST /api/contacts/block — block a contact.
#[utoipa::path(post, path = "/api/contacts/block", tag = "contacts", request_body = ContactRequest,
    responses((status = 201, body = Success)))]
pub async fn block(
    State(state): State<AppState>,
    AppJson(body): AppJson<ContactRequest>,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    set_blocked(&state, body, true).await
}

/// POST /api/contacts/unblock — unblock a contact.
#[utoipa::path(post, path = "/api/contacts/unblock", tag = "contacts", request_body = ContactRequest,
    responses((status = 201, body = Success)))]
pub async fn unblock(
    State(state): State<AppState>,
    AppJson(body): AppJson<ContactRequest>,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    set_blocked(&state, body, false).await
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

/// GET /api/{session}/contacts/blocked — the blocklist.
#[utoipa::path(get, path = "/api/{session}/contacts/blocked", tag = "contacts",
    params(("session" = String, Path)),
    responses((status = 200, body = Vec<BlockedContact>)))]
pub async fn blocked(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<AppJson<Vec<BlockedContact>>, ApiError> {
    let session = parse_session_name(&session)?;
    let rows = state.contacts.blocklist(&session).await?;
    Ok(AppJson(
        rows.into_iter()
            .map(|r| BlockedContact {
                id: match (&r.pn, &r.lid) {
                    (Some(pn), _) => format!("{pn}@c.us"),
                    (None, Some(lid)) => format!("{lid}@lid"),
                    (None, None) => r.jid.clone(),
                },
                lid: r.lid.map(|l| format!("{l}@lid")),
                blocked_at: r.blocked_ms,
            })
            .collect(),
    ))
}

/// Body of `PUT /api/{session}/contacts/{chatId}` (WAHA's `ContactUpdateBody`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactUpdateBody {
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
}

/// Validates the names of a saved contact.
pub fn validate_names(body: &ContactUpdateBody) -> Result<(), ApiError> {
    if body.first_name.trim().is_empty() && body.last_name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "missing_name",
            "firstName or lastName must be non-empty",
        ));
    }
    for n in [&body.first_name, &body.last_name] {
        if n.chars().count() > 256 {
            return Err(ApiError::bad_request(
                "name_too_long",
                "names are limited to 256 characters",
            )
            .with_value(n.clone()));
        }
    }
    Ok(())
}

/// PUT /api/{session}/contacts/{chatId} — save the contact in the phone's address book.
#[utoipa::path(put, path = "/api/{session}/contacts/{id}", tag = "contacts",
    params(("session" = String, Path), ("id" = String, Path, description = "WAHA's chatId: the contact's id or number")),
    request_body = ContactUpdateBody,
    responses((status = 200, body = Success)))]
pub async fn save_contact(
    State(state): State<AppState>,
    AppPath((session, chat_id)): AppPath<(String, String)>,
    AppJson(body): AppJson<ContactUpdateBody>,
) -> Result<AppJson<Success>, ApiError> {
    let session = parse_session_name(&session)?;
    Ok(AppJson(
        save_answer(&state, &session, &chat_id, &body).await?,
    ))
}
