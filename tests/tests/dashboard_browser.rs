//! The dashboard in a real browser: headless Chromium (Debian's `chromium`,
//! driven over the DevTools protocol by `jxc_testkit::Chromium`) against a
//! real `jxc-hub serve` with an enrolled, synced branch. It signs in, opens
//! every page in both languages at 1366×768 and at a tablet's 768×1024,
//! checks that no page raised a console error or was refused an asset, that
//! the overview's figures are `/v1/inventory`'s strings, and that the sites
//! table downloads as CSV that parses; screenshots go to
//! `target/dashboard-screenshots/` for a human to look at.

use jxc_e2e::{Https, Hub, Site};
use jxc_testkit::Chromium;
use std::path::PathBuf;

const PASSWORD: &str = "planner-密码-2026";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("dashboard-screenshots")
}

#[test]
fn a_planner_signs_in_and_reads_every_page_in_both_languages() {
    let hub = Hub::new();
    let added = hub.with_stdin(
        &[
            "user",
            "add",
            "王芳",
            "--role",
            "planner",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(added.status.success(), "{added:?}");
    let admin = hub.ok(&["user", "add", "ops", "--role", "admin"]);
    let served = hub.start(None);

    let bj = Site::new("BJ01", &["main"]);
    let token = hub.token("BJ01", "branch");
    bj.ok(&["enroll", "--hub", &served.url, "--token", &token]);
    bj.ok(&[
        "product",
        "add",
        "TEA-LJ-01",
        "--name",
        "西湖龙井, \"特级\"",
        "--unit",
        "kg",
        "--decimals",
        "3",
    ]);
    bj.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA-LJ-01",
        "--qty",
        "1234.5",
        "--cost",
        "88.8",
    ]);
    bj.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA-LJ-01",
        "--qty",
        "2.5",
        "--price",
        "168",
    ]);
    bj.ok(&["sync"]);

    let mut b = Chromium::start(1366, 768).unwrap_or_else(|e| panic!("{}", e.message()));
    let base = served.url.clone();
    b.open(&format!("{base}/")).unwrap();
    let here = b.eval("location.pathname").unwrap();
    assert_eq!(here, "/login", "a page without a session leads to sign-in");
    b.screenshot(&screenshots().join("login.png")).unwrap();
    let js = format!(
        "document.querySelector('input[name=username]').value = '王芳';\
         document.querySelector('input[name=password]').value = {};\
         document.querySelector('form').submit();",
        serde_json::to_string(PASSWORD).unwrap()
    );
    b.eval_and_wait(&js).unwrap();
    assert_eq!(b.eval("location.pathname").unwrap(), "/");

    // The overview's figures are the API's strings.
    let api = Https::new(&base, &hub.ca_pem(), None);
    let inv = api
        .get("/v1/inventory?by=kind,region", Some(admin.trim()))
        .json();
    let row = &inv.as_array().unwrap()[0];
    let shown = b
        .eval("[...document.querySelectorAll('#stock tbody tr')].map(tr => [...tr.querySelectorAll('[data-value]')].map(e => e.dataset.value))")
        .unwrap();
    assert_eq!(
        shown[0],
        serde_json::json!([
            row["on_hand"],
            row["in_transit"],
            row["value"],
            row["not_updated"],
            row["unvalued"]
        ]),
        "{shown} against {row}"
    );
    assert_eq!(row["on_hand"], "1232", "1234.5 received, 2.5 sold");
    let text = b
        .eval("document.querySelector('#stock').innerText")
        .unwrap();
    assert!(text.as_str().unwrap().contains("1,232"), "{text}");
    let ids = b
        .eval("[...document.querySelectorAll('#freshness .site-id')].map(e => e.textContent)")
        .unwrap();
    assert_eq!(ids, serde_json::json!(["BJ01"]));

    // Every page in both languages, at a laptop's and at a tablet's size.
    for (w, h, size) in [(1366, 768, "1366x768"), (768, 1024, "tablet")] {
        b.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({ "width": w, "height": h, "deviceScaleFactor": 1, "mobile": false }),
        )
        .unwrap();
        for lang in ["en", "zh-CN"] {
            // The switch on the page toggles; press it until the page is in `lang`.
            if b.eval("document.documentElement.lang").unwrap() != lang {
                b.eval_and_wait("document.querySelector('#lang-switch').click()")
                    .unwrap();
            }
            assert_eq!(b.eval("document.documentElement.lang").unwrap(), lang);
            for (path, name) in [
                ("/", "overview"),
                ("/inventory?by=site,sku", "inventory"),
                ("/movements?site=BJ01", "movements"),
                ("/sales?period=day", "sales"),
                ("/planning", "planning"),
                ("/planning?site=BJ01&sku=TEA-LJ-01", "planning-site"),
                ("/alerts?show=all", "alerts"),
                ("/inventory?by=location,lot&site=BJ01&sku=TEA-LJ-01", "lots"),
                ("/transfers", "transfers"),
                ("/quarantine", "quarantine"),
                ("/sites", "sites"),
            ] {
                b.open(&format!("{base}{path}")).unwrap();
                assert_eq!(
                    b.eval("document.documentElement.lang").unwrap(),
                    lang,
                    "{path}"
                );
                let heading = b.eval("document.querySelector('h1').textContent").unwrap();
                let expected = match (name, lang) {
                    ("overview", "en") => "Overview",
                    ("overview", _) => "总览",
                    ("inventory", "en") => "Inventory",
                    ("inventory", _) => "库存",
                    ("movements", "en") => "Movements",
                    ("movements", _) => "出入库记录",
                    ("sales", "en") => "Sales flow",
                    ("sales", _) => "销售流向",
                    ("planning" | "planning-site", "en") => "Planning",
                    ("planning" | "planning-site", _) => "计划",
                    ("alerts", "en") => "Alerts",
                    ("alerts", _) => "预警",
                    ("lots", "en") => "Inventory",
                    ("lots", _) => "库存",
                    ("transfers", "en") => "Transfers",
                    ("transfers", _) => "调拨",
                    ("quarantine", "en") => "Quarantine",
                    ("quarantine", _) => "隔离记录",
                    (_, "en") => "Sites",
                    _ => "站点",
                };
                assert_eq!(heading, expected, "{path} in {lang}");
                // Usable at this size: nothing wider than the window but the
                // tables, which scroll in their own box.
                let overflow = b
                    .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                    .unwrap();
                assert!(
                    overflow.as_i64().unwrap() <= 0,
                    "{path} {size}: {overflow} px too wide"
                );
                b.screenshot(&screenshots().join(format!("{name}-{lang}-{size}.png")))
                    .unwrap();
            }
        }
    }
    // A drill-down from the region reaches the receipt behind the figure.
    b.open(&format!("{base}/inventory")).unwrap();
    for _ in 0..3 {
        b.eval_and_wait("document.querySelector('#inventory a.drill').click()")
            .unwrap();
    }
    assert_eq!(b.eval("location.pathname").unwrap(), "/movements");
    let qty = b
        .eval("[...document.querySelectorAll('#movements [data-value]')].map(e => e.dataset.value)")
        .unwrap();
    assert_eq!(qty[0], "1234.5", "{qty}");

    // The sales flow's figures are the API's strings: 2.5 sold at 168.
    b.open(&format!("{base}/sales?by=site")).unwrap();
    let shown = b
        .eval("[...document.querySelectorAll('#sales-groups [data-value]')].map(e => e.dataset.value)")
        .unwrap();
    let api = api.get("/v1/sales?by=site", Some(admin.trim())).json();
    for f in ["qty", "revenue", "margin"] {
        let v = api[0][f].as_str().unwrap();
        assert!(
            shown.as_array().unwrap().iter().any(|s| s == v),
            "{f} {v} in {shown}"
        );
    }
    assert_eq!(api[0]["revenue"], "420");
    // The planning page's forecast chart is drawn for the chosen SKU.
    b.open(&format!("{base}/planning?site=BJ01&sku=TEA-LJ-01"))
        .unwrap();
    let drawn = b
        .eval("[document.querySelectorAll('#chart-forecast rect').length, document.querySelectorAll('#chart-forecast polyline').length]")
        .unwrap();
    assert_eq!(
        drawn,
        serde_json::json!([56, 1]),
        "a column a day for the 4 weeks before and the 4 forecast, and the forecast's line"
    );

    let errors = b.take_errors();
    assert!(errors.is_empty(), "the pages raised errors: {errors:#?}");

    // A planner is refused the users page with a page saying so (the 403
    // is the one error the browser reports).
    b.open(&format!("{base}/users")).unwrap();
    let refused = b
        .eval("document.querySelector('.error').textContent")
        .unwrap();
    assert!(refused.as_str().unwrap().contains("角色"), "{refused}");
    let errors = b.take_errors();
    assert!(
        errors.len() == 1 && errors[0].contains("status of 403") && errors[0].ends_with("/users"),
        "{errors:#?}"
    );

    // The sites table downloads as CSV: a BOM, then rows that parse.
    b.open(&format!("{base}/sites")).unwrap();
    let (name, bytes) = b
        .download("document.querySelector('#export-sites').click()")
        .unwrap();
    assert_eq!(name, "sites.csv");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a UTF-8 BOM for Excel");
    let mut rows = csv::Reader::from_reader(&bytes[3..]);
    let header = rows.headers().unwrap().clone();
    assert_eq!(&header[0], "站点");
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0][0], "BJ01");
    assert_eq!(&records[0][4], "fresh");

    let errors = b.take_errors();
    assert!(errors.is_empty(), "the pages raised errors: {errors:#?}");
}
