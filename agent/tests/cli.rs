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

/// A command line split on whitespace; the word `""` stands for an empty argument.
fn argv(args: &str) -> Vec<String> {
    let word = |w: &str| if w == "\"\"" { String::new() } else { w.into() };
    args.split_whitespace().map(word).collect()
}

/// One site's ledger in its own temporary directory.
struct Agent {
    dir: TempDir,
}

impl Agent {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Agent { dir }
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

    /// Runs the binary in the temp dir with `flags` and `env` and no
    /// configuration inherited from the environment.
    fn with(&self, flags: &[&str], env: &[(&str, &str)], args: &str) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jxc-agent"));
        c.current_dir(self.dir.path());
        c.env_remove("JXC_AGENT_DATA")
            .env_remove("JXC_AGENT_CONFIG");
        c.envs(env.iter().copied()).args(flags).args(argv(args));
        c.output().unwrap()
    }

    fn run(&self, args: &str) -> Output {
        let data = self.data();
        self.with(&["--data", data.to_str().unwrap()], &[], args)
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &str) -> String {
        check_ok(args, self.run(args))
    }

    /// Runs a command that must fail with `code`; returns its stderr.
    fn fails(&self, args: &str, code: i32) -> String {
        check_fails(args, self.run(args), code)
    }

    fn json(&self, args: &str) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    fn movements(&self) -> u64 {
        self.json("status --json")["movements"].as_u64().unwrap()
    }

    /// Everything a refused command must leave untouched.
    fn snapshot(&self) -> Vec<String> {
        let what = "moves;stock --all;product list;location list;transfer list";
        what.split(';')
            .map(|c| self.ok(&format!("{c} --json")))
            .collect()
    }

    /// A refused single command: its code, exactly one stderr line, starting
    /// `error:`, naming the field and quoting the value, and nothing written.
    fn refused(&self, args: &str, code: i32, field: &str, value: &str) {
        let before = self.snapshot();
        let err = self.fails(args, code);
        assert_eq!(err.lines().count(), 1, "want one line:\n{err}");
        has(&err, &format!("{field} {value:?}"));
        assert_eq!(self.snapshot(), before, "{args} wrote something");
    }

    /// `refused` for each line `CODE FIELD VALUE | ARGS`.
    fn refused_each(&self, rows: &str) {
        for row in rows.lines().map(str::trim).filter(|r| !r.is_empty()) {
            let (want, args) = row.split_once(" | ").unwrap();
            let want = argv(want);
            let code = want[0].parse().unwrap();
            self.refused(args, code, &want[1], &want[2]);
        }
    }

    /// On-hand quantity keyed "location sku lot" (lot `-` when none).
    fn stock(&self) -> BTreeMap<String, Decimal> {
        let rows = self.json("stock --json");
        let row = |r: &Value| (pick(r, "location sku lot"), d(&pick(r, "qty")));
        rows.as_array().unwrap().iter().map(row).collect()
    }

    fn qty(&self, location: &str, sku: &str) -> String {
        let q = self.stock().get(&format!("{location} {sku} -")).copied();
        q.unwrap_or_default().to_string()
    }

    /// Writes a file in the temp dir and returns its path.
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_owned()
    }
}

fn check_ok(args: &str, out: Output) -> String {
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{args}: {}:\n{stderr}", out.status);
    stdout
}

/// Checks the exit code and that stderr has exactly one `error:` line (the
/// last one, except for clap's usage errors, which add a usage hint).
fn check_fails(args: &str, out: Output, code: i32) -> String {
    let (stdout, stderr) = texts(&out);
    let ctx = format!("{args}: stdout:\n{stdout}\nstderr:\n{stderr}");
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
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8 output");
    (text(&out.stdout), text(&out.stderr))
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

/// `pick` over each element of a JSON array, one line each.
fn table(v: &Value, keys: &str) -> String {
    let rows = v.as_array().expect("a JSON array");
    let lines: Vec<String> = rows.iter().map(|x| pick(x, keys)).collect();
    lines.join("\n")
}

fn d(x: &str) -> Decimal {
    Decimal::from_str(x).unwrap()
}

fn has(text: &str, part: &str) {
    assert!(text.contains(part), "no {part:?} in:\n{text}");
}

fn lines_starting<'e>(err: &'e str, prefix: &str) -> Vec<&'e str> {
    err.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// A `--csv` listing, checked to start with the UTF-8 BOM and parsed back
/// with the csv crate: its header and records.
fn csv_out(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    jxc_shared::text::read_csv_table(text).unwrap_or_else(|e| panic!("{e}"))
}

/// `text` in GB18030, as Chinese Excel saves a CSV file.
fn gb18030(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// The bad rows an import reported, as `line N: COLUMN`, one per line.
fn reported(err: &str) -> String {
    let head = |l: &&str| l.split(' ').take(3).collect::<Vec<_>>().join(" ");
    let heads: Vec<String> = lines_starting(err, "line ").iter().map(head).collect();
    heads.join("\n")
}

#[test]
fn happy_path_receive_sell_stock_moves_verify() {
    let a = Agent::site();
    a.ok("location add back --name 后仓");
    a.ok(&format!("product add A,1 --name {CUP} --decimals 1"));
    let products = a.json("product list --json");
    let want = format!("A,1 {CUP} 1 false");
    assert_eq!(table(&products, "sku name decimals lot_tracked"), want);
    let locations = a.json("location list --json");
    assert_eq!(table(&locations, "id name"), "back 后仓\nmain main");

    let supplier = "供应商\"甲\",有限公司";
    let rcv = "receive --location main --sku A,1 --qty 10";
    a.ok(&format!("{rcv} --cost 20"));
    a.ok(&format!("{rcv} --cost 30 --at 2026-11-02T09:30:00+08:00"));
    let sell = "sell --location main --sku A,1 --qty 2.5 --price 40";
    let out = a.ok(&format!("{sell} --counterparty {supplier} --ref SO-7"));
    has(&out, "on hand now 17.5");

    let stock = a.json("stock --json");
    let got = table(&stock, "location sku lot unit qty avg_cost value");
    assert_eq!(got, "main A,1 - pcs 17.5 25 437.5");

    let moves = a.json("moves --json");
    let got = table(&moves, "seq type qty unit_cost unit_price ref");
    let want = "1 receipt 10 20 - -\n\
                2 receipt 10 30 - -\n\
                3 sale -2.5 25 40 SO-7";
    assert_eq!(got, want);
    assert_eq!(moves[1]["occurred_at"], "2026-11-02T09:30:00+08:00");
    assert_eq!(moves[2]["counterparty"], supplier);
    assert_eq!(table(&a.json("moves --since 2 --json"), "seq"), "3");

    let (h, recs) = csv_out(&a.ok("moves --csv"));
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let cell = |i: usize, c: &str| recs[i][col(c)].to_owned();
    assert_eq!(recs.len(), 3);
    assert_eq!([cell(0, "sku"), cell(0, "type")], ["A,1", "receipt"]);
    let sale = [cell(2, "qty"), cell(2, "counterparty")];
    assert_eq!(sale, ["-2.5", supplier]);
    // With nothing to list, the CSV still has its header.
    let empty = a.ok("moves --csv --since 3");
    assert!(
        empty.starts_with("\u{feff}seq,type,location,sku,lot,qty,"),
        "{empty}"
    );
    assert_eq!(empty.lines().count(), 1);

    has(&a.ok("verify"), "ok: 3 movements");
    let st = a.json("status --json");
    assert_eq!(pick(&st, "movements products locations"), "3 1 2");
    assert_eq!(st["site"]["name"], "北京分公司");
}

#[test]
fn refusals_exit_with_their_code_and_write_nothing() {
    let a = Agent::site();
    a.ok(&format!("product add A,1 --name {CUP} --decimals 2"));
    a.ok("product add LOT --name 批次品 --lot-tracked");
    a.ok("receive --location main --sku A,1 --qty 5 --cost 2");
    a.refused_each(
        r#"
        3 location nope | sell --location nope --sku A,1 --qty 1
        3 sku ZZ | sell --location main --sku ZZ --qty 1
        3 qty 0 | sell --location main --sku A,1 --qty 0
        3 qty -1 | sell --location main --sku A,1 --qty -1
        3 qty 1e3 | sell --location main --sku A,1 --qty 1e3
        3 qty 1.234 | sell --location main --sku A,1 --qty 1.234
        3 lot "" | receive --location main --sku LOT --qty 1
        3 lot L1 | sell --location main --sku A,1 --qty 1 --lot L1
        4 qty 5.01 | sell --location main --sku A,1 --qty 5.01
        4 qty 6 | return-to-supplier --location main --sku A,1 --qty 6
        3 at 02.11.2026 | sell --location main --sku A,1 --qty 1 --at 02.11.2026
        3 at 1900-01-01T00:00:00Z | sell --location main --sku A,1 --qty 1 --at 1900-01-01T00:00:00Z
        3 unit_price -3 | sell --location main --sku A,1 --qty 1 --price=-3
        3 unit_price -3 | sell --location main --sku A,1 --qty 1 --price -3
        3 unit_cost -2 | receive --location main --sku A,1 --qty 1 --cost -2
        3 qty -1 | transfer send --from main --to SH01/main --sku A,1 --qty -1
        3 unit_cost 9 | adjust --location main --sku A,1 --qty -1 --reason x --cost 9
        3 reason "" | scrap --location main --sku A,1 --qty 1 --reason ""
        3 location bad/id | location add bad/id
        3 kind shop | init --site X1 --kind shop
        "#,
    );
    // `sell` has no --cost flag at all: that is a usage error (2) from clap.
    let before = a.snapshot();
    let err = a.fails("sell --location main --sku A,1 --qty 1 --cost 9", 2);
    has(&err, "unexpected argument '--cost'");
    assert_eq!(a.snapshot(), before);

    // A second init and duplicates are refused by the ledger (4).
    let conflicts = "init --site BJ01 --kind branch = already holds the ledger of site BJ01
                     init --site SH01 --kind dealer = site BJ01; nothing changed
                     location add main = location main already exists
                     product add A,1 --name other = product A,1 already exists";
    for line in conflicts.lines() {
        let (args, message) = line.trim().split_once(" = ").unwrap();
        let err = a.fails(args, 4);
        assert_eq!(err.lines().count(), 1, "{err}");
        has(&err, message);
    }
    assert_eq!(a.snapshot(), before);
    let site = &a.json("status --json")["site"];
    assert_eq!(pick(site, "id kind"), "BJ01 branch");
    assert_eq!((a.movements(), a.qty("main", "A,1")), (1, "5".into()));

    // A location that allows negative stock does let a sale go below zero.
    a.ok("location add van --allow-negative");
    let out = a.ok("sell --location van --sku A,1 --qty 3");
    has(&out, "on hand now -3");
    assert_eq!(a.qty("van", "A,1"), "-3");
    a.ok("verify");
}

#[test]
fn commands_before_init_fail_with_data_dir_code() {
    let a = Agent::new();
    for args in "status;stock;location add main;verify;moves --json".split(';') {
        let err = a.fails(args, 5);
        has(&err, "no ledger at");
        has(&err, "run `jxc-agent init");
    }
    assert!(!a.data().join("ledger.db").exists(), "a ledger was made");
}

#[test]
fn a_newer_schema_is_refused() {
    let a = Agent::site();
    let conn = rusqlite::Connection::open(a.data().join("ledger.db")).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    for args in "status;stock --json;location add back;init --site X --kind hq".split(';') {
        let err = a.fails(args, 5);
        has(&err, "written by a newer jxc-agent (schema 99");
    }
}

/// A pseudo-random number below `n` (xorshift), so the file is the same every run.
fn next(state: &mut u64, n: usize) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % n as u64) as usize
}

#[test]
fn import_of_a_few_hundred_rows_matches_the_file_sums() {
    let a = Agent::site();
    a.ok("location add back");
    let products = [("A,1", 2u32), ("绿茶", 3), ("B", 0)];
    for (sku, places) in products {
        let add = format!("product add {sku} --name {sku} --decimals {places}");
        a.ok(&add);
    }
    let parties = ["", "张三, \"老王\" 商行", "Acme, Inc.", "李四"];
    let kinds = "receipt+ sale- customer_return+ supplier_return- adjustment- adjustment+";
    let kinds: Vec<(&str, bool)> = kinds
        .split(' ')
        .map(|k| (&k[..k.len() - 1], k.ends_with('-')))
        .collect();
    let (mut rng, mut want) = (0x9e37_79b9, BTreeMap::<String, Decimal>::new());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER.split(',')).unwrap();
    let rows = 300;
    for i in 0..rows {
        let loc = ["main", "back"][next(&mut rng, 2)];
        let (sku, places) = products[next(&mut rng, 3)];
        let q = Decimal::new(next(&mut rng, 20 * 10usize.pow(places)) as i64 + 1, places);
        let bal = want.entry(format!("{loc} {sku} -")).or_default();
        let (mut kind, mut out) = kinds[next(&mut rng, kinds.len())];
        if out && *bal < q {
            (kind, out) = ("receipt", false);
        }
        *bal += if out { -q } else { q };
        let qty = if kind == "adjustment" && out { -q } else { q };
        let (cost, doc) = (format!("{}.5", i % 7), format!("DOC-{i}"));
        let with_cost = kind == "receipt" && i % 3 > 0;
        let cost = if with_cost { &cost } else { "" };
        let price = if kind == "sale" { "19.9" } else { "" };
        let day = format!("2026-11-{:02}T{:02}:30:00+08:00", 1 + i % 28, i % 24);
        let at = if i % 4 == 0 { "" } else { &day };
        let doc = if i % 5 == 0 { "" } else { &doc };
        let party = parties[i % parties.len()];
        let qty = qty.to_string();
        let row = [kind, loc, sku, &qty, "", cost, price, party, doc, at];
        w.write_record(row).unwrap();
    }
    let file = a.write("moves.csv", w.into_inner().unwrap());
    let out = a.ok(&format!("import {file}"));
    has(&out, &format!("imported {rows} movements (#1-#{rows})"));

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
    a.ok(&format!("product add A,1 --name {CUP} --decimals 2"));
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
    let err = a.fails(&format!("import {file}"), 3);
    let want = "line 3: qty\nline 5: sku\nline 6: occurred_at";
    assert_eq!(reported(&err), want, "{err}");
    has(&err, "line 3: qty \"abc\" is not valid");
    has(&err, "line 5: sku \"NOPE\" is not valid: no such product");
    has(&err, "3 bad row(s) of 6; nothing was written");
    assert_eq!(a.movements(), 0);

    let rej = a.path("rej.csv");
    let out = a.ok(&format!("import {file} --skip-bad {}", rej.display()));
    has(&out, "imported 3 movements (#1-#3)");
    has(&out, "3 bad row(s) written to");
    assert_eq!([a.qty("main", "A,1"), a.qty("back", "A,1")], ["8", "3.25"]);
    assert_eq!(a.json("moves --json")[0]["counterparty"], "供应商, \"甲\"");

    let mut r = csv::Reader::from_path(&rej).unwrap();
    let h: Vec<&str> = r.headers().unwrap().iter().collect();
    assert_eq!(h.join(","), format!("{HEADER},line,error"));
    let mut got = String::new();
    for rec in r.records().map(Result::unwrap) {
        let error: String = rec[11].split(' ').take(2).collect::<Vec<_>>().join(" ");
        got += &format!("{} {} {} {error}\n", &rec[10], &rec[2], &rec[3]);
    }
    let want = "3 A,1 abc qty \"abc\"\n\
                5 NOPE 1 sku \"NOPE\"\n\
                6 A,1 1 occurred_at \"2026-13-45T00:00:00+08:00\"\n";
    assert_eq!(got, want);
}

#[test]
fn import_reports_a_row_that_would_take_stock_negative() {
    let a = import_site();
    let rows = "receipt,main,\"A,1\",5,,1,,,,\n\
                sale,main,\"A,1\",7,,,,,,\n\
                sale,main,\"A,1\",5,,,,,,\n";
    let file = a.write("neg.csv", format!("{HEADER}\n{rows}"));
    let err = a.fails(&format!("import {file}"), 3);
    assert_eq!(reported(&err), "line 3: qty", "{err}");
    has(&err, "line 3: qty \"7\" refused: only 5 on hand of sku A,1");
    assert_eq!(a.movements(), 0);
    // Skipping it, the later sale of 5 still sees the earlier receipt.
    let rej = a.path("rej.csv");
    let out = a.ok(&format!("import {file} --skip-bad {}", rej.display()));
    has(&out, "imported 2 movements");
    assert_eq!((a.movements(), a.qty("main", "A,1")), (2, "0".into()));
    // A sale with a unit cost, and a transfer, are row errors too.
    let rows = "sale,main,\"A,1\",1,,4,,,,\ntransfer_in,main,\"A,1\",1,,,,,,\n";
    let file = a.write("cost.csv", format!("{HEADER}\n{rows}"));
    let err = a.fails(&format!("import {file}"), 3);
    assert_eq!(reported(&err), "line 2: unit_cost\nline 3: type", "{err}");
    assert_eq!(a.movements(), 2);
}

#[test]
fn import_reads_gzip_and_refuses_bad_headers_and_encodings() {
    let a = import_site();
    let rows = "receipt,main,\"A,1\",4.5,,2,,\"王五, \"\"小\"\"\",,2026-11-03T08:00:00+08:00\n\
                sale,main,\"A,1\",1.25,,,3,,,\n";
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    let text = format!("{HEADER}\n{rows}");
    gz.write_all(text.as_bytes()).unwrap();
    let file = a.write("moves.csv.gz", gz.finish().unwrap());
    has(&a.ok(&format!("import {file}")), "imported 2 movements");
    assert_eq!(a.qty("main", "A,1"), "3.25");
    assert_eq!(a.json("moves --json")[0]["counterparty"], "王五, \"小\"");

    let short = HEADER.replace(",occurred_at", "");
    let file = a.write("short.csv", format!("{short}\nreceipt,main,X,1,,,,,\n"));
    let err = a.fails(&format!("import {file}"), 3);
    has(&err, "missing column occurred_at");

    let mut bytes = format!("{HEADER}\nreceipt,main,\"A,1\",1,,,,").into_bytes();
    bytes.extend_from_slice(b"caf\xe9 \xfe\xff,,\nreceipt,main,\"A,1\",1,,,,ok,,\n");
    let file = a.write("latin1.csv", bytes);
    let err = a.fails(&format!("import {file}"), 3);
    assert_eq!(reported(&err), "line 2: encoding", "{err}");
    // Not UTF-8, so read as GB18030, where these bytes are malformed.
    let want = "encoding \"counterparty\" is not valid: this column holds bytes that are not valid gb18030";
    has(&err, want);
    assert_eq!(a.movements(), 2);
}

#[test]
fn product_import_is_all_or_nothing() {
    let a = Agent::site();
    let good = "sku,name,unit,category,brand,decimals,lot_tracked\n\
                \"P,1\",\"杯子, \"\"大\"\"\",个,\"餐具, 杯\",\"Acme, Inc.\",2,false\n\
                P2,盒装茶,box,,,0,yes\n";
    let file = a.write("products.csv", good);
    let out = a.ok(&format!("product import {file}"));
    has(&out, "(2 added, 0 updated)");
    let ps = a.json("product list --json");
    let got = table(&ps, "sku name unit category brand decimals lot_tracked");
    let want = "P,1 杯子, \"大\" 个 餐具, 杯 Acme, Inc. 2 false\n\
                P2 盒装茶 box   0 true";
    assert_eq!(got, want);

    let bad = "sku,name,unit,category,brand\nP3,新品,,,\nP4,,pcs,,\n\"P,1\",renamed,,,\n";
    let file = a.write("bad.csv", bad);
    let err = a.fails(&format!("product import {file}"), 3);
    assert_eq!(reported(&err), "line 3: name", "{err}");
    has(&err, "name \"\" is not valid: a product needs a name");
    assert_eq!(a.json("product list --json"), ps, "products changed");

    let file = a.write("nosku.csv", "code,name\nX,y\n");
    let err = a.fails(&format!("product import {file}"), 3);
    has(&err, "missing column sku");
}

#[test]
fn stocktake_adjusts_by_variance_at_count_time() {
    let a = Agent::site();
    a.ok("product add X --name x");
    has(&a.fails("count post", 4), "no count is open");
    a.ok("receive --location main --sku X --qty 10 --cost 4");
    a.ok("count start --location main");
    assert_eq!(a.json("status --json")["open_counts"], 1);
    has(&a.fails("count start --location main", 4), "already open");
    has(&a.ok("count set X 8"), "counted 8 (book 10, variance -2)");
    a.ok("sell --location main --sku X --qty 3");
    let report = a.json("count post --json");
    let got = table(&report["lines"], "sku book counted variance value");
    assert_eq!(got, "X 10 8 -2 -8");
    assert_eq!(report["total_value"], "-8");
    assert_eq!(a.qty("main", "X"), "5");
    let moves = a.json("moves --json");
    assert_eq!(pick(&moves[2], "type qty ref"), "adjustment -2 COUNT-1");
    assert_eq!(a.json("status --json")["open_counts"], 0);
    has(&a.fails("count post", 4), "no count is open");
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
    let err = a.fails(&format!("count import {bad}"), 3);
    assert_eq!(reported(&err), "line 2: qty\nline 3: lot", "{err}");
    let file = a.write("count.csv", "sku,qty,lot\nX,7,\nL,5,B1\n");
    let out = a.ok(&format!("count import {file}"));
    has(&out, "recorded 2 counted lines");
    let report = a.json("count post --location main --json");
    let got = table(&report["lines"], "sku lot book counted variance");
    assert_eq!(got, "L B1 4 5 1\nX - 10 7 -3");
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
    let local = sent_id(&a.ok(&format!("{send} --to BJ01/back --qty 2.5")));
    assert_eq!([a.qty("main", "X"), a.qty("back", "X")], ["7.5", "2.5"]);
    let back = a.json("stock --location back --json");
    assert_eq!(table(&back, "qty avg_cost"), "2.5 6");

    let remote = sent_id(&a.ok(&format!("{send} --to SH01/main --qty 3")));
    assert_eq!([a.qty("main", "X"), a.qty("back", "X")], ["4.5", "2.5"]);
    let list = a.json("transfer list --json");
    let got = table(&list, "id to qty received_qty status");
    let want = format!(
        "{local} BJ01/back 2.5 2.5 received\n\
         {remote} SH01/main 3 0 sent"
    );
    assert_eq!(got, want);
    assert_eq!(a.json("status --json")["transfers_in_transit"], 1);
    let got = table(&a.json("moves --json"), "type location qty transfer_id");
    let want = format!(
        "receipt main 10 -\n\
         transfer_out main -2.5 {local}\n\
         transfer_in back 2.5 {local}\n\
         transfer_out main -3 {remote}"
    );
    assert_eq!(got, want);

    a.refused_each(
        "3 to BJ01/main | transfer send --from main --sku X --to BJ01/main --qty 1
         3 location nope | transfer send --from main --sku X --to BJ01/nope --qty 1
         3 to nowhere | transfer send --from main --sku X --to nowhere --qty 1
         4 qty 99 | transfer send --from main --sku X --to SH01/main --qty 99
         3 qty 0.25 | transfer send --from main --sku X --to SH01/main --qty 0.25",
    );
    a.ok("verify");
}

#[test]
fn config_file_and_environment_choose_the_data_dir() {
    let a = Agent::new();
    let (cfg_dir, env_dir) = (a.path("from-config"), a.path("from-env"));
    let data_dir = format!("data_dir = {:?}\n", cfg_dir.to_str().unwrap());
    let cfg = a.write("agent.toml", format!("{data_dir}busy_timeout_secs = 5\n"));
    let env_dir = env_dir.to_str().unwrap();
    let (by_flag, by_env) = (["--config", cfg.as_str()], [("JXC_AGENT_DATA", env_dir)]);
    let site = |out: Output| -> Value {
        let status: Value = serde_json::from_str(&check_ok("status", out)).unwrap();
        status["site"]["id"].clone()
    };

    check_ok("init", a.with(&by_flag, &[], "init --site BJ01 --kind hq"));
    assert!(cfg_dir.join("ledger.db").is_file());
    let cfg_env = [("JXC_AGENT_CONFIG", cfg.as_str())];
    check_ok("location add", a.with(&[], &cfg_env, "location add main"));
    assert_eq!(site(a.with(&by_flag, &[], "status --json")), "BJ01");

    let init = "init --site SH01 --kind dealer";
    check_ok(init, a.with(&[], &by_env, init));
    assert!(a.path("from-env/ledger.db").is_file());
    assert_eq!(site(a.with(&[], &by_env, "status --json")), "SH01");
    // --data wins over the config file.
    let both = ["--config", &cfg, "--data", env_dir];
    assert_eq!(site(a.with(&both, &[], "status --json")), "SH01");
    // ./jxc-agent.toml in the working directory is read when nothing is given.
    a.write("jxc-agent.toml", &data_dir);
    assert_eq!(site(a.with(&[], &[], "status --json")), "BJ01");

    let bad = |text: &str| {
        let file = a.write("bad.toml", text);
        let err = check_fails("status", a.with(&["--config", &file], &[], "status"), 5);
        assert!(err.starts_with(&format!("error: config {file}: ")), "{err}");
        err
    };
    has(&bad("data_dri = \"x\""), "unknown field `data_dri`");
    let zero = bad("busy_timeout_secs = 0");
    has(&zero, "busy_timeout_secs 0 is not valid");
}

/// Runs the agent on `a`'s ledger with arguments that may hold spaces.
fn run_argv(a: &Agent, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jxc-agent"));
    c.current_dir(a.dir.path())
        .env_remove("JXC_AGENT_DATA")
        .env_remove("JXC_AGENT_CONFIG")
        .env_remove(JXC_CLOCK_SKEW)
        .envs(env.iter().copied())
        .arg("--data")
        .arg(a.data())
        .args(args);
    c.output().unwrap()
}

const JXC_CLOCK_SKEW: &str = "JXC_CLOCK_SKEW_MS";

fn occurred(a: &Agent) -> Vec<String> {
    a.json("moves --json")
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["occurred_at"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn business_times_are_written_as_people_write_them_in_the_sites_zone() {
    let a = Agent::site();
    a.write("jxc-agent.toml", "time_zone = \"Asia/Shanghai\"\n");
    a.ok("product add A --name a");
    let rcv = |at: &str| {
        let args = [
            "receive",
            "--location",
            "main",
            "--sku",
            "A",
            "--qty",
            "1",
            "--cost",
            "2",
            "--at",
            at,
        ];
        check_ok(at, run_argv(&a, &[], &args))
    };
    rcv("2026-12-01");
    rcv("2026/12/01 14:30");
    rcv("2026-12-01 14:30");
    rcv("2026-12-01T09:00:00-05:00");
    assert_eq!(
        occurred(&a),
        vec![
            "2026-12-01T00:00:00+08:00",
            "2026-12-01T14:30:00+08:00",
            "2026-12-01T14:30:00+08:00",
            "2026-12-01T09:00:00-05:00",
        ]
    );
    // Tables show every time in the site's zone, the same instant.
    let table = a.ok("moves");
    has(&table, "2026-12-01T22:00:00+08:00");
    has(&a.ok("status"), "Asia/Shanghai");

    // An import's occurred_at is read the same way.
    let file = a.write(
        "moves.csv",
        format!("{HEADER}\nreceipt,main,A,1,,2,,,,2026/12/02 08:15\n"),
    );
    a.ok(&format!("import {file}"));
    assert_eq!(occurred(&a)[4], "2026-12-02T08:15:00+08:00");

    // Without a configured zone, the system's (TZ) is used.
    std::fs::remove_file(a.path("jxc-agent.toml")).unwrap();
    let args = [
        "receive",
        "--location",
        "main",
        "--sku",
        "A",
        "--qty",
        "1",
        "--at",
        "2026-07-01 12:00",
    ];
    check_ok("TZ", run_argv(&a, &[("TZ", "Europe/Berlin")], &args));
    assert_eq!(occurred(&a)[5], "2026-07-01T12:00:00+02:00");
    // A TZ that names no zone falls back without a panic.
    check_ok("bad TZ", run_argv(&a, &[("TZ", "Nowhere/Atlantis")], &args));
}

#[test]
fn refused_business_times_name_the_value_and_the_forms_and_write_nothing() {
    let a = Agent::site();
    a.ok("product add A --name a");
    let before = a.snapshot();
    let sell = |at: &str, extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["receive", "--location", "main", "--sku", "A", "--qty", "1"];
        args.extend_from_slice(&["--at", at]);
        args.extend_from_slice(extra);
        run_argv(&a, env, &args)
    };
    let err = check_fails("bad", sell("12/01/2026 14:30", &[], &[]), 3);
    has(&err, "at \"12/01/2026 14:30\"");
    has(&err, "2026/12/01 14:30");
    has(&err, "RFC 3339");
    assert_eq!(err.lines().count(), 1, "{err}");

    // More than a day ahead of the agent's clock: refused unless meant.
    let ahead = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let err = check_fails("future", sell(&ahead, &[], &[]), 3);
    has(&err, &format!("at {ahead:?}"));
    has(&err, "more than a day in the future");
    has(&err, "--allow-future");
    assert_eq!(a.snapshot(), before, "a refused time wrote something");
    // The clock is the agent's: a skewed clock moves "the future" with it.
    let skew = (4 * 86_400_000i64).to_string();
    check_ok("skewed", sell(&ahead, &[], &[(JXC_CLOCK_SKEW, &skew)]));
    check_ok("allowed", sell(&ahead, &["--allow-future"], &[]));
    assert_eq!(a.movements(), 2);

    // A zone that is not one stops the agent before it writes anything.
    a.write("jxc-agent.toml", "time_zone = \"Mars/Olympus\"\n");
    let err = check_fails("zone", sell("2026-12-01", &[], &[]), 5);
    has(&err, "time_zone \"Mars/Olympus\"");
    has(&err, "Asia/Shanghai");
    std::fs::remove_file(a.path("jxc-agent.toml")).unwrap();
    assert_eq!(a.movements(), 2);
}

#[test]
fn a_policy_start_date_is_written_either_way() {
    let a = Agent::new();
    a.ok("init --site DL01 --kind dealer");
    has(
        &a.ok("share set --stock all --from 2026/01/31"),
        "2026-01-31",
    );
    let err = a.fails("share set --from 31.01.2026", 3);
    has(&err, "from \"31.01.2026\"");
    has(&err, "2026/12/01");
}

/// Display width as a terminal shows it: CJK characters take two columns.
fn width(s: &str) -> usize {
    s.chars().map(|c| if c >= '\u{2e80}' { 2 } else { 1 }).sum()
}

#[test]
fn movement_imports_read_crlf_gb18030_and_bom_files_with_true_line_numbers() {
    let a = import_site();
    let rows = [
        "receipt,main,\"A,1\",10,,5,,\"供应商, \"\"甲\"\"\",PO-1,",
        "sale,main,\"A,1\",abc,,,,,,",
        "sale,main,\"A,1\",2,,,9.9,\"张三, 李四\",\"SO-1\r\nSO-2\",",
        "sale,main,NOPE,1,,,,,,",
    ];
    let text = format!("{HEADER}\r\n{}\r\n", rows.join("\r\n"));
    let bom = [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat();
    // Excel's line ending, Chinese Excel's encoding, and a BOM: the row with
    // a quoted line break (refused: a ref is one line) is line 4, the next
    // is line 6, as an editor shows them.
    for (name, bytes) in [
        ("crlf.csv", text.clone().into_bytes()),
        ("gbk.csv", gb18030(&text)),
        ("bom.csv", bom),
    ] {
        let file = a.write(name, bytes);
        let err = a.fails(&format!("import {file}"), 3);
        let want = "line 3: qty\nline 4: ref\nline 6: sku";
        assert_eq!(reported(&err), want, "{name}: {err}");
    }
    assert_eq!(a.movements(), 0);
    // Fixed, the GB18030 file imports with its Chinese text intact.
    let good = text
        .replace("abc", "1")
        .replace("NOPE", "\"A,1\"")
        .replace("\r\nSO-2", "");
    let file = a.write("good.csv", gb18030(&good));
    has(&a.ok(&format!("import {file}")), "imported 4 movements");
    let moves = a.json("moves --json");
    assert_eq!(moves[0]["counterparty"], "供应商, \"甲\"");
    assert_eq!(moves[2]["counterparty"], "张三, 李四");
    assert_eq!(a.qty("main", "A,1"), "6");
}

#[test]
fn product_and_count_imports_read_gb18030_and_report_every_bad_row() {
    let a = Agent::site();
    let products = "sku,name,unit,category\r\n\
                    P1,\"龙井, \"\"特级\"\"\",盒,茶叶\r\n\
                    P2,,盒,\r\n\
                    P3,碧螺春,斤,茶叶\r\n\
                    P 4,白茶,盒,\r\n";
    let file = a.write("products.csv", gb18030(products));
    let err = a.fails(&format!("product import {file}"), 3);
    assert_eq!(reported(&err), "line 3: name\nline 5: sku", "{err}");
    has(
        &err,
        "line 5: sku \"P 4\" is not valid: must not contain spaces",
    );
    assert_eq!(a.json("product list --json"), serde_json::json!([]));
    let good = products.replace("P2,,", "P2,红茶,").replace("P 4", "P4");
    let file = a.write("good.csv", gb18030(&good));
    has(
        &a.ok(&format!("product import {file}")),
        "(4 added, 0 updated)",
    );
    let got = table(&a.json("product list --json"), "sku name unit");
    assert_eq!(
        got,
        "P1 龙井, \"特级\" 盒\nP2 红茶 盒\nP3 碧螺春 斤\nP4 白茶 盒"
    );

    a.ok("receive --location main --sku P1 --qty 5");
    a.ok("count start --location main");
    let count = "sku,qty\r\nP1,4\r\nP9,1\r\nP3,-1\r\n";
    let file = a.write("count.csv", gb18030(count));
    let err = a.fails(&format!("count import {file}"), 3);
    assert_eq!(reported(&err), "line 3: sku\nline 4: qty", "{err}");
    let file = a.write("count-good.csv", gb18030("sku,qty\r\nP1,4\r\nP3,1\r\n"));
    has(
        &a.ok(&format!("count import {file}")),
        "recorded 2 counted lines",
    );
    let (h, recs) = csv_out(&a.ok("count post --csv"));
    assert_eq!(h[0], "sku");
    let got: Vec<String> = recs
        .iter()
        .map(|r| format!("{} {}", &r[0], &r[4]))
        .collect();
    assert_eq!(got, ["P1 -1", "P3 1"]);
}

#[test]
fn a_file_read_as_utf8_that_turns_out_otherwise_names_the_line_and_encoding() {
    let a = Agent::site();
    // 64 KiB of ASCII decide UTF-8; a GB18030 row after them cannot be read
    // so, and is reported rather than garbled.
    let mut text = String::from("sku,name\n");
    let mut n = 0;
    while text.len() < 70 * 1024 {
        n += 1;
        text += &format!("P{n},product number {n}\n");
    }
    let mut bytes = text.into_bytes();
    bytes.extend(gb18030("Q1,龙井\nQ2,ok\n"));
    let file = a.write("mixed.csv", bytes);
    let err = a.fails(&format!("product import {file}"), 3);
    let line = n + 2;
    assert_eq!(reported(&err), format!("line {line}: encoding"), "{err}");
    has(
        &err,
        "this column is not valid UTF-8 (the file was read as UTF-8, judged from its first 64 KiB)",
    );
    // A UTF-8 file with one stray byte is still read as UTF-8: that row is
    // reported, the Chinese of the others is not misread as GB18030.
    let file = a.write(
        "stray.csv",
        b"sku,name\nA,\xe9\xbe\x99\xe4\xba\x95\nB,caf\xe9\nC,ok\n",
    );
    let err = a.fails(&format!("product import {file}"), 3);
    assert_eq!(reported(&err), "line 3: encoding", "{err}");
    has(&err, "not valid UTF-8");
}

#[test]
fn the_same_file_imported_twice_is_refused_unless_again() {
    let a = import_site();
    let text = format!("{HEADER}\nreceipt,main,\"A,1\",10,,5,,,,\nsale,main,\"A,1\",1,,,,,,\n");
    let file = a.write("day1.csv", &text);
    has(&a.ok(&format!("import {file}")), "imported 2 movements");
    // The same content under another name, or gzipped, is the same file.
    let copy = a.write("copy.csv", &text);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let zipped = a.write("copy.csv.gz", gz.finish().unwrap());
    for again in [&copy, &zipped] {
        let err = a.fails(&format!("import {again}"), 4);
        has(
            &err,
            &format!("{again}: this file was already imported at 20"),
        );
        has(
            &err,
            &format!("as {file} (2 row(s) written); nothing was written"),
        );
        has(&err, "pass --again");
    }
    assert_eq!(a.movements(), 2);
    has(
        &a.ok(&format!("import {copy} --again")),
        "imported 2 movements",
    );
    assert_eq!(a.movements(), 4);
    // The import made with --again is in the log too.
    has(
        &a.fails(&format!("import {file}"), 4),
        &format!("as {copy} (2"),
    );
    // A refused file (bad rows) is not remembered.
    let bad = a.write("bad.csv", format!("{HEADER}\nsale,main,\"A,1\",x,,,,,,\n"));
    a.fails(&format!("import {bad}"), 3);
    a.fails(&format!("import {bad}"), 3);

    a.ok("count start --location main");
    let count = a.write("count.csv", "sku,qty\n\"A,1\",7\n");
    has(
        &a.ok(&format!("count import {count}")),
        "recorded 1 counted lines",
    );
    let err = a.fails(&format!("count import {count}"), 4);
    has(&err, "already imported at 20");
    has(&err, &format!("as {count} (1 row(s) written)"));
    has(
        &a.ok(&format!("count import {count} --again")),
        "recorded 1",
    );
}

#[test]
fn listings_export_csv_for_excel_and_tables_align_chinese_text() {
    let a = Agent::site();
    a.ok("location add back --name 后仓");
    let products = "sku,name,unit,category,brand\n\
                    TEA-1,\"龙井, \"\"特级\"\" 新茶\",盒,茶叶,西湖\n\
                    CUP-1,Mug,pcs,ware,Acme\n";
    let file = a.write("products.csv", products);
    a.ok(&format!("product import {file}"));
    a.ok("receive --location main --sku TEA-1 --qty 3 --cost 10 --counterparty 供应商,甲");

    let (h, recs) = csv_out(&a.ok("product list --csv"));
    assert_eq!(h[..3], ["sku", "name", "unit"]);
    assert_eq!(recs[1][1], "龙井, \"特级\" 新茶");
    assert_eq!(recs[1][5], "茶叶");
    let (h, recs) = csv_out(&a.ok("stock --csv"));
    assert_eq!(
        h,
        ["location", "sku", "lot", "qty", "unit", "avg_cost", "value"]
    );
    assert_eq!(
        [&recs[0][1], &recs[0][3], &recs[0][6]],
        ["TEA-1", "3", "30"]
    );
    let (_, recs) = csv_out(&a.ok("moves --csv"));
    assert_eq!(recs.len(), 1);
    for listing in [
        "location list",
        "transfer list",
        "transfer list --incoming",
        "customer list",
        "customer unregistered",
        "doc list",
    ] {
        let (h, _) = csv_out(&a.ok(&format!("{listing} --csv")));
        assert!(h.len() > 1, "{listing}: {h:?}");
    }
    let (_, recs) = csv_out(&a.ok("location list --csv"));
    assert_eq!(recs[0][1], "后仓");
    a.fails("stock --csv --json", 2);

    // In the table, each column starts at the same terminal column on every
    // line, however many wide characters the cells before it hold.
    let text = a.ok("location list");
    let starts: Vec<usize> = text
        .lines()
        .map(|l| width(&l[..l.find("  no").or(l.find("  negative")).unwrap()]))
        .collect();
    assert_eq!(starts.len(), 3, "{text}");
    assert!(starts.iter().all(|s| *s == starts[0]), "{text}");
}

#[test]
fn sites_may_not_add_skus_with_spaces() {
    let a = Agent::site();
    let data = a.data();
    let out = a.with(
        &["--data", data.to_str().unwrap()],
        &[],
        "product add X --name x",
    );
    assert!(out.status.success());
    let mut c = Command::new(env!("CARGO_BIN_EXE_jxc-agent"));
    let out = c
        .args([
            "--data",
            data.to_str().unwrap(),
            "product",
            "add",
            "TEA 1",
            "--name",
            "茶",
        ])
        .output()
        .unwrap();
    let err = check_fails("product add \"TEA 1\"", out, 3);
    has(&err, "sku \"TEA 1\" is not valid: must not contain spaces");
    assert_eq!(table(&a.json("product list --json"), "sku"), "X");
}
