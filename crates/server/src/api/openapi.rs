//! What the OpenAPI document says beyond each route's own annotation: the parameters
//! several routes share (with their patterns and examples), the error answers of route
//! families, the security schemes, and the statuses every route can answer whatever
//! its handler does (401 from the auth layer, 413/415 from the body limit and the JSON
//! extractor, 504 from the request timeout, 500).

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses};

use crate::error::ErrorBody;

/// A session name: 1–64 of `[A-Za-z0-9_-]`.
pub fn session_name() -> Object {
    text(r"^[A-Za-z0-9_-]{1,64}$", "default")
}

/// A person, any form the server parses: digits with country code, optionally with `+`,
/// `@c.us` or `@s.whatsapp.net`, or a LID. A superset: a number must also be valid for
/// its country, which no pattern says (the routes answer 400 then).
pub fn contact_id() -> Object {
    text(
        r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$|^[1-9][0-9]{0,23}@lid$",
        "15550100001@c.us",
    )
}

/// A phone number with country code (a superset, as for [`contact_id`]).
pub fn phone_number() -> Object {
    text(
        r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$",
        "15550100001",
    )
}

fn text(pattern: &str, example: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .examples([example])
        .build()
}

/// Paths anyone may call (the auth layer's public routes).
const PUBLIC: &[&str] = &["/health", "/ping", "/openapi.json", "/docs/"];

/// A session name: 1–64 of `[A-Za-z0-9_-]`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct SessionPath {
    /// Session name.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "default")]
    session: String,
}

/// The session, in the query (WAHA: default "default").
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SessionQuery {
    /// Session name (default "default").
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "default")]
    session: Option<String>,
}

/// Wawp's instance, in the query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct InstanceQuery {
    /// The session (Wawp's instance).
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "default")]
    instance_id: String,
}

/// One contact, in the query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, non_snake_case)]
pub struct ContactQuery {
    /// The contact: `15551234567@c.us`, `15551234567`, `+1 (555) 123-4567`,
    /// `…@s.whatsapp.net` or `…@lid`. A number must be valid for its country (400 otherwise).
    #[param(
        pattern = r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$|^[1-9][0-9]{0,23}@lid$",
        example = "15550100001@c.us"
    )]
    contactId: String,
}

/// One contact, in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ContactPath {
    /// The contact's id or number (`15551234567@c.us`, `15551234567`, `…@lid`). A number
    /// must be valid for its country (400 otherwise).
    #[param(
        pattern = r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$|^[1-9][0-9]{0,23}@lid$",
        example = "15550100001@c.us"
    )]
    id: String,
}

/// A LID, in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct LidPath {
    /// `123456789012345@lid` or its digits (422 otherwise, as WAHA answers).
    #[param(pattern = "^[1-9][0-9]{0,23}(@lid)?$", example = "100000000007919@lid")]
    lid: String,
}

/// A phone number, in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, non_snake_case)]
pub struct PhonePath {
    /// Digits with country code (`15551234567`), or `15551234567@c.us`. The number must be
    /// valid for its country (400 otherwise).
    #[param(
        pattern = r"^\+?[1-9][0-9]{6,14}(@c\.us|@s\.whatsapp\.net)?$",
        example = "15550100001"
    )]
    phoneNumber: String,
}

/// The errors of a route that reads a session's store: bad input (400), no such session
/// or contact (404), the session is not WORKING (422).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum StoreErrors {
    /// An invalid session name, id, number or query parameter.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No such session (`session_not_found`) or contact (`contact_not_found`).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The session is not WORKING (`session_not_ready`).
    #[response(status = 422)]
    NotWorking(ErrorBody),
}

/// The errors of a route that may ask WhatsApp: the store's, and WhatsApp's refusals.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WhatsAppErrors {
    /// An invalid session name, id, number, body or query parameter.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Hidden by the contact's privacy settings (`hidden_by_privacy`).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such session, or the number is not on WhatsApp (`not_on_whatsapp`).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The session is not WORKING (`session_not_ready`), or an invalid LID (`invalid_lid`).
    #[response(status = 422)]
    NotWorking(ErrorBody),
    /// WhatsApp's rate limit or the lookup budget (`rate_limited`, with `Retry-After`).
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// WhatsApp failed the request (`whatsapp_error`).
    #[response(status = 502)]
    BadGateway(ErrorBody),
    /// The session lost its connection to WhatsApp (`whatsapp_not_connected`, with `Retry-After`).
    #[response(status = 503)]
    NotConnected(ErrorBody),
}

/// The errors of Wawp's routes: only the statuses its documentation names (400, 404,
/// 500), plus 429 for rate limits and the lookup budget.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WawpErrors {
    /// Invalid input, or the instance is not WORKING (`session_not_ready`).
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No such instance or contact, not on WhatsApp, or hidden by privacy.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// WhatsApp's rate limit or the lookup budget (with `Retry-After`).
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// WhatsApp failed, was unreachable or too slow (`whatsapp_error`,
    /// `whatsapp_not_connected`, `request_timeout`).
    #[response(status = 500)]
    Failed(ErrorBody),
}

/// The errors of a route that names a session: an invalid name (400), no such session (404).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum SessionErrors {
    /// An invalid session name or body.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No such session (`session_not_found`).
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// The errors of start, stop, logout and restart: the session's, and the engine's.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum LifecycleErrors {
    /// An invalid session name or body.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No such session (`session_not_found`).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The session is not running (`session_not_running`).
    #[response(status = 422)]
    NotRunning(ErrorBody),
    /// WhatsApp failed the request (`whatsapp_error`).
    #[response(status = 502)]
    BadGateway(ErrorBody),
    /// The server is shutting down (`shutting_down`).
    #[response(status = 503)]
    ShuttingDown(ErrorBody),
}

/// Adds to the document what no single route's annotation says: the security schemes,
/// no security on the public routes, Wawp's `access_token`, and the statuses of the
/// layers every request passes.
pub struct Frame;

impl utoipa::Modify for Frame {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        only_served_config_fields(components);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "The server's API key (WACONTACTS_API_KEY, else data/api-key).",
            ))),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "access_token",
                "Wawp's dialect (`/v2/...`): the same API key, in the query.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "WhatsApp Business On-Premises dialect (`/v1/...`): the token from \
                         `POST /v1/users/login`, valid 7 days.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "`POST /v1/users/login` only: user `admin`, password the API key.",
                    ))
                    .build(),
            ),
        );
        components
            .schemas
            .entry("OnPremErrors".into())
            .or_insert_with(|| {
                use utoipa::PartialSchema;
                crate::api::onprem::OnPremErrors::schema()
            });
        components
            .schemas
            .entry("ErrorBody".into())
            .or_insert_with(|| {
                use utoipa::PartialSchema;
                ErrorBody::schema()
            });
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = PUBLIC.contains(&path.as_str())
                || crate::api::dashboard::PUBLIC_PATHS.contains(&path.as_str());
            let wawp = path.starts_with("/v2/");
            let schema = if path.starts_with("/v1/") {
                "OnPremErrors"
            } else {
                "ErrorBody"
            };
            for op in operations(item) {
                if public {
                    op.security = Some(Vec::new());
                } else if wawp {
                    op.security = Some(vec![
                        SecurityRequirement::new("api_key", Vec::<String>::new()),
                        SecurityRequirement::new("access_token", Vec::<String>::new()),
                    ]);
                }
                let forwarded = !public && names_a_session(path, op);
                add_layer_statuses(op, public, wawp, forwarded, schema);
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn error_response(description: &str, schema: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
        .into()
}

/// Whether a request to `path` names a session, so that with several processes it may
/// be forwarded to the session's holder or refused with 503 while a dead holder's lease
/// runs out (the same rules as `lease::proxy::named`).
fn names_a_session(path: &str, op: &Operation) -> bool {
    use utoipa::openapi::path::ParameterIn;
    let in_query = op.parameters.iter().flatten().any(|p| {
        p.parameter_in == ParameterIn::Query && (p.name == "session" || p.name == "instance_id")
    });
    in_query
        || path.contains("{session}")
        || (path.starts_with("/v1/") && path != "/v1/users/login")
        || matches!(
            path,
            "/api/sessions/start" | "/api/sessions/stop" | "/api/sessions/logout"
        )
        || path.starts_with("/api/contacts")
        || path == "/getcontact"
        || path == "/getcontacts"
}

/// The statuses a request can get before or around its handler.
/// (Wawp's routes answer a timeout, and a 503, as its documented 500.)
fn add_layer_statuses(op: &mut Operation, public: bool, wawp: bool, forwarded: bool, schema: &str) {
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description, schema));
    };
    if !public {
        add("401", "No valid API key (`unauthorized`).");
        add(
            "500",
            "An unexpected failure (`internal_error`); the server log has the details.",
        );
    }
    if forwarded && !wawp {
        add(
            "503",
            "Several processes: the node running this session stopped answering and its lease has not run out yet (`session_unavailable`, with `Retry-After`).",
        );
    }
    if !wawp {
        add(
            "504",
            "The request took longer than the server's request timeout (`request_timeout`).",
        );
    }
    if op.request_body.is_some() {
        add(
            "400",
            "Malformed JSON (`invalid_json`) or wrong fields (`invalid_body`).",
        );
        add(
            "413",
            "The body is larger than the server accepts (`payload_too_large`).",
        );
        add(
            "415",
            "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`).",
        );
    }
}

/// `sortBy` of a contact listing.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SortBy {
    Id,
    Name,
}

/// `sortOrder` of a contact listing.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// A session config takes only the fields the server acts on (any other is 400
/// unless null): what utoipa's derive cannot say beside the flattened rest.
fn only_served_config_fields(components: &mut utoipa::openapi::Components) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    if let Some(RefOr::T(Schema::Object(config))) = components.schemas.get_mut("SessionConfig") {
        config.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    }
}
