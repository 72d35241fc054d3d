//! Linking a device: `GET /api/{session}/auth/qr`, `POST /api/{session}/auth/request-code`.

use std::io::Cursor;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::openapi::{SessionErrors, SessionPath};
use crate::api::sessions::parse_session_name;
use crate::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::state::AppState;

/// Query of the QR route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// `image` (PNG, default) or `raw` (`{value}`).
    #[serde(default)]
    #[param(inline, value_type = Option<QrFormat>, example = "raw")]
    pub format: Option<String>,
}

/// `format` of the QR route (documentation only; the handler answers 400 to others).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum QrFormat {
    Image,
    Raw,
}

/// The raw QR string (WAHA's `QRCodeValue`).
#[derive(Debug, Serialize, ToSchema)]
pub struct QrCodeValue {
    pub value: String,
}

/// Body of `request-code` (WAHA's `RequestCodeRequest`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestCodeRequest {
    /// The account's number with country code, 7 to 15 digits, the first not `0`; `+`,
    /// spaces, `-`, `(`, `)` and `.` are allowed between them.
    #[schema(
        pattern = r"^[+ ().-]*[1-9][+ ().-]*([0-9][+ ().-]*){6,14}$",
        example = "12132132130"
    )]
    pub phone_number: String,
    /// WAHA's registration method (`sms`, `voice`): only web pairing is served, so it
    /// must be empty or null (400 `unsupported_method` otherwise).
    #[serde(default)]
    #[schema(nullable, max_length = 0)]
    pub method: Option<String>,
}

/// The pair code to type on the phone.
#[derive(Debug, Serialize, ToSchema)]
pub struct PairCode {
    /// e.g. `ABCD-EFGH`.
    pub code: String,
}

/// The current QR code to scan (it rotates as WhatsApp refreshes it).
#[utoipa::path(get, path = "/api/{session}/auth/qr", tag = "pairing",
    params(SessionPath, QrQuery),
    responses(
        (status = 200, description = "A PNG image (format=image) or `{value}` (format=raw)",
            content((QrCodeValue = "application/json"), (Vec<u8> = "image/png"))),
        SessionErrors,
        (status = 422, description = "The session is not waiting for a scan (`session_not_ready`)", body = crate::error::ErrorBody),
        (status = 503, description = "No QR code yet (`qr_not_ready`); retry in a moment", body = crate::error::ErrorBody)))]
pub async fn get_qr(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
    AppQuery(query): AppQuery<QrQuery>,
) -> Result<Response, ApiError> {
    let name = parse_session_name(&session)?;
    let format = query.format.as_deref().unwrap_or("image");
    if format != "image" && format != "raw" {
        return Err(
            ApiError::bad_request("invalid_format", "format must be 'image' or 'raw'")
                .with_value(format.to_owned()),
        );
    }
    let Some(qr) = state.sessions.qr(&name).await? else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "qr_not_ready",
            "The session has no QR code yet; retry in a moment",
        ));
    };
    if format == "raw" {
        return Ok(AppJson(QrCodeValue { value: qr }).into_response());
    }
    let png = qr_png(&qr)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Renders a QR string as a PNG.
fn qr_png(text: &str) -> Result<Vec<u8>, ApiError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("QR encoding failed: {e}")))?;
    let image = code
        .render::<image::Luma<u8>>()
        .min_dimensions(256, 256)
        .build();
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("PNG encoding failed: {e}")))?;
    Ok(out.into_inner())
}

/// Links by pair code instead of QR: the code to type on the phone.
#[utoipa::path(post, path = "/api/{session}/auth/request-code", tag = "pairing",
    params(SessionPath),
    request_body = RequestCodeRequest,
    responses((status = 201, body = PairCode), SessionErrors,
        (status = 409, description = "The session is already linked (`session_already_linked`)", body = crate::error::ErrorBody),
        (status = 422, description = "The session is not waiting for a link (`session_not_ready`, `session_not_running`)", body = crate::error::ErrorBody),
        (status = 429, description = "WhatsApp refused more codes for now (`rate_limited`)", body = crate::error::ErrorBody),
        (status = 502, description = "WhatsApp failed the request (`whatsapp_error`)", body = crate::error::ErrorBody),
        (status = 503, description = "The server is shutting down (`shutting_down`)", body = crate::error::ErrorBody)))]
pub async fn request_code(
    State(state): State<AppState>,
    AppPath(session): AppPath<String>,
    AppJson(body): AppJson<RequestCodeRequest>,
) -> Result<(StatusCode, AppJson<PairCode>), ApiError> {
    let name = parse_session_name(&session)?;
    let digits: String = body
        .phone_number
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let only_dial_chars = body
        .phone_number
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if let Some(method) = body.method.filter(|m| !m.is_empty()) {
        return Err(ApiError::bad_request(
            "unsupported_method",
            "only web pairing is served: leave method empty",
        )
        .with_value(method));
    }
    if !only_dial_chars || !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(ApiError::bad_request(
            "invalid_phone",
            "phoneNumber must be the account's number with country code, 7 to 15 digits, not starting with 0",
        )
        .with_value(body.phone_number));
    }
    let code = state.sessions.request_code(&name, &digits).await?;
    Ok((StatusCode::CREATED, AppJson(PairCode { code })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn qr_png_is_a_png() {
        let png = super::qr_png("2@abc,def,ghi,jkl").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
