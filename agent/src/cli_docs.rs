//! Commands on the shared documents: customers (客户), a dealer's sharing
//! policy and its SKU map. Each edit is an Automerge change made with this
//! site's actor; it reaches the hub on the next sync.

use crate::cli::{ListFormat, MoveOut, io_err, json, listing};
use crate::error::{AgentError, Result};
use crate::store::Store;
use clap::{Args, Subcommand};
use jxc_shared::docs::automerge::ScalarValue;
use jxc_shared::docs::{
    Customer, CustomerField, DocId, SellThrough, SharePolicy, StockScope, customer_id,
    set_sku_mapping,
};
use jxc_shared::{DomainError, SiteKind, Sku};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The fields `customer add` and `customer set` take; each is optional on
/// `set`, and only those given change.
#[derive(Debug, Args)]
pub struct CustomerFields {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub contact: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub address: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    /// retail, wholesale, project… (free text, lower-cased)
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Credit limit in money (empty to clear).
    #[arg(long)]
    pub credit_limit: Option<String>,
    /// Payment terms in days (empty to clear).
    #[arg(long)]
    pub terms: Option<String>,
}

impl CustomerFields {
    /// The given fields, each checked.
    pub fn values(&self) -> Result<Vec<(CustomerField, ScalarValue)>> {
        let given = [
            (CustomerField::Name, &self.name),
            (CustomerField::Contact, &self.contact),
            (CustomerField::Phone, &self.phone),
            (CustomerField::Address, &self.address),
            (CustomerField::Region, &self.region),
            (CustomerField::Kind, &self.kind),
            (CustomerField::CreditLimit, &self.credit_limit),
            (CustomerField::TermsDays, &self.terms),
        ];
        let mut out = Vec::new();
        for (field, value) in given {
            if let Some(v) = value {
                out.push((field, field.value(v)?));
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Subcommand)]
pub enum CustomerCmd {
    /// Register a customer; its id is what sales name as counterparty.
    Add {
        id: String,
        #[command(flatten)]
        fields: CustomerFields,
    },
    /// Change some fields of a customer.
    Set {
        id: String,
        #[command(flatten)]
        fields: CustomerFields,
    },
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// One customer, with any field two sites edited at once.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Counterparties of sales that are not registered customers.
    Unregistered {
        #[command(flatten)]
        format: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShareCmd {
    /// What this dealer shares with HQ.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// What this dealer has published for HQ, oldest first: exactly the
    /// records the hub receives (HQ SKUs, customers and costs as shared).
    Sent {
        /// How many of the newest records.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        #[command(flatten)]
        format: ListFormat,
    },
    /// Set what this dealer shares; options not given keep their value.
    Set {
        /// nothing, all, or selected (the --category and --sku lists)
        #[arg(long)]
        stock: Option<String>,
        /// A category whose stock is shared (repeat; with --stock selected).
        #[arg(long = "category")]
        categories: Vec<String>,
        /// A product whose stock is shared (repeat; with --stock selected).
        #[arg(long = "sku")]
        skus: Vec<String>,
        /// identity, pseudonym or daily-totals
        #[arg(long)]
        sell_through: Option<String>,
        /// true or false
        #[arg(long)]
        costs_and_prices: Option<String>,
        /// Share nothing dated before this day (YYYY-MM-DD; empty to clear).
        #[arg(long)]
        from: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SkuMapCmd {
    /// Map one of this dealer's codes to an HQ SKU.
    Set { code: String, hq_sku: String },
    /// CSV with header code,hq_sku; all rows or none.
    Import { file: PathBuf },
    List {
        #[command(flatten)]
        format: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum DocCmd {
    /// The shared documents this site holds.
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Save a document as a plain Automerge file (loads in any Automerge).
    Export { id: String, file: PathBuf },
    /// Merge an Automerge file (a saved document or changes) into one of
    /// this site's documents. Edits made elsewhere must use this site's
    /// document actor (`status`), or the hub refuses them.
    Merge { id: String, file: PathBuf },
    /// Fold stored chunks into one snapshot per document.
    Compact,
}

pub fn doc(store: &mut Store, cmd: DocCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        DocCmd::List { format } => {
            #[derive(serde::Serialize)]
            struct Row {
                id: String,
                heads: usize,
                chunks: i64,
                acknowledged_by_hub: bool,
            }
            let rows: Vec<Row> = store
                .doc_list()?
                .into_iter()
                .map(|(id, heads, chunks, acknowledged_by_hub)| Row {
                    id,
                    heads,
                    chunks,
                    acknowledged_by_hub,
                })
                .collect();
            listing(
                out,
                format,
                &rows,
                &["id", "heads", "chunks", "acknowledged"],
                |r| {
                    vec![
                        r.id.clone(),
                        r.heads.to_string(),
                        r.chunks.to_string(),
                        if r.acknowledged_by_hub { "yes" } else { "no" }.to_owned(),
                    ]
                },
            )
        }
        DocCmd::Export { id, file } => {
            let id = DocId::parse(&id)?;
            let bytes = store.doc(&id)?.save();
            std::fs::write(&file, &bytes).map_err(|e| AgentError::io(&file, e))?;
            writeln!(
                out,
                "saved {id} ({} bytes) to {}",
                bytes.len(),
                file.display()
            )
            .map_err(io_err)
        }
        DocCmd::Merge { id, file } => {
            let id = DocId::parse(&id)?;
            if id.owner() != Some(&store.site().id) {
                return Err(DomainError::new(
                    "document",
                    id.to_string(),
                    "merge into one of this site's own documents",
                )
                .into());
            }
            let bytes = std::fs::read(&file).map_err(|e| AgentError::io(&file, e))?;
            let changed = store.merge_doc(&id, &bytes)?;
            let what = if changed { "merged" } else { "nothing new in" };
            writeln!(out, "{what} {}", file.display()).map_err(io_err)
        }
        DocCmd::Compact => {
            let n = store.compact_docs()?;
            writeln!(out, "compacted {n} document(s)").map_err(io_err)
        }
    }
}

fn my_customers(store: &Store) -> DocId {
    DocId::Customers(store.site().id.clone())
}

pub fn customer(store: &mut Store, cmd: CustomerCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        CustomerCmd::Add { id, fields } => {
            let id = customer_id(&id)?;
            if fields.name.is_none() {
                return Err(DomainError::new("name", "", "a customer needs --name").into());
            }
            let values = fields.values()?;
            if store.customer(&id)?.is_some() {
                return Err(AgentError::Conflict(format!(
                    "customer {id} already exists; use `customer set`"
                )));
            }
            store.edit_doc(&my_customers(store), |doc| {
                Customer::set(doc, &id, &values).map_err(doc_err)
            })?;
            writeln!(out, "added customer {id}").map_err(io_err)
        }
        CustomerCmd::Set { id, fields } => {
            let values = fields.values()?;
            if values.is_empty() {
                return Err(
                    DomainError::new("fields", "", "give at least one field to set").into(),
                );
            }
            if store.customer(&id)?.is_none() {
                return Err(DomainError::new("customer", id, "no such customer").into());
            }
            let n = store.edit_doc(&my_customers(store), |doc| {
                Customer::set(doc, &id, &values).map_err(doc_err)
            })?;
            writeln!(out, "customer {id}: {n} field(s) changed").map_err(io_err)
        }
        CustomerCmd::List { format } => listing(
            out,
            format,
            &store.customers()?,
            &[
                "id",
                "name",
                "region",
                "type",
                "credit_limit",
                "terms_days",
                "phone",
            ],
            |c| {
                vec![
                    c.id.clone(),
                    c.name.clone(),
                    c.region.clone(),
                    c.kind.clone(),
                    c.credit_limit.map(|m| m.to_string()).unwrap_or_default(),
                    c.terms_days.map(|d| d.to_string()).unwrap_or_default(),
                    c.phone.clone(),
                ]
            },
        ),
        CustomerCmd::Show { id, json: as_json } => {
            let c = store
                .customer(&id)?
                .ok_or_else(|| DomainError::new("customer", id.clone(), "no such customer"))?;
            if as_json {
                return json(out, &c);
            }
            show_customer(out, &c)
        }
        CustomerCmd::Unregistered { format } => {
            #[derive(serde::Serialize)]
            struct Row {
                counterparty: String,
                sales: u64,
                last_sale_at: String,
            }
            let rows: Vec<Row> = store
                .unregistered_counterparties()?
                .into_iter()
                .map(|(counterparty, sales, last_sale_at)| Row {
                    counterparty,
                    sales,
                    last_sale_at,
                })
                .collect();
            listing(
                out,
                format,
                &rows,
                &["counterparty", "sales", "last_sale_at"],
                |r| {
                    vec![
                        r.counterparty.clone(),
                        r.sales.to_string(),
                        r.last_sale_at.clone(),
                    ]
                },
            )
        }
    }
}

fn show_customer(out: &mut dyn Write, c: &Customer) -> Result<()> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let fields = [
        ("id", c.id.clone()),
        ("name", c.name.clone()),
        ("contact", c.contact.clone()),
        ("phone", c.phone.clone()),
        ("address", c.address.clone()),
        ("region", c.region.clone()),
        ("type", c.kind.clone()),
        ("credit_limit", opt(c.credit_limit.map(|m| m.to_string()))),
        ("terms_days", opt(c.terms_days.map(|d| d.to_string()))),
    ];
    for (k, v) in fields {
        writeln!(out, "{k:<13} {v}").map_err(io_err)?;
    }
    for (field, others) in &c.conflicts {
        writeln!(
            out,
            "conflict      {field}: concurrent edits also set {} (the value above is the one every copy shows)",
            others.join(", ")
        )
        .map_err(io_err)?;
    }
    Ok(())
}

fn doc_err(e: jxc_shared::docs::automerge::AutomergeError) -> AgentError {
    AgentError::DataDir(format!("document edit failed: {e}"))
}

/// A published record as `share sent` lists it.
#[derive(serde::Serialize)]
struct SentOut<'a> {
    #[serde(flatten)]
    record: MoveOut<'a>,
    /// The hub has it (its seq is at or below the hub's high-water mark).
    acknowledged: bool,
}

/// The newest `limit` records of the dealer's outbound stream, and how far
/// the hub has acknowledged it.
fn sent(store: &Store, limit: u32, format: ListFormat, out: &mut dyn Write) -> Result<()> {
    let last = store.outbound_last_seq()?;
    let hwm = store.sync_state()?.hwm;
    let from = last.saturating_sub(u64::from(limit)) + 1;
    let site = &store.site().id;
    let records = store
        .outbound_batch(from, limit as usize)?
        .iter()
        .map(|w| w.validate(site))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let rows: Vec<SentOut<'_>> = records
        .iter()
        .map(|m| SentOut {
            record: MoveOut::from(m),
            acknowledged: m.seq <= hwm,
        })
        .collect();
    listing(
        out,
        format,
        &rows,
        &[
            "seq",
            "type",
            "location",
            "sku",
            "lot",
            "qty",
            "unit_cost",
            "unit_price",
            "counterparty",
            "occurred_at",
            "at_hub",
        ],
        |r| {
            let m = &r.record;
            vec![
                m.seq.to_string(),
                m.kind.to_owned(),
                m.location.to_owned(),
                m.sku.to_owned(),
                m.lot.to_owned(),
                m.qty.clone(),
                m.unit_cost.clone(),
                m.unit_price.clone().unwrap_or_default(),
                m.counterparty.unwrap_or_default().to_owned(),
                m.occurred_at.clone(),
                if r.acknowledged { "yes" } else { "not yet" }.to_owned(),
            ]
        },
    )?;
    if !format.json && !format.csv {
        writeln!(
            out,
            "{last} record(s) published for HQ; the hub has the first {}",
            hwm.min(last)
        )
        .map_err(io_err)?;
    }
    Ok(())
}

fn dealer_only(store: &Store, what: &str) -> Result<()> {
    if store.site().kind != SiteKind::Dealer {
        return Err(AgentError::Conflict(format!(
            "{what} is for dealers; a {} shares everything with HQ",
            store.site().kind.as_str()
        )));
    }
    Ok(())
}

pub fn share(store: &mut Store, cmd: ShareCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        ShareCmd::Show { json: as_json } => {
            let p = store.share_policy()?;
            if as_json {
                return json(out, &p);
            }
            show_policy(out, &p)
        }
        ShareCmd::Sent { limit, format } => {
            dealer_only(store, "share sent")?;
            sent(store, limit, format, out)
        }
        ShareCmd::Set {
            stock,
            categories,
            skus,
            sell_through,
            costs_and_prices,
            from,
        } => {
            dealer_only(store, "share set")?;
            let mut p = store.share_policy()?;
            if let Some(s) = stock {
                p.stock = match s.trim() {
                    "nothing" => StockScope::Nothing,
                    "all" => StockScope::All,
                    "selected" => StockScope::Selected {
                        categories: categories.iter().map(|c| c.trim().to_owned()).collect(),
                        skus: skus
                            .iter()
                            .map(|s| Sku::parse(s.trim()).map(|s| s.as_str().to_owned()))
                            .collect::<std::result::Result<_, _>>()?,
                    },
                    other => {
                        return Err(DomainError::new(
                            "stock",
                            other,
                            "use nothing, all or selected",
                        )
                        .into());
                    }
                };
            }
            let selected = matches!(p.stock, StockScope::Selected { .. });
            if !selected && (!categories.is_empty() || !skus.is_empty()) {
                return Err(DomainError::new(
                    "stock",
                    "",
                    "--category and --sku go with --stock selected",
                )
                .into());
            }
            if let Some(s) = sell_through {
                p.sell_through = SellThrough::parse(&s)?;
            }
            if let Some(c) = costs_and_prices {
                p.costs_and_prices = jxc_shared::product::parse_bool("costs_and_prices", &c)?;
            }
            if let Some(f) = from {
                p.from = match f.trim() {
                    "" => None,
                    d => Some(jxc_shared::time::parse_date("from", d)?),
                };
            }
            let id = DocId::Policy(store.site().id.clone());
            store.edit_doc(&id, |doc| p.write(doc).map_err(doc_err))?;
            show_policy(out, &p)
        }
    }
}

fn show_policy(out: &mut dyn Write, p: &SharePolicy) -> Result<()> {
    let stock = match &p.stock {
        StockScope::Nothing => "nothing".to_owned(),
        StockScope::All => "all".to_owned(),
        StockScope::Selected { categories, skus } => {
            let mut parts = Vec::new();
            if !categories.is_empty() {
                parts.push(format!(
                    "categories {}",
                    categories.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            if !skus.is_empty() {
                parts.push(format!(
                    "SKUs {}",
                    skus.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            format!("selected: {}", parts.join("; "))
        }
    };
    writeln!(out, "stock             {stock}").map_err(io_err)?;
    writeln!(out, "sell-through      {}", p.sell_through.as_str()).map_err(io_err)?;
    writeln!(
        out,
        "costs and prices  {}",
        if p.costs_and_prices {
            "shared"
        } else {
            "not shared"
        }
    )
    .map_err(io_err)?;
    let from = p
        .from
        .map(|d| d.to_string())
        .unwrap_or_else(|| "the beginning".into());
    writeln!(out, "from              {from}").map_err(io_err)
}

pub fn sku_map(
    store: &mut Store,
    cmd: SkuMapCmd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    match cmd {
        SkuMapCmd::Set { code, hq_sku } => {
            dealer_only(store, "sku-map")?;
            let pair = checked_mapping(store, &code, &hq_sku)?;
            let id = DocId::SkuMap(store.site().id.clone());
            store.edit_doc(&id, |doc| {
                set_sku_mapping(doc, &pair.0, &pair.1).map_err(doc_err)
            })?;
            writeln!(out, "{} maps to HQ SKU {}", pair.0, pair.1).map_err(io_err)
        }
        SkuMapCmd::Import { file } => {
            dealer_only(store, "sku-map")?;
            let pairs = read_mapping_file(store, &file, err)?;
            let id = DocId::SkuMap(store.site().id.clone());
            let n = store.edit_doc(&id, |doc| {
                let mut n = 0;
                for (code, sku) in &pairs {
                    n += set_sku_mapping(doc, code, sku).map_err(doc_err)?;
                }
                Ok(n)
            })?;
            writeln!(out, "{} mappings read, {n} changed", pairs.len()).map_err(io_err)
        }
        SkuMapCmd::List { format } => {
            #[derive(serde::Serialize)]
            struct Row {
                code: String,
                hq_sku: String,
            }
            let rows: Vec<Row> = store
                .sku_map()?
                .into_iter()
                .map(|(code, hq_sku)| Row { code, hq_sku })
                .collect();
            listing(out, format, &rows, &["code", "hq_sku"], |r| {
                vec![r.code.clone(), r.hq_sku.clone()]
            })
        }
    }
}

/// A mapping is only accepted to an SKU of the HQ catalog this agent holds.
fn checked_mapping(store: &Store, code: &str, hq_sku: &str) -> Result<(Sku, Sku)> {
    let code = Sku::parse(code).map_err(|e| DomainError::new("code", code, e.reason))?;
    let sku = Sku::parse(hq_sku).map_err(|e| DomainError::new("hq_sku", hq_sku, e.reason))?;
    if store.catalog_item(&sku)?.is_none() {
        return Err(DomainError::new(
            "hq_sku",
            sku.as_str(),
            "not in the HQ catalog this agent holds (run `jxc-agent sync` first)",
        )
        .into());
    }
    Ok((code, sku))
}

/// Reads a mapping file (header `code,hq_sku`, any encoding the importer
/// reads), reporting every bad row; all rows or none.
fn read_mapping_file(
    store: &Store,
    file: &Path,
    report: &mut dyn Write,
) -> Result<Vec<(Sku, Sku)>> {
    let columns = jxc_runtime::csv_file::Columns {
        required: &["code", "hq_sku"],
        known: None,
    };
    let (pairs, _) = jxc_runtime::csv_file::read_rows(file, columns, report, |row| -> Result<_> {
        checked_mapping(store, row.get("code"), row.get("hq_sku"))
    })?;
    Ok(pairs)
}
