//! Who is signed in to the dashboard: the session cookie, the extractor
//! that turns it into a user (or sends the browser to the sign-in page),
//! the role each page and action needs, and the CSRF check of every form
//! that changes something.

use super::i18n::{Lang, Msg};
use super::page;
use crate::http::api::{AppState, blocking, lock};
use crate::store::{Role, SessionUser, constant_time_eq};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

/// The session cookie's name.
pub const COOKIE: &str = "jxc_session";

/// How long a session lasts from sign-in.
pub const TTL_HOURS: i64 = 12;

/// The `Set-Cookie` value that gives the browser `secret`: sent over HTTPS
/// only, out of scripts' reach, and never on a request another site starts.
pub fn set_cookie(secret: &str) -> String {
    format!(
        "{COOKIE}={secret}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        TTL_HOURS * 3600
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

/// The session secret the request's cookies carry, if any.
pub fn cookie_secret(parts: &axum::http::HeaderMap) -> Option<String> {
    parts
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The language of a request: the signed-in user's choice, else the
/// browser's `Accept-Language`.
pub fn request_lang(headers: &axum::http::HeaderMap, user: Option<&SessionUser>) -> Lang {
    user.and_then(|u| u.lang.as_deref())
        .and_then(Lang::parse)
        .unwrap_or_else(|| {
            Lang::from_accept(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        })
}

/// A page refusing what was asked (403), boxed: a `Response` is large.
pub struct Refused(Box<Response>);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A signed-in dashboard user, with the session's secret and language.
pub struct Signed {
    pub user: SessionUser,
    pub secret: String,
    pub lang: Lang,
}

impl Signed {
    /// Refuses with a 403 page unless the user's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), Refused> {
        if self.user.role >= needed {
            Ok(())
        } else {
            Err(Refused(Box::new(page::error(
                self,
                StatusCode::FORBIDDEN,
                self.lang.t(Msg::Forbidden),
            ))))
        }
    }

    /// Refuses with a 403 page unless `token` is this session's CSRF token.
    pub fn check_csrf(&self, token: &str) -> Result<(), Refused> {
        if constant_time_eq(token.as_bytes(), self.user.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(Refused(Box::new(page::error(
                self,
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or not this session's: reload the page and try again",
            ))))
        }
    }
}

impl<S> FromRequestParts<S> for Signed
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    /// To the sign-in page (with where to come back to), or an error page.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let hub = AppState::from_ref(state);
        let back = parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        let to_login = |ended: bool| {
            let mut url = format!("/login?next={}", super::url_encode(&back));
            if ended {
                url.push_str("&ended=1");
            }
            Redirect::to(&url).into_response()
        };
        let Some(secret) = cookie_secret(&parts.headers) else {
            return Err(to_login(false));
        };
        let s = secret.clone();
        let user = blocking(move || lock(&hub.reads).session(&s, Utc::now()))
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(user) = user else {
            return Err(to_login(true));
        };
        let lang = request_lang(&parts.headers, Some(&user));
        Ok(Signed { user, secret, lang })
    }
}
