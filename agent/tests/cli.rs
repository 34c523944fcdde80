//! End-to-end tests of the `jxc-agent` binary: exit codes, one-line errors,
//! JSON/CSV output, imports, stocktakes, transfers and configuration.

use flate2::{Compression, write::GzEncoder};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::str::FromStr;
use tempfile::TempDir;

const HEADER: &str = "type,location,sku,qty,lot,unit_cost,unit_price,counterparty,ref,occurred_at";
/// A product name with Chinese text, a comma and quotes (no spaces, so it
/// fits in a whitespace-split command line).
const CUP: &str = "茶杯\"特级\",大号";

/// Command-line arguments: a string is split on whitespace; an array is
/// taken as is (for values that contain spaces or are empty).
trait Argv {
    fn argv(&self) -> Vec<String>;
}
impl Argv for &str {
    fn argv(&self) -> Vec<String> {
        self.split_whitespace().map(str::to_owned).collect()
    }
}
impl Argv for String {
    fn argv(&self) -> Vec<String> {
        self.as_str().argv()
    }
}
impl<const N: usize> Argv for [&str; N] {
    fn argv(&self) -> Vec<String> {
        self.iter().map(|s| s.to_string()).collect()
    }
}

/// One site's ledger in its own temporary directory.
struct Agent {
    dir: TempDir,
}

impl Agent {
    fn new() -> Self {
        Agent {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// An initialized site BJ01 with location `main`.
    fn site() -> Self {
        let a = Self::new();
        a.ok("init --site BJ01 --kind branch --name 北京分公司");
        a.ok("location add main");
        a
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data(&self) -> PathBuf {
        self.path("data")
    }

    /// The binary, run in the temp dir, with no configuration from the environment.
    fn bare(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jxc-agent"));
        c.current_dir(self.dir.path());
        c.env_remove("JXC_AGENT_DATA")
            .env_remove("JXC_AGENT_CONFIG");
        c
    }

    fn run(&self, args: &impl Argv) -> Output {
        let mut c = self.bare();
        c.arg("--data").arg(self.data()).args(args.argv());
        c.output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: impl Argv) -> String {
        check_ok(&args.argv(), self.run(&args))
    }

    /// Runs a command that must fail with `code`; returns its stderr.
    fn fails(&self, args: impl Argv, code: i32) -> String {
        check_fails(&args.argv(), self.run(&args), code)
    }

    fn json(&self, args: impl Argv) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    fn movements(&self) -> u64 {
        self.json("status --json")["movements"].as_u64().unwrap()
    }

    /// Everything a refused command must leave untouched.
    fn snapshot(&self) -> [String; 5] {
        let what = ["moves --json", "stock --all --json", "product list --json"];
        let more = ["location list --json", "transfer list --json"];
        [what[0], what[1], what[2], more[0], more[1]].map(|c| self.ok(c))
    }

    /// A refused single command: its code, exactly one stderr line, starting
    /// `error:`, naming the field and quoting the value, and nothing written.
    fn refused(&self, args: impl Argv, code: i32, field: &str, value: &str) {
        let before = self.snapshot();
        let err = self.fails(&args, code);
        let args = args.argv();
        assert_eq!(err.lines().count(), 1, "{args:?}: want one line:\n{err}");
        let named = format!("{field} {value:?}");
        assert!(err.contains(&named), "{args:?}: no `{named}` in: {err}");
        assert_eq!(self.snapshot(), before, "{args:?} wrote something");
    }

    /// On-hand quantity keyed "location sku lot" (lot `-` when none).
    fn stock(&self) -> BTreeMap<String, Decimal> {
        let rows = self.json("stock --json");
        let row = |r: &Value| (pick(r, "location sku lot"), d(r["qty"].as_str().unwrap()));
        rows.as_array().unwrap().iter().map(row).collect()
    }

    fn qty(&self, location: &str, sku: &str) -> String {
        let key = format!("{location} {sku} -");
        self.stock()
            .get(&key)
            .copied()
            .unwrap_or_default()
            .to_string()
    }

    /// Writes a file in the temp dir and returns its path.
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_owned()
    }
}

impl<T: Argv> Argv for &T {
    fn argv(&self) -> Vec<String> {
        (*self).argv()
    }
}

fn check_ok(args: &[String], out: Output) -> String {
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\n{stderr}",
        out.status
    );
    stdout
}

/// Checks the exit code and that stderr has exactly one `error:` line (the
/// last one, except for clap's usage errors, which add a usage hint).
fn check_fails(args: &[String], out: Output, code: i32) -> String {
    let (stdout, stderr) = texts(&out);
    let ctx = format!("{args:?}: stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(out.status.code(), Some(code), "{ctx}");
    assert!(!stderr.contains("panicked"), "{ctx}");
    let errors = lines_starting(&stderr, "error: ");
    assert_eq!(errors.len(), 1, "{ctx}");
    if code != 2 {
        assert_eq!(stderr.lines().last(), Some(errors[0]), "{ctx}");
    }
    stderr
}

fn texts(out: &Output) -> (String, String) {
    let o = String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8");
    let e = String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8");
    (o, e)
}

/// The named fields of a JSON object as text joined by spaces (null is `-`).
fn pick(v: &Value, keys: &str) -> String {
    let field = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    keys.split(' ').map(field).collect::<Vec<_>>().join(" ")
}

/// `pick` over each element of a JSON array.
fn pick_all(v: &Value, keys: &str) -> Vec<String> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| pick(x, keys))
        .collect()
}

fn d(x: &str) -> Decimal {
    Decimal::from_str(x).unwrap()
}

fn lines_starting<'e>(err: &'e str, prefix: &str) -> Vec<&'e str> {
    err.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn happy_path_receive_sell_stock_moves_verify() {
    let a = Agent::site();
    a.ok(["location", "add", "back", "--name", "后 仓"]);
    a.ok(format!(
        "product add A,1 --name {CUP} --decimals 1 --unit 个"
    ));
    let products = a.json("product list --json");
    assert_eq!(
        pick(&products[0], "sku name decimals"),
        format!("A,1 {CUP} 1")
    );
    assert_eq!(
        pick_all(&a.json("location list --json"), "name"),
        ["后 仓", "main"]
    );

    let supplier = "供应商\"甲\",有限公司";
    let rcv = "receive --location main --sku A,1 --qty 10";
    a.ok(format!("{rcv} --cost 20"));
    a.ok(format!(
        "{rcv} --cost 30 --at 2026-11-02T09:30:00+08:00 --ref PO-7"
    ));
    let sell = "sell --location main --sku A,1 --qty 2.5 --price 40";
    let out = a.ok(format!("{sell} --counterparty {supplier}"));
    assert!(out.contains("on hand now 17.5"), "{out}");

    let stock = a.json("stock --json");
    let want = "main A,1 - 个 17.5 25 437.5";
    assert_eq!(
        pick_all(&stock, "location sku lot unit qty avg_cost value"),
        [want]
    );

    let moves = a.json("moves --json");
    let got = pick_all(&moves, "seq type qty unit_cost unit_price ref");
    let want = [
        "1 receipt 10 20 - -",
        "2 receipt 10 30 - PO-7",
        "3 sale -2.5 25 40 -",
    ];
    assert_eq!(got, want);
    assert_eq!(moves[1]["occurred_at"], "2026-11-02T09:30:00+08:00");
    assert_eq!(moves[2]["counterparty"], supplier);
    assert_eq!(pick_all(&a.json("moves --since 2 --json"), "seq"), ["3"]);

    let text = a.ok("moves --csv");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let row = |i: usize, c: &str| recs[i][col(c)].to_owned();
    assert_eq!(recs.len(), 3);
    assert_eq!(
        [row(0, "sku"), row(0, "type"), row(0, "qty")],
        ["A,1", "receipt", "10"]
    );
    assert_eq!([row(2, "qty"), row(2, "counterparty")], ["-2.5", supplier]);

    let out = a.ok("verify");
    assert!(out.starts_with("ok: 3 movements"), "{out}");
    let st = a.json("status --json");
    assert_eq!(pick(&st, "movements products locations"), "3 1 2");
    assert_eq!(st["site"]["name"], "北京分公司");
}

#[test]
fn refusals_exit_with_their_code_and_write_nothing() {
    let a = Agent::site();
    a.ok(format!("product add A,1 --name {CUP} --decimals 2"));
    a.ok("product add LOT --name 批次品 --lot-tracked");
    a.ok("receive --location main --sku A,1 --qty 5 --cost 2");
    let cases = [
        (
            "sell --location nope --sku A,1 --qty 1",
            3,
            "location",
            "nope",
        ),
        ("sell --location main --sku ZZ --qty 1", 3, "sku", "ZZ"),
        ("sell --location main --sku A,1 --qty 0", 3, "qty", "0"),
        ("sell --location main --sku A,1 --qty -1", 3, "qty", "-1"),
        ("sell --location main --sku A,1 --qty 1e3", 3, "qty", "1e3"),
        (
            "sell --location main --sku A,1 --qty 1.234",
            3,
            "qty",
            "1.234",
        ),
        ("receive --location main --sku LOT --qty 1", 3, "lot", ""),
        (
            "sell --location main --sku A,1 --qty 1 --lot L1",
            3,
            "lot",
            "L1",
        ),
        (
            "sell --location main --sku A,1 --qty 5.01",
            4,
            "qty",
            "5.01",
        ),
        (
            "return-to-supplier --location main --sku A,1 --qty 6",
            4,
            "qty",
            "6",
        ),
        (
            "sell --location main --sku A,1 --qty 1 --at 2026-11-02",
            3,
            "at",
            "2026-11-02",
        ),
        (
            "sell --location main --sku A,1 --qty 1 --at 1900-01-01T00:00:00Z",
            3,
            "at",
            "1900-01-01T00:00:00Z",
        ),
        (
            "sell --location main --sku A,1 --qty 1 --price=-3",
            3,
            "unit_price",
            "-3",
        ),
        // Outgoing stock is valued at average cost, so a cost on it is refused.
        (
            "adjust --location main --sku A,1 --qty -1 --reason x --cost 9",
            3,
            "unit_cost",
            "9",
        ),
        ("location add bad/id", 3, "location", "bad/id"),
        ("init --site X1 --kind shop", 3, "kind", "shop"),
    ];
    for (args, code, field, value) in cases {
        a.refused(args, code, field, value);
    }
    let scrap = [
        "scrap",
        "--location",
        "main",
        "--sku",
        "A,1",
        "--qty",
        "1",
        "--reason",
        "",
    ];
    a.refused(scrap, 3, "reason", "");
    // `sell` has no --cost flag at all: that is a usage error (2) from clap.
    let before = a.snapshot();
    let err = a.fails("sell --location main --sku A,1 --qty 1 --cost 9", 2);
    assert!(err.contains("'--cost'"), "{err}");
    assert_eq!(a.snapshot(), before);

    // A second init and duplicates are refused by the ledger (4).
    let conflicts = [
        (
            "init --site BJ01 --kind branch",
            "already holds the ledger of site BJ01",
        ),
        (
            "init --site SH01 --kind dealer",
            "site BJ01; nothing changed",
        ),
        ("location add main", "location main already exists"),
        ("product add A,1 --name other", "product A,1 already exists"),
    ];
    for (args, message) in conflicts {
        let err = a.fails(args, 4);
        assert!(err.contains(message) && err.lines().count() == 1, "{err}");
    }
    assert_eq!(a.snapshot(), before);
    assert_eq!(
        pick(&a.json("status --json")["site"], "id kind"),
        "BJ01 branch"
    );
    assert_eq!((a.movements(), a.qty("main", "A,1")), (1, "5".into()));

    // A location that allows negative stock does let a sale go below zero.
    a.ok("location add van --allow-negative");
    let out = a.ok("sell --location van --sku A,1 --qty 3");
    assert!(out.contains("on hand now -3"), "{out}");
    assert_eq!(a.qty("van", "A,1"), "-3");
    a.ok("verify");
}

#[test]
fn commands_before_init_fail_with_data_dir_code() {
    let a = Agent::new();
    for args in [
        "status",
        "stock",
        "location add main",
        "verify",
        "moves --json",
    ] {
        let err = a.fails(args, 5);
        assert!(
            err.contains("no ledger at") && err.contains("init"),
            "{err}"
        );
    }
    assert!(
        !a.data().join("ledger.db").exists(),
        "a failed command made a ledger"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let a = Agent::site();
    let conn = rusqlite::Connection::open(a.data().join("ledger.db")).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    for args in [
        "status",
        "stock --json",
        "location add back",
        "init --site X --kind hq",
    ] {
        let err = a.fails(args, 5);
        assert!(err.contains("newer") && err.contains("schema 99"), "{err}");
    }
}

/// A tiny deterministic generator, so the big import file is the same every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn import_of_a_few_hundred_rows_matches_the_file_sums() {
    let a = Agent::site();
    a.ok("location add back");
    let products = [("A,1", 2u32), ("绿茶", 3), ("B", 0)];
    for (sku, places) in products {
        a.ok(format!(
            "product add {sku} --name {sku} --decimals {places}"
        ));
    }
    let parties = ["", "张三, \"老王\" 商行", "Acme, Inc.", "李四"];
    let kinds = [
        "receipt",
        "sale",
        "customer_return",
        "supplier_return",
        "adjustment",
    ];
    let (mut rng, mut want) = (Lcg(7), BTreeMap::<String, Decimal>::new());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER.split(',')).unwrap();
    let rows = 300;
    for i in 0..rows {
        let loc = ["main", "back"][rng.next(2)];
        let (sku, places) = products[rng.next(3)];
        let q = Decimal::new(rng.next(20 * 10usize.pow(places)) as i64 + 1, places);
        let bal = want.entry(format!("{loc} {sku} -")).or_default();
        let mut kind = kinds[rng.next(5)];
        let out =
            matches!(kind, "sale" | "supplier_return") || (kind == "adjustment" && i % 2 == 0);
        if out && *bal < q {
            kind = "receipt";
        }
        let signed = if kind == "receipt" || kind == "customer_return" || !out {
            q
        } else {
            -q
        };
        *bal += signed;
        let qty = if kind == "adjustment" { signed } else { q }.to_string();
        let cost = if kind == "receipt" && i % 3 != 0 {
            format!("{}.5", i % 7)
        } else {
            "".into()
        };
        let price = if kind == "sale" { "19.9" } else { "" };
        let at = match i % 4 {
            0 => String::new(),
            _ => format!("2026-11-{:02}T{:02}:30:00+08:00", 1 + i % 28, i % 24),
        };
        let doc = if i % 5 == 0 {
            String::new()
        } else {
            format!("DOC-{i}")
        };
        let party = parties[i % parties.len()];
        w.write_record([kind, loc, sku, &qty, "", &cost, price, party, &doc, &at])
            .unwrap();
    }
    let file = a.write("moves.csv", w.into_inner().unwrap());
    let out = a.ok(format!("import {file}"));
    assert!(
        out.starts_with(&format!("imported {rows} movements (#1-#{rows})")),
        "{out}"
    );

    want.retain(|_, v| !v.is_zero());
    assert_eq!(a.stock(), want);
    let moves = a.json("moves --json");
    assert_eq!(moves.as_array().unwrap().len(), rows);
    assert_eq!(moves[1]["counterparty"], parties[1]);
    assert_eq!(moves[1]["occurred_at"], "2026-11-02T01:30:00+08:00");
    assert_eq!(pick(&moves[0], "counterparty ref"), "- -");
    a.ok("verify");
}

/// Site BJ01 with locations main and back and product "A,1" (2 decimals).
fn import_site() -> Agent {
    let a = Agent::site();
    a.ok("location add back");
    a.ok(format!("product add A,1 --name {CUP} --decimals 2"));
    a
}

#[test]
fn import_with_bad_rows_writes_nothing_or_only_the_good_rows() {
    let a = import_site();
    let rows = "receipt,main,\"A,1\",10,,5,,\"供应商, \"\"甲\"\"\",PO-1,2026-11-02T09:30:00+08:00\n\
                sale,main,\"A,1\",abc,,,,,,\n\
                sale,main,\"A,1\",2,,,9.9,客户,,\n\
                sale,main,NOPE,1,,,,,,\n\
                sale,main,\"A,1\",1,,,,,,2026-13-45T00:00:00+08:00\n\
                receipt,back,\"A,1\",3.25,,,,,,\n";
    let file = a.write("bad.csv", format!("{HEADER}\n{rows}"));
    let err = a.fails(format!("import {file}"), 3);
    let reported = lines_starting(&err, "line ");
    assert_eq!(reported.len(), 3, "{err}");
    assert!(reported[0].starts_with("line 3: qty \"abc\""), "{err}");
    assert!(reported[1].starts_with("line 5: sku \"NOPE\""), "{err}");
    assert!(
        reported[2].starts_with("line 6: occurred_at \"2026-13-45"),
        "{err}"
    );
    assert!(
        err.contains("3 bad row(s) of 6; nothing was written"),
        "{err}"
    );
    assert_eq!(a.movements(), 0);

    let rej = a.path("rej.csv");
    let out = a.ok(format!("import {file} --skip-bad {}", rej.display()));
    assert!(
        out.contains("imported 3 movements") && out.contains("3 bad row(s)"),
        "{out}"
    );
    assert_eq!([a.qty("main", "A,1"), a.qty("back", "A,1")], ["8", "3.25"]);
    assert_eq!(a.json("moves --json")[0]["counterparty"], "供应商, \"甲\"");

    let mut r = csv::Reader::from_path(&rej).unwrap();
    let h: Vec<&str> = r.headers().unwrap().iter().collect();
    assert_eq!(h.join(","), format!("{HEADER},line,error"));
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let got: Vec<_> = recs
        .iter()
        .map(|r| [&r[10], &r[2], &r[3]].map(str::to_owned))
        .collect();
    assert_eq!(
        got,
        [["3", "A,1", "abc"], ["5", "NOPE", "1"], ["6", "A,1", "1"]]
    );
    for (rec, col) in recs
        .iter()
        .zip(["qty \"abc\"", "sku \"NOPE\"", "occurred_at"])
    {
        assert!(rec[11].starts_with(col), "{:?}", &rec[11]);
    }
}

#[test]
fn import_reports_a_row_that_would_take_stock_negative() {
    let a = import_site();
    let q = "\"A,1\"";
    let rows = format!("receipt,main,{q},5,,1,,,,\nsale,main,{q},7,,,,,,\nsale,main,{q},5,,,,,,\n");
    let file = a.write("neg.csv", format!("{HEADER}\n{rows}"));
    let err = a.fails(format!("import {file}"), 3);
    let reported = lines_starting(&err, "line ");
    assert_eq!(reported.len(), 1, "{err}");
    assert!(
        reported[0].starts_with("line 3: qty \"7\" refused: only 5 on hand"),
        "{err}"
    );
    assert_eq!(a.movements(), 0);
    // Skipping it, the later sale of 5 still sees the earlier receipt.
    let out = a.ok(format!(
        "import {file} --skip-bad {}",
        a.path("rej.csv").display()
    ));
    assert!(out.contains("imported 2 movements"), "{out}");
    assert_eq!((a.movements(), a.qty("main", "A,1")), (2, "0".into()));
    // A sale with a unit cost, and a transfer, are row errors too.
    let rows = "sale,main,\"A,1\",1,,4,,,,\ntransfer_in,main,\"A,1\",1,,,,,,\n";
    let file = a.write("cost.csv", format!("{HEADER}\n{rows}"));
    let err = a.fails(format!("import {file}"), 3);
    assert!(
        err.contains("line 2: unit_cost \"4\"") && err.contains("line 3: type"),
        "{err}"
    );
    assert_eq!(a.movements(), 2);
}

#[test]
fn import_reads_gzip_and_refuses_bad_headers_and_encodings() {
    let a = import_site();
    let rows = "receipt,main,\"A,1\",4.5,,2,,\"王五, \"\"小\"\"\",,2026-11-03T08:00:00+08:00\n\
                sale,main,\"A,1\",1.25,,,3,,,\n";
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(format!("{HEADER}\n{rows}").as_bytes())
        .unwrap();
    let file = a.write("moves.csv.gz", gz.finish().unwrap());
    let out = a.ok(format!("import {file}"));
    assert!(out.starts_with("imported 2 movements"), "{out}");
    assert_eq!(a.qty("main", "A,1"), "3.25");
    assert_eq!(a.json("moves --json")[0]["counterparty"], "王五, \"小\"");

    let short = HEADER.replace(",occurred_at", "");
    let file = a.write(
        "short.csv",
        format!("{short}\nreceipt,main,\"A,1\",1,,,,,\n"),
    );
    let err = a.fails(format!("import {file}"), 3);
    assert!(err.contains("missing column occurred_at"), "{err}");

    let mut bytes = format!("{HEADER}\nreceipt,main,\"A,1\",1,,,,").into_bytes();
    bytes.extend_from_slice(b"caf\xe9 \xfe\xff,,\nreceipt,main,\"A,1\",1,,,,ok,,\n");
    let file = a.write("latin1.csv", bytes);
    let err = a.fails(format!("import {file}"), 3);
    let reported = lines_starting(&err, "line ");
    assert_eq!(reported.len(), 1, "{err}");
    assert!(
        reported[0].starts_with("line 2: encoding \"counterparty\""),
        "{err}"
    );
    assert!(reported[0].contains("UTF-8"), "{err}");
    assert_eq!(a.movements(), 2);
}

#[test]
fn product_import_is_all_or_nothing() {
    let a = Agent::site();
    let good = "sku,name,unit,category,brand,decimals,lot_tracked\n\
                \"P,1\",\"杯子, \"\"大\"\"\",个,\"餐具, 杯\",\"Acme, Inc.\",2,false\n\
                P2,盒装茶,box,,,0,yes\n";
    let file = a.write("products.csv", good);
    let out = a.ok(format!("product import {file}"));
    assert!(out.contains("2 added"), "{out}");
    let ps = a.json("product list --json");
    let got = pick_all(&ps, "sku name unit category brand decimals lot_tracked");
    let p1 = "P,1 杯子, \"大\" 个 餐具, 杯 Acme, Inc. 2 false";
    assert_eq!(got, [p1, "P2 盒装茶 box   0 true"]);

    let bad = "sku,name,unit,category,brand\nP3,新品,,,\nP4,,pcs,,\n\"P,1\",renamed,,,\n";
    let file = a.write("bad.csv", bad);
    let err = a.fails(format!("product import {file}"), 3);
    let want = "line 3: name \"\" is not valid: a product needs a name";
    assert_eq!(lines_starting(&err, "line "), [want]);
    assert_eq!(
        a.json("product list --json"),
        ps,
        "a bad file changed the products"
    );

    let file = a.write("nosku.csv", "code,name\nX,y\n");
    let err = a.fails(format!("product import {file}"), 3);
    assert!(err.contains("missing column sku"), "{err}");
}

#[test]
fn stocktake_adjusts_by_variance_at_count_time() {
    let a = Agent::site();
    a.ok("product add X --name x");
    let err = a.fails("count post", 4);
    assert!(err.contains("no count is open"), "{err}");
    a.ok("receive --location main --sku X --qty 10 --cost 4");
    a.ok("count start --location main");
    assert_eq!(a.json("status --json")["open_counts"], 1);
    a.fails("count start --location main", 4);
    let out = a.ok("count set X 8");
    assert!(out.contains("counted 8 (book 10, variance -2)"), "{out}");
    a.ok("sell --location main --sku X --qty 3");
    let report = a.json("count post --json");
    assert_eq!(
        pick_all(&report["lines"], "sku book counted variance value"),
        ["X 10 8 -2 -8"]
    );
    assert_eq!(report["total_value"], "-8");
    assert_eq!(a.qty("main", "X"), "5");
    let moves = a.json("moves --json");
    assert_eq!(pick(&moves[2], "type qty ref"), "adjustment -2 COUNT-1");
    assert_eq!(a.json("status --json")["open_counts"], 0);
    let err = a.fails("count post", 4);
    assert!(err.contains("no count is open"), "{err}");
    a.ok("verify");
}

#[test]
fn stocktake_lines_can_be_imported() {
    let a = Agent::site();
    a.ok("product add X --name x");
    a.ok("product add L --name 批次 --lot-tracked");
    a.ok("receive --location main --sku X --qty 10");
    a.ok("receive --location main --sku L --lot B1 --qty 4");
    a.ok("count start --location main");
    let bad = a.write("bad.csv", "sku,qty,lot\nX,-1,\nL,5,\n");
    let err = a.fails(format!("count import {bad}"), 3);
    assert!(
        err.contains("line 2: qty \"-1\"") && err.contains("line 3: lot"),
        "{err}"
    );
    let file = a.write("count.csv", "sku,qty,lot\nX,7,\nL,5,B1\n");
    let out = a.ok(format!("count import {file}"));
    assert!(out.contains("recorded 2 counted lines"), "{out}");
    let report = a.json("count post --location main --json");
    assert_eq!(
        pick_all(&report["lines"], "sku lot variance"),
        ["L B1 1", "X - -3"]
    );
    assert_eq!(a.qty("main", "X"), "7");
    assert_eq!(a.stock()["main L B1"], d("5"));
}

/// The transfer id `transfer send` prints on its last line.
fn sent_id(out: &str) -> String {
    let id = out.lines().last().unwrap().trim().to_owned();
    assert!(id.starts_with("T-BJ01-"), "{out}");
    id
}

#[test]
fn transfers_within_the_site_and_to_another_site() {
    let a = Agent::site();
    a.ok("location add back");
    a.ok("product add X --name x --decimals 1");
    a.ok("receive --location main --sku X --qty 10 --cost 6");

    let send = "transfer send --from main --sku X";
    let local = sent_id(&a.ok(format!("{send} --to BJ01/back --qty 2.5")));
    assert_eq!([a.qty("main", "X"), a.qty("back", "X")], ["7.5", "2.5"]);
    assert_eq!(a.json("stock --location back --json")[0]["avg_cost"], "6");

    let remote = sent_id(&a.ok(format!("{send} --to SH01/main --qty 3")));
    assert_eq!([a.qty("main", "X"), a.qty("back", "X")], ["4.5", "2.5"]);
    let list = a.json("transfer list --json");
    let got = pick_all(&list, "id to qty received_qty status");
    let want = [
        format!("{local} BJ01/back 2.5 2.5 received"),
        format!("{remote} SH01/main 3 0 sent"),
    ];
    assert_eq!(got, want);
    assert_eq!(a.json("status --json")["transfers_in_transit"], 1);
    let moves = pick_all(&a.json("moves --json"), "type location qty transfer_id");
    let want = [
        "receipt main 10 -".to_owned(),
        format!("transfer_out main -2.5 {local}"),
        format!("transfer_in back 2.5 {local}"),
        format!("transfer_out main -3 {remote}"),
    ];
    assert_eq!(moves, want);

    a.refused(
        format!("{send} --to BJ01/main --qty 1"),
        3,
        "to",
        "BJ01/main",
    );
    a.refused(
        format!("{send} --to BJ01/nope --qty 1"),
        3,
        "location",
        "nope",
    );
    a.refused(format!("{send} --to nowhere --qty 1"), 3, "to", "nowhere");
    a.refused(format!("{send} --to SH01/main --qty 99"), 4, "qty", "99");
    a.refused(
        format!("{send} --to SH01/main --qty 0.25"),
        3,
        "qty",
        "0.25",
    );
    a.ok("verify");
}

#[test]
fn config_file_and_environment_choose_the_data_dir() {
    let a = Agent::new();
    let (via_config, via_env) = (a.path("from-config"), a.path("from-env"));
    let data_dir = format!("data_dir = {:?}\n", via_config.to_str().unwrap());
    let cfg = a.write("agent.toml", format!("{data_dir}busy_timeout_secs = 5\n"));
    let run =
        |c: &mut Command, args: &str| check_ok(&args.argv(), c.args(args.argv()).output().unwrap());
    let site = |c: &mut Command| -> Value {
        serde_json::from_str::<Value>(&run(c, "status --json")).unwrap()["site"].clone()
    };

    run(
        a.bare().args(["--config", &cfg]),
        "init --site BJ01 --kind hq",
    );
    assert!(via_config.join("ledger.db").is_file());
    run(a.bare().env("JXC_AGENT_CONFIG", &cfg), "location add main");
    assert_eq!(
        pick(&site(a.bare().args(["--config", &cfg])), "id kind"),
        "BJ01 hq"
    );

    run(
        a.bare().env("JXC_AGENT_DATA", &via_env),
        "init --site SH01 --kind dealer",
    );
    assert!(via_env.join("ledger.db").is_file());
    assert_eq!(site(a.bare().env("JXC_AGENT_DATA", &via_env))["id"], "SH01");
    // --data wins over the config file.
    assert_eq!(
        site(a.bare().args(["--config", &cfg, "--data"]).arg(&via_env))["id"],
        "SH01"
    );
    // ./jxc-agent.toml in the working directory is read when nothing is given.
    a.write("jxc-agent.toml", &data_dir);
    assert_eq!(site(&mut a.bare())["id"], "BJ01");

    for (name, text, named) in [
        ("typo.toml", "data_dri = \"x\"\n", "data_dri"),
        (
            "zero.toml",
            "busy_timeout_secs = 0\n",
            "busy_timeout_secs 0",
        ),
    ] {
        let bad = a.write(name, text);
        let out = a
            .bare()
            .args(["--config", &bad, "status"])
            .output()
            .unwrap();
        let err = check_fails(&["status".into()], out, 5);
        assert!(err.contains(named) && err.contains(name), "{err}");
    }
}
