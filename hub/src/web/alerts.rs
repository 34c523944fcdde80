//! The alerts page (`/v1/alerts`' `Store::alerts` and `AlertView`): open
//! alerts, or the latest of every state, with who acknowledged them; a
//! planner acknowledges an open one with a note (`POST /alerts/{id}/ack`),
//! so the others see it is being handled. The alert stays open until its
//! condition clears.

use super::i18n::{Lang, Msg};
use super::page::{self, Col, Grid, Nav, esc};
use super::session::Signed;
use crate::http::api::{AppState, blocking, lock};
use crate::http::views::{self, AlertView};
use crate::store::{AlertState, Role};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use std::fmt::Write;

/// The most alerts a page or a download holds (newest first).
const ALERTS_SHOWN: u32 = 500;
/// The longest note a planner leaves, in characters.
const MAX_NOTE: usize = 500;

#[derive(Debug, Default, Deserialize)]
pub(super) struct AlertsQuery {
    /// `all`: every state; otherwise the open ones.
    show: Option<String>,
}

fn grid(l: Lang, rows: &[AlertView]) -> Grid {
    let mut g = Grid::new(
        "alerts",
        vec![
            (l.t(Msg::Raised), Col::Time),
            (l.t(Msg::Kind), Col::Text),
            (l.t(Msg::Site), Col::Text),
            (l.t(Msg::Location), Col::Text),
            (l.t(Msg::Sku), Col::Text),
            (l.t(Msg::Message), Col::Text),
            (l.t(Msg::Status), Col::Text),
            (l.t(Msg::AckedBy), Col::Text),
            (l.t(Msg::AckedAt), Col::Time),
            (l.t(Msg::Note), Col::Text),
        ],
    );
    for a in rows {
        let state = match a.state {
            AlertState::Open => l.t(Msg::OpenState),
            AlertState::Cleared => l.t(Msg::ClearedState),
        };
        g.push(
            vec![
                a.raised_at.clone(),
                a.kind.clone(),
                a.site.clone(),
                a.location.clone(),
                a.sku.clone(),
                a.message.clone(),
                state.to_owned(),
                a.acked_by.clone().unwrap_or_default(),
                a.acked_at.clone().unwrap_or_default(),
                a.ack_note.clone().unwrap_or_default(),
            ],
            None,
        );
    }
    g
}

/// `GET /alerts` (and `.csv`, `.xlsx`).
pub(super) async fn alerts(
    State(hub): State<AppState>,
    s: Signed,
    uri: Uri,
    Query(q): Query<AlertsQuery>,
) -> Response {
    let all = match q.show.as_deref() {
        None | Some("" | "open") => false,
        Some("all") => true,
        Some(other) => {
            return page::error(
                &s,
                StatusCode::BAD_REQUEST,
                &format!("show {other:?} is not valid: use open or all"),
            );
        }
    };
    let rows = match blocking(move || lock(&hub.reads).alerts(!all, ALERTS_SHOWN)).await {
        Ok(r) => views::all::<_, AlertView>(r),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let l = s.lang;
    let g = grid(l, &rows);
    if let Some(format) = page::export_of(uri.path()) {
        return g.download(format, uri.path().trim_start_matches('/'));
    }
    let query = if all { "show=all" } else { "" };
    let mut main = format!(
        "<p class=\"muted\">{} · <a id=\"show-{}\" href=\"/alerts{}\">{}</a></p>",
        l.t(if all {
            Msg::AllAlertsShown
        } else {
            Msg::OpenAlertsShown
        }),
        if all { "open" } else { "all" },
        if all { "" } else { "?show=all" },
        l.t(if all { Msg::ShowOpen } else { Msg::ShowAll }),
    );
    main.push_str(&page::export_links_of(l, "alerts", "alerts", query));
    if rows.is_empty() {
        let none = if all {
            Msg::NoAlertsAtAll
        } else {
            Msg::NoAlerts
        };
        let _ = write!(main, "<p class=\"muted\">{}</p>", l.t(none));
    } else {
        main.push_str(&g.html(l, 0, g.rows.len()));
    }
    // Planners acknowledge open alerts nobody has taken yet.
    let open: Vec<&AlertView> = rows
        .iter()
        .filter(|a| a.state == AlertState::Open && a.acked_by.is_none())
        .collect();
    if s.user.role >= Role::Planner && !open.is_empty() {
        let _ = write!(main, "<section><h2>{}</h2>", l.t(Msg::Acknowledge));
        for a in open {
            let _ = write!(
                main,
                "<form method=\"post\" action=\"/alerts/{id}/ack\" class=\"filters\" id=\"ack-{id}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <span>{what}</span>\
                 <label>{note}<input name=\"note\" maxlength=\"{MAX_NOTE}\"></label>\
                 <button type=\"submit\">{ack}</button></form>",
                id = a.id,
                csrf = esc(&s.user.csrf),
                what = esc(&format!("{} · {} {}", a.site, a.sku, a.message)),
                note = l.t(Msg::Note),
                ack = l.t(Msg::Acknowledge),
            );
        }
        main.push_str("</section>");
    }
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Alerts, l.t(Msg::Alerts), "/alerts", &main),
    )
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct AckForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /alerts/{id}/ack` (planners and admins).
pub(super) async fn ack(
    State(hub): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<AckForm>,
) -> Response {
    if let Err(r) = s
        .require(Role::Planner)
        .and_then(|()| s.check_csrf(&f.csrf))
    {
        return r.into_response();
    }
    let Ok(id) = id.parse::<i64>() else {
        return page::error(
            &s,
            StatusCode::BAD_REQUEST,
            &format!("alert {id:?} is not valid: an alert's number"),
        );
    };
    let note = f.note.trim().to_owned();
    if note.chars().count() > MAX_NOTE {
        return page::error(
            &s,
            StatusCode::BAD_REQUEST,
            &format!(
                "note is {} characters: at most {MAX_NOTE}",
                note.chars().count()
            ),
        );
    }
    let by = s.user.name.clone();
    match blocking(move || lock(&hub.store).ack_alert(id, &by, &note, Utc::now())).await {
        Ok(()) => {
            tracing::info!(alert = id, by = %s.user.name, "alert acknowledged on the dashboard");
            Redirect::to("/alerts").into_response()
        }
        Err(e) => page::error(&s, e.status(), &e.to_string()),
    }
}
