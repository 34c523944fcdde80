//! The shared documents in a schedule: HQ's catalog edits (`jxc-hub product
//! add|set|import`), the sites' customer edits (`jxc-agent customer
//! add|set`) and HQ's credit edits of branch customers (`jxc-hub customer
//! set`), all through the real CLIs, and what the driver expects of them.
//!
//! HQ is the catalog's only writer and edits it synchronously, so the hub's
//! catalog must equal the model exactly. A customer's fields other than the
//! credit fields have one writer (its site), so each must show the last value
//! the site set; a credit field has two (the site and HQ), so it shows the
//! last value one of them set, and when the two edits were concurrent the
//! other value is listed in `conflicts`, the same at the site and the hub.

use super::driver::Driver;
use super::schedule::{
    ADDRESSES, BRANDS, CATALOG, CATEGORIES, CONTACTS, CUSTOMER_IDS, CUSTOMER_NAMES, CUSTOMER_TYPES,
    Doc, PHONES, PRODUCT_NAMES, REGIONS, UNITS,
};
use jxc_shared::docs::{CATALOG_COLUMNS, CatalogItem};
use jxc_shared::rng::Rng;
use serde_json::Value;
use std::collections::BTreeMap;

/// A record's fields as the CLIs show them: name → text ("" when empty).
pub type Fields = BTreeMap<&'static str, String>;

/// What HQ's catalog must hold: sku → every catalog column.
pub type CatalogModel = BTreeMap<String, Fields>;

/// A customer as its site and HQ last set it.
#[derive(Debug, Clone, Default)]
pub struct CustomerModel {
    /// The last value the site set of each field.
    pub site: Fields,
    /// The last value HQ set of each credit field.
    pub hq: Fields,
}

/// The credit fields, which a branch and HQ both write.
pub const CREDIT: [&str; 2] = ["credit_limit", "terms_days"];
/// A customer's fields, as `customer list --json` names them.
pub const CUSTOMER_FIELDS: [&str; 8] = [
    "name",
    "contact",
    "phone",
    "address",
    "region",
    "type",
    "credit_limit",
    "terms_days",
];

/// Text of a JSON value as the checker compares it.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The command-line flag of a catalog column or customer field.
fn flag(field: &str) -> String {
    match field {
        "type" => "--type".to_owned(),
        "terms_days" => "--terms".to_owned(),
        f => format!("--{}", f.replace('_', "-")),
    }
}

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len() as u64) as usize]
}

/// Money as HQ or a clerk types it: two decimals, sometimes none.
fn money_given(rng: &mut Rng) -> String {
    let cents = 100 * (1 + rng.below(2_000)) + [0, 50, 5][rng.below(3) as usize];
    if cents.is_multiple_of(100) && rng.below(2) == 0 {
        return (cents / 100).to_string();
    }
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Money as the CLIs show it (trailing zeros dropped).
fn money_shown(given: &str) -> String {
    if given.contains('.') {
        given.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        given.to_owned()
    }
}

/// A value for a catalog column (not sku, decimals or lot_tracked).
fn catalog_value(rng: &mut Rng, column: &str) -> String {
    let blank = rng.below(6) == 0;
    match column {
        "name" => pick(rng, &PRODUCT_NAMES).to_owned(),
        "unit" => pick(rng, &UNITS).to_owned(),
        "category" => pick(rng, &CATEGORIES).to_owned(),
        "brand" => pick(rng, &BRANDS).to_owned(),
        _ if blank => String::new(),
        "gtin" => format!("69{:011}", rng.below(100_000_000_000)),
        "list_price" | "dealer_price" => money_given(rng),
        "lead_time_days" => rng.below(61).to_string(),
        "min_order_qty" => ["0.5", "1", "12.50", "100"][rng.below(4) as usize].to_owned(),
        "pack_size" => ["6", "12", "0.25", "24.0"][rng.below(4) as usize].to_owned(),
        _ => String::new(),
    }
}

/// Columns an edit may change (lot tracking never changes; decimals only
/// go up, see [`CATALOG`]).
const EDITABLE: [&str; 11] = [
    "name",
    "unit",
    "category",
    "brand",
    "gtin",
    "list_price",
    "dealer_price",
    "lead_time_days",
    "min_order_qty",
    "pack_size",
    "decimals",
];

/// Raised decimals: one more, at most 4.
fn more_decimals(current: &str) -> String {
    let d: u32 = current.parse().unwrap_or(0);
    (d + 1).min(4).to_string()
}

/// A new catalog product's columns as given.
fn new_product(rng: &mut Rng, product: usize) -> Fields {
    let (sku, decimals, lots) = CATALOG[product];
    let mut f = Fields::new();
    f.insert("sku", sku.to_owned());
    f.insert("name", catalog_value(rng, "name"));
    f.insert("decimals", decimals.to_string());
    f.insert("lot_tracked", lots.to_string());
    for c in &EDITABLE[1..10] {
        if rng.below(2) == 0 {
            f.insert(c, catalog_value(rng, c));
        }
    }
    f
}

/// Some columns of an existing product changed (1 to 4 of them).
fn changed_columns(rng: &mut Rng, current: &Fields) -> Fields {
    let mut f = Fields::new();
    for _ in 0..1 + rng.below(4) {
        let c = pick(rng, &EDITABLE);
        let v = if c == "decimals" {
            more_decimals(current.get("decimals").map_or("0", String::as_str))
        } else {
            catalog_value(rng, c)
        };
        f.insert(c, v);
    }
    f
}

/// Every column of an item as the hub shows it, from the columns given
/// (missing ones empty), the way the hub's CLI reads them.
fn shown_item(given: &Fields) -> Result<Fields, String> {
    let item = CatalogItem::from_text(|c| given.get(c).cloned().unwrap_or_default())
        .map_err(|e| format!("the driver made a bad catalog item {given:?}: {e}"))?;
    Ok(CATALOG_COLUMNS
        .iter()
        .map(|c| (*c, item.column(c)))
        .collect())
}

/// A CSV field, quoted when it must be.
fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

/// Customer fields drawn from `rng`: the name and a few more for a new
/// customer, 1 to 3 fields for an edit. (field, value as given).
fn customer_values(rng: &mut Rng, new: bool) -> Vec<(&'static str, String)> {
    let mut out: BTreeMap<&'static str, String> = BTreeMap::new();
    if new {
        out.insert("name", pick(rng, &CUSTOMER_NAMES).to_owned());
    }
    let n = if new { rng.below(6) } else { 1 + rng.below(3) };
    for _ in 0..n {
        let f = pick(rng, &CUSTOMER_FIELDS);
        out.insert(f, customer_value(rng, f));
    }
    out.into_iter().collect()
}

fn customer_value(rng: &mut Rng, field: &str) -> String {
    match field {
        "name" => pick(rng, &CUSTOMER_NAMES).to_owned(),
        "contact" => pick(rng, &CONTACTS).to_owned(),
        "phone" => pick(rng, &PHONES).to_owned(),
        "address" => pick(rng, &ADDRESSES).to_owned(),
        "region" => pick(rng, &REGIONS).to_owned(),
        "type" => pick(rng, &CUSTOMER_TYPES).to_owned(),
        "credit_limit" if rng.below(6) == 0 => String::new(),
        "credit_limit" => money_given(rng),
        "terms_days" if rng.below(6) == 0 => String::new(),
        "terms_days" => rng.below(91).to_string(),
        _ => String::new(),
    }
}

/// A customer field's value as the CLIs show it.
fn customer_shown(field: &str, given: &str) -> String {
    match field {
        "type" => given.trim().to_lowercase(),
        "credit_limit" => money_shown(given.trim()),
        _ => given.trim().to_owned(),
    }
}

/// `args` with `--flag value` for every field.
fn with_fields(mut args: Vec<String>, fields: &[(&'static str, String)]) -> Vec<String> {
    for (f, v) in fields {
        args.push(flag(f));
        args.push(v.clone());
    }
    args
}

impl Driver {
    /// Runs a `jxc-hub` command; its exit code, stdout and stderr.
    pub fn hub_cli(&self, args: &[String]) -> Result<(i32, String, String), String> {
        let out = self
            .hub
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .output()
            .map_err(|e| format!("run jxc-hub: {e}"))?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// A `jxc-hub` command that must succeed; its stdout.
    pub fn hub_ok(&self, args: &[String]) -> Result<String, String> {
        let (code, out, err) = self.hub_cli(args)?;
        if code != 0 {
            return Err(format!(
                "jxc-hub {} exited {code}: {}",
                args.join(" "),
                err.trim()
            ));
        }
        Ok(out)
    }

    pub fn hub_json(&self, args: &[&str]) -> Result<Value, String> {
        let mut a: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        a.push("--json".into());
        let out = self.hub_ok(&a)?;
        serde_json::from_str(&out).map_err(|e| format!("jxc-hub {a:?} is not JSON: {e}"))
    }

    /// The customer ids the hub holds for `site`, in order.
    pub fn hub_customer_ids(&self, site: &str) -> Result<Vec<String>, String> {
        let rows = self.hub_json(&["customer", "list", "--site", site])?;
        Ok(rows
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| text(&r["id"]))
            .collect())
    }

    pub fn doc_step(&mut self, step: usize, doc: &Doc) -> Result<(), String> {
        match *doc {
            Doc::Catalog { product, salt } => self.catalog_edit(product as usize, salt),
            Doc::CatalogImport { ref products, salt } => self.catalog_import(step, products, salt),
            Doc::Customer {
                agent,
                customer,
                salt,
            } => self.customer_edit(agent, customer, salt),
            Doc::Credit {
                agent,
                customer,
                salt,
            } => self.credit_edit(agent, customer, salt, false),
            Doc::ConcurrentCredit {
                agent,
                customer,
                salt,
            } => self.credit_edit(agent, customer, salt, true),
            Doc::Compact { agent } => {
                self.agents[agent].ok(&["doc", "compact"])?;
                self.counts.doc_compactions += 1;
                Ok(())
            }
        }
    }

    fn catalog_edit(&mut self, product: usize, salt: u32) -> Result<(), String> {
        let product = product % CATALOG.len();
        let sku = CATALOG[product].0;
        let mut rng = Rng::new(u64::from(salt));
        let (args, given) = match self.catalog.get(sku) {
            None => {
                let given = new_product(&mut rng, product);
                let fields: Vec<(&'static str, String)> = given
                    .iter()
                    .filter(|(c, _)| **c != "sku")
                    .map(|(c, v)| (*c, v.clone()))
                    .collect();
                let args = with_fields(vec!["product".into(), "add".into(), sku.into()], &fields);
                (args, given)
            }
            Some(current) => {
                let changed = changed_columns(&mut rng, current);
                let fields: Vec<(&'static str, String)> =
                    changed.iter().map(|(c, v)| (*c, v.clone())).collect();
                let args = with_fields(vec!["product".into(), "set".into(), sku.into()], &fields);
                let mut given = current.clone();
                given.extend(changed);
                (args, given)
            }
        };
        self.hub_ok(&args)?;
        self.catalog.insert(sku.to_owned(), shown_item(&given)?);
        self.counts.catalog_edits += 1;
        Ok(())
    }

    fn catalog_import(&mut self, step: usize, products: &[u8], salt: u32) -> Result<(), String> {
        if products.is_empty() {
            self.counts.skipped_ops += 1;
            return Ok(());
        }
        let mut rng = Rng::new(u64::from(salt));
        let mut rows = Vec::new();
        for &p in products {
            let p = p as usize % CATALOG.len();
            let sku = CATALOG[p].0;
            let given = match self.catalog.get(sku) {
                // Whole rows: a column left out of the file would be cleared.
                Some(current) => {
                    let mut g = current.clone();
                    g.extend(changed_columns(&mut rng, current));
                    g
                }
                None => new_product(&mut rng, p),
            };
            rows.push(given);
        }
        let mut csv = CATALOG_COLUMNS.join(",");
        csv.push('\n');
        for r in &rows {
            let line: Vec<String> = CATALOG_COLUMNS
                .iter()
                .map(|c| csv_field(r.get(c).map_or("", String::as_str)))
                .collect();
            csv.push_str(&line.join(","));
            csv.push('\n');
        }
        let file = self.hub.dir.path().join(format!("catalog-{step}.csv"));
        std::fs::write(&file, csv).map_err(|e| format!("write {}: {e}", file.display()))?;
        let out = self.hub_ok(&[
            "product".into(),
            "import".into(),
            file.to_string_lossy().into_owned(),
        ])?;
        if !out.contains(&format!("{} products read", rows.len())) {
            return Err(format!("the catalog import said {out:?}"));
        }
        for given in rows {
            let shown = shown_item(&given)?;
            self.catalog.insert(shown["sku"].clone(), shown);
        }
        self.counts.catalog_edits += products.len() as u64;
        self.counts.catalog_imports += 1;
        Ok(())
    }

    fn customer_edit(&mut self, agent: usize, customer: u8, salt: u32) -> Result<(), String> {
        let id = CUSTOMER_IDS[customer as usize % CUSTOMER_IDS.len()];
        let mut rng = Rng::new(u64::from(salt));
        let a = &mut self.agents[agent];
        let new = !a.customers.contains_key(id);
        let fields = customer_values(&mut rng, new);
        let verb = if new { "add" } else { "set" };
        let args = with_fields(vec!["customer".into(), verb.into(), id.into()], &fields);
        a.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        let model = a.customers.entry(id.to_owned()).or_default();
        for (f, v) in &fields {
            model.site.insert(f, customer_shown(f, v));
        }
        self.counts.customer_edits += 1;
        Ok(())
    }

    /// HQ sets credit fields of one of the branch's customers the hub holds;
    /// with `concurrent`, the branch then sets a credit field and another
    /// field of the same customer before either side has synced.
    fn credit_edit(
        &mut self,
        agent: usize,
        customer: u8,
        salt: u32,
        concurrent: bool,
    ) -> Result<(), String> {
        let site = self.agents[agent].plan.id.clone();
        let ids = self.hub_customer_ids(&site)?;
        if ids.is_empty() {
            self.counts.doc_skipped += 1;
            return Ok(());
        }
        let id = ids[customer as usize % ids.len()].clone();
        let mut rng = Rng::new(u64::from(salt));
        let mut hq: Vec<(&'static str, String)> = Vec::new();
        if concurrent || rng.below(3) != 0 {
            hq.push(("credit_limit", customer_value(&mut rng, "credit_limit")));
        }
        if hq.is_empty() || rng.below(2) == 0 {
            hq.push(("terms_days", customer_value(&mut rng, "terms_days")));
        }
        let args = with_fields(
            vec!["customer".into(), "set".into(), site.clone(), id.clone()],
            &hq,
        );
        self.hub_ok(&args)?;
        let a = &mut self.agents[agent];
        let model = a.customers.get_mut(&id).ok_or_else(|| {
            format!("the hub holds customer {id:?} of {site}, which it never added")
        })?;
        for (f, v) in &hq {
            model.hq.insert(f, customer_shown(f, v));
        }
        self.counts.credit_edits += 1;
        if !concurrent {
            return Ok(());
        }
        // The branch, not yet aware of HQ's edit: another limit, perhaps
        // other terms, and a field HQ may not touch.
        let hq_limit = customer_shown("credit_limit", &hq[0].1);
        let mut limit = customer_value(&mut rng, "credit_limit");
        while customer_shown("credit_limit", &limit) == hq_limit {
            limit = money_given(&mut rng);
        }
        let mut fields = vec![("credit_limit", limit)];
        if rng.below(2) == 0 {
            fields.push(("terms_days", customer_value(&mut rng, "terms_days")));
        }
        let other = pick(&mut rng, &CUSTOMER_FIELDS[..6]);
        fields.push((other, customer_value(&mut rng, other)));
        if other == "name" && fields.last().is_some_and(|(_, v)| v.is_empty()) {
            fields.pop();
        }
        let args = with_fields(vec!["customer".into(), "set".into(), id.clone()], &fields);
        a.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        let model = a.customers.entry(id).or_default();
        for (f, v) in &fields {
            model.site.insert(f, customer_shown(f, v));
        }
        self.counts.customer_edits += 1;
        self.counts.concurrent_credit += 1;
        Ok(())
    }
}

/// The registered customer or walk-in counterparty a sale names.
pub fn sale_counterparty(
    customers: &BTreeMap<String, CustomerModel>,
    choice: u8,
) -> (String, bool) {
    use super::schedule::WALK_INS;
    if choice.is_multiple_of(3) || customers.is_empty() {
        return (WALK_INS[choice as usize % WALK_INS.len()].to_owned(), false);
    }
    let ids: Vec<&String> = customers.keys().collect();
    (ids[(choice / 3) as usize % ids.len()].clone(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_values_follow_the_clis() {
        assert_eq!(money_shown("1000.50"), "1000.5");
        assert_eq!(money_shown("2000.00"), "2000");
        assert_eq!(money_shown("30"), "30");
        assert_eq!(customer_shown("type", "Retail"), "retail");
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
        assert_eq!(flag("credit_limit"), "--credit-limit");
        assert_eq!(flag("terms_days"), "--terms");
        assert_eq!(flag("lead_time_days"), "--lead-time-days");
    }
}
