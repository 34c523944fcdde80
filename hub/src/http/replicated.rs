//! `POST /v1/docs`: an agent offers every document it writes or reads; the
//! hub applies what it may write, change by change, and answers with what
//! the agent lacks of what it may read.

use crate::error::{HubError, Result};
use crate::http::api::{AppState, authorize_upload, blocking, lock, read_upload};
use crate::http::views;
use crate::metrics::Metrics;
use crate::store::docs::apply_offers;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use jxc_shared::protocol::{self, CONTENT_TYPE, DOCS_RESPONSE_BUDGET, DocsRequest, DocsResponse};

/// Documents a request may offer: every catalog shard and a site's own three,
/// with room to spare.
const MAX_OFFERS: usize = 128;

pub async fn docs(
    State(hub): State<AppState>,
    peer: Option<Extension<crate::tls::PeerCert>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    // The certificate, its revocation and the protocol version are checked
    // before the body is read: a stranger's body is never buffered.
    let (site, serial) = authorize_upload(&hub, peer, &headers).await?;
    let (_upload, body) = read_upload(&hub, &headers, body, "documents request").await?;
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
        lock(&h.reads).check_client(site.as_str(), serial)?;
        // Offers that carry changes need the single writer; the rest (most:
        // every catalog shard an agent only reads) are answered by the reader.
        let (writes, reads): (Vec<_>, Vec<_>) = req
            .offers
            .into_iter()
            .enumerate()
            .partition(|(_, o)| !o.changes.is_empty());
        let mut budget = DOCS_RESPONSE_BUDGET;
        let mut more = false;
        let mut replies = Vec::with_capacity(writes.len() + reads.len());
        let mut answer = |store: &crate::pool::StorePool,
                          part: Vec<(usize, jxc_shared::protocol::DocOffer)>|
         -> Result<()> {
            if part.is_empty() {
                return Ok(());
            }
            let (i, offers): (Vec<_>, Vec<_>) = part.into_iter().unzip();
            let mut store = lock(store);
            let (r, m) = apply_offers(
                &mut store,
                &site,
                &h.actor,
                &offers,
                &mut budget,
                Utc::now(),
            )?;
            more |= m;
            replies.extend(i.into_iter().zip(r));
            Ok(())
        };
        answer(&h.store, writes)?;
        answer(&h.reads, reads)?;
        replies.sort_by_key(|(i, _)| *i);
        Ok((
            replies.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
            more,
        ))
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

#[derive(Debug, serde::Deserialize)]
pub struct CategoryQuery {
    category: Option<String>,
}

/// One catalog product as flat JSON: text fields, decimals as exact strings.
fn product_json(i: &jxc_shared::docs::CatalogItem) -> serde_json::Value {
    let opt = |c: &str| {
        let v = i.column(c);
        if v.is_empty() {
            serde_json::Value::Null
        } else {
            v.into()
        }
    };
    serde_json::json!({
        "sku": i.column("sku"),
        "name": i.column("name"),
        "unit": i.column("unit"),
        "decimals": i.product.decimals,
        "gtin": i.column("gtin"),
        "category": i.column("category"),
        "brand": i.column("brand"),
        "lot_tracked": i.product.lot_tracked,
        "list_price": opt("list_price"),
        "dealer_price": opt("dealer_price"),
        "lead_time_days": i.lead_time_days,
        "min_order_qty": opt("min_order_qty"),
        "pack_size": opt("pack_size"),
    })
}

/// `GET /v1/products`: the HQ catalog, optionally one category.
pub async fn products(
    State(hub): State<AppState>,
    _user: crate::http::api::HqUser,
    crate::http::api::Params(q): crate::http::api::Params<CategoryQuery>,
) -> Result<Response> {
    let items = blocking(move || lock(&hub.reads).catalog(q.category.as_deref())).await?;
    let rows: Vec<serde_json::Value> = items.iter().map(product_json).collect();
    Ok(axum::Json(rows).into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct SiteQuery {
    site: Option<String>,
}

/// `GET /v1/customers`: customers the sites share, optionally one site's.
pub async fn customers(
    State(hub): State<AppState>,
    _user: crate::http::api::HqUser,
    crate::http::api::Params(q): crate::http::api::Params<SiteQuery>,
) -> Result<Response> {
    if let Some(s) = &q.site {
        jxc_shared::SiteId::parse(s)?;
    }
    let rows = blocking(move || lock(&hub.reads).customers(q.site.as_deref())).await?;
    Ok(axum::Json(views::all::<_, views::CustomerView>(rows)).into_response())
}

/// `GET /v1/share-policies`: each dealer's sharing policy as enforced.
pub async fn share_policies(
    State(hub): State<AppState>,
    _user: crate::http::api::HqUser,
) -> Result<Response> {
    let rows = blocking(move || lock(&hub.reads).share_policies()).await?;
    Ok(axum::Json(views::all::<_, views::PolicyView>(rows)).into_response())
}

/// `GET /v1/document-refusals`: document changes the hub refused, and why.
pub async fn refusals(
    State(hub): State<AppState>,
    _user: crate::http::api::HqUser,
) -> Result<Response> {
    let rows = blocking(move || lock(&hub.reads).doc_refusals()).await?;
    Ok(axum::Json(views::all::<_, views::RefusalView>(rows)).into_response())
}
