//! The hub's HTTP API tested through its `Router` with `oneshot`: every
//! refusal at the door, and ingest's rules (gapless, idempotent, quarantine)
//! as an agent sees them. The TLS layer's `PeerCert` is injected the way the
//! accept loop injects it.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use chrono::{TimeZone, Utc};
use jxc_hub::cli;
use jxc_hub::config::{HubConfig, HubHome};
use jxc_hub::http::api::{self, Hub};
use jxc_hub::store::{NewSite, Store};
use jxc_hub::tls::PeerCert;
use jxc_shared::protocol::{self, SyncRequest, SyncResponse, WireMovement};
use jxc_shared::{MovementKind, SiteId, SiteKind};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct TestHub {
    dir: tempfile::TempDir,
    /// SQLite in `dir`, or PostgreSQL with `JXC_TEST_BACKEND=postgres`.
    home: HubHome,
    app: Router,
    hub: Arc<Hub>,
    admin: String,
}

fn setup() -> TestHub {
    setup_with(jxc_hub::config::Limits::default())
}

/// A hub with `limits`, on the backend `JXC_TEST_BACKEND` names.
fn setup_with(limits: jxc_hub::config::Limits) -> TestHub {
    let dir = tempfile::tempdir().unwrap();
    let home = HubHome::new(
        dir.path().to_path_buf(),
        jxc_testkit::database_url("api").as_deref(),
    )
    .unwrap();
    let (ca, admin) = cli::init(&home, &[]).unwrap();
    let config = HubConfig {
        stale_after_secs: 900,
        client_cert_days: 30,
        ..HubConfig::default()
    };
    let hub = Arc::new(
        Hub::open(&home.db, ca, &config)
            .unwrap()
            .with_limits(limits),
    );
    TestHub {
        app: api::router(hub.clone()),
        hub,
        dir,
        home,
        admin,
    }
}

impl TestHub {
    async fn call(&self, req: Request<Body>) -> (StatusCode, Bytes) {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        (
            status,
            axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap(),
        )
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> (StatusCode, Value) {
        let mut req = Request::get(path);
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let (status, body) = self.call(req.body(Body::empty()).unwrap()).await;
        (
            status,
            serde_json::from_slice(&body)
                .unwrap_or(Value::String(String::from_utf8_lossy(&body).into())),
        )
    }

    fn token(&self, site: &str) -> String {
        let new = NewSite {
            id: SiteId::parse(site).unwrap(),
            kind: SiteKind::Branch,
            name: site.into(),
            region: "north".into(),
        };
        cli::make_token(&self.home, new, chrono::Duration::hours(1))
            .unwrap()
            .to_string()
    }

    async fn enroll_raw(&self, token: &str, csr_pem: &str) -> (StatusCode, Value) {
        self.enroll_body(serde_json::json!({ "token": token, "csr_pem": csr_pem }))
            .await
    }

    async fn enroll_body(&self, body: Value) -> (StatusCode, Value) {
        let body = body.to_string();
        let req = Request::post("/v1/enroll")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let (status, body) = self.call(req).await;
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// Enrolls `site` and returns its client certificate (DER).
    async fn enroll(&self, site: &str) -> Vec<u8> {
        let (status, v) = self.enroll_raw(&self.token(site), &csr(site)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        CertificateDer::from_pem_slice(v["cert_pem"].as_str().unwrap().as_bytes())
            .unwrap()
            .to_vec()
    }

    async fn sync_raw(
        &self,
        cert: Option<&[u8]>,
        version: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Bytes) {
        let mut req =
            Request::post("/v1/sync").header(header::CONTENT_TYPE, protocol::CONTENT_TYPE);
        if let Some(v) = version {
            req = req.header(protocol::PROTOCOL_HEADER, v);
        }
        let mut req = req.body(Body::from(body)).unwrap();
        req.extensions_mut()
            .insert(PeerCert(cert.map(|c| Arc::new(c.to_vec()))));
        self.call(req).await
    }

    async fn sync(&self, cert: &[u8], req: &SyncRequest) -> SyncResponse {
        let (status, body) = self
            .sync_raw(Some(cert), Some("1"), protocol::encode(req))
            .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        protocol::decode("sync response", &body).unwrap()
    }
}

fn csr(site: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, site);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn movement(site: &str, seq: u64, qty_micro: i64) -> WireMovement {
    let t = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .unwrap();
    WireMovement {
        seq,
        kind: if qty_micro > 0 {
            MovementKind::Receipt
        } else {
            MovementKind::Sale
        },
        location: format!("{site}/main"),
        sku: "茶-1".into(),
        lot: String::new(),
        qty_micro,
        unit_cost: "12.5".into(),
        unit_price: (qty_micro < 0).then(|| "19.9".into()),
        counterparty: Some("张三, Ltd".into()),
        reference: None,
        reason: None,
        transfer_id: None,
        occurred_ms: t.timestamp_millis(),
        offset_min: 480,
        recorded_ms: t.timestamp_millis() + 1_000,
    }
}

fn batch(from_seq: u64, movements: Vec<WireMovement>) -> SyncRequest {
    let last = movements.last().map_or(from_seq - 1, |m| m.seq);
    SyncRequest {
        from_seq,
        movements,
        agent_last_seq: last,
        transfers_cursor: 0,
        locations: vec![],
        agent_time_ms: Utc::now().timestamp_millis(),
    }
}

#[tokio::test]
async fn health_and_openapi_need_no_credentials_and_openapi_lists_every_route() {
    let h = setup();
    let (status, body) = h
        .call(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok\n"[..]));
    let (status, doc) = h.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let src = include_str!("../src/http/api.rs");
    let mut routes = 0;
    for chunk in src.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap();
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} is missing from /openapi.json"
        );
        routes += 1;
    }
    assert!(routes >= 11, "found only {routes} routes");
}

#[tokio::test]
async fn enrollment_refuses_reused_foreign_and_garbage_tokens_and_keeps_a_token_on_a_bad_csr() {
    let h = setup();
    let token = h.token("BJ01");
    let (status, v) = h.enroll_raw(&token, "not a csr").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // The bad CSR did not spend the token.
    let (status, v) = h.enroll_raw(&token, &csr("BJ01")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["site"], "BJ01");
    let (status, v) = h.enroll_raw(&token, &csr("BJ01")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("already used"), "{v}");

    // A token for SH01 used by BJ01's agent is refused and not spent.
    let other = h.token("SH01");
    let (status, v) = h.enroll_raw(&other, &csr("BJ01")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("enrolls site SH01"),
        "{v}"
    );
    let (status, v) = h.enroll_raw(&other, &csr("SH01")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same token still enrolls SH01: {v}"
    );

    let foreign = format!("{}{}", &other[..other.len() - 64], "a".repeat(64));
    let (status, v) = h.enroll_raw(&foreign, &csr("SH01")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("another hub"), "{v}");
    let (status, _) = h.enroll_raw("jxc1.nonsense", &csr("SH01")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn enrollment_binds_the_agents_document_actor_or_refuses_it_keeping_the_token() {
    let h = setup();
    let enroll = |token: String, site: &'static str, actor: String| {
        let h = &h;
        async move {
            h.enroll_body(serde_json::json!({
                "token": token, "csr_pem": csr(site), "doc_actor": actor,
            }))
            .await
        }
    };
    let bj = h.token("BJ01");
    let (status, v) = enroll(bj.clone(), "BJ01", "zz".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("doc_actor \"zz\""),
        "{v}"
    );
    let hq = jxc_shared::docs::hub_actor(cli::load_ca(&h.home).unwrap().cert_der());
    let (status, v) = enroll(bj.clone(), "BJ01", hq.to_hex_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("HQ's own"), "{v}");
    let mine = "0123456789abcdef0123456789abcdef".to_owned();
    let (status, v) = enroll(bj, "BJ01", mine.clone()).await;
    assert_eq!(status, StatusCode::OK, "the token was kept: {v}");

    // A copy of BJ01's data directory enrolling as SH01 is refused, and the
    // token still enrolls SH01 from a directory of its own.
    let sh = h.token("SH01");
    let (status, v) = enroll(sh.clone(), "SH01", mine.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("already writes for site BJ01"),
        "{v}"
    );
    let (status, v) = enroll(sh, "SH01", "fedcba9876543210fedcba9876543210".into()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // BJ01 re-enrolling from the same directory keeps its actor.
    let (status, v) = enroll(h.token("BJ01"), "BJ01", mine).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// (client cert, protocol header, body, expected status, text in the answer)
type DoorCase<'a> = (
    Option<&'a [u8]>,
    Option<&'a str>,
    Vec<u8>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn sync_refuses_bad_doors_before_applying_anything() {
    let h = setup();
    let cert = h.enroll("BJ01").await;
    let good = protocol::encode(&batch(1, vec![movement("BJ01", 1, 5_000_000)]));
    let cases: Vec<DoorCase<'_>> = vec![
        (
            None,
            Some("1"),
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "client certificate",
        ),
        (
            Some(&cert),
            None,
            good.clone(),
            StatusCode::BAD_REQUEST,
            "protocol version",
        ),
        (
            Some(&cert),
            Some("99"),
            good.clone(),
            StatusCode::BAD_REQUEST,
            "protocol version 99",
        ),
        (
            Some(&cert),
            Some("1"),
            b"garbage".to_vec(),
            StatusCode::BAD_REQUEST,
            "zstd",
        ),
        (
            Some(&cert),
            Some("1"),
            zstd::bulk::compress(&[1, 2, 3], 1).unwrap(),
            StatusCode::BAD_REQUEST,
            "decode",
        ),
        (
            Some(&cert),
            Some("1"),
            zstd::bulk::compress(&vec![0; 5 << 20], 1).unwrap(),
            StatusCode::BAD_REQUEST,
            "exceeds",
        ),
        (
            Some(&cert),
            Some("1"),
            vec![0; 5 << 20],
            StatusCode::PAYLOAD_TOO_LARGE,
            // JSON, as the OpenAPI document says, not axum's plain text.
            r#"{"error":"the sync batch is larger than the 4194304 bytes"#,
        ),
        (
            Some(b"not a certificate"),
            Some("1"),
            good.clone(),
            StatusCode::FORBIDDEN,
            "",
        ),
    ];
    for (cert, version, body, want, text) in cases {
        let (status, body) = h.sync_raw(cert, version, body).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, want, "{body}");
        assert!(body.contains(text), "{text:?} not in {body}");
    }
    // Seqs that skip or repeat are refused whole.
    for seqs in [[1, 2, 4], [1, 2, 2]] {
        let req = batch(
            1,
            seqs.iter()
                .map(|&s| movement("BJ01", s, 1_000_000))
                .collect(),
        );
        let (status, body) = h
            .sync_raw(Some(&cert), Some("1"), protocol::encode(&req))
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let (_, v) = h.get("/v1/movements", Some(&h.admin)).await;
    assert_eq!(
        v["movements"].as_array().unwrap().len(),
        0,
        "nothing may have been applied: {v}"
    );
}

#[tokio::test]
async fn ingest_is_gapless_idempotent_and_quarantines_without_blocking() {
    let h = setup();
    let cert = h.enroll("BJ01").await;
    let first = batch(
        1,
        (1..=3).map(|s| movement("BJ01", s, 10_000_000)).collect(),
    );
    let r = h.sync(&cert, &first).await;
    assert_eq!((r.hwm, r.accepted, r.duplicates), (3, 3, 0));
    // Replaying the same request changes nothing.
    let r = h.sync(&cert, &first).await;
    assert_eq!((r.hwm, r.accepted, r.duplicates), (3, 0, 3));
    // A batch that would leave a gap is not applied; the hwm tells where to resume.
    let r = h
        .sync(&cert, &batch(6, vec![movement("BJ01", 6, 1_000_000)]))
        .await;
    assert_eq!((r.hwm, r.accepted), (3, 0));

    // seq 4 names another site's location, seq 5 has a negative cost, seq 6
    // the wrong sign for a sale: each is quarantined, seq 7 still applies.
    let mut bad_loc = movement("BJ01", 4, 1_000_000);
    bad_loc.location = "SH01/main".into();
    let mut bad_cost = movement("BJ01", 5, 1_000_000);
    bad_cost.unit_cost = "-3".into();
    let mut bad_sign = movement("BJ01", 6, 1_000_000);
    bad_sign.kind = MovementKind::Sale;
    // The largest quantity at the largest cost cannot be valued: refused, no panic.
    let mut huge = movement("BJ01", 7, i64::MAX);
    huge.unit_cost = "999999999999.999999".into();
    let r = h
        .sync(
            &cert,
            &batch(
                4,
                vec![
                    bad_loc,
                    bad_cost,
                    bad_sign,
                    huge,
                    movement("BJ01", 8, -2_500_000),
                ],
            ),
        )
        .await;
    assert_eq!((r.hwm, r.accepted), (8, 1));
    let reasons: Vec<(u64, &str)> = r
        .quarantined
        .iter()
        .map(|q| (q.seq, q.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0].1.contains("SH01/main") && reasons[0].1.contains("does not own"),
        "{reasons:?}"
    );
    assert!(reasons[1].1.contains("unit_cost"), "{reasons:?}");
    assert!(reasons[2].1.contains("wrong sign"), "{reasons:?}");
    assert!(reasons[3].1.contains("too large to value"), "{reasons:?}");

    // The same seq with different content is a conflict; the first version stays.
    let mut changed = movement("BJ01", 2, 99_000_000);
    changed.counterparty = Some("someone else".into());
    let r = h.sync(&cert, &batch(2, vec![changed])).await;
    assert_eq!(r.quarantined.len(), 1);
    assert!(
        r.quarantined[0].reason.starts_with("conflict"),
        "{:?}",
        r.quarantined
    );
    // Replaying a quarantined (refused) record is a harmless duplicate, not a conflict.
    let mut again = movement("BJ01", 5, 1_000_000);
    again.unit_cost = "-3".into();
    let r = h.sync(&cert, &batch(5, vec![again])).await;
    assert_eq!((r.duplicates, r.quarantined.len()), (1, 0));

    let (_, q) = h.get("/v1/quarantine", Some(&h.admin)).await;
    let kinds: Vec<&str> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["refused", "refused", "refused", "refused", "conflict"]
    );
    let (_, inv) = h.get("/v1/inventory?by=location", Some(&h.admin)).await;
    assert_eq!(inv[0]["key"], "BJ01/main");
    assert_eq!(inv[0]["on_hand"], "27.5");
    assert_eq!(inv[0]["value"], "343.75");
    assert_eq!(inv[0]["unvalued"], "0", "a branch shares its costs");
    let (_, m) = h.get("/v1/movements?site=BJ01", Some(&h.admin)).await;
    let qtys: Vec<&str> = m["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["qty"].as_str().unwrap())
        .collect();
    assert_eq!(qtys, ["10", "10", "10", "-2.5"]);
}

#[tokio::test]
async fn a_revoked_or_replaced_certificate_is_refused() {
    let h = setup();
    let old = h.enroll("BJ01").await;
    let new = h.enroll("BJ01").await;
    let req = protocol::encode(&batch(1, vec![]));
    let (status, body) = h.sync_raw(Some(&old), Some("1"), req.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        h.sync_raw(Some(&new), Some("1"), req.clone()).await.0,
        StatusCode::OK
    );
    Store::open(&h.home.db, false)
        .unwrap()
        .revoke(&SiteId::parse("BJ01").unwrap(), Utc::now())
        .unwrap();
    let (status, body) = h.sync_raw(Some(&new), Some("1"), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&body).contains("revoked"));
}

#[tokio::test]
async fn hq_endpoints_need_a_bearer_token_and_check_their_parameters() {
    let h = setup();
    let viewer = "jxch_viewer_token_for_tests";
    Store::open(&h.home.db, false)
        .unwrap()
        .add_user(
            "ops",
            jxc_hub::store::Role::Viewer,
            viewer,
            None,
            Utc::now(),
        )
        .unwrap();
    for path in [
        "/v1/inventory",
        "/v1/sites",
        "/v1/movements",
        "/v1/transfers",
        "/v1/quarantine",
        "/metrics",
    ] {
        assert_eq!(
            h.get(path, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            h.get(path, Some("wrong")).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(h.get(path, Some(viewer)).await.0, StatusCode::OK, "{path}");
    }
    for bad in [
        "/v1/inventory?by=colour",
        "/v1/movements?limit=0",
        "/v1/movements?after=nonsense",
    ] {
        let (status, v) = h.get(bad, Some(viewer)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v["error"].is_string());
    }
}

#[tokio::test]
async fn movements_page_with_a_cursor_and_metrics_count_ingest() {
    let h = setup();
    let a = h.enroll("A1").await;
    let b = h.enroll("B1").await;
    h.sync(
        &a,
        &batch(1, (1..=5).map(|s| movement("A1", s, 1_000_000)).collect()),
    )
    .await;
    h.sync(
        &b,
        &batch(1, (1..=4).map(|s| movement("B1", s, 1_000_000)).collect()),
    )
    .await;
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            None => "/v1/movements?limit=4".to_owned(),
            Some(c) => format!("/v1/movements?limit=4&after={c}"),
        };
        let (_, page) = h.get(&path, Some(&h.admin)).await;
        for m in page["movements"].as_array().unwrap() {
            seen.push(format!("{}:{}", m["site"].as_str().unwrap(), m["seq"]));
        }
        match page["next"].as_str() {
            Some(c) => next = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "A1:1", "A1:2", "A1:3", "A1:4", "A1:5", "B1:1", "B1:2", "B1:3", "B1:4"
        ]
    );

    let (_, v) = h.get("/v1/sites", Some(&h.admin)).await;
    assert_eq!(v[0]["freshness"], "fresh");
    let (status, body) = h
        .call(
            Request::get("/metrics")
                .header(header::AUTHORIZATION, format!("Bearer {}", h.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("jxc_movements_ingested_total 9"), "{text}");
    assert!(text.contains("jxc_sync_batches_total 2"), "{text}");
    assert!(
        text.contains("jxc_site_unsynced_movements{site=\"A1\"} 0"),
        "{text}"
    );
}

/// A request body that sends `first` bytes and then nothing more, ever: a
/// client still uploading (or one that never finishes).
struct Unfinished {
    first: usize,
    sent: bool,
}

impl hyper::body::Body for Unfinished {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if self.sent {
            return std::task::Poll::Pending;
        }
        self.sent = true;
        let chunk = Bytes::from(vec![0u8; self.first]);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
    }
}

fn upload(path: &str, cert: Option<&[u8]>, first: usize) -> Request<Body> {
    let mut req = Request::post(path)
        .header(header::CONTENT_TYPE, protocol::CONTENT_TYPE)
        .header(protocol::PROTOCOL_HEADER, "1")
        .header(header::CONTENT_LENGTH, "3999999")
        .body(Body::new(Unfinished { first, sent: false }))
        .unwrap();
    req.extensions_mut()
        .insert(PeerCert(cert.map(|c| Arc::new(c.to_vec()))));
    req
}

#[tokio::test]
async fn uploads_are_refused_by_certificate_and_revocation_before_their_body_is_read() {
    let h = setup();
    let cert = h.enroll("BJ01").await;
    for path in ["/v1/sync", "/v1/docs"] {
        // The body never ends: only an answer that does not wait for it
        // arrives (within a generous bound).
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            h.call(upload(path, None, 1 << 20)),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: the hub waited for the body of a stranger"));
        assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    Store::open(&h.home.db, false)
        .unwrap()
        .revoke(&SiteId::parse("BJ01").unwrap(), Utc::now())
        .unwrap();
    for path in ["/v1/sync", "/v1/docs"] {
        let (status, body) = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            h.call(upload(path, Some(&cert), 1 << 20)),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: the hub waited for a revoked site's body"));
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(String::from_utf8_lossy(&body).contains("revoked"), "{path}");
        // A revoked certificate with a garbage body: still 403, not 400.
        let mut req = Request::post(path)
            .header(protocol::PROTOCOL_HEADER, "1")
            .body(Body::from("garbage"))
            .unwrap();
        req.extensions_mut()
            .insert(PeerCert(Some(Arc::new(cert.clone()))));
        let (status, body) = h.call(req).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test]
async fn a_slow_body_is_cut_off_by_the_body_timeout_and_limits_answer_json() {
    let h = setup_with(jxc_hub::config::Limits {
        body_timeout_secs: 1,
        ..Default::default()
    });
    let cert = h.enroll("BJ01").await;
    let (status, body) = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        h.call(upload("/v1/sync", Some(&cert), 1000)),
    )
    .await
    .expect("the body timeout answers");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("within 1 s"), "{v}");

    // An enrollment larger than 64 KiB: 413, as JSON, declared or not.
    let big = serde_json::json!({ "token": "x".repeat(70 * 1024), "csr_pem": "" });
    let (status, v) = h.enroll_body(big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(v["error"].as_str().unwrap().contains("65536 bytes"), "{v}");
    let req = Request::post("/v1/enroll")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "70000")
        .body(Body::new(Unfinished {
            first: 10,
            sent: false,
        }))
        .unwrap();
    let (status, body) = h.call(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["error"].is_string());
}

#[tokio::test]
async fn a_token_of_another_kind_or_region_is_refused_and_kept() {
    let h = setup();
    // The test hub's tokens are for branches in region "north".
    let token = h.token("BJ01");
    let (status, v) = h
        .enroll_body(serde_json::json!({
            "token": token, "csr_pem": csr("BJ01"), "site": "BJ01", "kind": "dealer"
        }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("branch") && e.contains("dealer") && e.contains("still valid"),
        "{e}"
    );
    let (status, v) = h
        .enroll_body(serde_json::json!({
            "token": token, "csr_pem": csr("BJ01"), "site": "BJ01", "kind": "branch", "region": "south"
        }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("\"north\"") && e.contains("\"south\""), "{e}");
    let (status, v) = h
        .enroll_body(serde_json::json!({
            "token": token, "csr_pem": csr("BJ01"), "site": "SH01", "kind": "branch"
        }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // The token was never spent: the right agent enrolls with it.
    let (status, v) = h
        .enroll_body(serde_json::json!({
            "token": token, "csr_pem": csr("BJ01"), "site": "BJ01", "kind": "branch", "region": "north"
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], "branch");
}

#[tokio::test]
async fn loose_ends_of_the_door() {
    let h = setup();
    // Every 401 names the credential its route wants.
    for (path, scheme) in [
        ("/v1/sync", "jxc-client-certificate"),
        ("/v1/docs", "jxc-client-certificate"),
        ("/v1/enroll", "jxc-enroll-token"),
        ("/v1/inventory", "Bearer"),
    ] {
        let req = if path == "/v1/inventory" {
            Request::get(path).body(Body::empty()).unwrap()
        } else {
            let body = if path == "/v1/enroll" {
                r#"{"token":"jxc1.a.b.c","csr_pem":""}"#
            } else {
                "x"
            };
            let mut req = Request::post(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(protocol::PROTOCOL_HEADER, "1")
                .body(Body::from(body))
                .unwrap();
            req.extensions_mut().insert(PeerCert(None));
            req
        };
        let res = h.app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = res
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .unwrap_or_else(|| panic!("{path}: a 401 without WWW-Authenticate"))
            .to_str()
            .unwrap();
        assert!(challenge.starts_with(scheme), "{path}: {challenge}");
        assert!(
            challenge.contains(r#"realm="jxc-hub""#),
            "{path}: {challenge}"
        );
    }

    // The OpenAPI document declares exactly the protocol versions accepted.
    let (_, doc) = h.get("/openapi.json", None).await;
    for path in ["/v1/sync", "/v1/docs"] {
        let header = doc["paths"][path]["post"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == protocol::PROTOCOL_HEADER)
            .unwrap();
        let allowed = header["schema"]["enum"].as_array().unwrap();
        assert_eq!(allowed, &vec![Value::from("1")], "{path}");
        for v in allowed {
            assert!(protocol::check_version(v.as_str()).is_ok());
        }
        assert!(protocol::check_version(Some("2")).is_err());
        assert!(
            doc["paths"][path]["post"]["responses"]["401"]["headers"]["WWW-Authenticate"]
                .is_object(),
            "{path}"
        );
    }

    // A cursor seq past i64::MAX is refused, not wrapped.
    for after in ["BJ01:9223372036854775808", "BJ01:18446744073709551615"] {
        let (status, v) = h
            .get(&format!("/v1/movements?after={after}"), Some(&h.admin))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{after}: {v}");
        assert!(v["error"].as_str().unwrap().contains(after), "{v}");
    }
    let (status, _) = h
        .get(
            "/v1/movements?after=BJ01:9223372036854775807",
            Some(&h.admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The data directory and the database are the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(h.dir.path()), 0o700);
    let sqlite = h.home.db.backend() == jxc_hub::store::Backend::Sqlite;
    for name in ["hub.db", "hub.db-wal", "hub.db-shm"] {
        let path = h.dir.path().join(name);
        if (sqlite && name == "hub.db") || path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
}

#[tokio::test]
async fn uploads_over_the_cap_wait_then_get_503_with_retry_after() {
    let h = setup_with(jxc_hub::config::Limits {
        max_uploads: 1,
        body_timeout_secs: 1,
        ..Default::default()
    });
    let hub = h.hub.clone();
    let cert = h.enroll("BJ01").await;
    let body = protocol::encode(&batch(1, vec![movement("BJ01", 1, 5_000_000)]));
    // Another upload holds the only slot.
    let held = hub.upload_slots.acquire().await.unwrap();
    let res = h
        .app
        .clone()
        .oneshot({
            let mut req = Request::post("/v1/sync")
                .header(protocol::PROTOCOL_HEADER, "1")
                .body(Body::from(body.clone()))
                .unwrap();
            req.extensions_mut()
                .insert(PeerCert(Some(Arc::new(cert.clone()))));
            req
        })
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "5");
    let v: Value = serde_json::from_slice(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("1 upload slots are all taken"),
        "{v}"
    );
    // Once it is free, the same batch goes through.
    drop(held);
    let (status, body) = h.sync_raw(Some(&cert), Some("1"), body).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn sales_answer_from_the_daily_sums_by_any_keys_and_refuse_bad_filters() {
    let h = setup();
    let cert = h.enroll("BJ01").await;
    let at = |seq: u64, qty_micro: i64, day: u32, hour: u32| {
        let t = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .unwrap();
        WireMovement {
            occurred_ms: t.timestamp_millis(),
            recorded_ms: t.timestamp_millis(),
            ..movement("BJ01", seq, qty_micro)
        }
    };
    let mut unpriced = at(5, -1_000_000, 3, 10);
    unpriced.unit_price = None;
    unpriced.counterparty = None;
    let mut back = at(6, 500_000, 3, 11);
    back.kind = MovementKind::CustomerReturn;
    back.unit_price = Some("19.9".into());
    let r = h
        .sync(
            &cert,
            &batch(
                1,
                vec![
                    at(1, 100_000_000, 1, 9),
                    // 23:30 at +08:00 on the 2nd: that business day, not the 3rd.
                    at(2, -2_000_000, 2, 23),
                    at(3, -1_500_000, 3, 0),
                    at(4, -3_000_000, 9, 12),
                    unpriced,
                    back,
                ],
            ),
        )
        .await;
    assert_eq!(
        (r.accepted, r.quarantined.len()),
        (6, 0),
        "{:?}",
        r.quarantined
    );

    let (status, rows) = h
        .get("/v1/sales?by=site,day&to=2026-11-09", Some(&h.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (
            &rows[0]["site"],
            &rows[0]["day"],
            &rows[0]["qty"],
            &rows[0]["revenue"]
        ),
        (
            &json!("BJ01"),
            &json!("2026-11-02"),
            &json!("2"),
            &json!("39.8")
        )
    );
    // The 3rd: 1.5 sold at 19.9, 1 sold without a price, 0.5 returned at 19.9.
    let d3 = &rows[1];
    assert_eq!(d3["qty"], "2.5");
    assert_eq!(d3["returns"], "0.5");
    assert_eq!(d3["net_qty"], "2");
    assert_eq!(d3["unpriced_qty"], "1");
    assert_eq!(d3["priced"], "part");
    assert_eq!(d3["revenue"], "19.9", "29.85 − 9.95");
    assert_eq!(d3["cogs"], "12.5", "(1.5 − 0.5) × 12.5");
    assert_eq!(d3["margin"], "7.4");
    assert_eq!(d3["margin_pct"], "37.19");

    let (_, rows) = h.get("/v1/sales?by=week,customer", Some(&h.admin)).await;
    let got: Vec<(&str, &str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["week"].as_str().unwrap(),
                r["customer"].as_str().unwrap(),
                r["net_qty"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-W45", "", "1"),
            ("2026-W45", "张三, Ltd", "3"),
            ("2026-W46", "张三, Ltd", "3")
        ]
    );
    // Only an unpriced sale in the group: revenue is not shared, never 0.
    let (_, rows) = h
        .get(
            "/v1/sales?by=customer&from=2026-11-03&to=2026-11-04",
            Some(&h.admin),
        )
        .await;
    let walk_in = &rows[0];
    assert_eq!(
        (&walk_in["customer"], &walk_in["priced"]),
        (&json!(""), &json!("none"))
    );
    assert!(
        walk_in["revenue"].is_null() && walk_in["margin"].is_null(),
        "{walk_in}"
    );

    let (_, rows) = h.get("/v1/sales?by=month,sku", Some(&h.admin)).await;
    assert_eq!(rows[0]["month"], "2026-11");
    assert_eq!(rows[0]["sku"], "茶-1");
    assert_eq!(rows[0]["net_qty"], "7");

    // Inventory by two keys: each key under its name.
    let (_, inv) = h.get("/v1/inventory?by=site,sku", Some(&h.admin)).await;
    assert_eq!(inv[0]["site"], "BJ01");
    assert_eq!(inv[0]["sku"], "茶-1");
    assert_eq!(inv[0]["key"], "BJ01 | 茶-1");
    assert_eq!(inv[0]["on_hand"], "93");

    for (bad, status, says) in [
        ("/v1/sales?by=colour", StatusCode::BAD_REQUEST, "colour"),
        ("/v1/sales?by=site,site", StatusCode::BAD_REQUEST, "twice"),
        (
            "/v1/sales?from=2026-11-09&to=2026-11-02",
            StatusCode::BAD_REQUEST,
            "2026-11-09",
        ),
        (
            "/v1/sales?from=2026-13-01",
            StatusCode::BAD_REQUEST,
            "2026-13-01",
        ),
        ("/v1/sales?kind=shop", StatusCode::BAD_REQUEST, "shop"),
        ("/v1/sales?site=ZZ01", StatusCode::NOT_FOUND, "ZZ01"),
        ("/v1/sales?category=tea", StatusCode::NOT_FOUND, "tea"),
        ("/v1/sales?sku=NOPE", StatusCode::NOT_FOUND, "NOPE"),
        (
            "/v1/inventory?by=site,colour",
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        ("/v1/channel?by=sku", StatusCode::BAD_REQUEST, "sku"),
        (
            "/v1/channel?from=2026-11-09&to=2026-11-02",
            StatusCode::BAD_REQUEST,
            "2026-11-09",
        ),
    ] {
        let (got, v) = h.get(bad, Some(&h.admin)).await;
        assert_eq!(got, status, "{bad}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{bad}: {v}");
    }
    // No dealers: an empty channel, not an error.
    let (status, rows) = h.get("/v1/channel?by=region", Some(&h.admin)).await;
    assert_eq!((status, rows), (StatusCode::OK, json!([])));
    assert_eq!(h.get("/v1/sales", None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sunk_stock_is_stock_without_a_sale_in_the_window_or_with_more_supply_than_it() {
    let h = setup();
    let cert = h.enroll("BJ01").await;
    let at = |seq: u64, qty_micro: i64, day: u32| {
        let t = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 11, day, 12, 0, 0)
            .unwrap();
        WireMovement {
            occurred_ms: t.timestamp_millis(),
            recorded_ms: t.timestamp_millis(),
            ..movement("BJ01", seq, qty_micro)
        }
    };
    let mut mug = at(2, 5_000_000, 1);
    mug.sku = "MUG-1".into();
    let r = h
        .sync(
            &cert,
            &batch(
                1,
                vec![
                    at(1, 100_000_000, 1),
                    mug,
                    at(3, -4_000_000, 5),
                    at(4, -3_000_000, 9),
                ],
            ),
        )
        .await;
    assert_eq!(r.accepted, 4, "{:?}", r.quarantined);

    // As of the 10th, 10 days: 茶-1 sold 7 in the window, 93 on hand last
    // 93 × 10 / 7 = 132.9 days; MUG-1 never sold.
    let (status, rows) = h
        .get(
            "/v1/plan/sunk?by=line&days=10&as_of=2026-11-10",
            Some(&h.admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let lines: Vec<(&str, &str, &str, Value)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sku"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
                r["qty"].as_str().unwrap(),
                r["days_of_supply"].clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("MUG-1", "no_sale", "5", Value::Null),
            ("茶-1", "over_supply", "93", json!("132.9"))
        ]
    );
    // The 9th's sale is outside a window that starts on the 10th.
    let (_, rows) = h
        .get(
            "/v1/plan/sunk?by=line&days=5&as_of=2026-11-20",
            Some(&h.admin),
        )
        .await;
    assert_eq!(rows[1]["reason"], "no_sale");
    assert_eq!(rows[1]["last_sale"], "2026-11-09");
    // Grouped by site: both lines, at cost 98 × 12.5; no dealer price in
    // the catalog, so no dealer value.
    let (_, rows) = h
        .get("/v1/plan/sunk?days=10&as_of=2026-11-10", Some(&h.admin))
        .await;
    let site = &rows[0];
    assert_eq!(
        (&site["tier"], &site["key"]),
        (&json!("branch"), &json!("BJ01"))
    );
    assert_eq!(
        (
            &site["lines"],
            &site["no_sale_lines"],
            &site["over_supply_lines"]
        ),
        (&json!(2), &json!(1), &json!(1))
    );
    assert_eq!(site["value"], "1225");
    assert_eq!(site["no_dealer_price_qty"], "98");
    assert_eq!(site["stale_sites"], json!([]));
    // On hand is today's, the history the window's: as of the 6th, 4 sold
    // in 10 days, so the 93 held now last 93 × 10 / 4 days.
    let (_, rows) = h
        .get(
            "/v1/plan/sunk?by=line&days=10&as_of=2026-11-06",
            Some(&h.admin),
        )
        .await;
    assert_eq!(rows[1]["days_of_supply"], "232.5");

    for bad in [
        "/v1/plan/sunk?by=colour",
        "/v1/plan/sunk?days=0",
        "/v1/plan/sunk?days=99999",
        "/v1/plan/sunk?as_of=2026-02-30",
    ] {
        let (status, v) = h.get(bad, Some(&h.admin)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
}

#[tokio::test]
async fn forecasts_use_only_history_before_as_of_and_backtest_against_seasonal_naive() {
    let h = setup();
    let cert = h.enroll("BJ01").await;
    // Eight weeks of a weekly pattern: 6 a day on weekends, 2 on weekdays,
    // from Monday 2026-10-05; then MUG-1 received, never sold.
    let mut moves = vec![movement("BJ01", 1, 10_000_000_000)];
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 10, 5).unwrap();
    for d in 0..56i64 {
        let day = monday + chrono::Duration::days(d);
        let units = if d % 7 >= 5 { 6 } else { 2 };
        let t = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .from_local_datetime(&day.and_hms_opt(12, 0, 0).unwrap())
            .unwrap();
        moves.push(WireMovement {
            occurred_ms: t.timestamp_millis(),
            recorded_ms: t.timestamp_millis(),
            ..movement("BJ01", moves.len() as u64 + 1, -units * 1_000_000)
        });
    }
    let mut mug = movement("BJ01", moves.len() as u64 + 1, 5_000_000);
    mug.sku = "MUG-1".into();
    moves.push(mug);
    let r = h.sync(&cert, &batch(1, moves)).await;
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);

    // As of Monday 2026-11-23 (history: the 7 weeks before), 7 days.
    let (status, rows) = h
        .get(
            "/v1/plan/forecast?by=site,sku&horizon=7&as_of=2026-11-23",
            Some(&h.admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 14, "7 days of 2 series: {rows:?}");
    let mug: Vec<&Value> = rows.iter().filter(|r| r["sku"] == "MUG-1").collect();
    assert!(
        mug.iter()
            .all(|r| r["qty"] == "0" && r["no_history"] == true && r["site"] == "BJ01"),
        "{mug:?}"
    );
    let tea: Vec<f64> = rows
        .iter()
        .filter(|r| r["sku"] == "茶-1")
        .map(|r| r["qty"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(rows[7]["date"], "2026-11-23");
    let (weekdays, weekend) = (tea[..5].iter().sum::<f64>() / 5.0, (tea[5] + tea[6]) / 2.0);
    assert!(
        weekend > weekdays + 1.0,
        "the weekly pattern is kept: {tea:?}"
    );
    assert!(
        (weekdays - 2.0).abs() < 1.0 && (weekend - 6.0).abs() < 2.0,
        "{tea:?}"
    );

    // The last week was sold exactly as the pattern: both methods have an
    // error to report, and jxc's is defined.
    let (status, report) = h
        .get(
            "/v1/plan/backtest?by=site,sku&horizon=7&as_of=2026-11-23",
            Some(&h.admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let tea = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["sku"] == "茶-1")
        .unwrap();
    assert_eq!(tea["actual_qty"], 22.0);
    assert!(tea["rmsse"].as_f64().unwrap() < 0.5, "{tea}");
    assert_eq!(report["series"], 1, "MUG-1 has no scale: {report}");

    for (bad, status) in [
        ("/v1/plan/forecast?horizon=0", StatusCode::BAD_REQUEST),
        ("/v1/plan/forecast?horizon=400", StatusCode::BAD_REQUEST),
        ("/v1/plan/forecast?by=region", StatusCode::BAD_REQUEST),
        (
            "/v1/plan/forecast?as_of=2026-11-31",
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/plan/backtest?site=ZZ01", StatusCode::NOT_FOUND),
    ] {
        let (got, v) = h.get(bad, Some(&h.admin)).await;
        assert_eq!(got, status, "{bad}: {v}");
    }
}

/// Runs `jxc-hub ARGS` on the test hub's database and returns its output.
fn hub_cli(h: &TestHub, args: &[&str]) -> jxc_hub::error::Result<String> {
    use clap::Parser;
    let mut argv = vec!["jxc-hub".to_owned(), "--data".to_owned()];
    argv.push(h.dir.path().display().to_string());
    if let jxc_hub::store::Target::Postgres(url) = &h.home.db {
        argv.extend(["--database".to_owned(), url.clone()]);
    }
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let mut out = Vec::new();
    cli::run(cli::Cli::parse_from(argv), &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn policy_and_reorder_follow_the_formulas_and_name_their_source() {
    let h = setup();
    // HQ's warehouse holds 500 of 茶-1; a branch sells 3 a day for seven
    // weeks from 200 received, and holds 5 MUG-1 it never sold.
    let hq_token = cli::make_token(
        &h.home,
        NewSite {
            id: SiteId::parse("HQ01").unwrap(),
            kind: SiteKind::Hq,
            name: "总部".into(),
            region: "north".into(),
        },
        chrono::Duration::hours(1),
    )
    .unwrap()
    .to_string();
    let (status, v) = h.enroll_raw(&hq_token, &csr("HQ01")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let hq_cert = CertificateDer::from_pem_slice(v["cert_pem"].as_str().unwrap().as_bytes())
        .unwrap()
        .to_vec();
    let r = h
        .sync(&hq_cert, &batch(1, vec![movement("HQ01", 1, 500_000_000)]))
        .await;
    assert_eq!(r.accepted, 1, "{:?}", r.quarantined);
    hub_cli(
        &h,
        &[
            "product",
            "add",
            "茶-1",
            "--name",
            "龙井, \"特级\"",
            "--category",
            "TEA",
            "--lead-time-days",
            "5",
            "--pack-size",
            "6",
            "--min-order-qty",
            "10",
        ],
    )
    .unwrap();

    let cert = h.enroll("BJ01").await;
    let first = chrono::NaiveDate::from_ymd_opt(2026, 10, 5).unwrap();
    let at = |seq: u64, qty_micro: i64, day: chrono::NaiveDate| {
        let t = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .from_local_datetime(&day.and_hms_opt(12, 0, 0).unwrap())
            .unwrap();
        WireMovement {
            occurred_ms: t.timestamp_millis(),
            recorded_ms: t.timestamp_millis(),
            ..movement("BJ01", seq, qty_micro)
        }
    };
    let mut moves = vec![at(1, 200_000_000, first)];
    let mut mug = at(2, 5_000_000, first);
    mug.sku = "MUG-1".into();
    moves.push(mug);
    for d in 0..49 {
        let n = moves.len() as u64 + 1;
        moves.push(at(n, -3_000_000, first + chrono::Duration::days(d)));
    }
    let r = h.sync(&cert, &batch(1, moves)).await;
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);

    let (status, rows) = h
        .get("/v1/plan/policy?site=BJ01&as_of=2026-11-23", Some(&h.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let num = |v: &Value| -> f64 { v.as_str().unwrap().parse().unwrap() };
    let (mug, tea) = (&rows[0], &rows[1]);
    assert_eq!(
        (&mug["sku"], &tea["sku"]),
        (&json!("MUG-1"), &json!("茶-1"))
    );
    // MUG-1: no sale, so no demand, class C, nothing to reorder.
    assert_eq!(
        (
            &mug["abc"],
            &mug["no_history"],
            &mug["reorder_point"],
            &mug["days_of_supply"]
        ),
        (&json!("C"), &json!(true), &json!("0"), &Value::Null)
    );
    // 茶-1: all of the site's revenue (A), steady weeks (X), 3 a day.
    assert_eq!((&tea["abc"], &tea["xyz"]), (&json!("A"), &json!("X")));
    assert_eq!(
        (&tea["lead_time_days"], &tea["review_days"]),
        (&json!(5), &json!(7))
    );
    let d = num(&tea["daily_demand"]);
    assert!((d - 3.0).abs() < 0.3, "{tea}");
    let ss = num(&tea["safety_stock"]);
    let z = 1.644_853_626_951_472_2;
    assert!(
        (ss - z * num(&tea["demand_sd"]) * 12f64.sqrt()).abs() < 0.001,
        "{tea}"
    );
    assert!(
        (num(&tea["reorder_point"]) - (5.0 * d + ss)).abs() < 0.001,
        "{tea}"
    );
    assert!(
        (num(&tea["order_up_to"]) - (12.0 * d + ss)).abs() < 0.001,
        "{tea}"
    );
    assert_eq!(
        (&tea["on_hand"], &tea["position"]),
        (&json!("53"), &json!("53"))
    );
    assert!(
        (num(&tea["days_of_supply"]) - 53.0 / d).abs() < 0.06,
        "{tea}"
    );
    // EOQ = √(2 · 365d · 50 / (0.25 · 12.5)) at the moving-average cost.
    assert_eq!(tea["unit_cost"], "12.5");
    let eoq = (2.0 * 365.0 * d * 50.0 / (0.25 * 12.5)).sqrt();
    assert!((num(&tea["eoq"]) - eoq).abs() < 0.01, "{tea}");
    // 53 is above the reorder point: nothing to reorder yet.
    let (_, none) = h
        .get(
            "/v1/plan/reorder?site=BJ01&as_of=2026-11-23",
            Some(&h.admin),
        )
        .await;
    assert_eq!(none, json!([]));

    // A lead time of 20 days puts 53 below 20d + ss: a transfer from HQ's
    // warehouse, need = order-up-to − position, in whole packs of 6.
    let (status, s) = h
        .get(
            "/v1/plan/reorder?site=BJ01&as_of=2026-11-23&lead_time_days=20&service_level=0.99",
            Some(&h.admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s.as_array().unwrap().len(), 1, "{s}");
    let s = &s[0];
    assert_eq!(
        (&s["sku"], &s["action"], &s["source"], &s["source_on_hand"]),
        (
            &json!("茶-1"),
            &json!("transfer"),
            &json!("HQ01/main"),
            &json!("500")
        )
    );
    let inputs = &s["inputs"];
    assert_eq!(inputs["lead_time_days"], 20);
    let need = num(&inputs["order_up_to"]) - 53.0;
    assert!((num(&s["need"]) - need).abs() < 0.0001, "{s}");
    let qty = num(&s["qty"]);
    assert!(qty % 6.0 == 0.0 && qty >= need && qty < need + 6.0, "{s}");

    // The CLI shows the same rows, and --save stores them for the alerts.
    let csv = hub_cli(
        &h,
        &[
            "plan",
            "policy",
            "--site",
            "BJ01",
            "--as-of",
            "2026-11-23",
            "--save",
            "--csv",
        ],
    )
    .unwrap();
    // CSV for Chinese Excel: a BOM, then the header.
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    assert!(
        lines.next().unwrap().starts_with(
            "site,location,sku,abc,xyz,daily_demand,demand_sd,safety_stock,reorder_point,order_up_to,eoq,on_hand,in_transit,days_of_supply"
        ),
        "{csv}"
    );
    assert!(
        csv.contains(&format!(
            "BJ01,main,茶-1,A,X,{},",
            tea["daily_demand"].as_str().unwrap()
        )),
        "{csv}"
    );
    let store = Store::open(&h.home.db, false).unwrap();
    let stored = jxc_hub::plan::policy::for_lines(
        &store,
        &HubConfig::default(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        &[
            ("BJ01".into(), "main".into(), "茶-1".into()),
            ("BJ01".into(), "main".into(), "NONE".into()),
        ],
    )
    .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].reorder_point.to_string(),
        tea["reorder_point"].as_str().unwrap()
    );
    assert_eq!(
        (stored[0].on_hand.to_string(), stored[0].outdated),
        ("53".into(), false)
    );
    let reorder = hub_cli(
        &h,
        &[
            "plan",
            "reorder",
            "--as-of",
            "2026-11-23",
            "--lead-time-days",
            "20",
            "--json",
        ],
    )
    .unwrap();
    let reorder: Value = serde_json::from_str(&reorder).unwrap();
    assert_eq!(reorder[0]["source"], "HQ01/main", "{reorder}");

    for (bad, status, says) in [
        (
            "/v1/plan/policy?service_level=0.5",
            StatusCode::BAD_REQUEST,
            "service_level 0.5",
        ),
        (
            "/v1/plan/policy?service_level=0.9999",
            StatusCode::BAD_REQUEST,
            "0.9999",
        ),
        (
            "/v1/plan/policy?lead_time_days=400",
            StatusCode::BAD_REQUEST,
            "lead_time_days 400",
        ),
        (
            "/v1/plan/policy?as_of=2026-13-01",
            StatusCode::BAD_REQUEST,
            "2026-13-01",
        ),
        ("/v1/plan/policy?site=ZZ01", StatusCode::NOT_FOUND, "ZZ01"),
        (
            "/v1/plan/policy?site=BJ01&location=back",
            StatusCode::NOT_FOUND,
            "back",
        ),
        (
            "/v1/plan/reorder?location=main",
            StatusCode::BAD_REQUEST,
            "location",
        ),
    ] {
        let (got, v) = h.get(bad, Some(&h.admin)).await;
        assert_eq!(got, status, "{bad}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{bad}: {v}");
    }
    let e = hub_cli(&h, &["plan", "policy", "--service-level", "1"]).unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
}

#[tokio::test]
async fn inventory_groups_by_lot_and_movements_filter_by_lot() {
    let h = setup();
    let cert = h.enroll("BJ01").await;
    let lot = |seq: u64, lot: &str, qty: i64| WireMovement {
        lot: lot.into(),
        ..movement("BJ01", seq, qty)
    };
    let r = h
        .sync(
            &cert,
            &batch(
                1,
                vec![
                    lot(1, "L-2026-11", 10_000_000),
                    lot(2, "批次2", 4_000_000),
                    lot(3, "L-2026-11", -1_500_000),
                    lot(4, "", 2_000_000),
                ],
            ),
        )
        .await;
    assert_eq!(r.accepted, 4);
    let (status, inv) = h.get("/v1/inventory?by=sku,lot", Some(&h.admin)).await;
    assert_eq!(status, StatusCode::OK, "{inv}");
    let lots: Vec<(&str, &str)> = inv
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["lot"].as_str().unwrap(), r["on_hand"].as_str().unwrap()))
        .collect();
    assert_eq!(lots, [("", "2"), ("L-2026-11", "8.5"), ("批次2", "4")]);
    let (_, inv) = h
        .get("/v1/inventory?by=location,lot&site=BJ01", Some(&h.admin))
        .await;
    assert_eq!(inv.as_array().unwrap().len(), 3);
    assert_eq!(inv[1]["location"], "BJ01/main");
    let (_, m) = h
        .get("/v1/movements?site=BJ01&lot=L-2026-11", Some(&h.admin))
        .await;
    let seqs: Vec<u64> = m["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 3]);
    let (_, m) = h.get("/v1/movements?site=BJ01&lot=", Some(&h.admin)).await;
    assert_eq!(m["movements"].as_array().unwrap().len(), 1, "without a lot");
    let (status, _) = h.get("/v1/inventory?by=lot,batch", Some(&h.admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
