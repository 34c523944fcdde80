//! `GET /v1/directory`: the sites the hub knows and their locations, for an
//! enrolled agent (client certificate), so it can refuse a transfer to a
//! site or location that does not exist while it is offline. Answers
//! `If-None-Match` with 304 when nothing changed since the agent's copy.

use crate::error::Result;
use crate::http::api::{AppState, blocking, client_site, lock};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub async fn directory(
    State(hub): State<AppState>,
    peer: Option<Extension<crate::tls::PeerCert>>,
    headers: HeaderMap,
) -> Result<Response> {
    let (site, serial) = client_site(peer)?;
    let h = hub.clone();
    let dir = blocking(move || {
        let store = lock(&h.reads);
        store.check_client(site.as_str(), serial)?;
        store.directory()
    })
    .await?;
    let body = serde_json::to_vec(&dir).expect("the directory always serializes");
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response())
}
