//! The dashboard's pages. Each reads through the same store functions and
//! the same response views as the JSON route named in its comment, so a
//! figure on a page is the API's figure, written for the language.

use super::CsrfForm;
use super::i18n::{self, Lang, Msg};
use super::page::{self, Nav, Table, esc, figure};
use super::session::Signed;
use crate::error::Result;
use crate::http::api::{AppState, blocking, lock};
use crate::http::views::{self, AlertView, InventoryView, SalesView, SiteView, UserView};
use crate::store::{GroupBy, InventoryFilter, Role, SalesFilter};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Days, FixedOffset, Utc};
use jxc_shared::SiteId;
use rust_decimal::Decimal;
use std::fmt::Write;

/// Open alerts the overview lists (the alerts page lists them all).
const OVERVIEW_ALERTS: u32 = 20;

/// The hub's own zone, in which times are shown.
fn zone() -> FixedOffset {
    *chrono::Local::now().offset()
}

fn qty(q: jxc_shared::Quantity) -> String {
    q.decimal().to_string()
}

/// What the overview shows, read in one go from the read pool.
struct Overview {
    /// `/v1/inventory?by=kind,region`.
    stock: Vec<InventoryView>,
    /// `/v1/sales?by=kind` over the last 28 days and the 28 before.
    last: Vec<SalesView>,
    before: Vec<SalesView>,
    /// `/v1/sites`.
    sites: Vec<SiteView>,
    /// `/v1/alerts?open=true`.
    alerts: Vec<AlertView>,
    /// The windows of `last` and `before`: first and last day (inclusive).
    windows: [(String, String); 2],
}

fn read_overview(hub: &AppState) -> Result<Overview> {
    let store = lock(&hub.reads);
    let by = vec![GroupBy::Kind, GroupBy::Region];
    let filter = InventoryFilter {
        by: by.clone(),
        ..InventoryFilter::default()
    };
    let stock = store
        .inventory(&filter)?
        .into_iter()
        .map(|r| InventoryView::new(&by, r))
        .collect();
    let tomorrow = crate::plan::as_of(None)? + Days::new(1);
    let mid = tomorrow - Days::new(28);
    let start = mid - Days::new(28);
    let mut sales = Vec::with_capacity(2);
    for (from, to) in [(mid, tomorrow), (start, mid)] {
        let (from, to) = (from.to_string(), to.to_string());
        let f = SalesFilter::parse(
            Some("kind"),
            Some(&from),
            Some(&to),
            None,
            None,
            None,
            None,
            None,
        )?;
        let by = f.by.clone();
        let rows: Vec<SalesView> = store
            .sales(&f)?
            .into_iter()
            .map(|r| SalesView::new(&by, r))
            .collect();
        sales.push(rows);
    }
    let day_before = |d: chrono::NaiveDate| (d - Days::new(1)).to_string();
    let windows = [
        (mid.to_string(), day_before(tomorrow)),
        (start.to_string(), day_before(mid)),
    ];
    let before = sales.pop().unwrap_or_default();
    let last = sales.pop().unwrap_or_default();
    let mut sites: Vec<SiteView> =
        views::all::<_, SiteView>(store.sites(Utc::now(), hub.stale_after_secs)?);
    // Never synced, then stale, oldest first, then fresh: what needs a call
    // comes first.
    let rank = |f: &str| match f {
        "never" => 0,
        "stale" => 1,
        _ => 2,
    };
    sites.sort_by(|a, b| {
        rank(a.freshness)
            .cmp(&rank(b.freshness))
            .then(b.last_sync_age_secs.cmp(&a.last_sync_age_secs))
            .then(a.id.cmp(&b.id))
    });
    let alerts = views::all::<_, AlertView>(store.alerts(true, OVERVIEW_ALERTS)?);
    Ok(Overview {
        stock,
        last,
        before,
        sites,
        alerts,
        windows,
    })
}

fn freshness(l: Lang, s: &SiteView) -> String {
    let (class, text) = if s.revoked_at.is_some() {
        ("revoked", l.t(Msg::Revoked))
    } else {
        match s.freshness {
            "fresh" => ("fresh", l.t(Msg::Fresh)),
            "stale" => ("stale", l.t(Msg::Stale)),
            _ => ("never", l.t(Msg::Never)),
        }
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(text))
}

fn money(l: Lang, v: Option<Decimal>) -> String {
    match v {
        Some(d) => figure(l, &d.to_string()),
        None => format!("<span class=\"muted\">{}</span>", l.t(Msg::NotShared)),
    }
}

/// `GET /`: channel stock by tier and region, sell-through of the last four
/// weeks against the four before, every site's freshness, open alerts.
pub(super) async fn overview(State(hub): State<AppState>, s: Signed) -> Response {
    let h = hub.clone();
    let data = match blocking(move || read_overview(&h)).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let l = s.lang;
    let mut main = String::new();

    // Channel stock by tier, then by tier and region.
    let mut tiers: Vec<(String, Decimal)> = Vec::new();
    let mut stock = Table::new(
        "stock",
        vec![
            l.t(Msg::Tier),
            l.t(Msg::Region),
            l.t(Msg::OnHand),
            l.t(Msg::InTransit),
            l.t(Msg::Value),
            l.t(Msg::NotUpdated),
            l.t(Msg::Unvalued),
        ],
        vec![false, false, true, true, true, true, true],
    );
    for r in &data.stock {
        let kind = r.keys.get("kind").map_or("", String::as_str);
        let region = r.keys.get("region").map_or("", String::as_str);
        match tiers.iter_mut().find(|(k, _)| k == kind) {
            Some((_, total)) => *total += r.on_hand.decimal(),
            None => tiers.push((kind.to_owned(), r.on_hand.decimal())),
        }
        stock.rows.push(vec![
            esc(i18n::tier(l, kind)),
            esc(region),
            figure(l, &qty(r.on_hand)),
            figure(l, &qty(r.in_transit)),
            figure(l, &r.value.to_string()),
            figure(l, &qty(r.not_updated)),
            figure(l, &qty(r.unvalued)),
        ]);
    }
    let bars: Vec<(String, String)> = tiers
        .iter()
        .map(|(k, v)| (i18n::tier(l, k).to_owned(), v.to_string()))
        .collect();
    let _ = write!(
        main,
        "<section><h2>{}</h2>{}{}{}</section>",
        l.t(Msg::ChannelStock),
        page::bar_chart(l, "chart-stock", l.t(Msg::OnHand), &bars),
        page::export_links_of(l, "inventory", "stock", "by=kind&amp;by2=region"),
        stock.html()
    );

    // Sell-through, last 4 weeks against the 4 before, per tier.
    let mut kinds: Vec<&str> = data
        .last
        .iter()
        .chain(&data.before)
        .filter_map(|r| r.keys.get("kind").map(String::as_str))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let find = |rows: &[SalesView], k: &str| -> Option<SalesView> {
        rows.iter()
            .find(|r| r.keys.get("kind").map(String::as_str) == Some(k))
            .cloned()
    };
    let mut flow = Table::new(
        "sell-through",
        vec![
            l.t(Msg::Tier),
            &format!("{} · {}", l.t(Msg::NetQty), l.t(Msg::Last4Weeks)),
            &format!("{} · {}", l.t(Msg::NetQty), l.t(Msg::Previous4Weeks)),
            l.t(Msg::Change),
            &format!("{} · {}", l.t(Msg::Revenue), l.t(Msg::Last4Weeks)),
            &format!("{} · {}", l.t(Msg::Revenue), l.t(Msg::Previous4Weeks)),
        ],
        vec![false, true, true, true, true, true],
    );
    for k in kinds {
        let (a, b) = (find(&data.last, k), find(&data.before, k));
        let na = a.as_ref().map_or(Decimal::ZERO, |r| r.net_qty.decimal());
        let nb = b.as_ref().map_or(Decimal::ZERO, |r| r.net_qty.decimal());
        flow.rows.push(vec![
            esc(i18n::tier(l, k)),
            figure(l, &na.to_string()),
            figure(l, &nb.to_string()),
            figure(l, &(na - nb).to_string()),
            money(l, a.as_ref().map_or(Some(Decimal::ZERO), |r| r.revenue)),
            money(l, b.as_ref().map_or(Some(Decimal::ZERO), |r| r.revenue)),
        ]);
    }
    let flow_html = if flow.rows.is_empty() {
        format!("<p class=\"muted\">{}</p>", l.t(Msg::NoSales))
    } else {
        flow.html()
    };
    let _ = write!(
        main,
        "<section><h2>{}</h2><p class=\"muted\">{} {} – {} · {} {} – {}</p>{}</section>",
        l.t(Msg::SellThrough),
        l.t(Msg::Last4Weeks),
        data.windows[0].0,
        data.windows[0].1,
        l.t(Msg::Previous4Weeks),
        data.windows[1].0,
        data.windows[1].1,
        flow_html
    );

    // Freshness of every site.
    let stale = data.sites.iter().filter(|s| s.freshness != "fresh").count();
    let (head, numeric) = site_head(l);
    let mut fresh = Table::new("freshness", head, numeric);
    let z = zone();
    for site in &data.sites {
        fresh.rows.push(site_cells(l, z, site));
    }
    let _ = write!(
        main,
        "<section><h2>{}</h2><p>{}: <strong id=\"stale-count\">{stale}</strong> / {}</p>{}{}</section>",
        l.t(Msg::Freshness),
        l.t(Msg::StaleSites),
        data.sites.len(),
        page::export_links(l, "sites"),
        fresh.html()
    );

    // Open alerts.
    let _ = write!(
        main,
        "<section><h2>{}</h2><p><a id=\"all-alerts\" href=\"/alerts\">{} →</a></p>",
        l.t(Msg::OpenAlerts),
        l.t(Msg::Alerts)
    );
    if data.alerts.is_empty() {
        let _ = write!(main, "<p class=\"muted\">{}</p>", l.t(Msg::NoAlerts));
    } else {
        let mut t = Table::new(
            "alerts",
            vec![l.t(Msg::Raised), l.t(Msg::Site), "SKU", l.t(Msg::Message)],
            vec![false; 4],
        );
        for a in &data.alerts {
            t.rows.push(vec![
                esc(&l.time(&a.raised_at, z)),
                esc(&a.site),
                esc(&a.sku),
                esc(&a.message),
            ]);
        }
        main.push_str(&t.html());
    }
    main.push_str("</section>");
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Overview, l.t(Msg::Overview), "/", &main),
    )
}

/// The headings of [`site_cells`]' columns, and which are figures.
fn site_head(l: Lang) -> (Vec<&'static str>, Vec<bool>) {
    (
        [
            Msg::Site,
            Msg::Name,
            Msg::Kind,
            Msg::Region,
            Msg::Freshness,
            Msg::LastSync,
            Msg::Age,
            Msg::Unsynced,
        ]
        .map(|m| l.t(m))
        .to_vec(),
        vec![false, false, false, false, false, false, true, true],
    )
}

fn site_cells(l: Lang, z: FixedOffset, s: &SiteView) -> Vec<String> {
    vec![
        format!("<code class=\"site-id\">{}</code>", esc(&s.id)),
        esc(&s.name),
        esc(i18n::tier(l, &s.kind)),
        esc(&s.region),
        freshness(l, s),
        s.last_sync_at
            .as_deref()
            .map_or(String::new(), |t| esc(&l.time(t, z))),
        s.last_sync_age_secs
            .map_or(String::new(), |a| esc(&l.age(a))),
        figure(l, &s.unsynced_at_agent.to_string()),
    ]
}

async fn read_sites(hub: AppState) -> Result<Vec<SiteView>> {
    let stale = hub.stale_after_secs;
    let rows = blocking(move || lock(&hub.reads).sites(Utc::now(), stale)).await?;
    Ok(views::all::<_, SiteView>(rows))
}

/// `GET /sites.csv` and `GET /sites.xlsx`: the sites table with
/// `/v1/sites`' exact values.
pub(super) async fn sites_export(
    State(hub): State<AppState>,
    s: Signed,
    uri: axum::http::Uri,
) -> Response {
    let file = uri.path().trim_start_matches('/').to_owned();
    let format = match file.as_str() {
        "sites.csv" => page::Export::Csv,
        "sites.xlsx" => page::Export::Xlsx,
        _ => return page::error(&s, StatusCode::NOT_FOUND, &format!("no export {file:?}")),
    };
    let rows = match read_sites(hub).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let l = s.lang;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.name.clone(),
                r.kind.clone(),
                r.region.clone(),
                if r.revoked_at.is_some() {
                    "revoked".into()
                } else {
                    r.freshness.into()
                },
                opt(&r.last_sync_at),
                r.last_sync_age_secs
                    .map_or(String::new(), |a| a.to_string()),
                r.unsynced_at_agent.to_string(),
                r.clock_skew_ms.map_or(String::new(), |ms| ms.to_string()),
                r.locations.to_string(),
            ]
        })
        .collect();
    let head = [
        l.t(Msg::Site),
        l.t(Msg::Name),
        l.t(Msg::Kind),
        l.t(Msg::Region),
        l.t(Msg::Freshness),
        l.t(Msg::LastSync),
        "age_secs",
        l.t(Msg::Unsynced),
        "clock_skew_ms",
        l.t(Msg::Locations),
    ];
    let numeric = [
        false, false, false, false, false, false, true, true, true, true,
    ];
    page::download(format, &file, &head, &numeric, &rows)
}

/// `GET /sites`: every site (`/v1/sites`) with its sync state; admins also
/// revoke a site here.
pub(super) async fn sites(State(hub): State<AppState>, s: Signed) -> Response {
    let rows = match read_sites(hub).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let l = s.lang;
    let admin = s.user.role >= Role::Admin;
    let (mut head, mut numeric) = site_head(l);
    head.extend([l.t(Msg::ClockSkew), l.t(Msg::Locations)]);
    numeric.extend([true, true]);
    if admin {
        head.push(l.t(Msg::Actions));
        numeric.push(false);
    }
    let mut t = Table::new("sites", head, numeric);
    let z = zone();
    for site in &rows {
        let mut cells = site_cells(l, z, site);
        cells.push(site.clock_skew_ms.map_or(String::new(), |ms| {
            figure(l, &(Decimal::from(ms) / Decimal::from(1000)).to_string()) + " s"
        }));
        cells.push(figure(l, &site.locations.to_string()));
        if admin {
            cells.push(if site.revoked_at.is_some() {
                String::new()
            } else {
                format!(
                    "<form method=\"post\" action=\"/sites/{}/revoke\" class=\"inline\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <button type=\"submit\" class=\"danger\">{}</button></form>",
                    esc(&super::url_encode(&site.id)),
                    esc(&s.user.csrf),
                    l.t(Msg::Revoke)
                )
            });
        }
        t.rows.push(cells);
    }
    let mut main = page::export_links(l, "sites") + &t.html();
    if admin {
        main.push_str(&token_form(&s));
    }
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Sites, l.t(Msg::Sites), "/sites", &main),
    )
}

/// The admins' form for a new site's one-time enrollment token.
fn token_form(s: &Signed) -> String {
    let l = s.lang;
    let mut kinds = String::new();
    for (k, m) in [
        ("branch", Msg::Branch),
        ("dealer", Msg::Dealer),
        ("hq", Msg::Hq),
    ] {
        let _ = write!(kinds, "<option value=\"{k}\">{}</option>", l.t(m));
    }
    format!(
        "<section id=\"new-site\"><h2>{title}</h2><p class=\"muted\">{help}</p>\
         <form method=\"post\" action=\"/sites/token\" class=\"filters\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>{site}<input name=\"site\" required maxlength=\"64\"></label>\
         <label>{kind}<select name=\"kind\">{kinds}</select></label>\
         <label>{name}<input name=\"name\" maxlength=\"200\"></label>\
         <label>{region}<input name=\"region\" maxlength=\"100\"></label>\
         <label>{ttl}<input name=\"ttl\" value=\"24h\" maxlength=\"8\"></label>\
         <button type=\"submit\">{make}</button></form></section>",
        title = l.t(Msg::NewSite),
        help = l.t(Msg::NewSiteHelp),
        csrf = esc(&s.user.csrf),
        site = l.t(Msg::Site),
        kind = l.t(Msg::Kind),
        name = l.t(Msg::Name),
        region = l.t(Msg::Region),
        ttl = l.t(Msg::ValidFor),
        make = l.t(Msg::MakeToken),
    )
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    ttl: String,
}

/// `POST /sites/token` (admins): a one-time enrollment token for a new
/// site, as `jxc-hub token`, shown once with the command that uses it.
pub(super) async fn new_token(
    State(hub): State<AppState>,
    s: Signed,
    headers: axum::http::HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(r) = s.require(Role::Admin).and_then(|()| s.check_csrf(&f.csrf)) {
        return r.into_response();
    }
    let given = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let asked = crate::cli::new_site(
        f.site.trim(),
        f.kind.trim(),
        given(&f.name).as_deref(),
        given(&f.region).as_deref(),
    )
    .and_then(|site| {
        let ttl = crate::cli::parse_ttl(if f.ttl.trim().is_empty() {
            "24h"
        } else {
            f.ttl.trim()
        })?;
        Ok((site, ttl))
    });
    let (site, ttl) = match asked {
        Ok(a) => a,
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let id = site.id.as_str().to_owned();
    let h = hub.clone();
    let token =
        match blocking(move || crate::cli::issue_token(&mut lock(&h.store), &h.ca, &site, ttl))
            .await
        {
            Ok(t) => t,
            Err(e) => return page::error(&s, e.status(), &e.to_string()),
        };
    tracing::info!(site = %id, by = %s.user.name, "enrollment token made on the dashboard");
    let l = s.lang;
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("HUB:8443");
    let main = format!(
        "<section><p>{}</p><p><code id=\"token\" class=\"record\">{}</code></p>\
         <p class=\"muted\">{}</p><pre><code id=\"enroll-command\">jxc-agent enroll --hub https://{} --token {}</code></pre>\
         <p><a href=\"/sites\">← {}</a></p></section>",
        esc(&format!("{} {id}", l.t(Msg::TokenFor))),
        esc(&token.to_string()),
        l.t(Msg::TokenOnce),
        esc(host),
        esc(&token.to_string()),
        l.t(Msg::Sites),
    );
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Sites, l.t(Msg::NewSite), "/sites", &main),
    )
}

/// `POST /sites/{id}/revoke` (admins): the site's next request is refused,
/// as `jxc-hub revoke SITE`.
pub(super) async fn revoke(
    State(hub): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = s.require(Role::Admin).and_then(|()| s.check_csrf(&f.csrf)) {
        return r.into_response();
    }
    let site = match SiteId::parse(&id) {
        Ok(site) => site,
        Err(e) => return page::error(&s, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let by = s.user.name.clone();
    match blocking(move || lock(&hub.store).revoke(&site, Utc::now())).await {
        Ok(()) => {
            tracing::info!(site = %id, by = %by, "site revoked from the dashboard");
            Redirect::to("/sites").into_response()
        }
        Err(e) => page::error(&s, e.status(), &e.to_string()),
    }
}

/// `GET /users` (admins): the HQ users and their roles.
pub(super) async fn users(State(hub): State<AppState>, s: Signed) -> Response {
    if let Err(r) = s.require(Role::Admin) {
        return r.into_response();
    }
    let rows = match blocking(move || lock(&hub.reads).users()).await {
        Ok(r) => views::all::<_, UserView>(r),
        Err(e) => return e.into_response(),
    };
    let l = s.lang;
    let mut t = Table::new(
        "users",
        vec![
            l.t(Msg::Name),
            l.t(Msg::Role),
            l.t(Msg::CanSignIn),
            l.t(Msg::Created),
        ],
        vec![false; 4],
    );
    let z = zone();
    for u in &rows {
        t.rows.push(vec![
            esc(&u.name),
            esc(&u.role),
            l.t(if u.can_sign_in { Msg::Yes } else { Msg::No })
                .to_owned(),
            esc(&l.time(&u.created_at, z)),
        ]);
    }
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Users, l.t(Msg::Users), "/users", &t.html()),
    )
}
