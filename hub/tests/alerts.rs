//! Stock alerts 库存预警 end to end: rules, evaluation on what each ingest
//! touched, one alert per condition until it clears, the outbox claimed
//! safely by two hub processes, the signed webhook (to a real listener
//! here that checks the HMAC), e-mail to a small SMTP sink, the CLI and
//! `GET /v1/alerts`. Store behaviours run on SQLite and PostgreSQL.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::{DateTime, Duration, TimeZone, Utc};
use clap::Parser;
use jxc_hub::alert::config::{AlertsConfig, SmtpConfig, SmtpTls, WebhookConfig};
use jxc_hub::alert::deliver::{AlertWorker, send_email, signature};
use jxc_hub::alert::rules::{Channels, Condition, Origin, Rule, Scope};
use jxc_hub::alert::{self, config::RuleConfig};
use jxc_hub::cli::{self, Cli};
use jxc_hub::config::{HubConfig, HubHome};
use jxc_hub::http::api::{self, Hub};
use jxc_hub::store::db::Value;
use jxc_hub::store::{AlertState, NewSite, POLICY_COLUMNS, Store, Target};
use jxc_shared::protocol::{SyncRequest, WireMovement};
use jxc_shared::{MovementKind, SiteId, SiteKind};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
enum Engine {
    Sqlite,
    Postgres,
}

struct Fresh {
    _dir: tempfile::TempDir,
    target: Target,
}

fn fresh(engine: Engine, label: &str) -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let target = match engine {
        Engine::Sqlite => Target::Sqlite(dir.path().to_path_buf()),
        Engine::Postgres => Target::Postgres(
            jxc_testkit::PgCluster::shared().create_database(&jxc_testkit::unique_name(label)),
        ),
    };
    Store::open(&target, true).unwrap();
    Fresh { _dir: dir, target }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
}

fn enroll(store: &mut Store, id: &str, kind: SiteKind) {
    let token = format!("t-{id}");
    let site = NewSite {
        id: SiteId::parse(id).unwrap(),
        kind,
        name: id.into(),
        region: "north".into(),
    };
    store
        .add_token(&token, "secret", &site, Duration::hours(1), t0())
        .unwrap();
    store
        .redeem_token(&token, "secret", t0(), |_, _| Ok(()))
        .unwrap();
}

fn movement(site: &str, seq: u64, kind: MovementKind, qty: i64) -> WireMovement {
    let t = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .unwrap();
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
        locations: Vec::new(),
        agent_time_ms: t0().timestamp_millis(),
    }
}

fn rule_config(id: &str, kind: &str, extra: &[(&str, &str)]) -> RuleConfig {
    let mut text = format!("id = {id:?}\nkind = {kind:?}\nchannels = [\"webhook\"]\n");
    for (k, v) in extra {
        text.push_str(&format!("{k} = {v}\n"));
    }
    toml::from_str(&text).unwrap()
}

fn webhook(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.into(),
        secret: "s3cret-s3cret-s3cret".into(),
    }
}

fn config_with(rules: Vec<RuleConfig>, url: &str) -> HubConfig {
    let alerts = AlertsConfig {
        rules,
        webhook: Some(webhook(url)),
        smtp: None,
    };
    alerts.check().unwrap();
    HubConfig {
        alerts,
        ..HubConfig::default()
    }
}

/// Ingests `req` from `site` at `now` and evaluates the alerts on it, as
/// the sync route does.
fn sync(
    store: &mut Store,
    config: &HubConfig,
    site: &str,
    req: &SyncRequest,
    now: DateTime<Utc>,
) -> jxc_hub::store::Evaluated {
    let (resp, stats) = store
        .ingest(&SiteId::parse(site).unwrap(), req, now)
        .unwrap();
    alert::after_ingest(store, config, site, req.from_seq, resp.hwm, &stats, now).unwrap()
}

fn stock_out_raises_once_per_condition_and_clears(engine: Engine) {
    let db = fresh(engine, "alert_stockout");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    let config = config_with(
        vec![
            rule_config("out", "stock-out", &[]),
            // Out of scope: BJ01 is a branch.
            rule_config("dealer-out", "stock-out", &[("site_kind", "\"dealer\"")]),
        ],
        "http://127.0.0.1:9/hook",
    );
    use MovementKind::{Receipt, Sale};

    // In stock: nothing.
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(1, vec![movement("BJ01", 1, Receipt, 2)]),
        t0(),
    );
    assert_eq!((e.raised, e.cleared), (0, 0));
    // Sold out: one alert, with the figures at the time.
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(2, vec![movement("BJ01", 2, Sale, -2)]),
        t0(),
    );
    assert_eq!((e.raised, e.cleared), (1, 0));
    // Still out after more activity on the line: no second alert.
    let more = vec![
        movement("BJ01", 3, Receipt, 1),
        movement("BJ01", 4, Sale, -1),
    ];
    let e = sync(&mut store, &config, "BJ01", &batch(3, more), t0());
    assert_eq!((e.raised, e.cleared), (0, 0));
    let open = store.alerts(true, 100).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let a = &open[0];
    assert_eq!(
        (
            a.rule.as_str(),
            a.kind.as_str(),
            a.site.as_str(),
            a.sku.as_str()
        ),
        ("out", "stock-out", "BJ01", "茶-1")
    );
    assert_eq!(a.figures["on_hand"], "0");
    assert!(
        a.detail["message"]
            .as_str()
            .unwrap()
            .contains("out of stock"),
        "{:?}",
        a.detail
    );
    assert_eq!(a.undelivered, 1);

    // Restocked: cleared, with a message of its own.
    let later = t0() + Duration::minutes(5);
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(5, vec![movement("BJ01", 5, Receipt, 4)]),
        later,
    );
    assert_eq!((e.raised, e.cleared), (0, 1));
    assert!(store.alerts(true, 100).unwrap().is_empty());
    let all = store.alerts(false, 100).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, AlertState::Cleared);
    assert_eq!(all[0].cleared_figures.as_ref().unwrap()["on_hand"], "4");
    assert_eq!(all[0].undelivered, 2);
    let pending = store.outbox_pending().unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|p| p.channel == "webhook"));

    // Out again: a new alert, since the first one cleared.
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(6, vec![movement("BJ01", 6, Sale, -4)]),
        later,
    );
    assert_eq!(e.raised, 1);
    assert_eq!(store.alerts(false, 100).unwrap().len(), 2);

    // Its rule taken out of hub.toml: closed when the hub starts, not left
    // open forever.
    let without = config_with(vec![], "http://127.0.0.1:9/hook");
    assert_eq!(alert::close_orphans(&mut store, &config.alerts).unwrap(), 0);
    assert_eq!(
        alert::close_orphans(&mut store, &without.alerts).unwrap(),
        1
    );
    assert!(store.alerts(true, 100).unwrap().is_empty());
}

fn reorder_point_and_days_of_supply_use_the_stored_policy(engine: Engine) {
    let db = fresh(engine, "alert_policy");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    let config = config_with(
        vec![
            rule_config("low", "below-reorder-point", &[]),
            rule_config("slow", "over-days-of-supply", &[("max_days", "30")]),
        ],
        "http://127.0.0.1:9/hook",
    );
    use MovementKind::{Receipt, Sale};
    // No stored policy yet: neither rule can judge the line.
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(1, vec![movement("BJ01", 1, Receipt, 100)]),
        t0(),
    );
    assert_eq!((e.raised, e.cleared), (0, 0));

    // A policy as `plan policy` stores it: 2 a day, reorder point 10.
    let today = chrono::Local::now().date_naive().to_string();
    let t = |s: &str| Value::Text(s.into());
    let row: Vec<Value> = POLICY_COLUMNS
        .iter()
        .map(|c| match *c {
            "site" => t("BJ01"),
            "location" => t("main"),
            "sku" => t("茶-1"),
            "as_of" => t(&today),
            "abc" => t("A"),
            "xyz" => t("X"),
            "method" => t("ses"),
            "no_history" | "lead_time_days" | "review_days" => Value::Int(0),
            "daily_demand" => t("2"),
            "reorder_point" => t("10"),
            "eoq" => Value::Null,
            "computed_at" => t("2026-12-01T08:00:00.000Z"),
            _ => t("0"),
        })
        .collect();
    store.save_policy(Some("BJ01"), &[row]).unwrap();

    // 100 on hand at 2 a day is 50 days: over 30.
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(2, vec![movement("BJ01", 2, Sale, -1)]),
        t0(),
    );
    assert_eq!((e.raised, e.cleared), (1, 0));
    let a = &store.alerts(true, 10).unwrap()[0];
    assert_eq!(a.rule, "slow");
    assert_eq!(a.figures["days_of_supply"], "49.5");
    assert_eq!(a.figures["reorder_point"], "10");
    // Down to 8: below the reorder point, and no longer over 30 days.
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(3, vec![movement("BJ01", 3, Sale, -91)]),
        t0(),
    );
    assert_eq!((e.raised, e.cleared), (1, 1));
    let open = store.alerts(true, 10).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].rule, "low");
    assert_eq!(open[0].figures["on_hand"], "8");
}

fn site_rules_watch_quarantine_and_silence(engine: Engine) {
    let db = fresh(engine, "alert_site");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    enroll(&mut store, "SH01", SiteKind::Dealer);
    let config = config_with(
        vec![
            rule_config("bad-records", "quarantine-grew", &[]),
            rule_config("silent", "stale", &[("hours", "6"), ("site", "\"BJ01\"")]),
        ],
        "http://127.0.0.1:9/hook",
    );
    use MovementKind::Receipt;
    // A record for another site's location is refused and quarantined.
    let mut bad = movement("BJ01", 2, Receipt, 1);
    bad.location = "SH01/main".into();
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(1, vec![movement("BJ01", 1, Receipt, 1), bad]),
        t0(),
    );
    assert_eq!(e.raised, 1);
    let a = &store.alerts(true, 10).unwrap()[0];
    assert_eq!(
        (a.rule.as_str(), a.location.as_str(), a.sku.as_str()),
        ("bad-records", "", "")
    );
    assert_eq!(a.figures["quarantined"], 1);
    // An empty batch (a pull) changes nothing; a clean one clears it.
    let e = sync(&mut store, &config, "BJ01", &batch(3, vec![]), t0());
    assert_eq!((e.raised, e.cleared), (0, 0));
    let e = sync(
        &mut store,
        &config,
        "BJ01",
        &batch(3, vec![movement("BJ01", 3, Receipt, 1)]),
        t0(),
    );
    assert_eq!(e.cleared, 1);

    // Silence: BJ01 last synced at t0; only BJ01 is in the rule's scope.
    let e = alert::check_freshness(&mut store, &config, t0() + Duration::hours(6)).unwrap();
    assert_eq!(e.raised, 0, "exactly 6 h is not more than 6 h");
    let e = alert::check_freshness(&mut store, &config, t0() + Duration::hours(7)).unwrap();
    assert_eq!(e.raised, 1);
    let e = alert::check_freshness(&mut store, &config, t0() + Duration::hours(8)).unwrap();
    assert_eq!(e.raised, 0, "one alert per condition");
    let open = store.alerts(true, 10).unwrap();
    assert_eq!(
        (open.len(), open[0].site.as_str(), open[0].kind.as_str()),
        (1, "BJ01", "stale")
    );
    let back = t0() + Duration::hours(9);
    sync(&mut store, &config, "BJ01", &batch(4, vec![]), back);
    let e = alert::check_freshness(&mut store, &config, back + Duration::minutes(1)).unwrap();
    assert_eq!(e.cleared, 1);
}

fn rules_in_the_database_are_checked_and_hub_toml_rules_stay(engine: Engine) {
    let db = fresh(engine, "alert_rules");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    let config = config_with(
        vec![rule_config("from-file", "stock-out", &[])],
        "http://127.0.0.1:9/hook",
    );
    let rule = |id: &str, site: Option<&str>| {
        Rule::new(
            id,
            Condition::Stale { hours: 4 },
            Scope {
                site: site.map(str::to_owned),
                ..Scope::default()
            },
            Channels {
                webhook: true,
                email: false,
            },
            Origin::Database,
        )
        .unwrap()
    };
    alert::add_rule(&mut store, &config.alerts, &rule("bj-silent", Some("BJ01"))).unwrap();
    let e = alert::add_rule(&mut store, &config.alerts, &rule("x", Some("BJ99"))).unwrap_err();
    assert_eq!(e.exit_code(), 3);
    assert!(e.to_string().contains("site \"BJ99\" is not known"), "{e}");
    let e = alert::add_rule(&mut store, &config.alerts, &rule("bj-silent", None)).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    let e = alert::add_rule(&mut store, &config.alerts, &rule("from-file", None)).unwrap_err();
    assert!(e.to_string().contains("defined in hub.toml"), "{e}");
    let emailed = Rule {
        channels: Channels {
            webhook: false,
            email: true,
        },
        ..rule("mail", None)
    };
    let e = alert::add_rule(&mut store, &config.alerts, &emailed).unwrap_err();
    assert!(e.to_string().contains("no [alerts.smtp]"), "{e}");

    let rules = alert::rules_in_force(&store, &config.alerts).unwrap();
    let ids: Vec<(&str, Origin)> = rules.iter().map(|r| (r.id.as_str(), r.origin)).collect();
    assert_eq!(
        ids,
        [
            ("from-file", Origin::Config),
            ("bj-silent", Origin::Database)
        ]
    );

    let e = alert::remove_rule(&mut store, &config.alerts, "from-file").unwrap_err();
    assert!(
        e.to_string().contains("remove it from [[alerts.rules]]"),
        "{e}"
    );
    alert::remove_rule(&mut store, &config.alerts, "bj-silent").unwrap();
    assert!(store.alert_rules().unwrap().is_empty());
    let e = alert::remove_rule(&mut store, &config.alerts, "bj-silent").unwrap_err();
    assert!(e.to_string().contains("no alert rule"), "{e}");
}

fn two_processes_never_claim_one_message_at_once(engine: Engine) {
    let db = fresh(engine, "alert_claims");
    let mut a = Store::open(&db.target, false).unwrap();
    let mut b = Store::open(&db.target, false).unwrap();
    enroll(&mut a, "BJ01", SiteKind::Branch);
    let config = config_with(
        vec![rule_config("out", "stock-out", &[])],
        "http://127.0.0.1:9/hook",
    );
    use MovementKind::{Receipt, Sale};
    sync(
        &mut a,
        &config,
        "BJ01",
        &batch(
            1,
            vec![
                movement("BJ01", 1, Receipt, 1),
                movement("BJ01", 2, Sale, -1),
            ],
        ),
        t0(),
    );
    sync(
        &mut a,
        &config,
        "BJ01",
        &batch(3, vec![movement("BJ01", 3, Receipt, 1)]),
        t0(),
    );
    let lease = t0() + Duration::seconds(120);
    let got_a = a.claim_outbox("a", t0(), lease, 10).unwrap();
    let got_b = b.claim_outbox("b", t0(), lease, 10).unwrap();
    assert_eq!((got_a.len(), got_b.len()), (2, 0));
    assert_eq!(got_a[0].attempts, 1);
    let payload: serde_json::Value = serde_json::from_str(&got_a[0].payload).unwrap();
    assert_eq!(payload["event"], "raised");
    assert_eq!(payload["alert"]["figures"]["on_hand"], "0");

    // A delivered message is done; a failed one waits for its next attempt,
    // and B cannot report on A's claim.
    a.outbox_delivered(got_a[0].id, t0()).unwrap();
    b.outbox_failed(got_a[1].id, "b", "not mine", t0()).unwrap();
    a.outbox_failed(got_a[1].id, "a", "HTTP 500", t0() + Duration::seconds(30))
        .unwrap();
    assert!(
        b.claim_outbox("b", t0() + Duration::seconds(10), lease, 10)
            .unwrap()
            .is_empty()
    );
    let pending = b.outbox_pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].last_error.as_deref(), Some("HTTP 500"));
    let retry = b
        .claim_outbox(
            "b",
            t0() + Duration::seconds(31),
            lease + Duration::seconds(31),
            10,
        )
        .unwrap();
    assert_eq!((retry.len(), retry[0].attempts), (1, 2));
    // B died holding it: once the lease is over, A takes it.
    assert!(
        a.claim_outbox("a", t0() + Duration::seconds(60), lease, 10)
            .unwrap()
            .is_empty()
    );
    // Delivered messages are purged once old; pending ones never.
    assert_eq!(a.purge_delivered(t0() + Duration::days(31)).unwrap(), 1);
    assert_eq!(a.outbox_pending().unwrap().len(), 1);
    let taken = a
        .claim_outbox(
            "a",
            lease + Duration::seconds(32),
            lease + Duration::seconds(200),
            10,
        )
        .unwrap();
    assert_eq!((taken.len(), taken[0].attempts), (1, 3));
}

fn a_batch_whose_evaluation_never_ran_is_caught_up_by_the_next(engine: Engine) {
    let db = fresh(engine, "alert_catchup");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    let config = config_with(
        vec![rule_config("out", "stock-out", &[])],
        "http://127.0.0.1:9/hook",
    );
    use MovementKind::{Receipt, Sale};
    sync(
        &mut store,
        &config,
        "BJ01",
        &batch(1, vec![movement("BJ01", 1, Receipt, 2)]),
        t0(),
    );
    // Committed, then the hub stopped before evaluating it.
    store
        .ingest(
            &SiteId::parse("BJ01").unwrap(),
            &batch(2, vec![movement("BJ01", 2, Sale, -2)]),
            t0(),
        )
        .unwrap();
    assert!(store.alerts(true, 10).unwrap().is_empty());
    // The next batch, on another SKU, evaluates the missed one's line too.
    let mut other = movement("BJ01", 3, Receipt, 1);
    other.sku = "茶-2".into();
    let e = sync(&mut store, &config, "BJ01", &batch(3, vec![other]), t0());
    assert_eq!(e.raised, 1);
    let open = store.alerts(true, 10).unwrap();
    assert_eq!(
        (open[0].sku.as_str(), open[0].figures["on_hand"].as_str()),
        ("茶-1", Some("0"))
    );
    // And only once: the cursor moved past it.
    let mut more = movement("BJ01", 4, Receipt, 1);
    more.sku = "茶-2".into();
    let e = sync(&mut store, &config, "BJ01", &batch(4, vec![more]), t0());
    assert_eq!((e.raised, e.cleared), (0, 0));
    assert_eq!(store.alert_cursor("BJ01").unwrap(), Some(4));
    // Movements 1..=4 changed two lines: one location, two SKUs.
    let lines = store.lines_of_movements("BJ01", 1, 4).unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
}

fn two_processes_evaluating_one_line_raise_one_alert(engine: Engine) {
    let db = fresh(engine, "alert_race");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    let config = config_with(
        vec![rule_config("out", "stock-out", &[])],
        "http://127.0.0.1:9/hook",
    );
    use MovementKind::{Receipt, Sale};
    let req = batch(
        1,
        vec![
            movement("BJ01", 1, Receipt, 1),
            movement("BJ01", 2, Sale, -1),
        ],
    );
    store
        .ingest(&SiteId::parse("BJ01").unwrap(), &req, t0())
        .unwrap();
    let rules = config.alerts.rules().unwrap();
    let line = vec![("BJ01".to_owned(), "main".to_owned(), "茶-1".to_owned())];
    let barrier = std::sync::Barrier::new(4);
    let raised: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (target, rules, line, barrier) = (&db.target, &rules, &line, &barrier);
                s.spawn(move || {
                    let mut store = Store::open(target, false).unwrap();
                    barrier.wait();
                    let watch = jxc_hub::store::Watch {
                        lines: line,
                        ..Default::default()
                    };
                    store.evaluate_alerts(rules, &watch, t0()).unwrap().raised
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(raised, 1);
    assert_eq!(store.alerts(true, 10).unwrap().len(), 1);
    assert_eq!(store.outbox_pending().unwrap().len(), 1);
}

fn a_transfer_touches_its_receivers_line_when_sent_and_when_taken_back(engine: Engine) {
    let db = fresh(engine, "alert_transfer");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    enroll(&mut store, "SH01", SiteKind::Branch);
    let bj = SiteId::parse("BJ01").unwrap();
    let mut out = movement("BJ01", 2, MovementKind::TransferOut, -3);
    out.counterparty = Some("SH01/main".into());
    out.transfer_id = Some("T-BJ01-9".into());
    let req = batch(1, vec![movement("BJ01", 1, MovementKind::Receipt, 5), out]);
    let (_, stats) = store.ingest(&bj, &req, t0()).unwrap();
    let line = |s: &str| (s.to_owned(), "main".to_owned(), "茶-1".to_owned());
    assert_eq!(stats.touched, [line("BJ01"), line("SH01")]);
    let mut back = movement("BJ01", 3, MovementKind::TransferIn, 3);
    back.transfer_id = Some("T-BJ01-9".into());
    let (r, stats) = store.ingest(&bj, &batch(3, vec![back]), t0()).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    assert_eq!(stats.touched, [line("BJ01"), line("SH01")]);
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Engine::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Engine::Postgres) } )*
        }
    };
}

on_both_engines!(
    stock_out_raises_once_per_condition_and_clears,
    reorder_point_and_days_of_supply_use_the_stored_policy,
    site_rules_watch_quarantine_and_silence,
    rules_in_the_database_are_checked_and_hub_toml_rules_stay,
    two_processes_never_claim_one_message_at_once,
    a_batch_whose_evaluation_never_ran_is_caught_up_by_the_next,
    two_processes_evaluating_one_line_raise_one_alert,
    a_transfer_touches_its_receivers_line_when_sent_and_when_taken_back,
);

/// A webhook receiver: records each request, answers with the next status
/// of `statuses` (then 200).
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    statuses: Arc<Mutex<Vec<StatusCode>>>,
}

async fn start_receiver(statuses: Vec<StatusCode>) -> (String, Receiver) {
    let r = Receiver {
        statuses: Arc::new(Mutex::new(statuses)),
        ..Receiver::default()
    };
    let state = r.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                state.seen.lock().unwrap().push((headers, body));
                let mut s = state.statuses.lock().unwrap();
                if s.is_empty() {
                    StatusCode::OK
                } else {
                    s.remove(0)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r)
}

struct TestHub {
    _dir: tempfile::TempDir,
    home: HubHome,
    hub: Arc<Hub>,
    admin: String,
}

fn test_hub(config: HubConfig) -> TestHub {
    let dir = tempfile::tempdir().unwrap();
    let home = HubHome::new(
        dir.path().to_path_buf(),
        jxc_testkit::database_url("alerts").as_deref(),
    )
    .unwrap();
    let (ca, admin) = cli::init(&home, &[]).unwrap();
    let hub = Arc::new(Hub::open(&home.db, ca, &config).unwrap());
    TestHub {
        _dir: dir,
        home,
        hub,
        admin,
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

impl TestHub {
    async fn call(&self, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let res = api::router(self.hub.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Enrolls `site` through `/v1/enroll`; its client certificate (DER).
    async fn enroll(&self, site: &str) -> Vec<u8> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let new = NewSite {
            id: SiteId::parse(site).unwrap(),
            kind: SiteKind::Branch,
            name: site.into(),
            region: "north".into(),
        };
        let token = cli::make_token(&self.home, new, Duration::hours(1))
            .unwrap()
            .to_string();
        let req = Request::post("/v1/enroll")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::json!({ "token": token, "csr_pem": csr(site) }).to_string(),
            ))
            .unwrap();
        let (status, v) = self.call(req).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        CertificateDer::from_pem_slice(v["cert_pem"].as_str().unwrap().as_bytes())
            .unwrap()
            .to_vec()
    }

    /// Syncs `req` through `/v1/sync`, as the agent does.
    async fn sync(&self, cert: &[u8], req: &SyncRequest) {
        use jxc_shared::protocol;
        let mut r = Request::post("/v1/sync")
            .header(header::CONTENT_TYPE, protocol::CONTENT_TYPE)
            .header(protocol::PROTOCOL_HEADER, "1")
            .body(Body::from(protocol::encode(req)))
            .unwrap();
        r.extensions_mut()
            .insert(jxc_hub::tls::PeerCert(Some(Arc::new(cert.to_vec()))));
        let (status, _) = self.call(r).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> (StatusCode, serde_json::Value) {
        let mut req = Request::get(path);
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.call(req.body(Body::empty()).unwrap()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_raises_a_signed_webhook_retried_until_delivered_and_listed_by_the_api() {
    let (url, receiver) = start_receiver(vec![StatusCode::INTERNAL_SERVER_ERROR]).await;
    let config = config_with(vec![rule_config("out", "stock-out", &[])], &url);
    let h = test_hub(config);
    let cert = h.enroll("BJ01").await;
    use MovementKind::{Receipt, Sale};
    h.sync(
        &cert,
        &batch(
            1,
            vec![
                movement("BJ01", 1, Receipt, 3),
                movement("BJ01", 2, Sale, -3),
            ],
        ),
    )
    .await;

    // The API lists it, to HQ users only.
    let (status, _) = h.get("/v1/alerts?open=true", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, v) = h.get("/v1/alerts?limit=0", Some(&h.admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("limit 0"), "{v}");
    let (status, v) = h.get("/v1/alerts?open=true", Some(&h.admin)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["kind"], "stock-out");
    assert_eq!(v[0]["state"], "open");
    assert_eq!(v[0]["figures"]["on_hand"], "0");
    assert_eq!(v[0]["undelivered"], 1);

    // First attempt: the receiver answers 500; the message waits.
    let worker = AlertWorker::new(h.hub.clone()).unwrap();
    assert_eq!(worker.deliver_due(Utc::now()).await.unwrap(), 0);
    assert_eq!(
        worker.deliver_due(Utc::now()).await.unwrap(),
        0,
        "not due again yet"
    );
    let (_, v) = h.get("/v1/alerts", Some(&h.admin)).await;
    assert!(v[0]["last_error"].as_str().unwrap().contains("500"), "{v}");
    // After the backoff it is sent again and delivered.
    assert_eq!(
        worker
            .deliver_due(Utc::now() + Duration::minutes(5))
            .await
            .unwrap(),
        1
    );

    // Restocked: the cleared message follows.
    h.sync(&cert, &batch(3, vec![movement("BJ01", 3, Receipt, 2)]))
        .await;
    assert_eq!(worker.deliver_due(Utc::now()).await.unwrap(), 1);
    let (_, v) = h.get("/v1/alerts?open=true", Some(&h.admin)).await;
    assert_eq!(v.as_array().unwrap().len(), 0, "{v}");

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for (headers, body) in &seen {
        let sig = headers["x-jxc-signature"].to_str().unwrap();
        assert_eq!(sig, signature("s3cret-s3cret-s3cret", body));
        // Checked independently of the hub's code: HMAC-SHA256 by hand.
        assert_eq!(
            sig,
            format!("sha256={}", hmac_sha256(b"s3cret-s3cret-s3cret", body))
        );
        assert_eq!(headers["content-type"], "application/json");
    }
    let bodies: Vec<serde_json::Value> = seen
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    assert_eq!(bodies[0], bodies[1], "a retry sends the same message");
    assert_eq!(seen[0].0["x-jxc-delivery"], seen[1].0["x-jxc-delivery"]);
    assert_eq!(bodies[0]["event"], "raised");
    assert_eq!(bodies[2]["event"], "cleared");
    assert_eq!(bodies[2]["alert"]["figures"]["on_hand"], "2");
    assert_eq!(bodies[0]["alert"]["id"], bodies[2]["alert"]["id"]);
}

/// HMAC-SHA256 (RFC 2104) over the `sha2` digest, written out here so the
/// test does not check the hub's signature with the hub's own code.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    hex::encode(
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize(),
    )
}

/// A minimal SMTP server: enough for one message, recorded as sent.
async fn smtp_sink() -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut seen = Vec::new();
        write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
        let mut in_data = false;
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            let reply: &[u8] = if in_data {
                if line == "." {
                    in_data = false;
                    b"250 queued\r\n"
                } else {
                    continue;
                }
            } else {
                match line
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase()
                    .as_str()
                {
                    "EHLO" | "HELO" => b"250 sink\r\n",
                    "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go ahead\r\n"
                    }
                    "QUIT" => {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    }
                    _ => b"500 what\r\n",
                }
            };
            write.write_all(reply).await.unwrap();
        }
        seen
    });
    (port, task)
}

#[tokio::test]
async fn an_alert_is_mailed_over_smtp() {
    let (port, sink) = smtp_sink().await;
    let smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        from: "jxc <jxc@example.com>".into(),
        to: vec!["planner@example.com".into(), "it@example.com".into()],
        username: None,
        password: None,
        tls: SmtpTls::None,
    };
    let payload = serde_json::json!({
        "event": "raised",
        "alert": { "id": 7, "rule": "out", "kind": "stock-out", "site": "BJ01", "location": "main",
                   "sku": "TEA-1", "raised_at": "2026-12-01T08:00:00.000Z", "cleared_at": null,
                   "figures": { "on_hand": "0", "in_transit": "0" },
                   "message": "BJ01/main TEA-1 is out of stock (on hand 0)" }
    })
    .to_string();
    send_email(&smtp, &payload).await.unwrap();
    let seen = sink.await.unwrap();
    let text = seen.join("\n");
    assert!(text.contains("MAIL FROM:<jxc@example.com>"), "{text}");
    assert!(text.contains("RCPT TO:<planner@example.com>"), "{text}");
    assert!(text.contains("RCPT TO:<it@example.com>"), "{text}");
    assert!(
        text.contains("Subject: [jxc] stock-out: BJ01 main TEA-1"),
        "{text}"
    );
    assert!(text.contains("is out of stock (on hand 0)"), "{text}");

    // A server that is not there: an error that names it, no panic.
    let gone = SmtpConfig {
        port: jxc_testkit::free_port(),
        ..smtp
    };
    let e = send_email(&gone, &payload).await.unwrap_err();
    assert!(e.contains("127.0.0.1"), "{e}");
}

#[test]
fn the_cli_adds_lists_and_removes_rules_and_refuses_bad_input_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let home = HubHome::sqlite(&data);
    cli::init(&home, &[]).unwrap();
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        "[alerts.webhook]\nurl = \"https://hooks.example.com/jxc\"\nsecret = \"0123456789abcdef\"\n\
         [[alerts.rules]]\nid = \"file-out\"\nkind = \"stock-out\"\nchannels = [\"webhook\"]\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut argv = vec![
            "jxc-hub",
            "--data",
            data.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ];
        argv.extend(args);
        let mut out = Vec::new();
        let r = cli::run(Cli::try_parse_from(argv).unwrap(), &mut out);
        r.map(|()| String::from_utf8(out).unwrap())
    };
    let refused = |args: &[&str], want: &str| {
        let e = run(args).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains(want), "{e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    };
    refused(
        &[
            "alert",
            "rule",
            "add",
            "a",
            "--kind",
            "stok-out",
            "--channels",
            "webhook",
        ],
        "kind \"stok-out\" is not valid",
    );
    refused(
        &[
            "alert",
            "rule",
            "add",
            "a",
            "--kind",
            "stale",
            "--hours",
            "abc",
            "--channels",
            "webhook",
        ],
        "hours \"abc\"",
    );
    refused(
        &[
            "alert",
            "rule",
            "add",
            "a",
            "--kind",
            "stale",
            "--hours",
            "0",
            "--channels",
            "webhook",
        ],
        "hours 0",
    );
    refused(
        &[
            "alert",
            "rule",
            "add",
            "a",
            "--kind",
            "over-days-of-supply",
            "--max-days",
            "-3",
            "--channels",
            "webhook",
        ],
        "max_days \"-3\"",
    );
    refused(
        &[
            "alert",
            "rule",
            "add",
            "a",
            "--kind",
            "stock-out",
            "--site",
            "NOPE",
            "--channels",
            "webhook",
        ],
        "site \"NOPE\"",
    );
    refused(
        &[
            "alert",
            "rule",
            "add",
            "a",
            "--kind",
            "stock-out",
            "--channels",
            "sms",
        ],
        "channel \"sms\"",
    );
    assert!(
        run(&["alert", "rule", "list"])
            .unwrap()
            .contains("file-out")
    );

    let out = run(&[
        "alert",
        "rule",
        "add",
        "low",
        "--kind",
        "below-reorder-point",
        "--site-kind",
        "dealer",
        "--channels",
        "webhook",
    ])
    .unwrap();
    assert!(out.contains("added alert rule low"), "{out}");
    let list: serde_json::Value =
        serde_json::from_str(&run(&["alert", "rule", "list", "--json"]).unwrap()).unwrap();
    assert_eq!(list[0]["id"], "file-out");
    assert_eq!(list[0]["origin"], "hub.toml");
    assert_eq!(list[1]["id"], "low");
    assert_eq!(list[1]["origin"], "database");
    assert_eq!(list[1]["scope"]["site_kind"], "dealer");

    let e = run(&["alert", "rule", "remove", "file-out"]).unwrap_err();
    assert_eq!(e.exit_code(), 4);
    assert!(e.to_string().contains("defined in hub.toml"), "{e}");
    assert!(
        run(&["alert", "rule", "remove", "low"])
            .unwrap()
            .contains("removed alert rule low")
    );
    assert_eq!(run(&["alerts", "--open", "--json"]).unwrap().trim(), "[]");
    assert!(run(&["alerts", "--csv"]).unwrap().contains("raised_at"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_delivers_when_woken_and_stops_on_shutdown() {
    let (url, receiver) = start_receiver(vec![]).await;
    let config = config_with(vec![rule_config("out", "stock-out", &[])], &url);
    let h = test_hub(config);
    let cert = h.enroll("BJ01").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(AlertWorker::new(h.hub.clone()).unwrap().run(stopped));
    use MovementKind::{Receipt, Sale};
    // The sync wakes the worker; waited for, not slept on.
    h.sync(
        &cert,
        &batch(
            1,
            vec![
                movement("BJ01", 1, Receipt, 1),
                movement("BJ01", 2, Sale, -1),
            ],
        ),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while receiver.seen.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), worker)
        .await
        .expect("the worker stops on shutdown")
        .unwrap();
    let (_, v) = h.get("/v1/alerts", Some(&h.admin)).await;
    assert_eq!(v[0]["undelivered"], 0, "{v}");
}
