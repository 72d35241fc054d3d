//! One handler per contact operation, shared by every dialect that routes to it
//! (`D` says where the session is and how a contact looks). Parsing of ids, numbers
//! and listing parameters happens here, at the edge; the rules are the core service's.

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wacontacts_core::contact::{ContactDetails, ContactSort, Listing, Page};
use wacontacts_core::ids::{ContactRef, IdError};
use wacontacts_core::phone::{Convention, PhoneNumber, normalize};
use wacontacts_core::search::{ContactSearch, SearchError};
use wacontacts_core::service::ContactService;
use wacontacts_core::session::SessionName;
use wacontacts_core::username::CheckKey;

use crate::api::dialect::{BodyScope, Dialect, Scope};
use crate::api::usernames::{UsernameItem, parse_lookup, resolve_contact};
use crate::api::waha::{About, BlockedContact, NumberExists, Success};
use crate::error::{ApiError, AppJson, AppQuery};
use crate::state::AppState;

/// Largest page a client may ask for; without `limit` the whole list is streamed.
pub const MAX_PAGE: u32 = 10_000;
/// Rows fetched per round trip while streaming a whole list.
const STREAM_CHUNK: u32 = 1_000;

/// Parses a person reference in WAHA's convention, answering 400 with the input.
pub fn parse_contact(input: &str) -> Result<ContactRef, ApiError> {
    ContactRef::parse(input, &Convention::Waha).map_err(|e: IdError| {
        ApiError::bad_request(e.code(), e.to_string()).with_value(input.to_owned())
    })
}

/// Parses a phone number in WAHA's convention (chat ids too), answering 400 with the input.
pub fn parse_phone(input: &str) -> Result<PhoneNumber, ApiError> {
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

/// Parses the listing's `search` term, answering 400 with the input. A blank term is
/// no filter: every contact holds the empty text.
fn parse_search(input: &str) -> Result<Option<ContactSearch>, ApiError> {
    match ContactSearch::parse(input) {
        Ok(search) => Ok(Some(search)),
        Err(SearchError::Empty) => Ok(None),
        Err(e) => Err(ApiError::bad_request(e.code(), e.to_string()).with_value(input.to_owned())),
    }
}

/// Listing parameters of `GET …/contacts/all`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `id` (default) or `name`.
    #[param(inline, value_type = Option<crate::api::openapi::SortBy>, example = "name")]
    pub sort_by: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(inline, value_type = Option<crate::api::openapi::SortOrder>, example = "asc")]
    pub sort_order: Option<String>,
    /// Page size, 1–10000. Without it the whole list is streamed.
    #[param(minimum = 1, maximum = 10000, example = 100)]
    pub limit: Option<u32>,
    /// Rows to skip (default 0).
    #[param(minimum = 0, example = 0)]
    pub offset: Option<u64>,
    /// Only contacts whose name, push name, verified or business name holds this text
    /// (ASCII case-insensitive), or, for a term of 3+ digits written as a number
    /// (`+1 555-0100`), whose number or LID holds those digits. Up to 100 characters;
    /// a blank term filters nothing. Same order and paging as the whole listing.
    #[param(max_length = 100, example = "ada")]
    pub search: Option<String>,
}

/// A validated listing: order, and a page (`None` = stream everything from `offset`).
pub struct ListRequest {
    pub listing: Listing,
    /// Only the contacts matching this.
    pub search: Option<ContactSearch>,
    pub limit: Option<u32>,
    pub offset: u64,
}

/// Validates listing parameters at the edge; pages up to `max_page` rows.
pub fn parse_listing(q: &ListParams, max_page: u32) -> Result<ListRequest, ApiError> {
    let sort = match q.sort_by.as_deref().unwrap_or("id") {
        "id" => ContactSort::Id,
        "name" => ContactSort::Name,
        other => {
            return Err(
                ApiError::bad_request("invalid_sort_by", "sortBy must be 'id' or 'name'")
                    .with_value(other.to_owned()),
            );
        }
    };
    // Wawp writes `ASC`; WAHA `asc`: either case is the same order.
    let order = q
        .sort_order
        .as_deref()
        .unwrap_or("asc")
        .to_ascii_lowercase();
    let descending = match order.as_str() {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(ApiError::bad_request(
                "invalid_sort_order",
                "sortOrder must be 'asc' or 'desc'",
            )
            .with_value(q.sort_order.clone().unwrap_or_else(|| other.to_owned())));
        }
    };
    if let Some(l) = q.limit
        && !(1..=max_page).contains(&l)
    {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {max_page}"),
        )
        .with_value(l));
    }
    let search = q.search.as_deref().map(parse_search).transpose()?.flatten();
    Ok(ListRequest {
        search,
        listing: Listing { sort, descending },
        limit: q.limit,
        offset: q.offset.unwrap_or(0),
    })
}

/// Answers a listing: one page as JSON, or (no limit) the whole list streamed in
/// chunks so memory stays bounded however many contacts there are. A chunk that
/// fails midway is logged and aborts the body, so a client sees a broken transfer,
/// never JSON that merely looks complete.
pub async fn list_response<T, F>(
    contacts: ContactService,
    session: SessionName,
    request: ListRequest,
    shape: F,
) -> Result<Response, ApiError>
where
    T: Serialize + Send + 'static,
    F: Fn(ContactDetails) -> T + Send + Sync + 'static,
{
    let listing = request.listing;
    if let Some(limit) = request.limit {
        let page = Page {
            limit,
            offset: request.offset,
        };
        let rows = match &request.search {
            Some(search) => {
                (contacts
                    .search_chunk(&session, search, listing, None, page)
                    .await?)
                    .0
            }
            None => contacts.list(&session, listing, page).await?,
        };
        let body: Vec<T> = rows.into_iter().map(shape).collect();
        return Ok(AppJson(body).into_response());
    }
    // Fail before streaming starts, so errors keep their status code.
    contacts.working(&session).await?;
    let shape = std::sync::Arc::new(shape);
    let search = std::sync::Arc::new(request.search);
    // Chunks continue by key, not by OFFSET: each costs the same however deep it is.
    let start = Some((request.offset, None));
    let stream = futures::stream::unfold((start, true), move |(at, first)| {
        let contacts = contacts.clone();
        let session = session.clone();
        let shape = shape.clone();
        let search = search.clone();
        async move {
            let (offset, after) = at?;
            let page = Page {
                limit: STREAM_CHUNK,
                offset,
            };
            let listed = match search.as_ref() {
                Some(search) => {
                    contacts
                        .search_chunk(&session, search, listing, after.as_ref(), page)
                        .await
                }
                None => {
                    contacts
                        .list_chunk(&session, listing, after.as_ref(), page)
                        .await
                }
            };
            let (rows, next) = match listed {
                Ok(listed) => listed,
                Err(e) => {
                    tracing::error!(session = %session, error = %format!("{e:#}"), "a streamed contact list failed midway; aborting the response");
                    let err = std::io::Error::other("the contact list failed midway");
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
                    tracing::error!(session = %session, error = %e, "a streamed contact did not serialize; aborting the response");
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

/// The session's contacts, paged and sorted, from the store.
pub async fn list_contacts<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
    AppQuery(q): AppQuery<ListParams>,
) -> Result<Response, ApiError> {
    let request = parse_listing(&q, D::MAX_PAGE)?;
    list_response(state.contacts, scope.session, request, D::contact).await
}

/// One contact (any accepted id form), with its number history.
pub async fn get_contact<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
) -> Result<AppJson<D::Contact>, ApiError> {
    let who = resolve_contact(&state.contacts, &scope.session, scope.contact()?).await?;
    let details = if D::PROFILE_IN_CONTACT {
        state
            .contacts
            .get_with_profile(&scope.session, &who)
            .await?
    } else {
        state.contacts.get(&scope.session, &who).await?
    };
    Ok(AppJson(D::contact(details)))
}

/// The number or username of `check-exists`: exactly one of `phone` and `username`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PhoneParam {
    /// The number, any dialable format with country code (`15551234567`,
    /// `+1 (555) 123-4567`, `15551234567@c.us`); it must be valid for its country
    /// (400 otherwise). Exactly one of `phone` and `username`.
    #[param(
        pattern = r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$",
        example = "15550100001"
    )]
    pub phone: Option<String>,
    /// A WhatsApp username, with or without `@` (`alice.b`, `@alice.b`): 3–35
    /// lower-case letters, digits, `.` and `_`, at least one letter (400
    /// `invalid_username` otherwise). Found by its LID: `chatId` is the LID unless
    /// WhatsApp also tells the number.
    #[param(pattern = r"^@?[a-zA-Z0-9._]{3,35}$", example = "alice.b")]
    pub username: Option<String>,
    /// The username's 4-digit PIN, when its holder set one (a wrong PIN finds nobody).
    /// Only with `username`.
    #[param(pattern = r"^[0-9]{4}$", example = "1234")]
    pub pin: Option<String>,
    /// Ask WhatsApp even when cached (still answered from the cache within an hour
    /// of the last check: the ban guard's cooldown).
    pub refresh: Option<bool>,
}

impl PhoneParam {
    /// The one key asked about; 400 for neither, both, or a PIN without a username.
    fn key(&self) -> Result<CheckKey, ApiError> {
        match (&self.phone, &self.username) {
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                "phone_and_username",
                "Give either phone or username, not both",
            )),
            (None, None) => Err(ApiError::bad_request(
                "missing_phone",
                "phone (or username) is required",
            )),
            (Some(phone), None) => {
                if self.pin.is_some() {
                    return Err(ApiError::bad_request(
                        "pin_without_username",
                        "pin goes with username only",
                    ));
                }
                Ok(CheckKey::Phone(parse_phone(phone)?))
            }
            (None, Some(username)) => Ok(CheckKey::Username(parse_lookup(
                username,
                self.pin.as_deref(),
            )?)),
        }
    }
}

/// Whether the number or username is on WhatsApp, and under which id.
pub async fn check_exists<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
    AppQuery(q): AppQuery<PhoneParam>,
) -> Result<AppJson<NumberExists>, ApiError> {
    let key = q.key()?;
    let force = q.refresh.unwrap_or(false);
    let mut found = state.checks.check(&scope.session, &[key], force).await?;
    Ok(AppJson(NumberExists::from(found.remove(0))))
}

/// Most numbers in one bulk check.
pub const MAX_BULK_CHECK: usize = 10_000;

/// Body of the bulk check: numbers, usernames, or both (1 to 10,000 in all).
#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkCheckBody {
    /// Numbers, any dialable format with country code.
    #[serde(default)]
    #[schema(max_items = 10000, example = json!(["15551234567", "+55 11 98765-4321"]))]
    pub phones: Vec<String>,
    /// Usernames, with or without `@`; `{"username", "pin"}` for one whose holder set
    /// a PIN.
    #[serde(default)]
    #[schema(max_items = 10000, example = json!(["alice.b", {"username": "@carol", "pin": "1234"}]))]
    pub usernames: Vec<UsernameItem>,
    /// Ask WhatsApp even when cached (the cooldown still applies).
    #[serde(default)]
    pub refresh: bool,
}

/// One answer of the bulk check, in input order: WAHA's result, or why the input
/// is not a number or username.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkCheckItem {
    /// The number as sent (for an input of `phones`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The number normalized to E.164 (`+15551234567`), for an input that is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e164: Option<String>,
    /// For an input of `usernames`: the username as sent; else, the username WhatsApp
    /// told for the number, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// WAHA's answer, for an input that parses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_exists: Option<bool>,
    /// The chat id WhatsApp knows the account under, when on WhatsApp (the LID for a
    /// username whose number WhatsApp did not tell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// Its LID, when WhatsApp told it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    /// Set for an input that does not parse; nothing was looked up for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::ErrorBody>,
}

impl BulkCheckItem {
    /// The answer to a valid input (the service answers every one of them).
    fn answer(
        phone: Option<String>,
        username: Option<String>,
        key: &CheckKey,
        found: Option<NumberExists>,
    ) -> Self {
        let (number_exists, found_username, chat_id, lid) = match found {
            Some(f) => (Some(f.number_exists), f.username, f.chat_id, f.lid),
            None => (None, None, None, None),
        };
        let e164 = match key {
            CheckKey::Phone(p) => Some(p.e164()),
            CheckKey::Username(_) => None,
        };
        Self {
            phone,
            e164,
            username: username.or(found_username),
            number_exists,
            chat_id,
            lid,
            error: None,
        }
    }

    fn refused(phone: Option<String>, username: Option<String>, e: &ApiError) -> Self {
        Self {
            phone,
            e164: None,
            username,
            number_exists: None,
            chat_id: None,
            lid: None,
            error: Some(e.body()),
        }
    }
}

/// Whether many numbers and usernames are on WhatsApp: one answer per input, numbers
/// first, each list in order. Cached ones cost nothing; the uncached ones must fit in
/// the session's budget.
pub async fn check_exists_bulk<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
    AppJson(body): AppJson<BulkCheckBody>,
) -> Result<AppJson<Vec<BulkCheckItem>>, ApiError> {
    let total = body.phones.len() + body.usernames.len();
    if total == 0 || total > MAX_BULK_CHECK {
        return Err(ApiError::bad_request(
            "invalid_batch_size",
            format!("phones and usernames must hold 1 to {MAX_BULK_CHECK} entries in all"),
        )
        .with_value(total));
    }
    let parsed: Vec<Result<CheckKey, ApiError>> = body
        .phones
        .iter()
        .map(|p| parse_phone(p).map(CheckKey::Phone))
        .chain(
            body.usernames
                .iter()
                .map(|u| u.parse().map(CheckKey::Username)),
        )
        .collect();
    let valid: Vec<CheckKey> = parsed
        .iter()
        .filter_map(|k| k.as_ref().ok())
        .cloned()
        .collect();
    let mut answers = state
        .checks
        .check(&scope.session, &valid, body.refresh)
        .await?
        .into_iter()
        .map(NumberExists::from);
    let inputs = body.phones.into_iter().map(|p| (Some(p), None)).chain(
        body.usernames
            .iter()
            .map(|u| (None, Some(u.username().to_owned()))),
    );
    let items = inputs
        .zip(parsed)
        .map(|((phone, username), parsed)| match parsed {
            Ok(key) => BulkCheckItem::answer(phone, username, &key, answers.next()),
            Err(e) => BulkCheckItem::refused(phone, username, &e),
        })
        .collect();
    Ok(AppJson(items))
}

/// What is left of the session's lookup budget, with its counters.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckBudget {
    pub budget_per_hour: u32,
    pub remaining: u32,
    /// Seconds left of a pause WhatsApp's rate limit imposed; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_for_secs: Option<u32>,
    /// Numbers asked for since start-up.
    pub numbers: u64,
    /// Of those, answered from the cache.
    pub cache_hits: u64,
    /// Numbers looked up on WhatsApp.
    pub lookups: u64,
    /// usync queries sent.
    pub queries: u64,
    /// Requests refused for the budget.
    pub refusals: u64,
}

/// The session's lookup budget.
pub async fn check_budget<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
) -> Result<AppJson<CheckBudget>, ApiError> {
    let b = state.checks.budget(&scope.session).await?;
    Ok(AppJson(CheckBudget {
        budget_per_hour: b.budget_per_hour,
        remaining: b.remaining,
        paused_for_secs: b.paused_for_secs,
        numbers: b.stats.numbers,
        cache_hits: b.stats.cache_hits,
        lookups: b.stats.lookups,
        queries: b.stats.queries,
        refusals: b.stats.refusals,
    }))
}

/// `refresh` of the cached profile routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefreshParam {
    /// Skip the 24 h cache and ask WhatsApp (default false).
    #[param(example = false)]
    pub refresh: Option<bool>,
}

/// The contact's "about" text (cached 24 h); null when unset or hidden.
pub async fn get_about<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
    AppQuery(q): AppQuery<RefreshParam>,
) -> Result<AppJson<About>, ApiError> {
    let who = parse_contact(scope.contact()?)?;
    let refresh = q.refresh.unwrap_or(false);
    let about = state.contacts.about(&scope.session, &who, refresh).await?;
    Ok(AppJson(About { about }))
}

/// The profile picture URL (cached 24 h); null when none or hidden.
pub async fn get_profile_picture<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
    AppQuery(q): AppQuery<RefreshParam>,
) -> Result<AppJson<D::Picture>, ApiError> {
    let who = parse_contact(scope.contact()?)?;
    let refresh = q.refresh.unwrap_or(false);
    let url = state
        .contacts
        .picture_url(&scope.session, &who, refresh)
        .await?;
    Ok(AppJson(D::picture(&who, url)))
}

async fn set_blocked<D>(
    state: &AppState,
    scope: &Scope<D>,
    blocked: bool,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    let who = parse_contact(scope.contact()?)?;
    state
        .contacts
        .set_blocked(&scope.session, &who, blocked)
        .await?;
    Ok((StatusCode::CREATED, AppJson(Success { success: true })))
}

/// Blocks a contact (WAHA answers 201).
pub async fn block<D: Dialect>(
    State(state): State<AppState>,
    BodyScope(scope): BodyScope<D>,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    set_blocked(&state, &scope, true).await
}

/// Unblocks a contact (WAHA answers 201).
pub async fn unblock<D: Dialect>(
    State(state): State<AppState>,
    BodyScope(scope): BodyScope<D>,
) -> Result<(StatusCode, AppJson<Success>), ApiError> {
    set_blocked(&state, &scope, false).await
}

/// The blocklist as last synced from WhatsApp.
pub async fn blocked<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
) -> Result<AppJson<Vec<BlockedContact>>, ApiError> {
    let rows = state.contacts.blocklist(&scope.session).await?;
    Ok(AppJson(
        rows.into_iter().map(BlockedContact::from).collect(),
    ))
}

/// Body of saving a contact (WAHA's `ContactUpdateBody`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactUpdateBody {
    /// Up to 256 characters; `firstName` or `lastName` must hold more than spaces.
    #[schema(max_length = 256, pattern = r"\S", example = "Ada")]
    pub first_name: String,
    /// Up to 256 characters (default "").
    #[serde(default)]
    #[schema(max_length = 256, example = "Lovelace")]
    pub last_name: String,
}

/// Validates the names of a saved contact.
fn validate_names(body: &ContactUpdateBody) -> Result<(), ApiError> {
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

/// Saves the contact in the phone's address book.
pub async fn save_contact<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
    AppJson(body): AppJson<ContactUpdateBody>,
) -> Result<AppJson<Success>, ApiError> {
    let who = parse_contact(scope.contact()?)?;
    validate_names(&body)?;
    state
        .contacts
        .save(&scope.session, &who, &body.first_name, &body.last_name)
        .await?;
    Ok(AppJson(Success { success: true }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use futures::StreamExt;
    use wacontacts_core::contact::Contact;
    use wacontacts_core::ids::ContactRef;
    use wacontacts_core::service::fakes::{World, phone};
    use wacontacts_core::session::SessionStatus;

    use super::*;

    /// A listing whose second chunk fails ends the body with an error, never with
    /// JSON that merely looks complete.
    #[tokio::test]
    async fn a_stream_that_fails_midway_aborts_the_body() {
        let w = World::new(SessionStatus::Working).await;
        {
            let mut contacts = w.store.contacts.lock().unwrap();
            for i in 0..(STREAM_CHUNK as u64 + 5) {
                let p = phone(&format!("1555{:07}", 1_000_000 + i));
                contacts.push(Contact::new(&ContactRef::Phone(p)));
            }
        }
        w.store.chunks_before_failure.store(1, Ordering::SeqCst);
        let request = parse_listing(&ListParams::default(), MAX_PAGE).unwrap();
        let response = list_response(w.contacts.clone(), w.session.clone(), request, |d| {
            d.contact.phone.map(|p| p.wa_id())
        })
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body().into_data_stream();
        let first = body.next().await.unwrap().unwrap();
        assert!(first.starts_with(b"["));
        assert!(!first.ends_with(b"]"), "the first chunk is not the end");
        let second = body.next().await.expect("the failure is a frame");
        assert!(second.is_err(), "the body ends in an error: {second:?}");
        assert!(body.next().await.is_none());
    }
}
