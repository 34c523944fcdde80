//! HQ's commands on the shared documents: the catalog (written by HQ only),
//! credit fields of branch customers, and the dealers' sharing policies as
//! the hub enforces them. Edits are Automerge changes with the hub's actor;
//! agents receive them on their next sync.

use super::{ListFormat, json, load_ca, print_table};
use crate::config::HubHome;
use crate::error::{HubError, Result};
use crate::http::views;
use crate::store::Store;
use chrono::Utc;
use clap::{Args, Subcommand};
use jxc_runtime::csv_file::{Columns, CsvError, read_rows};
use jxc_shared::docs::{
    CATALOG_COLUMNS, CatalogItem, Customer, CustomerField, DocId, customer_id, hub_actor,
};
use jxc_shared::{DomainError, SiteId, SiteKind};
use std::io::Write;
use std::path::{Path, PathBuf};

fn io_err(e: std::io::Error) -> HubError {
    HubError::Internal(format!("cannot write output: {e}"))
}

/// Catalog fields; on `set` only those given change.
#[derive(Debug, Args, Default)]
pub struct ProductFields {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub unit: Option<String>,
    /// Decimal places a quantity may have (0-6).
    #[arg(long)]
    pub decimals: Option<String>,
    /// GTIN / barcode (up to 14 digits).
    #[arg(long)]
    pub gtin: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub brand: Option<String>,
    /// true or false
    #[arg(long)]
    pub lot_tracked: Option<String>,
    #[arg(long)]
    pub list_price: Option<String>,
    #[arg(long)]
    pub dealer_price: Option<String>,
    #[arg(long)]
    pub lead_time_days: Option<String>,
    #[arg(long)]
    pub min_order_qty: Option<String>,
    #[arg(long)]
    pub pack_size: Option<String>,
}

impl ProductFields {
    fn get(&self, column: &str) -> Option<&String> {
        match column {
            "name" => self.name.as_ref(),
            "unit" => self.unit.as_ref(),
            "decimals" => self.decimals.as_ref(),
            "gtin" => self.gtin.as_ref(),
            "category" => self.category.as_ref(),
            "brand" => self.brand.as_ref(),
            "lot_tracked" => self.lot_tracked.as_ref(),
            "list_price" => self.list_price.as_ref(),
            "dealer_price" => self.dealer_price.as_ref(),
            "lead_time_days" => self.lead_time_days.as_ref(),
            "min_order_qty" => self.min_order_qty.as_ref(),
            "pack_size" => self.pack_size.as_ref(),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ProductCmd {
    /// Add a product to the HQ catalog.
    Add {
        sku: String,
        #[command(flatten)]
        fields: ProductFields,
    },
    /// Change some fields of a catalog product.
    Set {
        sku: String,
        #[command(flatten)]
        fields: ProductFields,
    },
    /// Add or update products from a CSV (header: sku,name and any of unit,
    /// decimals, gtin, category, brand, lot_tracked, list_price, dealer_price,
    /// lead_time_days, min_order_qty, pack_size). All rows or none.
    Import { file: PathBuf },
    List {
        #[arg(long)]
        category: Option<String>,
        #[command(flatten)]
        format: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomerCmd {
    /// Set credit fields of a branch's customer (HQ may set no others).
    Set {
        site: String,
        id: String,
        #[arg(long)]
        credit_limit: Option<String>,
        /// Payment terms in days.
        #[arg(long)]
        terms: Option<String>,
    },
    /// Customers the sites share with HQ.
    List {
        #[arg(long)]
        site: Option<String>,
        #[command(flatten)]
        format: ListFormat,
    },
}

pub fn product(home: &HubHome, cmd: ProductCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        ProductCmd::Add { sku, fields } => {
            let mut store = Store::open(&home.db, false)?;
            if store.catalog_item(&sku)?.is_some() {
                return Err(HubError::Conflict(format!(
                    "product {sku} is already in the catalog; use `product set`"
                )));
            }
            let item = CatalogItem::from_text(|c| match c {
                "sku" => sku.clone(),
                _ => fields.get(c).cloned().unwrap_or_default(),
            })?;
            write(home, &mut store, &[item])?;
            writeln!(out, "added product {sku} to the catalog").map_err(io_err)
        }
        ProductCmd::Set { sku, fields } => {
            let mut store = Store::open(&home.db, false)?;
            let old = store.catalog_item(&sku)?.ok_or_else(|| {
                DomainError::new("sku", sku.clone(), "not in the catalog; use `product add`")
            })?;
            let item = CatalogItem::from_text(|c| match fields.get(c) {
                Some(v) => v.clone(),
                None => old.column(c),
            })?;
            if item.product.lot_tracked != old.product.lot_tracked {
                return Err(DomainError::new(
                    "lot_tracked",
                    item.product.lot_tracked.to_string(),
                    "lot tracking cannot change once a product exists (sites' ledgers depend on it)",
                )
                .into());
            }
            let n = write(home, &mut store, &[item])?;
            let what = if n == 0 { "unchanged" } else { "updated" };
            writeln!(out, "product {sku} {what}").map_err(io_err)
        }
        ProductCmd::Import { file } => {
            let items = read_catalog_file(&file, &mut std::io::stderr())?;
            let mut store = Store::open(&home.db, false)?;
            let n = write(home, &mut store, &items)?;
            writeln!(out, "{} products read, {n} added or changed", items.len()).map_err(io_err)
        }
        ProductCmd::List { category, format } => {
            let items = Store::open(&home.db, false)?.catalog(category.as_deref())?;
            if format.json {
                return json(out, &items);
            }
            let cols = [
                "sku",
                "name",
                "unit",
                "category",
                "brand",
                "list_price",
                "dealer_price",
                "lead_time_days",
            ];
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|i| cols.iter().map(|c| i.column(c)).collect())
                .collect();
            print_table(out, format, &cols, &rows)
        }
    }
}

fn write(home: &HubHome, store: &mut Store, items: &[CatalogItem]) -> Result<usize> {
    let actor = hub_actor(load_ca(home)?.cert_der());
    store.write_catalog(items, &actor, Utc::now())
}

/// Reads a whole catalog file in any encoding the agent's importers read
/// too (UTF-8, GB18030/GBK, a BOM's), checking every row: each bad one is
/// reported to `report` as `line N: …`, and one bad row refuses the file.
fn read_catalog_file(file: &Path, report: &mut dyn Write) -> Result<Vec<CatalogItem>> {
    let columns = Columns {
        required: &["sku", "name"],
        known: Some(CATALOG_COLUMNS),
    };
    let mut seen = std::collections::HashSet::new();
    let read = read_rows(file, columns, report, |row| -> Result<_, CsvError> {
        let item = CatalogItem::from_text(|c| row.get(c).to_owned())?;
        if !seen.insert(item.product.sku.clone()) {
            return Err(DomainError::new(
                "sku",
                item.product.sku.as_str(),
                "appears twice in this file",
            )
            .into());
        }
        Ok(item)
    });
    match read {
        Ok((items, _)) => Ok(items),
        Err(CsvError::Invalid(e)) => Err(HubError::Domain(e)),
        // A bad file, or one that cannot be read: exit 3 either way.
        Err(e) => Err(HubError::Invalid(e.to_string())),
    }
}

pub fn customer(home: &HubHome, cmd: CustomerCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        CustomerCmd::Set {
            site,
            id,
            credit_limit,
            terms,
        } => {
            let site = SiteId::parse(&site)?;
            let id = customer_id(&id)?;
            let mut values = Vec::new();
            if let Some(v) = &credit_limit {
                values.push((
                    CustomerField::CreditLimit,
                    CustomerField::CreditLimit.value(v)?,
                ));
            }
            if let Some(v) = &terms {
                values.push((CustomerField::TermsDays, CustomerField::TermsDays.value(v)?));
            }
            if values.is_empty() {
                return Err(
                    DomainError::new("fields", "", "give --credit-limit and/or --terms").into(),
                );
            }
            let mut store = Store::open(&home.db, false)?;
            if store.site_kind(&site)? != Some(SiteKind::Branch) {
                return Err(DomainError::new(
                    "site",
                    site.as_str(),
                    "HQ sets credit fields only on an enrolled branch's customers",
                )
                .into());
            }
            let doc_id = DocId::Customers(site.clone());
            let actor = hub_actor(load_ca(home)?.cert_der());
            let n = store.hq_edit(&doc_id, &actor, Utc::now(), |doc| {
                if jxc_shared::docs::record(doc, &id).is_none() {
                    return Err(DomainError::new(
                        "customer",
                        id.clone(),
                        format!(
                            "no such customer at {} (the hub has what the site synced)",
                            site.as_str()
                        ),
                    )
                    .into());
                }
                Customer::set(doc, &id, &values)
                    .map_err(|e| HubError::Internal(format!("customer edit failed: {e}")))
            })?;
            writeln!(
                out,
                "customer {id} of {}: {n} field(s) changed; the branch gets it on its next sync",
                site.as_str()
            )
            .map_err(io_err)
        }
        CustomerCmd::List { site, format } => {
            let rows = Store::open(&home.db, false)?.customers(site.as_deref())?;
            if format.json {
                return json(out, &views::all::<_, views::CustomerView>(rows));
            }
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let c = &r.customer;
                    vec![
                        r.site.clone(),
                        c.id.clone(),
                        c.name.clone(),
                        c.region.clone(),
                        c.kind.clone(),
                        c.credit_limit.map(|m| m.to_string()).unwrap_or_default(),
                        c.terms_days.map(|d| d.to_string()).unwrap_or_default(),
                        if r.not_updated { "not updated" } else { "" }.to_owned(),
                    ]
                })
                .collect();
            print_table(
                out,
                format,
                &[
                    "site",
                    "id",
                    "name",
                    "region",
                    "type",
                    "credit_limit",
                    "terms_days",
                    "status",
                ],
                &rows,
            )
        }
    }
}

/// `jxc-hub share`: the sharing policy each dealer has set, as enforced.
pub fn share_list(home: &HubHome, format: ListFormat, out: &mut dyn Write) -> Result<()> {
    let rows = Store::open(&home.db, false)?.share_policies()?;
    if format.json {
        return json(out, &views::all::<_, views::PolicyView>(rows));
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.site.clone(), r.policy.to_string(), r.updated_at.clone()])
        .collect();
    print_table(out, format, &["site", "policy", "updated_at"], &rows)
}

/// `jxc-hub quarantine --documents`: refused document changes.
pub fn doc_refusals(home: &HubHome, format: ListFormat, out: &mut dyn Write) -> Result<()> {
    let rows = Store::open(&home.db, false)?.doc_refusals()?;
    if format.json {
        return json(out, &views::all::<_, views::RefusalView>(rows));
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.site.clone(),
                r.doc.clone(),
                r.hash.get(..12).unwrap_or(&r.hash).to_owned(),
                r.reason.clone(),
                r.received_at.clone(),
            ]
        })
        .collect();
    print_table(
        out,
        format,
        &["site", "doc", "change", "reason", "received_at"],
        &rows,
    )
}
