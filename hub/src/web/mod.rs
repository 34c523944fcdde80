//! The HQ dashboard: HTML pages served by the hub on its HTTPS port, built
//! on the same store queries and response views as the JSON API (the page
//! never computes a figure the API does not), with every asset compiled
//! into the binary, so it works on an intranet with no internet access.
//!
//! - `session`: the cookie, the signed-in user, roles and CSRF;
//! - `password`: argon2id hashes;
//! - `i18n`: English and 中文, numbers and times;
//! - `page`: the frame, HTML writers, charts and downloads;
//! - `pages` (overview, sites, users), `stock` (inventory, movements),
//!   `sales` (the sales flow, sell-in), `planning` (and planners'
//!   decisions on suggestions), `alerts` (and acknowledging them),
//!   `records` (transfers, quarantine): the pages themselves.

mod alerts;
pub mod i18n;
pub mod page;
mod pages;
pub mod password;
mod planning;
mod records;
mod sales;
pub mod session;
mod stock;

use crate::cli::random_hex;
use crate::http::api::{AppState, blocking, lock};
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use i18n::{Lang, Msg};
use page::esc;
use serde::Deserialize;
use session::Signed;
use std::time::Duration;

/// How long a failed sign-in waits before it answers, so guessing
/// passwords over the network is slow.
const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(500);

/// The dashboard's routes, merged into the hub's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/inventory", get(stock::inventory))
        .route("/inventory.csv", get(stock::inventory))
        .route("/inventory.xlsx", get(stock::inventory))
        .route("/movements", get(stock::movements))
        .route("/movements.csv", get(stock::movements))
        .route("/movements.xlsx", get(stock::movements))
        .route("/sales", get(sales::sales))
        .route("/sales.csv", get(sales::sales))
        .route("/sales.xlsx", get(sales::sales))
        .route("/planning", get(planning::planning))
        .route("/planning.csv", get(planning::planning))
        .route("/planning.xlsx", get(planning::planning))
        .route("/planning/decide", post(planning::decide))
        .route("/alerts", get(alerts::alerts))
        .route("/alerts.csv", get(alerts::alerts))
        .route("/alerts.xlsx", get(alerts::alerts))
        .route("/alerts/{id}/ack", post(alerts::ack))
        .route("/transfers", get(records::transfers))
        .route("/transfers.csv", get(records::transfers))
        .route("/transfers.xlsx", get(records::transfers))
        .route("/quarantine", get(records::quarantine))
        .route("/quarantine.csv", get(records::quarantine))
        .route("/quarantine.xlsx", get(records::quarantine))
        .route("/sites", get(pages::sites))
        .route("/sites.csv", get(pages::sites_export))
        .route("/sites.xlsx", get(pages::sites_export))
        .route("/sites/token", post(pages::new_token))
        .route("/sites/{id}/revoke", post(pages::revoke))
        .route("/users", get(pages::users))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang", post(set_lang))
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/favicon.svg", get(favicon))
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("assets/favicon.svg"),
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("assets/app.css"),
    )
        .into_response()
}

/// `s` percent-encoded for a query string.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where to go after signing in: a path of this hub, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    ended: Option<String>,
    lang: Option<String>,
}

async fn login_page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let lang = q
        .lang
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or_else(|| session::request_lang(&headers, None));
    let notice = q.ended.is_some().then(|| lang.t(Msg::SessionEnded));
    login_form(lang, safe_next(q.next.as_deref()), notice, StatusCode::OK)
}

fn login_form(lang: Lang, next: &str, notice: Option<&str>, status: StatusCode) -> Response {
    let notice = notice.map_or(String::new(), |n| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(n))
    });
    let other = lang.other();
    let body = format!(
        "<main class=\"login\"><h1>{title}</h1>{notice}\
         <form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label>{user}<input name=\"username\" autocomplete=\"username\" required autofocus></label>\
         <label>{pass}<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">{sign_in}</button></form>\
         <p><a href=\"/login?lang={other_code}&amp;next={next_q}\" id=\"lang-switch\">{other_name}</a></p></main>",
        title = lang.t(Msg::Title),
        next = esc(next),
        user = lang.t(Msg::UserName),
        pass = lang.t(Msg::Password),
        sign_in = lang.t(Msg::SignIn),
        other_code = other.code(),
        next_q = esc(&url_encode(next)),
        other_name = other.name(),
    );
    page::with_headers(status, page::document(lang, lang.t(Msg::SignIn), &body))
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(
    State(hub): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = session::request_lang(&headers, None);
    let next = safe_next(f.next.as_deref()).to_owned();
    let name = f.username.trim().to_owned();
    let h = hub.clone();
    let checked = blocking(move || {
        let creds = lock(&h.reads).credentials(&name)?;
        // A missing user or password is checked against the decoy, so that
        // it takes as long as a wrong password.
        let phc = creds
            .as_ref()
            .and_then(|c| c.password_hash.as_deref())
            .unwrap_or(password::decoy());
        let ok = password::verify(&f.password, phc)
            && creds.as_ref().is_some_and(|c| c.password_hash.is_some());
        if !ok {
            return Ok(None);
        }
        let (secret, csrf) = (random_hex(32), random_hex(16));
        lock(&h.store).start_session(
            &name,
            &secret,
            &csrf,
            Utc::now(),
            chrono::Duration::hours(session::TTL_HOURS),
        )?;
        tracing::info!(user = %name, "dashboard sign-in");
        Ok(Some(secret))
    })
    .await;
    match checked {
        Ok(Some(secret)) => {
            let mut res = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&secret)) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Ok(None) => {
            tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
            login_form(
                lang,
                &next,
                Some(lang.t(Msg::WrongPassword)),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

async fn logout(State(hub): State<AppState>, s: Signed, Form(f): Form<CsrfForm>) -> Response {
    if let Err(r) = s.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let secret = s.secret.clone();
    if let Err(e) = blocking(move || lock(&hub.store).end_session(&secret)).await {
        return e.into_response();
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[derive(Debug, Default, Deserialize)]
struct LangForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: String,
    back: Option<String>,
}

async fn set_lang(State(hub): State<AppState>, s: Signed, Form(f): Form<LangForm>) -> Response {
    if let Err(r) = s.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let Some(lang) = Lang::parse(&f.lang) else {
        return page::error(
            &s,
            StatusCode::BAD_REQUEST,
            &format!("lang {:?} is not valid: use en or zh-CN", f.lang),
        );
    };
    let name = s.user.name.clone();
    if let Err(e) = blocking(move || lock(&hub.store).set_lang(&name, lang.code())).await {
        return e.into_response();
    }
    Redirect::to(safe_next(f.back.as_deref())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_hub() {
        assert_eq!(safe_next(Some("/sites?x=1")), "/sites?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn url_encoding_keeps_paths_readable() {
        assert_eq!(url_encode("/sites?a=b&c"), "/sites%3Fa%3Db%26c");
        assert_eq!(url_encode("华东"), "%E5%8D%8E%E4%B8%9C");
    }
}
