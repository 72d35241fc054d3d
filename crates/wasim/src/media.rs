//! The media host, as far as wasim needs one: `<iq xmlns="w:m"><media_conn/>` names it,
//! and `GET /v/...` serves the encrypted blobs wasim put there (app-state snapshots),
//! the way a client downloads from WhatsApp's CDN (`https://HOST{directPath}?auth&token`).

use crate::Wasim;
use crate::conn::iq_result;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::{BTreeMap, VecDeque};
use wacore::download::MediaType;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::whatsapp as wa;

/// The media host wasim names (`.invalid` never resolves: a client must route it).
pub const MEDIA_HOST: &str = "media.wasim.invalid";

/// Bytes of blobs kept; the oldest go first.
const MAX_BYTES: usize = 256 << 20;

/// Encrypted blobs by direct path, oldest first out.
#[derive(Default)]
pub(crate) struct MediaStore {
    blobs: BTreeMap<String, Vec<u8>>,
    order: VecDeque<String>,
    bytes: usize,
    next: u64,
}

impl MediaStore {
    /// Encrypts `plaintext` as an app-state blob, keeps it, and returns its reference.
    pub fn put(&mut self, plaintext: &[u8]) -> wa::ExternalBlobReference {
        let enc = wacore::upload::encrypt_media(plaintext, MediaType::AppState)
            .expect("in-memory encryption");
        self.next += 1;
        let path = format!(
            "/v/t62.wasim-appstate/{}-{}.enc",
            self.next,
            hex(&enc.file_enc_sha256[..8])
        );
        self.bytes += enc.data_to_upload.len();
        self.order.push_back(path.clone());
        self.blobs.insert(path.clone(), enc.data_to_upload);
        while self.bytes > MAX_BYTES && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front()
                && let Some(b) = self.blobs.remove(&old)
            {
                self.bytes -= b.len();
            }
        }
        wa::ExternalBlobReference {
            media_key: Some(enc.media_key.to_vec()),
            direct_path: Some(path),
            handle: None,
            file_size_bytes: Some(plaintext.len() as u64),
            file_sha256: Some(enc.file_sha256.to_vec()),
            file_enc_sha256: Some(enc.file_enc_sha256.to_vec()),
        }
    }

    fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.blobs.get(path).cloned()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `<media_conn auth ttl><host hostname/></media_conn>`
pub(crate) fn media_conn(iq_id: &str) -> Node {
    iq_result(
        iq_id,
        vec![
            NodeBuilder::new("media_conn")
                .attr("auth", "wasim")
                .attr("ttl", "300")
                .attr("auth_ttl", "300")
                .attr("max_buckets", "12")
                .children([NodeBuilder::new("host")
                    .attr("hostname", MEDIA_HOST)
                    .attr("type", "primary")
                    .build()])
                .build(),
        ],
    )
}

/// `GET /v/{path}`: a blob by its direct path (the query string is ignored).
pub(crate) fn media_router(handle: Wasim) -> Router {
    Router::new()
        .route("/v/{*path}", get(download))
        .with_state(handle)
}

async fn download(State(h): State<Wasim>, Path(path): Path<String>) -> Response {
    let w = h.shared.world.lock().await;
    match w.media.get(&format!("/v/{path}")) {
        Some(b) => b.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
