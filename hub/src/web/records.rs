//! Transfers still open (in transit, short, disputed or undeliverable:
//! `/v1/transfers?open=true`'s `Store::transfers` and `TransferView`) and the
//! quarantine with its reasons (`/v1/quarantine`), each paged at the server.

use super::i18n::Msg;
use super::page::{self, Nav, Table, esc, figure};
use super::session::Signed;
use crate::http::api::{AppState, blocking, lock};
use crate::http::views::{self, QuarantineView, TransferView};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::fmt::Write;

/// Rows a page shows.
const PAGE: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    page: Option<usize>,
}

/// `rows`' page `page` (from 1, clamped), and the pager under it.
fn paged<'a, T>(rows: &'a [T], page: Option<usize>, path: &str) -> (&'a [T], String) {
    let pages = rows.len().div_ceil(PAGE).max(1);
    let at = page.unwrap_or(1).clamp(1, pages);
    let slice = &rows[(at - 1) * PAGE..(at * PAGE).min(rows.len())];
    let mut nav = String::new();
    if pages > 1 {
        nav.push_str("<nav class=\"pager\">");
        if at > 1 {
            let _ = write!(
                nav,
                "<a id=\"prev-page\" href=\"{path}?page={}\">←</a> ",
                at - 1
            );
        }
        let _ = write!(nav, "{at} / {pages}");
        if at < pages {
            let _ = write!(
                nav,
                " <a id=\"next-page\" href=\"{path}?page={}\">→</a>",
                at + 1
            );
        }
        nav.push_str("</nav>");
    }
    (slice, nav)
}

/// `GET /transfers`: every transfer not yet settled, with what is missing.
pub(super) async fn transfers(
    State(hub): State<AppState>,
    s: Signed,
    Query(q): Query<PageQuery>,
) -> Response {
    let rows = match blocking(move || lock(&hub.reads).transfers(true)).await {
        Ok(r) => views::all::<_, TransferView>(r),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let l = s.lang;
    let z = *chrono::Local::now().offset();
    let (slice, nav) = paged(&rows, q.page, "/transfers");
    let mut t = Table::new(
        "transfers",
        vec![
            "ID",
            l.t(Msg::From),
            l.t(Msg::To),
            l.t(Msg::Sku),
            l.t(Msg::Lot),
            l.t(Msg::Qty),
            l.t(Msg::Received),
            l.t(Msg::Returned),
            l.t(Msg::InTransit),
            l.t(Msg::Disputed),
            l.t(Msg::Status),
            l.t(Msg::Sent),
        ],
        vec![
            false, false, false, false, false, true, true, true, true, true, false, false,
        ],
    );
    for r in slice {
        let status = match &r.undeliverable {
            Some(why) => format!("{} ({})", r.status, why),
            None => r.status.to_owned(),
        };
        t.rows.push(vec![
            esc(&r.id),
            esc(&r.from),
            esc(&r.to),
            esc(&r.sku),
            esc(&r.lot),
            figure(l, &r.qty.decimal().to_string()),
            figure(l, &r.received.decimal().to_string()),
            figure(l, &r.returned.decimal().to_string()),
            figure(l, &r.in_transit.decimal().to_string()),
            figure(l, &r.disputed.decimal().to_string()),
            format!(
                "<span class=\"status {}\">{}</span>",
                esc(r.status),
                esc(&status)
            ),
            esc(&l.time(&r.sent_at, z)),
        ]);
    }
    let main = format!(
        "<p class=\"muted\">{}: <strong id=\"open-count\">{}</strong></p>{}{nav}",
        l.t(Msg::OpenTransfers),
        rows.len(),
        t.html()
    );
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Transfers, l.t(Msg::Transfers), "/transfers", &main),
    )
}

/// `GET /quarantine`: the records the hub refused, and why.
pub(super) async fn quarantine(
    State(hub): State<AppState>,
    s: Signed,
    Query(q): Query<PageQuery>,
) -> Response {
    let rows = match blocking(move || lock(&hub.reads).quarantine()).await {
        Ok(r) => views::all::<_, QuarantineView>(r),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let l = s.lang;
    let z = *chrono::Local::now().offset();
    let (slice, nav) = paged(&rows, q.page, "/quarantine");
    let mut t = Table::new(
        "quarantine",
        vec![
            l.t(Msg::Received),
            l.t(Msg::Site),
            "seq",
            l.t(Msg::Type),
            l.t(Msg::Reason),
            l.t(Msg::Record),
        ],
        vec![false, false, true, false, false, false],
    );
    for r in slice {
        t.rows.push(vec![
            esc(&l.time(&r.received_at, z)),
            esc(&r.site),
            r.seq.to_string(),
            esc(&r.kind),
            esc(&r.reason),
            format!(
                "<code class=\"record\">{}</code>",
                esc(&r.record.to_string())
            ),
        ]);
    }
    let main = format!(
        "<p class=\"muted\">{}: <strong id=\"quarantined-count\">{}</strong></p>{}{nav}",
        l.t(Msg::Quarantine),
        rows.len(),
        t.html()
    );
    page::with_headers(
        StatusCode::OK,
        page::frame(
            &s,
            Nav::Quarantine,
            l.t(Msg::Quarantine),
            "/quarantine",
            &main,
        ),
    )
}
