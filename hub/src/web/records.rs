//! Transfers still open (in transit, short, disputed or undeliverable:
//! `/v1/transfers?open=true`'s `Store::transfers` and `TransferView`) and the
//! quarantine with its reasons (`/v1/quarantine`), each paged at the server
//! and downloaded whole (`/transfers.csv`, `/quarantine.xlsx`, …).

use super::i18n::{Lang, Msg};
use super::page::{self, Col, Grid, Nav};
use super::session::Signed;
use crate::http::api::{AppState, blocking, lock};
use crate::http::views::{self, QuarantineView, TransferView};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    page: Option<usize>,
}

/// `grid`'s page `page` (from 1, clamped) with the pager under it, or the
/// whole grid as the download `uri` asks for.
fn show(
    s: &Signed,
    uri: &Uri,
    grid: &Grid,
    page: Option<usize>,
    nav: Nav,
    title: &str,
    count: (&str, &str),
) -> Response {
    let name = grid.id;
    if let Some(format) = page::export_of(uri.path()) {
        let file = uri.path().trim_start_matches('/');
        return grid.download(format, file);
    }
    let l = s.lang;
    let main = format!(
        "<p class=\"muted\">{}: <strong id=\"{}\">{}</strong></p>{}",
        count.0,
        count.1,
        grid.rows.len(),
        grid.paged(
            l,
            &page::Place {
                path: name,
                query: "",
                table: None,
                page_param: "page",
                page,
            },
        ),
    );
    page::with_headers(
        StatusCode::OK,
        page::frame(s, nav, title, &format!("/{name}"), &main),
    )
}

fn transfer_grid(l: Lang, rows: &[TransferView]) -> Grid {
    let mut g = Grid::new(
        "transfers",
        vec![
            ("ID", Col::Text),
            (l.t(Msg::From), Col::Text),
            (l.t(Msg::To), Col::Text),
            (l.t(Msg::Sku), Col::Text),
            (l.t(Msg::Lot), Col::Text),
            (l.t(Msg::Qty), Col::Figure),
            (l.t(Msg::Received), Col::Figure),
            (l.t(Msg::Returned), Col::Figure),
            (l.t(Msg::InTransit), Col::Figure),
            (l.t(Msg::Disputed), Col::Figure),
            (l.t(Msg::Status), Col::Text),
            (l.t(Msg::Sent), Col::Time),
        ],
    );
    for r in rows {
        let status = match &r.undeliverable {
            Some(why) => format!("{} ({})", r.status, why),
            None => r.status.to_owned(),
        };
        g.push(
            vec![
                r.id.clone(),
                r.from.clone(),
                r.to.clone(),
                r.sku.clone(),
                r.lot.clone(),
                r.qty.decimal().to_string(),
                r.received.decimal().to_string(),
                r.returned.decimal().to_string(),
                r.in_transit.decimal().to_string(),
                r.disputed.decimal().to_string(),
                status,
                r.sent_at.clone(),
            ],
            None,
        );
    }
    g
}

/// `GET /transfers` (and `.csv`, `.xlsx`): every transfer not yet settled,
/// with what is missing.
pub(super) async fn transfers(
    State(hub): State<AppState>,
    s: Signed,
    uri: Uri,
    Query(q): Query<PageQuery>,
) -> Response {
    let rows = match blocking(move || lock(&hub.reads).transfers(true)).await {
        Ok(r) => views::all::<_, TransferView>(r),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let l = s.lang;
    let grid = transfer_grid(l, &rows);
    show(
        &s,
        &uri,
        &grid,
        q.page,
        Nav::Transfers,
        l.t(Msg::Transfers),
        (l.t(Msg::OpenTransfers), "open-count"),
    )
}

/// `GET /quarantine` (and `.csv`, `.xlsx`): the records the hub refused,
/// and why.
pub(super) async fn quarantine(
    State(hub): State<AppState>,
    s: Signed,
    uri: Uri,
    Query(q): Query<PageQuery>,
) -> Response {
    let rows = match blocking(move || lock(&hub.reads).quarantine()).await {
        Ok(r) => views::all::<_, QuarantineView>(r),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let l = s.lang;
    let mut grid = Grid::new(
        "quarantine",
        vec![
            (l.t(Msg::Received), Col::Time),
            (l.t(Msg::Site), Col::Text),
            ("seq", Col::Text),
            (l.t(Msg::Type), Col::Text),
            (l.t(Msg::Reason), Col::Text),
            (l.t(Msg::Record), Col::Code),
        ],
    );
    for r in &rows {
        grid.push(
            vec![
                r.received_at.clone(),
                r.site.clone(),
                r.seq.to_string(),
                r.kind.clone(),
                r.reason.clone(),
                r.record.to_string(),
            ],
            None,
        );
    }
    show(
        &s,
        &uri,
        &grid,
        q.page,
        Nav::Quarantine,
        l.t(Msg::Quarantine),
        (l.t(Msg::Quarantine), "quarantined-count"),
    )
}
