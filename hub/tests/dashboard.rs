//! The dashboard through the hub's `Router` with `oneshot`: sign-in and its
//! cookie, each page for each role, CSRF refusals, an ended session, the
//! language switch, sign-out, and the overview's figures against the JSON
//! API's strings.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, Utc};
use jxc_hub::cli;
use jxc_hub::config::{HubConfig, HubHome};
use jxc_hub::http::api::{self, Hub};
use jxc_hub::store::{NewSite, Role, Store};
use jxc_hub::web::password;
use jxc_shared::protocol::{SyncRequest, WireMovement};
use jxc_shared::{MovementKind, SiteId, SiteKind};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse 电池";

struct Dash {
    _dir: tempfile::TempDir,
    home: HubHome,
    app: Router,
    admin_token: String,
}

/// What a response said: status, the headers asked about, the body.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

fn movement(seq: u64, kind: MovementKind, site: &str, qty: i64, days_ago: i64) -> WireMovement {
    let t = Utc::now() - Duration::days(days_ago);
    WireMovement {
        seq,
        kind,
        location: format!("{site}/main"),
        sku: "茶-1".into(),
        lot: String::new(),
        qty_micro: qty * 1_000_000,
        unit_cost: "12.5".into(),
        unit_price: (kind == MovementKind::Sale).then(|| "19.9".into()),
        counterparty: None,
        reference: None,
        reason: None,
        transfer_id: None,
        occurred_ms: t.timestamp_millis(),
        offset_min: 480,
        recorded_ms: t.timestamp_millis(),
    }
}

fn setup() -> Dash {
    let dir = tempfile::tempdir().unwrap();
    let home = HubHome::new(
        dir.path().to_path_buf(),
        jxc_testkit::database_url("dashboard").as_deref(),
    )
    .unwrap();
    let (ca, admin_token) = cli::init(&home, &[]).unwrap();
    {
        let mut store = Store::open(&home.db, false).unwrap();
        let now = Utc::now();
        for (name, role) in [
            ("王芳", Role::Admin),
            ("plan", Role::Planner),
            ("view", Role::Viewer),
        ] {
            let hash = password::hash(PASSWORD).unwrap();
            store
                .add_user(name, role, &format!("tok-{name}"), Some(&hash), now)
                .unwrap();
        }
        // A branch with stock and sales, a dealer that never synced.
        for (id, kind, region) in [
            ("BJ01", SiteKind::Branch, "华北"),
            ("DL01", SiteKind::Dealer, "east"),
        ] {
            let site = NewSite {
                id: SiteId::parse(id).unwrap(),
                kind,
                name: format!("{id} 门店"),
                region: region.into(),
            };
            store
                .add_token(&format!("t-{id}"), "s", &site, Duration::hours(1), now)
                .unwrap();
            store
                .redeem_token(&format!("t-{id}"), "s", now, |_, _| Ok(()))
                .unwrap();
        }
        let movements = vec![
            movement(1, MovementKind::Receipt, "BJ01", 1500, 40),
            movement(2, MovementKind::Sale, "BJ01", -7, 35),
            movement(3, MovementKind::Sale, "BJ01", -3, 2),
        ];
        let req = SyncRequest {
            from_seq: 1,
            movements,
            agent_last_seq: 3,
            transfers_cursor: 0,
            locations: Vec::new(),
            agent_time_ms: now.timestamp_millis(),
        };
        store
            .ingest(&SiteId::parse("BJ01").unwrap(), &req, now)
            .unwrap();
    }
    let config = HubConfig {
        stale_after_secs: 900,
        ..HubConfig::default()
    };
    let hub = Arc::new(Hub::open(&home.db, ca, &config).unwrap());
    Dash {
        _dir: dir,
        home,
        app: api::router(hub),
        admin_token,
    }
}

impl Dash {
    async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let h =
            |n: header::HeaderName| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        let (location, set_cookie) = (h(header::LOCATION), h(header::SET_COOKIE));
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            location,
            set_cookie,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>, lang: Option<&str>) -> Answer {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("jxc_session={c}"));
        }
        if let Some(l) = lang {
            req = req.header(header::ACCEPT_LANGUAGE, l);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", jxc_hub::web::url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("jxc_session={c}"));
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// Signs in and returns the session cookie's secret.
    async fn sign_in(&self, user: &str) -> String {
        let a = self
            .post(
                "/login",
                None,
                &[
                    ("username", user),
                    ("password", PASSWORD),
                    ("next", "/sites"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location.as_deref(), Some("/sites"));
        let cookie = a.set_cookie.expect("a session cookie");
        for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(flag), "{flag} missing from {cookie}");
        }
        cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("jxc_session=")
            .unwrap()
            .to_owned()
    }

    async fn api(&self, path: &str) -> Value {
        let req = Request::get(path)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.admin_token),
            )
            .body(Body::empty())
            .unwrap();
        let a = self.send(req).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        serde_json::from_str(&a.body).unwrap()
    }
}

/// The CSRF token in a page's forms.
fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in() {
    let d = setup();
    let a = d.get("/sites?x=1", None, None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location.as_deref(), Some("/login?next=/sites%3Fx%3D1"));
    let login = d.get("/login?next=/sites", None, None).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("name=\"username\""), "{}", login.body);
    assert!(login.body.contains("name=\"password\""));
    assert!(login.body.contains("type=\"password\""));
    let zh = d.get("/login", None, Some("zh-CN,zh;q=0.9,en;q=0.8")).await;
    assert!(
        zh.body.contains("登录") && zh.body.contains("lang=\"zh-CN\""),
        "{}",
        zh.body
    );
    let css = d.get("/assets/app.css", None, None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.contains("--accent"));
}

#[tokio::test]
async fn a_wrong_password_or_name_is_refused_after_a_delay_and_sets_no_cookie() {
    let d = setup();
    for (user, pass) in [
        ("view", "wrong password"),
        ("nobody", PASSWORD),
        ("view", ""),
    ] {
        let started = std::time::Instant::now();
        let a = d
            .post("/login", None, &[("username", user), ("password", pass)])
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{user}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(500));
        assert!(a.set_cookie.is_none());
        assert!(a.body.contains("Wrong user name or password"), "{}", a.body);
        assert!(a.body.contains("name=\"username\""));
    }
    // A user with an API token only cannot sign in either.
    let a = d
        .post(
            "/login",
            None,
            &[("username", "admin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // A sign-in's `next` never leaves the hub.
    let a = d
        .post(
            "/login",
            None,
            &[
                ("username", "view"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(a.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn each_role_sees_its_pages_and_gets_403_outside_them() {
    let d = setup();
    for (user, admin) in [("view", false), ("plan", false), ("王芳", true)] {
        let c = d.sign_in(user).await;
        let overview = d.get("/", Some(&c), None).await;
        assert_eq!(overview.status, StatusCode::OK, "{user}");
        // Every role reads every page; its size stays far under 500 KB.
        for path in [
            "/inventory",
            "/movements?site=BJ01",
            "/sales",
            "/planning",
            "/planning?site=BJ01",
            "/alerts",
            "/transfers",
            "/quarantine",
        ] {
            let a = d.get(path, Some(&c), None).await;
            assert_eq!(a.status, StatusCode::OK, "{user} {path}: {}", a.body);
            assert!(a.body.len() < 500_000, "{path}");
            assert!(a.body.contains(&format!("{user} · ")), "{path}: the frame");
        }
        let sites = d.get("/sites", Some(&c), None).await;
        assert_eq!(sites.status, StatusCode::OK);
        assert_eq!(
            sites.body.contains("/revoke"),
            admin,
            "{user}: the revoke form"
        );
        let users = d.get("/users", Some(&c), None).await;
        if admin {
            assert_eq!(users.status, StatusCode::OK);
            assert!(users.body.contains("王芳") && users.body.contains("planner"));
            assert!(overview.body.contains("href=\"/users\""));
        } else {
            assert_eq!(users.status, StatusCode::FORBIDDEN, "{user}");
            assert!(users.body.contains("does not allow"), "{}", users.body);
            assert!(!overview.body.contains("href=\"/users\""));
            // An action outside the role, even with the right CSRF token.
            let token = csrf(&sites.body);
            let a = d
                .post("/sites/BJ01/revoke", Some(&c), &[("csrf", &token)])
                .await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{user}");
        }
        for h in ["Content-Security-Policy", "X-Content-Type-Options"] {
            let res = d
                .app
                .clone()
                .oneshot(
                    Request::get("/")
                        .header(header::COOKIE, format!("jxc_session={c}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert!(res.headers().contains_key(h), "{h}");
        }
    }
}

#[tokio::test]
async fn a_change_needs_this_sessions_csrf_token() {
    let d = setup();
    let c = d.sign_in("王芳").await;
    let sites = d.get("/sites", Some(&c), None).await;
    let token = csrf(&sites.body);
    for form in [vec![], vec![("csrf", "0000")]] {
        let a = d.post("/sites/BJ01/revoke", Some(&c), &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("CSRF"), "{}", a.body);
        let a = d.post("/logout", Some(&c), &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let a = d
            .post(
                "/lang",
                Some(&c),
                &[&form[..], &[("lang", "zh-CN")]].concat(),
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
    }
    // Another session's token is not this one's.
    let other = d.sign_in("王芳").await;
    let other_token = csrf(&d.get("/sites", Some(&other), None).await.body);
    assert_ne!(other_token, token);
    let a = d
        .post("/sites/BJ01/revoke", Some(&c), &[("csrf", &other_token)])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let sites_api = d.api("/v1/sites").await;
    assert!(
        sites_api
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["revoked_at"].is_null())
    );
    // With it, the admin's revocation is done.
    let a = d
        .post("/sites/BJ01/revoke", Some(&c), &[("csrf", &token)])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let sites_api = d.api("/v1/sites").await;
    let bj = sites_api
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "BJ01")
        .unwrap();
    assert!(bj["revoked_at"].is_string(), "{bj}");
}

#[tokio::test]
async fn an_ended_session_or_a_signed_out_one_opens_nothing() {
    let d = setup();
    {
        let mut store = Store::open(&d.home.db, false).unwrap();
        store
            .start_session(
                "view",
                "old-secret",
                "csrf",
                Utc::now() - Duration::hours(13),
                Duration::hours(12),
            )
            .unwrap();
    }
    let a = d.get("/", Some("old-secret"), None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location.as_deref(), Some("/login?next=/&ended=1"));
    let login = d.get(a.location.as_deref().unwrap(), None, None).await;
    assert!(login.body.contains("session has ended"), "{}", login.body);

    let c = d.sign_in("view").await;
    let page = d.get("/", Some(&c), None).await;
    assert_eq!(page.status, StatusCode::OK);
    let a = d
        .post("/logout", Some(&c), &[("csrf", &csrf(&page.body))])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(
        d.get("/", Some(&c), None).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        d.get("/", Some("made-up"), None).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_language_follows_the_browser_until_the_user_chooses_one() {
    let d = setup();
    let c = d.sign_in("plan").await;
    let zh = d.get("/", Some(&c), Some("zh-CN,zh;q=0.9")).await;
    assert!(
        zh.body.contains("总览") && zh.body.contains("渠道库存"),
        "{}",
        zh.body
    );
    let en = d.get("/", Some(&c), Some("en-US,en;q=0.9")).await;
    assert!(en.body.contains("Channel stock") && !en.body.contains("渠道库存"));
    let a = d
        .post(
            "/lang",
            Some(&c),
            &[
                ("csrf", &csrf(&en.body)),
                ("lang", "zh-CN"),
                ("back", "/sites"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location.as_deref(), Some("/sites"));
    // Remembered for the user, over the browser's choice and in a new session.
    let later = d.get("/sites", Some(&c), Some("en-US")).await;
    assert!(later.body.contains("站点") && later.body.contains("lang=\"zh-CN\""));
    let c2 = d.sign_in("plan").await;
    assert!(
        d.get("/", Some(&c2), Some("en"))
            .await
            .body
            .contains("渠道库存")
    );
    let bad = d
        .post(
            "/lang",
            Some(&c),
            &[("csrf", &csrf(&later.body)), ("lang", "fr")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("lang &quot;fr&quot; is not valid"),
        "{}",
        bad.body
    );
}

#[tokio::test]
async fn the_overview_shows_the_apis_figures_and_every_site() {
    let d = setup();
    let c = d.sign_in("view").await;
    let page = d.get("/", Some(&c), Some("en")).await.body;
    for id in ["BJ01", "DL01"] {
        assert!(
            page.contains(&format!("<code class=\"site-id\">{id}</code>")),
            "{id}"
        );
    }
    assert!(page.contains("never synced"), "the dealer has not synced");
    // Channel stock: the API's strings for the branch tier in 华北.
    let inv = d.api("/v1/inventory?by=kind,region").await;
    let row = inv
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "branch" && r["region"] == "华北")
        .expect("the branch's stock");
    let (on_hand, value) = (
        row["on_hand"].as_str().unwrap(),
        row["value"].as_str().unwrap(),
    );
    assert_eq!(on_hand, "1490");
    assert!(
        page.contains(&format!("data-value=\"{on_hand}\">1,490<")),
        "{page}"
    );
    assert!(
        page.contains(&format!("data-value=\"{value}\">")),
        "value {value}"
    );
    // Sell-through: 3 in the last four weeks, 7 in the four before, at 19.9.
    let since = (chrono::Local::now().date_naive() - Duration::days(27)).to_string();
    let sales = d.api(&format!("/v1/sales?by=kind&from={since}")).await;
    let revenue = sales[0]["revenue"].as_str().unwrap();
    assert_eq!(revenue, "59.7");
    assert!(page.contains(&format!("data-value=\"{revenue}\"")));
    assert!(page.contains("data-value=\"-4\""), "the change 3 − 7");
    assert!(page.contains("<svg id=\"chart-stock\""));
}

/// The `href`s of the drill-down links in a page, unescaped.
fn drills(page: &str) -> Vec<String> {
    page.match_indices("class=\"drill\" href=\"")
        .map(|(at, m)| {
            let rest = &page[at + m.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

#[tokio::test]
async fn the_inventory_drills_down_from_a_region_to_the_movements() {
    let d = setup();
    let c = d.sign_in("view").await;
    let page = d.get("/inventory", Some(&c), Some("en")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("data-value=\"1490\""), "{}", page.body);
    let links = drills(&page.body);
    assert_eq!(links, ["/inventory?by=site&region=%E5%8D%8E%E5%8C%97"]);
    let sites = d.get(&links[0], Some(&c), None).await;
    let links = drills(&sites.body);
    assert_eq!(links, ["/inventory?by=location%2Csku&site=BJ01"]);
    let lines = d.get(&links[0], Some(&c), None).await;
    assert_eq!(lines.status, StatusCode::OK);
    let links = drills(&lines.body);
    assert_eq!(
        links,
        [
            "/movements?site=BJ01&location=main&sku=%E8%8C%B6-1",
            "/inventory?by=location%2Clot&site=BJ01&sku=%E8%8C%B6-1"
        ]
    );
    // The SKU's lots at the site (one, without a lot number), each linking
    // to its movements.
    let lots = d.get(&links[1], Some(&c), Some("en")).await;
    assert_eq!(lots.status, StatusCode::OK, "{}", lots.body);
    let api = d
        .api("/v1/inventory?by=location,lot&site=BJ01&sku=%E8%8C%B6-1")
        .await;
    assert_eq!(api[0]["lot"], "", "{api}");
    assert!(lots.body.contains("data-value=\"1490\""));
    let links = drills(&lots.body);
    let lot_link = "/movements?site=BJ01&location=main&sku=%E8%8C%B6-1&lot=";
    assert_eq!(links, [lot_link, lot_link]);
    // The movements behind the figure: the receipt and both sales, and the
    // same rows as the API's.
    let moves = d.get(lot_link, Some(&c), Some("en")).await;
    assert_eq!(moves.status, StatusCode::OK, "{}", moves.body);
    let api = d
        .api("/v1/movements?site=BJ01&location=main&sku=%E8%8C%B6-1")
        .await;
    let qtys: Vec<&str> = api["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["qty"].as_str().unwrap())
        .collect();
    assert_eq!(qtys, ["1500", "-7", "-3"]);
    for q in qtys {
        assert!(moves.body.contains(&format!("data-value=\"{q}\"")), "{q}");
    }
    // Another lot has none.
    let api = d
        .api("/v1/movements?site=BJ01&sku=%E8%8C%B6-1&lot=L2")
        .await;
    assert_eq!(api["movements"], serde_json::json!([]));
    // Another SKU has none.
    let none = d
        .get("/movements?site=BJ01&sku=OTHER", Some(&c), None)
        .await;
    assert!(!none.body.contains("data-value"));
    // Bad input: a page naming the value, never an empty table.
    let bad = d.get("/inventory?site=NOPE", Some(&c), Some("en")).await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND, "{}", bad.body);
    assert!(bad.body.contains("NOPE"));
    let bad = d.get("/inventory?by=colour", Some(&c), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = d.get("/movements?after=garbage", Some(&c), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("after &quot;garbage&quot; is not valid"),
        "{}",
        bad.body
    );
}

#[tokio::test]
async fn transfers_in_transit_and_the_quarantine_have_pages() {
    let d = setup();
    {
        let mut store = Store::open(&d.home.db, false).unwrap();
        let send = WireMovement {
            counterparty: Some("DL01/main".into()),
            transfer_id: Some("T-BJ01-1".into()),
            ..movement(4, MovementKind::TransferOut, "BJ01", -10, 1)
        };
        // A sale of a positive quantity: quarantined, the rest applies.
        let bad = movement(5, MovementKind::Sale, "BJ01", 2, 1);
        let req = SyncRequest {
            from_seq: 4,
            movements: vec![send, bad],
            agent_last_seq: 5,
            transfers_cursor: 0,
            locations: Vec::new(),
            agent_time_ms: Utc::now().timestamp_millis(),
        };
        store
            .ingest(&SiteId::parse("BJ01").unwrap(), &req, Utc::now())
            .unwrap();
    }
    let c = d.sign_in("view").await;
    let t = d.get("/transfers", Some(&c), Some("en")).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    let api = d.api("/v1/transfers?open=true").await;
    assert_eq!(api[0]["id"], "T-BJ01-1", "{api}");
    assert!(
        t.body.contains("T-BJ01-1") && t.body.contains("data-value=\"10\""),
        "{}",
        t.body
    );
    assert!(t.body.contains("<strong id=\"open-count\">1</strong>"));
    let q = d.get("/quarantine", Some(&c), Some("zh-CN")).await;
    assert_eq!(q.status, StatusCode::OK);
    let api = d.api("/v1/quarantine").await;
    let reason = api[0]["reason"].as_str().unwrap();
    assert!(
        q.body.contains(&jxc_hub::web::page::esc(reason)),
        "{reason}: {}",
        q.body
    );
    assert!(
        q.body.contains("隔离记录")
            && q.body
                .contains("<strong id=\"quarantined-count\">1</strong>")
    );
    // A page past the end shows the last one.
    assert_eq!(
        d.get("/quarantine?page=99", Some(&c), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_sites_table_downloads_as_csv_and_excel() {
    let d = setup();
    let c = d.sign_in("view").await;
    for (path, kind, magic) in [
        (
            "/sites.csv",
            "text/csv; charset=utf-8",
            &b"\xEF\xBB\xBF"[..],
        ),
        (
            "/sites.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &b"PK"[..],
        ),
    ] {
        let res = d
            .app
            .clone()
            .oneshot(
                Request::get(path)
                    .header(header::COOKIE, format!("jxc_session={c}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()[header::CONTENT_TYPE], kind);
        let file = path.trim_start_matches('/');
        assert_eq!(
            res.headers()[header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"{file}\"").as_str()
        );
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(body.starts_with(magic), "{path}");
    }
    // Without a session: to sign-in, as every page.
    assert_eq!(
        d.get("/sites.xlsx", None, None).await.status,
        StatusCode::SEE_OTHER
    );
}

impl Dash {
    /// A download: its status, content type and bytes.
    async fn download(&self, path: &str, cookie: &str) -> (StatusCode, String, Vec<u8>) {
        let res = self
            .app
            .clone()
            .oneshot(
                Request::get(path)
                    .header(header::COOKIE, format!("jxc_session={cookie}"))
                    .header(header::ACCEPT_LANGUAGE, "en")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status();
        let kind = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map_or(String::new(), |v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, kind, body.to_vec())
    }
}

/// A CSV download's records (after its BOM), the heading first.
fn csv_records(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM")).unwrap();
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// An Excel download's first sheet, each cell as text (numbers as Excel
/// holds them), the heading first.
fn xlsx_rows(bytes: Vec<u8>) -> Vec<Vec<String>> {
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    let mut book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(f) => format!("{f}"),
                    Data::Int(i) => i.to_string(),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_sales_flow_page_shows_the_apis_figures_over_time_by_group_and_sell_in() {
    let d = setup();
    let c = d.sign_in("view").await;
    let page = d.get("/sales?period=month", Some(&c), Some("en")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let tomorrow = chrono::Local::now().date_naive() + Duration::days(1);
    let from = (tomorrow - Duration::days(84)).to_string();
    let window = format!("from={from}&to={tomorrow}");
    // Over time: each month's revenue is the API's string, charted.
    let months = d.api(&format!("/v1/sales?by=month&{window}")).await;
    assert!(!months.as_array().unwrap().is_empty());
    for m in months.as_array().unwrap() {
        let revenue = m["revenue"].as_str().unwrap();
        assert!(
            page.body.contains(&format!("data-value=\"{revenue}\"")),
            "{revenue}"
        );
    }
    assert!(page.body.contains("<svg id=\"chart-sales\""));
    // By region (the default group): 10 sold at 19.9, at 12.5 cost.
    let regions = d.api(&format!("/v1/sales?by=region&{window}")).await;
    let r = &regions[0];
    assert_eq!(r["region"], "华北");
    assert_eq!(r["revenue"], "199");
    for f in ["qty", "net_qty", "revenue", "cogs", "margin", "margin_pct"] {
        let v = r[f].as_str().unwrap();
        assert!(
            page.body.contains(&format!("data-value=\"{v}\"")),
            "{f} {v}"
        );
    }
    // A region links to its sites, a site to its categories.
    let links = drills(&page.body);
    assert!(
        links.contains(&"/sales?by=site&region=%E5%8D%8E%E5%8C%97".to_owned()),
        "{links:?}"
    );
    let sites = d
        .get("/sales?by=site&region=%E5%8D%8E%E5%8C%97", Some(&c), None)
        .await;
    assert_eq!(sites.status, StatusCode::OK);
    assert!(drills(&sites.body).contains(&"/sales?by=category&site=BJ01".to_owned()));
    // Sell-in against sell-through: the API's dealers.
    let channel = d.api(&format!("/v1/channel?by=region&{window}")).await;
    for row in channel.as_array().unwrap() {
        assert!(page.body.contains(&esc_json(&row["key"])), "{row}");
    }
    // In Chinese.
    let zh = d.get("/sales", Some(&c), Some("zh-CN")).await;
    assert!(zh.body.contains("销售流向") && zh.body.contains("毛利"));

    // Downloads: the whole table with the API's strings, Chinese intact.
    let (status, kind, csv) = d.download("/sales.csv?by=region&table=groups", &c).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "text/csv; charset=utf-8");
    let rows = csv_records(&csv);
    assert_eq!(rows[0][0], "Region");
    assert_eq!(rows[1][0], "华北");
    assert!(rows[1].contains(&"199".to_owned()), "{rows:?}");
    let (status, _, xlsx) = d.download("/sales.xlsx?period=month&table=time", &c).await;
    assert_eq!(status, StatusCode::OK);
    let sheet = xlsx_rows(xlsx);
    assert_eq!(sheet.len(), months.as_array().unwrap().len() + 1);
    assert_eq!(sheet[0][0], "Month");
    let (_, _, xlsx) = d.download("/sales.xlsx?table=groups", &c).await;
    let sheet = xlsx_rows(xlsx);
    assert_eq!(sheet[1][0], "华北");
    assert_eq!(sheet[1][4], "199", "revenue, a number in Excel");

    // Bad input names the field and the value.
    for (path, status, text) in [
        (
            "/sales?period=year",
            StatusCode::BAD_REQUEST,
            "period &quot;year&quot;",
        ),
        (
            "/sales?by=colour",
            StatusCode::BAD_REQUEST,
            "by &quot;colour&quot;",
        ),
        ("/sales?from=2026-13-01", StatusCode::BAD_REQUEST, "from"),
        ("/sales?kind=shop", StatusCode::BAD_REQUEST, "shop"),
        ("/sales?site=NOPE", StatusCode::NOT_FOUND, "NOPE"),
        (
            "/sales?period=day&from=2020-01-01",
            StatusCode::BAD_REQUEST,
            "choose a longer period",
        ),
        (
            "/sales.csv?table=all",
            StatusCode::BAD_REQUEST,
            "table &quot;all&quot;",
        ),
    ] {
        let a = d.get(path, Some(&c), Some("en")).await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert!(a.body.contains(text), "{path}: {}", a.body);
    }
}

/// A second SKU at BJ01 selling one a day on 18 of the last 40 days, with 2
/// left: below any reorder point.
fn with_a_line_to_reorder(d: &Dash) {
    let mut store = Store::open(&d.home.db, false).unwrap();
    let mut movements = vec![WireMovement {
        sku: "茶-2".into(),
        ..movement(4, MovementKind::Receipt, "BJ01", 20, 45)
    }];
    for i in 0..18 {
        movements.push(WireMovement {
            sku: "茶-2".into(),
            ..movement(5 + i, MovementKind::Sale, "BJ01", -1, 40 - 2 * i as i64)
        });
    }
    let req = SyncRequest {
        from_seq: 4,
        movements,
        agent_last_seq: 22,
        transfers_cursor: 0,
        locations: Vec::new(),
        agent_time_ms: Utc::now().timestamp_millis(),
    };
    store
        .ingest(&SiteId::parse("BJ01").unwrap(), &req, Utc::now())
        .unwrap();
}

/// A JSON string as the page writes it (HTML-escaped).
fn esc_json(v: &Value) -> String {
    jxc_hub::web::page::esc(v.as_str().unwrap())
}

#[tokio::test]
async fn the_planning_page_shows_reorder_suggestions_the_matrix_and_forecast_against_actual() {
    let d = setup();
    with_a_line_to_reorder(&d);
    let c = d.sign_in("plan").await;
    // The channel: sunk stock per site, each linking to its site's plan.
    let page = d.get("/planning", Some(&c), Some("en")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let sunk = d.api("/v1/plan/sunk?by=site").await;
    for row in sunk.as_array().unwrap() {
        let qty = row["qty"].as_str().unwrap();
        assert!(
            page.body.contains(&format!("data-value=\"{qty}\"")),
            "{row}"
        );
    }
    assert!(drills(&page.body).contains(&"/planning?site=BJ01".to_owned()));

    // One site: the API's suggestions, matrix and policy.
    let site = d.get("/planning?site=BJ01", Some(&c), Some("en")).await;
    assert_eq!(site.status, StatusCode::OK, "{}", site.body);
    let reorder = d.api("/v1/plan/reorder?site=BJ01").await;
    let reorder = reorder.as_array().unwrap();
    assert_eq!(reorder.len(), 1, "{reorder:?}");
    assert_eq!(reorder[0]["sku"], "茶-2");
    for f in ["qty", "need"] {
        let v = reorder[0][f].as_str().unwrap();
        assert!(
            site.body.contains(&format!("data-value=\"{v}\"")),
            "{f} {v}"
        );
    }
    let rop = reorder[0]["inputs"]["reorder_point"].as_str().unwrap();
    assert!(site.body.contains(&format!("data-value=\"{rop}\"")));
    let matrix = d.api("/v1/plan/matrix?site=BJ01").await;
    assert_eq!(matrix.as_array().unwrap().len(), 9);
    let lines: u64 = matrix
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["lines"].as_u64().unwrap())
        .sum();
    assert_eq!(lines, 2, "two lines at BJ01: {matrix}");
    for cell in matrix.as_array().unwrap() {
        let id = format!(
            "id=\"cell-{}{}\"",
            cell["abc"].as_str().unwrap(),
            cell["xyz"].as_str().unwrap()
        );
        let at = site.body.find(&id).expect("every cell");
        let shown = format!("<span data-value=\"{}\">", cell["lines"]);
        assert!(site.body[at..].starts_with(&id) && site.body[at..at + 300].contains(&shown));
    }
    // A cell's link lists its lines only.
    let a_cell = matrix
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["lines"].as_u64() > Some(0))
        .unwrap();
    let (abc, xyz) = (
        a_cell["abc"].as_str().unwrap(),
        a_cell["xyz"].as_str().unwrap(),
    );
    let filtered = d
        .get(
            &format!("/planning?site=BJ01&abc={abc}&xyz={xyz}"),
            Some(&c),
            None,
        )
        .await;
    let policy = d.api("/v1/plan/policy?site=BJ01").await;
    let in_cell: Vec<&Value> = policy
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["abc"] == abc && p["xyz"] == xyz)
        .collect();
    let (_, _, csv) = d
        .download(
            &format!("/planning.csv?site=BJ01&abc={abc}&xyz={xyz}&table=policy"),
            &c,
        )
        .await;
    assert_eq!(csv_records(&csv).len(), in_cell.len() + 1);
    assert!(filtered.body.contains(&format!(" · {abc}{xyz}</h2>")));

    // A chosen SKU: its forecast from 28 days ago against what sold.
    let since = (chrono::Local::now().date_naive() - Duration::days(28)).to_string();
    let series = d
        .get("/planning?site=BJ01&sku=%E8%8C%B6-2", Some(&c), Some("en"))
        .await;
    assert_eq!(series.status, StatusCode::OK, "{}", series.body);
    assert!(series.body.contains("<svg id=\"chart-forecast\""));
    let forecast = d
        .api(&format!(
            "/v1/plan/forecast?by=site,sku&site=BJ01&sku=%E8%8C%B6-2&as_of={since}"
        ))
        .await;
    let forecast = forecast.as_array().unwrap();
    assert_eq!(forecast.len(), 28, "one series, 28 days");
    assert!(forecast.iter().all(|f| f["sku"] == "茶-2"));
    let first = forecast[0]["qty"].as_str().unwrap();
    assert!(series.body.contains(&format!("data-value=\"{first}\"")));
    let backtest = d
        .api(&format!(
            "/v1/plan/backtest?by=site,sku&site=BJ01&sku=%E8%8C%B6-2&as_of={since}"
        ))
        .await;
    assert_eq!(backtest["series"], 1);
    assert!(series.body.contains("id=\"backtest\""));

    // Downloads of the site's tables; Excel keeps the Chinese SKU.
    let (status, _, xlsx) = d
        .download("/planning.xlsx?site=BJ01&table=reorder", &c)
        .await;
    assert_eq!(status, StatusCode::OK);
    let sheet = xlsx_rows(xlsx);
    assert_eq!(sheet.len(), 2);
    assert_eq!(sheet[1][0], "茶-2");
    let (status, _, csv) = d.download("/planning.csv?table=sunk", &c).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(csv_records(&csv).len(), sunk.as_array().unwrap().len() + 1);

    // Bad input names the field and the value.
    for (path, status, text) in [
        ("/planning?site=NOPE", StatusCode::NOT_FOUND, "NOPE"),
        (
            "/planning?site=BJ01&abc=D",
            StatusCode::BAD_REQUEST,
            "abc &quot;D&quot;",
        ),
        ("/planning?sku=x", StatusCode::BAD_REQUEST, "give site too"),
        (
            "/planning?site=BJ01&sku=x&category=y",
            StatusCode::BAD_REQUEST,
            "choose one",
        ),
        (
            "/planning?site=BJ01&sku=x&as_of=yesterday",
            StatusCode::BAD_REQUEST,
            "as_of",
        ),
        (
            "/planning.csv?table=reorder",
            StatusCode::BAD_REQUEST,
            "table &quot;reorder&quot;",
        ),
    ] {
        let a = d.get(path, Some(&c), Some("en")).await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert!(a.body.contains(text), "{path}: {}", a.body);
    }
    // The API refuses a series filter its grouping lacks, and an unknown site.
    for (path, status) in [
        (
            "/v1/plan/forecast?by=site,category&sku=x",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/plan/forecast?by=site,sku&category=x",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/plan/backtest?by=location,sku&location=main",
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/plan/sunk?site=NOPE", StatusCode::NOT_FOUND),
        ("/v1/plan/matrix?site=NOPE", StatusCode::NOT_FOUND),
    ] {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", d.admin_token))
            .body(Body::empty())
            .unwrap();
        let a = d.send(req).await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
    }
}

#[tokio::test]
async fn every_records_table_downloads_whole_as_csv_and_excel() {
    let d = setup();
    let c = d.sign_in("view").await;
    // Inventory by site and SKU: the API's rows, Chinese SKU intact.
    let api = d.api("/v1/inventory?by=site,sku").await;
    let (status, _, csv) = d.download("/inventory.csv?by=site,sku", &c).await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_records(&csv);
    assert_eq!(rows[0][..3], ["Site", "SKU", "On hand"]);
    assert_eq!(rows.len(), api.as_array().unwrap().len() + 1);
    assert_eq!(rows[1][..3], ["BJ01", "茶-1", "1490"]);
    let (_, _, xlsx) = d.download("/inventory.xlsx?by=site,sku", &c).await;
    let sheet = xlsx_rows(xlsx);
    assert_eq!(sheet[1][..3], ["BJ01", "茶-1", "1490"]);
    // Movements: all of them, from the cursor on, with exact figures.
    let (status, _, csv) = d.download("/movements.csv?site=BJ01", &c).await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_records(&csv);
    let qty = rows[0].iter().position(|h| h == "Qty").unwrap();
    let qtys: Vec<&str> = rows[1..].iter().map(|r| r[qty].as_str()).collect();
    assert_eq!(qtys, ["1500", "-7", "-3"]);
    let (_, _, csv) = d
        .download("/movements.csv?site=BJ01&after=BJ01:1", &c)
        .await;
    assert_eq!(csv_records(&csv).len(), 3, "after the cursor");
    let page = d.get("/movements?site=BJ01", Some(&c), None).await;
    assert!(page.body.contains("href=\"/movements.csv?site=BJ01\""));
    // Transfers and the quarantine download even when empty: a heading.
    for (path, first) in [("/transfers.csv", "ID"), ("/quarantine.csv", "Received")] {
        let (status, kind, csv) = d.download(path, &c).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(kind, "text/csv; charset=utf-8");
        assert_eq!(csv_records(&csv)[0][0], first, "{path}");
    }
    let (status, _, xlsx) = d.download("/quarantine.xlsx", &c).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(xlsx_rows(xlsx).len(), 1);
    // A bad filter is refused for a download as for the page.
    let (status, _, _) = d.download("/inventory.csv?site=NOPE", &c).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_planner_marks_a_suggestion_ordered_or_dismissed_and_a_viewer_cannot() {
    let d = setup();
    with_a_line_to_reorder(&d);
    let today = chrono::Local::now().date_naive().to_string();
    let viewer = d.sign_in("view").await;
    let page = d.get("/planning?site=BJ01", Some(&viewer), None).await;
    assert!(
        !page.body.contains("/planning/decide"),
        "no forms for a viewer"
    );
    let token = csrf(&page.body);
    let form = |decision: &'static str, qty: &'static str, note: &'static str| {
        vec![
            ("site", "BJ01"),
            ("location", "main"),
            ("sku", "茶-2"),
            ("as_of", today.as_str()),
            ("decision", decision),
            ("qty", qty),
            ("note", note),
        ]
    };
    let mut f = form("ordered", "10", "");
    f.push(("csrf", &token));
    let a = d.post("/planning/decide", Some(&viewer), &f).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let planner = d.sign_in("plan").await;
    let page = d
        .get("/planning?site=BJ01", Some(&planner), Some("en"))
        .await;
    assert!(page.body.contains("action=\"/planning/decide\""));
    let token = csrf(&page.body);
    // Without the session's CSRF token: refused.
    let a = d
        .post(
            "/planning/decide",
            Some(&planner),
            &form("ordered", "10", ""),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let mut f = form("ordered", "12.5", "调拨单 T-88");
    f.push(("csrf", &token));
    let a = d.post("/planning/decide", Some(&planner), &f).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location.as_deref(), Some("/planning?site=BJ01#reorder"));
    // The API and the page show it.
    let reorder = d.api("/v1/plan/reorder?site=BJ01").await;
    let decision = &reorder[0]["decision"];
    assert_eq!(decision["decision"], "ordered", "{reorder}");
    assert_eq!(decision["qty"], "12.5");
    assert_eq!(decision["decided_by"], "plan");
    assert_eq!(decision["note"], "调拨单 T-88");
    let page = d
        .get("/planning?site=BJ01", Some(&planner), Some("en"))
        .await;
    assert!(
        page.body.contains("ordered 12.5 · 调拨单 T-88"),
        "{}",
        page.body
    );
    // Dismissed replaces it for the day.
    let mut f = form("dismissed", "", "");
    f.push(("csrf", &token));
    let a = d.post("/planning/decide", Some(&planner), &f).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let reorder = d.api("/v1/plan/reorder?site=BJ01").await;
    assert_eq!(reorder[0]["decision"]["decision"], "dismissed");
    assert!(reorder[0]["decision"]["qty"].is_null());
    // Bad input names the field.
    for (decision, qty, site, text, status) in [
        (
            "ordered",
            "-1",
            "BJ01",
            "qty &quot;-1&quot;",
            StatusCode::BAD_REQUEST,
        ),
        (
            "ordered",
            "lots",
            "BJ01",
            "qty &quot;lots&quot;",
            StatusCode::BAD_REQUEST,
        ),
        (
            "bought",
            "1",
            "BJ01",
            "decision &quot;bought&quot;",
            StatusCode::BAD_REQUEST,
        ),
        ("ordered", "1", "NOPE", "NOPE", StatusCode::NOT_FOUND),
    ] {
        let f = vec![
            ("csrf", token.as_str()),
            ("site", site),
            ("location", "main"),
            ("sku", "茶-2"),
            ("as_of", today.as_str()),
            ("decision", decision),
            ("qty", qty),
        ];
        let a = d.post("/planning/decide", Some(&planner), &f).await;
        assert_eq!(a.status, status, "{decision} {qty}: {}", a.body);
        assert!(a.body.contains(text), "{}", a.body);
    }
    // The download leaves the forms out.
    let (_, _, csv) = d
        .download("/planning.csv?site=BJ01&table=reorder", &planner)
        .await;
    let rows = csv_records(&csv);
    assert_eq!(rows[0].last().unwrap(), "Decided by");
    assert_eq!(rows[1].last().unwrap(), "plan");
}

#[tokio::test]
async fn a_planner_acknowledges_an_open_alert_once() {
    use jxc_hub::alert::rules::{Channels, Condition, Origin, Rule, Scope};
    let d = setup();
    {
        // A stock-out rule, and a sale that empties a line.
        let mut store = Store::open(&d.home.db, false).unwrap();
        let rule = Rule::new(
            "out",
            Condition::StockOut,
            Scope::default(),
            Channels {
                webhook: true,
                email: false,
            },
            Origin::Database,
        )
        .unwrap();
        store.add_alert_rule(&rule, Utc::now()).unwrap();
        let req = SyncRequest {
            from_seq: 4,
            movements: vec![movement(4, MovementKind::Sale, "BJ01", -1490, 0)],
            agent_last_seq: 4,
            transfers_cursor: 0,
            locations: Vec::new(),
            agent_time_ms: Utc::now().timestamp_millis(),
        };
        let (resp, stats) = store
            .ingest(&SiteId::parse("BJ01").unwrap(), &req, Utc::now())
            .unwrap();
        let e = jxc_hub::alert::after_ingest(
            &mut store,
            &HubConfig::default(),
            "BJ01",
            4,
            resp.hwm,
            &stats,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(e.raised, 1);
    }
    let alerts = d.api("/v1/alerts?open=true").await;
    let id = alerts[0]["id"].as_i64().unwrap();
    assert!(alerts[0]["acked_by"].is_null());
    let path = format!("/alerts/{id}/ack");

    let viewer = d.sign_in("view").await;
    let page = d.get("/alerts", Some(&viewer), Some("en")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("茶-1") && !page.body.contains(&path));
    let token = csrf(&page.body);
    let a = d
        .post(&path, Some(&viewer), &[("csrf", &token), ("note", "x")])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let planner = d.sign_in("plan").await;
    let page = d.get("/alerts", Some(&planner), Some("en")).await;
    assert!(page.body.contains(&format!("action=\"{path}\"")));
    let token = csrf(&page.body);
    let a = d.post(&path, Some(&planner), &[("note", "补货中")]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "no CSRF token");
    let a = d
        .post(
            &path,
            Some(&planner),
            &[("csrf", &token), ("note", "补货中")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let alerts = d.api("/v1/alerts?open=true").await;
    assert_eq!(alerts[0]["acked_by"], "plan");
    assert_eq!(alerts[0]["ack_note"], "补货中");
    assert_eq!(alerts[0]["state"], "open", "it stays open until it clears");
    let page = d.get("/alerts", Some(&planner), Some("en")).await;
    assert!(page.body.contains("补货中") && !page.body.contains(&path));
    // Once only; an unknown alert, a bad id, a long note.
    let a = d
        .post(
            &path,
            Some(&planner),
            &[("csrf", &token), ("note", "again")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(
        a.body.contains("acknowledged already, by plan"),
        "{}",
        a.body
    );
    let a = d
        .post("/alerts/999/ack", Some(&planner), &[("csrf", &token)])
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = d
        .post("/alerts/x/ack", Some(&planner), &[("csrf", &token)])
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let long = "长".repeat(501);
    let a = d
        .post(&path, Some(&planner), &[("csrf", &token), ("note", &long)])
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("at most 500"));
    // Every state, and the download.
    let all = d.get("/alerts?show=all", Some(&viewer), None).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        d.get("/alerts?show=some", Some(&viewer), None).await.status,
        StatusCode::BAD_REQUEST
    );
    let (status, _, csv) = d.download("/alerts.csv", &viewer).await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_records(&csv);
    assert_eq!(rows.len(), 2);
    assert!(rows[1].contains(&"补货中".to_owned()));
}

#[tokio::test]
async fn an_admin_makes_an_enrollment_token_that_enrolls_once() {
    let d = setup();
    let admin = d.sign_in("王芳").await;
    let sites = d.get("/sites", Some(&admin), Some("en")).await;
    assert!(sites.body.contains("action=\"/sites/token\""));
    let token = csrf(&sites.body);
    let a = d
        .post(
            "/sites/token",
            Some(&admin),
            &[
                ("csrf", &token),
                ("site", "SH02"),
                ("kind", "dealer"),
                ("name", "上海 \"二店\", 徐汇"),
                ("region", "华东"),
                ("ttl", "2h"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let at = a.body.find("<code id=\"token\" class=\"record\">").unwrap() + 32;
    let printed = &a.body[at..at + a.body[at..].find('<').unwrap()];
    assert!(printed.starts_with("jxc1."), "{printed}");
    assert!(a.body.contains(&format!("--token {printed}")));
    // It enrolls the site it names, once.
    let parts: Vec<&str> = printed.split('.').collect();
    let mut store = Store::open(&d.home.db, false).unwrap();
    let (enrolling, ()) = store
        .redeem_token(parts[1], parts[2], Utc::now(), |_, _| Ok(()))
        .unwrap();
    let site = enrolling.site;
    assert_eq!(site.id.as_str(), "SH02");
    assert_eq!(site.name, "上海 \"二店\", 徐汇");
    assert_eq!(site.region, "华东");
    assert!(
        store
            .redeem_token(parts[1], parts[2], Utc::now(), |_, _| Ok(()))
            .is_err()
    );
    // Bad input names the field; a planner may not.
    for (field, value, text) in [
        ("kind", "shop", "shop"),
        ("ttl", "forever", "ttl &quot;forever&quot;"),
        ("site", "", "site"),
    ] {
        let mut form = vec![
            ("csrf", token.as_str()),
            ("site", "SH03"),
            ("kind", "dealer"),
            ("ttl", "24h"),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let a = d.post("/sites/token", Some(&admin), &form).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{field}: {}", a.body);
        assert!(a.body.contains(text), "{field}: {}", a.body);
    }
    let planner = d.sign_in("plan").await;
    let page = d.get("/sites", Some(&planner), None).await;
    assert!(!page.body.contains("/sites/token"));
    let a = d
        .post(
            "/sites/token",
            Some(&planner),
            &[
                ("csrf", &csrf(&page.body)),
                ("site", "X1"),
                ("kind", "dealer"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}
