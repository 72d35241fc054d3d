//! What differs between dialects that share one handler per operation: where a
//! request names its session (WAHA: the path's `{session}`, else `session` in the
//! query or body, else `default`; Wawp: `instance_id` in the query) and how a contact
//! is answered. The API key's place is the auth layer's business (`X-Api-Key`, or
//! Wawp's `access_token`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::routing::MethodRouter;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::Paths;
use utoipa_axum::PathItemExt;
use utoipa_axum::router::UtoipaMethodRouter;
use wacontacts_core::contact::ContactDetails;
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::session::SessionName;

use crate::api::sessions::parse_session_name;
use crate::error::ApiError;
use crate::state::AppState;

/// One product's dialect.
pub trait Dialect: Send + Sync + 'static {
    /// A contact in this dialect's shape.
    type Contact: Serialize + Send + 'static;
    /// A profile-picture answer.
    type Picture: Serialize;
    /// A LID ↔ phone number pair (either side may be unknown).
    type LidPair: Serialize;
    /// The answer of the LID count.
    type Count: Serialize;

    /// The largest page a listing may ask for.
    const MAX_PAGE: u32;
    /// A single contact answer carries the "about" text and picture URL, fetched
    /// from WhatsApp when the cache is stale.
    const PROFILE_IN_CONTACT: bool;

    /// The session a request names, from its path and query parameters and the
    /// `session` of its JSON body (block/unblock), in this dialect's order.
    fn session(
        path: &HashMap<String, String>,
        query: &HashMap<String, String>,
        body_session: Option<&str>,
    ) -> Result<SessionName, ApiError>;

    /// A contact in this dialect's shape.
    fn contact(details: ContactDetails) -> Self::Contact;

    /// The picture answer for `who`: `url` is `None` when none or hidden.
    fn picture(who: &ContactRef, url: Option<String>) -> Self::Picture;

    /// A LID ↔ phone pair in this dialect's shape.
    fn lid_pair(lid: Option<&Lid>, phone: Option<&PhoneNumber>) -> Self::LidPair;

    /// The LID count in this dialect's shape.
    fn count(count: u64) -> Self::Count;
}

/// The session of WAHA's routes: path, query, body, else `default`.
pub fn session_or_default(
    path: &HashMap<String, String>,
    query: &HashMap<String, String>,
    body_session: Option<&str>,
) -> Result<SessionName, ApiError> {
    let named = path
        .get("session")
        .or_else(|| query.get("session"))
        .map(String::as_str)
        .or(body_session);
    match named {
        Some(s) => parse_session_name(s),
        None => Ok(SessionName::default_name()),
    }
}

/// Who a request is about and in which session, extracted the dialect's way: the
/// contact from the path's `{id}`, else `contactId` or `chatId` in the query (or, for
/// block and unblock, in the JSON body).
#[derive(Debug)]
pub struct Scope<D> {
    pub session: SessionName,
    contact: Option<String>,
    path: HashMap<String, String>,
    _dialect: std::marker::PhantomData<D>,
}

impl<D> Scope<D> {
    /// The contact the request names, required.
    pub fn contact(&self) -> Result<&str, ApiError> {
        self.contact
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("missing_contact_id", "contactId is required"))
    }

    /// A parameter of the route's path.
    pub fn path_param(&self, name: &str) -> Result<&str, ApiError> {
        self.path
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::bad_request("invalid_path", format!("{name} is required")))
    }
}

/// The query string's parameters; a malformed one reads as absent here (the
/// handler's own typed query answers it).
fn query_params(parts: &Parts) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default()
}

async fn scope<D: Dialect, S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    body: Option<ContactBody>,
) -> Result<Scope<D>, ApiError> {
    let query = query_params(parts);
    let path: HashMap<String, String> = match RawPathParams::from_request_parts(parts, state).await
    {
        Ok(raw) => raw
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        Err(_) => HashMap::new(),
    };
    let body = body.unwrap_or_default();
    let session = D::session(&path, &query, body.session.as_deref())?;
    let contact = path
        .get("id")
        .or_else(|| query.get("contactId"))
        .or_else(|| query.get("chatId"))
        .cloned()
        .or(body.contact_id)
        .or(body.chat_id);
    Ok(Scope {
        session,
        contact,
        path,
        _dialect: std::marker::PhantomData,
    })
}

impl<D: Dialect, S: Send + Sync> FromRequestParts<S> for Scope<D> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        scope(parts, state, None).await
    }
}

/// The optional JSON body of block and unblock (WAHA's `ContactRequest`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactBody {
    contact_id: Option<String>,
    chat_id: Option<String>,
    session: Option<String>,
}

/// A [`Scope`] that also reads an optional JSON body (`{session, contactId|chatId}`).
#[derive(Debug)]
pub struct BodyScope<D>(pub Scope<D>);

impl<D: Dialect, S: Send + Sync> FromRequest<S> for BodyScope<D> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let parsed: ContactBody = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::bad_request("invalid_json", format!("The body is not valid JSON: {e}"))
            })?;
            Some(parsed)
        };
        Ok(Self(scope(&mut parts, state, body).await?))
    }
}

/// A documented route whose handler is generic over the dialect: `P` is the
/// `#[utoipa::path]` of the dialect's documentation stub, `handler` the shared
/// handler instantiated for that dialect.
pub fn documented<P, H, T>(handler: H) -> UtoipaMethodRouter<AppState>
where
    P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>,
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let mut schemas = Vec::new();
    P::schemas(&mut schemas);
    let mut operation = P::operation();
    let tags = P::tags();
    if !tags.is_empty() {
        operation
            .tags
            .get_or_insert_with(Vec::new)
            .extend(tags.iter().map(ToString::to_string));
    }
    let methods = P::methods();
    let router = methods.iter().fold(MethodRouter::new(), |router, method| {
        router.on(method.to_method_filter(), handler.clone())
    });
    let mut paths = Paths::new();
    paths.add_path_operation(P::path(), methods, operation);
    (schemas, paths, router)
}
