//! The inventory page, grouped by up to two keys and filtered as
//! `/v1/inventory` is (the same `Store::inventory` and `InventoryView`), and
//! the movements page (`/v1/movements`' `Store::movements`, paged). Each
//! group links one level down — region or tier → site → location and SKU →
//! the SKU's lots per location → a lot's movements (a location → its
//! movements) — so any figure can be traced to the records that make it.

use super::i18n::{Lang, Msg};
use super::page::{self, Col, Grid, Nav, esc, given};
use super::session::Signed;
use super::url_encode;
use crate::error::HubError;
use crate::http::api::{AppState, blocking, lock, movements_cursor};
use crate::http::views::{self, InventoryView, MovementView};
use crate::store::{GroupBy, InventoryFilter, MovementsOf};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use std::fmt::Write;

/// Movements a page shows.
const MOVEMENTS_PAGE: u32 = 100;

/// The page's query: the API's, plus a second key from the form and a page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct InventoryQuery {
    by: Option<String>,
    by2: Option<String>,
    site: Option<String>,
    region: Option<String>,
    kind: Option<String>,
    sku: Option<String>,
    page: Option<usize>,
}

/// `?k=v&…` of the pairs whose value is given.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", url_encode(v))))
        .collect();
    format!("?{}", q.join("&amp;"))
}

const KEYS: [(GroupBy, Msg); 6] = [
    (GroupBy::Region, Msg::Region),
    (GroupBy::Kind, Msg::Tier),
    (GroupBy::Site, Msg::Site),
    (GroupBy::Location, Msg::Location),
    (GroupBy::Sku, Msg::Sku),
    (GroupBy::Lot, Msg::Lot),
];

fn key_select(l: Lang, name: &str, chosen: Option<GroupBy>, none: bool) -> String {
    let mut h = format!("<select name=\"{name}\" id=\"{name}\">");
    if none {
        let _ = write!(h, "<option value=\"\">—</option>");
    }
    for (k, m) in KEYS {
        let sel = if Some(k) == chosen { " selected" } else { "" };
        let _ = write!(
            h,
            "<option value=\"{}\"{sel}>{}</option>",
            k.as_str(),
            l.t(m)
        );
    }
    h.push_str("</select>");
    h
}

/// `GET /inventory` (and `.csv`, `.xlsx`: every group).
pub(super) async fn inventory(
    State(hub): State<AppState>,
    s: Signed,
    uri: Uri,
    Query(q): Query<InventoryQuery>,
) -> Response {
    let l = s.lang;
    let keys = [given(&q.by), given(&q.by2)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(",");
    let by = match GroupBy::parse_list(if keys.is_empty() { "region" } else { &keys }) {
        Ok(by) if by.len() <= 2 => by,
        Ok(by) => {
            return page::error(
                &s,
                StatusCode::BAD_REQUEST,
                &format!(
                    "by {:?} is not valid: group by one or two keys",
                    keys_text(&by)
                ),
            );
        }
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let filter = InventoryFilter {
        by: by.clone(),
        site: given(&q.site),
        region: given(&q.region),
        kind: given(&q.kind),
        sku: given(&q.sku),
    };
    let f = filter.clone();
    let rows: Vec<InventoryView> = match blocking(move || lock(&hub.reads).inventory(&f)).await {
        Ok(rows) => rows
            .into_iter()
            .map(|r| InventoryView::new(&by, r))
            .collect(),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };

    let mut main = format!(
        "<form method=\"get\" action=\"/inventory\" class=\"filters\">\
         <label>{}<span>{}{}</span></label>",
        l.t(Msg::GroupBy),
        key_select(l, "by", by.first().copied(), false),
        key_select(l, "by2", by.get(1).copied(), true),
    );
    main.push_str(&page::text_filters(
        l,
        &[
            ("region", Msg::Region, &filter.region),
            ("kind", Msg::Tier, &filter.kind),
            ("site", Msg::Site, &filter.site),
            ("sku", Msg::Sku, &filter.sku),
        ],
    ));

    let mut cols: Vec<(&str, Col)> = by
        .iter()
        .map(|k| {
            let head = KEYS
                .iter()
                .find(|(g, _)| g == k)
                .map_or("", |(_, m)| l.t(*m));
            let col = if *k == GroupBy::Kind {
                Col::Tier
            } else {
                Col::Text
            };
            (head, col)
        })
        .collect();
    cols.extend([
        (l.t(Msg::OnHand), Col::Figure),
        (l.t(Msg::InTransit), Col::Figure),
        (l.t(Msg::Value), Col::Figure),
        (l.t(Msg::NotUpdated), Col::Figure),
        (l.t(Msg::Unvalued), Col::Figure),
    ]);
    let mut grid = Grid::new("inventory", cols);
    for r in &rows {
        let keys: Vec<String> = by
            .iter()
            .map(|k| r.keys.get(k.as_str()).cloned().unwrap_or_default())
            .collect();
        let links = by
            .iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (k, v))| (i, drill(*k, v, r, &filter)))
            .collect();
        let mut cells = keys;
        cells.extend([
            r.on_hand.decimal().to_string(),
            r.in_transit.decimal().to_string(),
            r.value.to_string(),
            r.not_updated.decimal().to_string(),
            r.unvalued.decimal().to_string(),
        ]);
        grid.push_links(cells, links);
    }
    if let Some(format) = page::export_of(uri.path()) {
        let file = format!(
            "inventory-{}.{}",
            keys_text(&by).replace(',', "-"),
            if format == page::Export::Csv {
                "csv"
            } else {
                "xlsx"
            }
        );
        return grid.download(format, &file);
    }
    let filters = query(&[
        ("by", Some(&keys_text(&by))),
        ("site", filter.site.as_deref()),
        ("region", filter.region.as_deref()),
        ("kind", filter.kind.as_deref()),
        ("sku", filter.sku.as_deref()),
    ]);
    main.push_str(&grid.paged(
        l,
        &page::Place {
            path: "inventory",
            query: filters.trim_start_matches('?'),
            table: None,
            page_param: "page",
            page: q.page,
        },
    ));
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Inventory, l.t(Msg::Inventory), "/inventory", &main),
    )
}

fn keys_text(by: &[GroupBy]) -> String {
    by.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
}

/// Where a group's key links one level down (unescaped).
fn drill(key: GroupBy, v: &str, r: &InventoryView, f: &InventoryFilter) -> String {
    let location = r.keys.get("location").and_then(|l| l.split_once('/'));
    let site = r
        .keys
        .get("site")
        .map(String::as_str)
        .or(location.map(|(s, _)| s))
        .or(f.site.as_deref());
    let location = location.map(|(_, loc)| loc);
    let sku = r.keys.get("sku").map(String::as_str).or(f.sku.as_deref());
    let href = match key {
        GroupBy::Region => format!(
            "/inventory{}",
            query(&[("by", Some("site")), ("region", Some(v))])
        ),
        GroupBy::Kind => format!(
            "/inventory{}",
            query(&[("by", Some("site")), ("kind", Some(v))])
        ),
        GroupBy::Site => format!(
            "/inventory{}",
            query(&[("by", Some("location,sku")), ("site", Some(v))])
        ),
        GroupBy::Location => format!(
            "/movements{}",
            query(&[
                ("site", v.split_once('/').map(|(s, _)| s)),
                ("location", v.split_once('/').map(|(_, loc)| loc)),
                ("sku", sku),
                ("lot", r.keys.get("lot").map(String::as_str)),
            ])
        ),
        // A SKU at a site: its lots, per location; anywhere: per site.
        GroupBy::Sku => match site {
            Some(site) => format!(
                "/inventory{}",
                query(&[
                    ("by", Some("location,lot")),
                    ("site", Some(site)),
                    ("sku", Some(v))
                ])
            ),
            None => format!(
                "/inventory{}",
                query(&[("by", Some("site")), ("sku", Some(v))])
            ),
        },
        GroupBy::Lot => format!(
            "/movements{}",
            query(&[
                ("site", site),
                ("location", location),
                ("sku", sku),
                ("lot", Some(v)),
            ])
        ),
    };
    href.replace("&amp;", "&")
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct MovementsQuery {
    site: Option<String>,
    location: Option<String>,
    sku: Option<String>,
    /// Kept as given: empty is stock without a lot.
    lot: Option<String>,
    after: Option<String>,
}

/// The most movements one download holds; a filter matching more is
/// refused (narrow it, or page `/v1/movements`).
const MOVEMENTS_EXPORT: usize = 100_000;

/// `GET /movements` (and `.csv`, `.xlsx`): the records behind a figure,
/// oldest first, paged; a download holds every one from the cursor on.
pub(super) async fn movements(
    State(hub): State<AppState>,
    s: Signed,
    uri: Uri,
    Query(q): Query<MovementsQuery>,
) -> Response {
    let l = s.lang;
    let (site, after) = (given(&q.site), given(&q.after));
    let cursor = match movements_cursor(after.as_deref()) {
        Ok(c) => c,
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let of = MovementsOf {
        location: given(&q.location),
        sku: given(&q.sku),
        lot: q.lot.clone(),
    };
    let export = page::export_of(uri.path());
    let (site2, of2) = (site.clone(), of.clone());
    let rows = match blocking(move || {
        let reads = lock(&hub.reads);
        let Some(_) = export else {
            return reads.movements(
                site2.as_deref(),
                &of2,
                (&cursor.0, cursor.1),
                MOVEMENTS_PAGE,
            );
        };
        // A download: pages of the API's largest until the end.
        let mut all = Vec::new();
        let mut at = cursor;
        loop {
            let got = reads.movements(site2.as_deref(), &of2, (&at.0, at.1), 10_000)?;
            let done = got.len() < 10_000;
            if let Some(last) = got.last() {
                at = (last.site.clone(), last.seq);
            }
            all.extend(got);
            if all.len() > MOVEMENTS_EXPORT {
                return Err(HubError::Invalid(format!(
                    "more than {MOVEMENTS_EXPORT} movements match: narrow the download by site, location or SKU, or page /v1/movements"
                )));
            }
            if done {
                return Ok(all);
            }
        }
    })
    .await
    {
        Ok(r) => views::all::<_, MovementView>(r),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let mut grid = Grid::new(
        "movements",
        vec![
            (l.t(Msg::Site), Col::Text),
            ("seq", Col::Text),
            (l.t(Msg::Occurred), Col::Time),
            (l.t(Msg::Type), Col::Text),
            (l.t(Msg::Location), Col::Text),
            (l.t(Msg::Sku), Col::Text),
            (l.t(Msg::Lot), Col::Text),
            (l.t(Msg::Qty), Col::Figure),
            (l.t(Msg::UnitCost), Col::Figure),
            (l.t(Msg::UnitPrice), Col::Figure),
            (l.t(Msg::Counterparty), Col::Text),
            (l.t(Msg::Reference), Col::Text),
        ],
    );
    for m in &rows {
        grid.push(
            vec![
                m.site.clone(),
                m.seq.to_string(),
                m.occurred_at.clone(),
                m.kind.clone(),
                m.location.clone(),
                m.sku.clone(),
                m.lot.clone(),
                m.qty.decimal().to_string(),
                m.unit_cost.clone(),
                m.unit_price.clone().unwrap_or_default(),
                m.counterparty.clone().unwrap_or_default(),
                m.reference.clone().unwrap_or_default(),
            ],
            None,
        );
    }
    if let Some(format) = export {
        return grid.download(format, uri.path().trim_start_matches('/'));
    }
    let lot = of
        .lot
        .as_deref()
        .map(|l| if l.is_empty() { "—" } else { l });
    let what: Vec<&str> = [
        site.as_deref(),
        of.location.as_deref(),
        of.sku.as_deref(),
        lot,
    ]
    .into_iter()
    .flatten()
    .collect();
    let filters = query(&[
        ("site", site.as_deref()),
        ("location", of.location.as_deref()),
        ("sku", of.sku.as_deref()),
        ("lot", of.lot.as_deref()),
    ]);
    let mut main = format!(
        "<p class=\"muted\" id=\"movements-of\">{}</p>{}",
        esc(&what.join(" · ")),
        page::export_links_of(
            l,
            "movements",
            "movements",
            &query(&[
                ("site", site.as_deref()),
                ("location", of.location.as_deref()),
                ("sku", of.sku.as_deref()),
                ("lot", of.lot.as_deref()),
                ("after", after.as_deref()),
            ])[1..]
        )
    );
    main.push_str(&grid.html(l, 0, grid.rows.len()));
    if rows.len() == MOVEMENTS_PAGE as usize
        && let Some(last) = rows.last()
    {
        let next = format!("{}:{}", last.site, last.seq);
        let _ = write!(
            main,
            "<nav class=\"pager\"><a id=\"next-page\" href=\"/movements{filters}&amp;after={}\">→</a></nav>",
            url_encode(&next)
        );
    }
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Inventory, l.t(Msg::Movements), "/movements", &main),
    )
}
