//! LID ↔ phone number lookups, one handler per operation for every dialect that
//! routes to them (WAHA: `GET /api/{session}/lids`, `/lids/count`, `/lids/{lid}`,
//! `/lids/pn/{phoneNumber}`, batch `POST /lids/pn`). Shapes are WAHA's.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wacontacts_core::contact::Page;
use wacontacts_core::ids::Lid;

use crate::api::contacts::parse_phone;
use crate::api::dialect::{Dialect, Scope};
use crate::error::{ApiError, AppJson, AppQuery};
use crate::state::AppState;

/// Largest batch of `POST …/lids/pn`.
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
#[into_params(parameter_in = Query)]
pub struct LidPage {
    /// Page size, 1–10000 (default 100).
    #[param(minimum = 1, maximum = 10000, example = 100)]
    pub limit: Option<u32>,
    /// Rows to skip (default 0).
    #[param(minimum = 0, example = 0)]
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

/// Known mappings, ordered by LID.
pub async fn list_lids<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
    AppQuery(q): AppQuery<LidPage>,
) -> Result<AppJson<Vec<D::LidPair>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=D::MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {}", D::MAX_PAGE),
        )
        .with_value(limit));
    }
    let page = Page {
        limit,
        offset: q.offset.unwrap_or(0),
    };
    let rows = state.contacts.lids(&scope.session, page).await?;
    Ok(AppJson(
        rows.iter()
            .map(|m| D::lid_pair(Some(&m.lid), Some(&m.phone)))
            .collect(),
    ))
}

/// How many mappings are known.
pub async fn count_lids<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
) -> Result<AppJson<D::Count>, ApiError> {
    let count = state.contacts.lid_count(&scope.session).await?;
    Ok(AppJson(D::count(count)))
}

/// The phone number of the path's `{lid}` (`pn` null when unknown).
pub async fn pn_by_lid<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
) -> Result<AppJson<D::LidPair>, ApiError> {
    let lid = parse_lid(scope.path_param("lid")?)?;
    let phone = state.contacts.phone_for_lid(&scope.session, &lid).await?;
    Ok(AppJson(D::lid_pair(Some(&lid), phone.as_ref())))
}

/// The LIDs of numbers given as text, in input order (`lid` null when unknown).
async fn lookup_lids<D: Dialect>(
    state: &AppState,
    scope: &Scope<D>,
    phones: &[String],
) -> Result<Vec<D::LidPair>, ApiError> {
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
    let found = state
        .contacts
        .lids_for_phones(&scope.session, &phones)
        .await?;
    Ok(found
        .iter()
        .map(|(phone, lid)| D::lid_pair(lid.as_ref(), Some(phone)))
        .collect())
}

/// The LID of the path's `{phoneNumber}` (`lid` null when unknown).
pub async fn lid_by_pn<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
) -> Result<AppJson<D::LidPair>, ApiError> {
    let phone = scope.path_param("phoneNumber")?.to_owned();
    let mut found = lookup_lids(&state, &scope, &[phone]).await?;
    Ok(AppJson(found.remove(0)))
}

/// Body of the batch lookup.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumbersBody {
    /// 1 to 1000 numbers with country code (`15551234567`, `15551234567@c.us`), each
    /// valid for its country (400 otherwise).
    #[schema(schema_with = phone_numbers)]
    pub phone_numbers: Vec<String>,
}

/// `phoneNumbers`: 1 to 1000 numbers, each with the pattern of a number.
fn phone_numbers() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(crate::api::openapi::phone_number())
        .min_items(Some(1))
        .max_items(Some(MAX_BATCH))
        .examples([serde_json::json!(["15550100001", "15550100003"])])
        .build()
}

/// LIDs of many numbers at once, in input order.
pub async fn lids_by_pns<D: Dialect>(
    State(state): State<AppState>,
    scope: Scope<D>,
    AppJson(body): AppJson<PhoneNumbersBody>,
) -> Result<AppJson<Vec<D::LidPair>>, ApiError> {
    Ok(AppJson(
        lookup_lids(&state, &scope, &body.phone_numbers).await?,
    ))
}
