//! Whinself's dialect: `GET /getcontact?phone=` and `GET /getcontacts`, with engine-style
//! ids (`…@s.whatsapp.net`) and snake_case names. The session is `?session=` (default
//! "default"), as a Whinself instance serves one account.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use wacontacts_core::contact::ContactDetails;
use wacontacts_core::session::SessionName;

use crate::api::contacts::{ListParams, list_response, parse_contact, parse_listing};
use crate::api::openapi::StoreErrors;
use crate::api::sessions::parse_session_name;
use crate::error::{ApiError, AppJson, AppQuery};
use crate::state::AppState;

/// A contact in Whinself's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhinselfContact {
    /// `15551234567@s.whatsapp.net` (or `…@lid` while the number is unknown).
    pub jid: String,
    pub push_name: Option<String>,
    pub full_name: Option<String>,
    pub first_name: Option<String>,
}

impl From<ContactDetails> for WhinselfContact {
    fn from(d: ContactDetails) -> Self {
        let c = d.contact;
        let jid = match (&c.phone, &c.lid) {
            (Some(p), _) => format!("{}@s.whatsapp.net", p.wa_id()),
            (None, Some(l)) => l.to_string(),
            (None, None) => String::new(),
        };
        Self {
            jid,
            push_name: c.push_name,
            full_name: c.name,
            first_name: c.first_name,
        }
    }
}

/// Query of `/getcontact`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetContactQuery {
    /// The number or id: `15551234567`, `15551234567@s.whatsapp.net`, `…@lid`. A number
    /// must be valid for its country (400 otherwise).
    #[param(
        required = true,
        pattern = r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$|^[1-9][0-9]{0,23}@lid$",
        example = "15550100001@c.us"
    )]
    pub phone: Option<String>,
    /// Session (default "default").
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "default")]
    pub session: Option<String>,
}

/// Query of `/getcontacts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetContactsQuery {
    /// Session (default "default").
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "default")]
    pub session: Option<String>,
    /// Page size 1–10000; without it the whole list is streamed.
    #[param(minimum = 1, maximum = 10000, example = 100)]
    pub limit: Option<u32>,
    /// Rows to skip (default 0).
    #[param(minimum = 0, example = 0)]
    pub offset: Option<u64>,
}

/// One contact, in Whinself's shape.
#[utoipa::path(get, path = "/getcontact", tag = "whinself", operation_id = "whinself_get_contact",
    params(GetContactQuery), responses((status = 200, body = WhinselfContact), StoreErrors))]
pub async fn get_contact(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<GetContactQuery>,
) -> Result<AppJson<WhinselfContact>, ApiError> {
    let session = session_or_default(q.session.as_deref())?;
    let Some(phone) = q.phone.as_deref() else {
        return Err(ApiError::bad_request("missing_phone", "phone is required"));
    };
    let who = parse_contact(phone)?;
    Ok(AppJson(state.contacts.get(&session, &who).await?.into()))
}

/// Every contact, by id, in Whinself's shape.
#[utoipa::path(get, path = "/getcontacts", tag = "whinself", operation_id = "whinself_get_contacts",
    params(GetContactsQuery), responses((status = 200, body = Vec<WhinselfContact>), StoreErrors))]
pub async fn get_contacts(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<GetContactsQuery>,
) -> Result<Response, ApiError> {
    let session = session_or_default(q.session.as_deref())?;
    let params = ListParams {
        limit: q.limit,
        offset: q.offset,
        ..ListParams::default()
    };
    let listing = parse_listing(&params, crate::api::contacts::MAX_PAGE)?;
    list_response(
        state.contacts.clone(),
        session,
        listing,
        WhinselfContact::from,
    )
    .await
}

/// Whinself's session: `?session=`, else `default`.
fn session_or_default(session: Option<&str>) -> Result<SessionName, ApiError> {
    session.map_or_else(|| Ok(SessionName::default_name()), parse_session_name)
}
