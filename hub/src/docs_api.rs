//! `POST /v1/docs`: an agent offers every document it writes or reads; the
//! hub applies what it may write, change by change, and answers with what
//! the agent lacks of what it may read.

use crate::api::{AppState, blocking, client_site, lock};
use crate::error::{HubError, Result};
use crate::metrics::Metrics;
use crate::store::docs::apply_offers;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use jxc_shared::protocol::{self, CONTENT_TYPE, DocsRequest, DocsResponse, PROTOCOL_HEADER};

/// Documents a request may offer: every catalog shard and a site's own three,
/// with room to spare.
const MAX_OFFERS: usize = 128;

pub async fn docs(
    State(hub): State<AppState>,
    peer: Option<Extension<crate::tls::PeerCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let (site, serial) = client_site(peer)?;
    protocol::check_version(headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()))?;
    let _slot = hub
        .sync_slots
        .acquire()
        .await
        .map_err(|e| HubError::Internal(e.to_string()))?;
    let req: DocsRequest = protocol::decode("documents request", &body)?;
    if req.offers.len() > MAX_OFFERS {
        return Err(HubError::Invalid(format!(
            "a documents request offers at most {MAX_OFFERS} documents, this one {}",
            req.offers.len()
        )));
    }
    let h = hub.clone();
    let (replies, more) = blocking(move || {
        let mut store = lock(&h.store);
        store.check_client(site.as_str(), serial)?;
        apply_offers(&mut store, &site, &h.actor, &req.offers, Utc::now())
    })
    .await?;
    let refused: usize = replies.iter().map(|r| r.refused.len()).sum();
    Metrics::add(&hub.metrics.doc_syncs, 1);
    Metrics::add(&hub.metrics.doc_changes_refused, refused as u64);
    let resp = DocsResponse { replies, more };
    Ok((
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        protocol::encode(&resp),
    )
        .into_response())
}
