//! Linking a device: `GET /api/{session}/auth/qr`, `POST /api/{session}/auth/request-code`.

use std::io::Cursor;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::sessions::parse_session_name;
use crate::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::state::AppState;

/// Query of the QR route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QrQuery {
    /// `image` (PNG, default) or `raw` (`{value}`).
    #[serde(default)]
    pub format: Option<String>,
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
    /// The account's number with country code, e.g. `12132132130`.
    pub phone_number: String,
    /// WAHA's registration method; ignored (web pairing only).
    #[serde(default)]
    pub method: Option<String>,
}

/// The pair code to type on the phone.
#[derive(Debug, Serialize, ToSchema)]
pub struct PairCode {
    /// e.g. `ABCD-EFGH`.
    pub code: String,
}

/// GET /api/{session}/auth/qr — the current QR (rotates as WhatsApp refreshes it).
#[utoipa::path(get, path = "/api/{session}/auth/qr", tag = "pairing",
    params(("session" = String, Path, description = "Session name"), QrQuery),
    responses(
        (status = 200, description = "PNG image (format=image) or {value} (format=raw)", body = QrCodeValue),
        (status = 422, description = "The session is not waiting for a scan", body = crate::error::ErrorBody)))]
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

/// POST /api/{session}/auth/request-code — link by pair code instead of QR.
#[utoipa::path(post, path = "/api/{session}/auth/request-code", tag = "pairing",
    params(("session" = String, Path, description = "Session name")),
    request_body = RequestCodeRequest,
    responses((status = 201, body = PairCode), (status = 400, body = crate::error::ErrorBody)))]
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
    if !only_dial_chars || !(7..=15).contains(&digits.len()) {
        return Err(ApiError::bad_request(
            "invalid_phone",
            "phoneNumber must be the account's number with country code, 7 to 15 digits",
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
