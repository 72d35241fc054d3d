//! LID <-> phone number lookups in WAHA's dialect: `GET /api/{session}/lids`,
//! `/lids/count`, `/lids/{lid}`, `/lids/pn/{phoneNumber}`, and batch `POST /lids/pn`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wacontacts_core::ids::Lid;
use wacontacts_core::session::SessionName;
use wacontacts_store::LidMapRow;

use crate::api::contacts::parse_phone;
use crate::api::sessions::parse_session_name;
use crate::contacts::Page;
use crate::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::state::AppState;

/// Largest batch of `POST /api/{session}/lids/pn`.
pub const MAX_BATCH: usize = 1_000;

/// One mapping (WAHA's `LidToPhoneNumber`); either side is null when unknown.
#[derive(Debug, Serialize, ToSchema)]
pub struct LidToPhoneNumber {
    /// `123456789012345@lid`.
    pub lid: Option<String>,
    /// `15551234567@c.us`.
    pub pn: Option<String>,
}

/// `{count}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountResponse {
    pub count: u64,
}

/// Paging of the LID list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LidPage {
    /// Page size, 1–10000 (default 100).
    pub limit: Option<u32>,
    /// Rows to skip (default 0).
    pub offset: Option<u64>,
}

/// Parses a LID; a bare number gets `@lid`; anything else is 422, as WAHA answers.
pub fn parse_lid(input: &str) -> Result<Lid, ApiError> {
    let decoded = input.replace("%40", "@");
    let candidate = if decoded.bytes().all(|b| b.is_ascii_digit()) && !decoded.is_empty() {
        format!("{decoded}@lid")
    } else {
        decoded
    };
    Lid::parse(&candidate).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_lid",
            e.to_string(),
        )
        .with_value(input.to_owned())
    })
}

fn pn_chat_id(digits: &str) -> String {
    format!("{digits}@c.us")
}

/// Validates a LID page size (default 100).
pub fn checked_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=crate::api::contacts::MAX_PAGE).contains(&limit) {
        return Err(
            ApiError::bad_request("invalid_limit", "limit must be between 1 and 10000")
                .with_value(limit),
        );
    }
    Ok(limit)
}

/// A stored mapping in WAHA's shape.
pub fn mapping_row(r: LidMapRow) -> LidToPhoneNumber {
    LidToPhoneNumber {
        lid: Some(format!("{}@lid", r.lid)),
        pn: Some(pn_chat_id(&r.pn)),
    }
}

/// The number of a LID given as text (`pn` null when unknown).
pub async fn lookup_pn(
    state: &AppState,
    session: &SessionName,
    lid: &str,
) -> Result<LidToPhoneNumber, ApiError> {
    let lid = parse_lid(lid)?;
    let pn = state.contacts.pn_for_lid(session, &lid).await?;
    Ok(LidToPhoneNumber {
        lid: Some(lid.to_string()),
        pn: pn.map(|p| pn_chat_id(&p.wa_id())),
    })
}

/// The LIDs of numbers given as text, in input order (`lid` null when unknown).
pub async fn lookup_lids(
    state: &AppState,
    session: &SessionName,
    phones: &[String],
) -> Result<Vec<LidToPhoneNumber>, ApiError> {
    if phones.is_empty() || phones.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "invalid_batch_size",
            format!("phoneNumbers must hold 1 to {MAX_BATCH} numbers"),
        )
        .with_value(phones.len()));
    }
    let phones = phones
        .iter()
        .map(|p| parse_phone(p))
        .collect::<Result<Vec<_>, _>>()?;
    let found = state.contacts.lids_for_pns(session, &phones).await?;
    Ok(found
        .into_iter()
        .map(|(pn, lid)| LidToPhoneNumber {
            lid: lid.map(|l| l.to_string()),
            pn: Some(pn_chat_id(&pn.wa_id())),
        })
        .collect())
}

/// GET /api/{session}/lids — known mappings, ordered by LID.
#[utoipa::path(get, path = "/api/{session}/lids", tag = "lids",
    params(("session" = String, Path), LidPage),
    responses((status = 200, body = Vec<LidToPhoneNumber>)))]
pub async fn list_lids(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
    AppQuery(q): AppQuery<LidPage>,
) -> Result<AppJson<Vec<LidToPhoneNumber>>, ApiError> {
    let session = parse_session_name(&session)?;
    let page = Page {
        limit: checked_limit(q.limit)?,
        offset: q.offset.unwrap_or(0),
    };
    let rows = state.contacts.lids(&session, page).await?;
    Ok(AppJson(rows.into_iter().map(mapping_row).collect()))
}

/// GET /api/{session}/lids/count — how many mappings are known.
#[utoipa::path(get, path = "/api/{session}/lids/count", tag = "lids",
    params(("session" = String, Path)), responses((status = 200, body = CountResponse)))]
pub async fn count_lids(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
) -> Result<AppJson<CountResponse>, ApiError> {
    let session = parse_session_name(&session)?;
    let count = state.contacts.lid_count(&session).await?;
    Ok(AppJson(CountResponse { count }))
}

/// GET /api/{session}/lids/{lid} — the phone number of a LID (`pn` null when unknown).
#[utoipa::path(get, path = "/api/{session}/lids/{lid}", tag = "lids",
    params(("session" = String, Path), ("lid" = String, Path, description = "`123@lid` or bare digits")),
    responses((status = 200, body = LidToPhoneNumber), (status = 422, body = crate::error::ErrorBody)))]
pub async fn pn_by_lid(
    State(state): State<AppState>,
    AppPath((session, lid)): AppPath<(String, String)>,
) -> Result<AppJson<LidToPhoneNumber>, ApiError> {
    let session = parse_session_name(&session)?;
    Ok(AppJson(lookup_pn(&state, &session, &lid).await?))
}

/// GET /api/{session}/lids/pn/{phoneNumber} — the LID of a number (`lid` null when unknown).
#[utoipa::path(get, path = "/api/{session}/lids/pn/{phoneNumber}", tag = "lids",
    params(("session" = String, Path), ("phoneNumber" = String, Path)),
    responses((status = 200, body = LidToPhoneNumber), (status = 400, body = crate::error::ErrorBody)))]
pub async fn lid_by_pn(
    State(state): State<AppState>,
    AppPath((session, phone)): AppPath<(String, String)>,
) -> Result<AppJson<LidToPhoneNumber>, ApiError> {
    let session = parse_session_name(&session)?;
    let mut found = lookup_lids(&state, &session, &[phone]).await?;
    Ok(AppJson(found.remove(0)))
}

/// Body of the batch lookup.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumbersBody {
    /// Up to 1000 numbers, any dialable format with country code.
    pub phone_numbers: Vec<String>,
}

/// POST /api/{session}/lids/pn — LIDs of many numbers at once, in input order.
#[utoipa::path(post, path = "/api/{session}/lids/pn", tag = "lids",
    params(("session" = String, Path)), request_body = PhoneNumbersBody,
    responses((status = 200, body = Vec<LidToPhoneNumber>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn lids_by_pns(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
    AppJson(body): AppJson<PhoneNumbersBody>,
) -> Result<AppJson<Vec<LidToPhoneNumber>>, ApiError> {
    let session = parse_session_name(&session)?;
    Ok(AppJson(
        lookup_lids(&state, &session, &body.phone_numbers).await?,
    ))
}
