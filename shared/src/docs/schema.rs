//! The records each document holds and how they map to Automerge fields.
//! Text is stored as Automerge strings (decimals as exact text, never
//! floats), whole numbers as integers and flags as booleans.

use std::collections::BTreeSet;
use std::str::FromStr;

use automerge::{AutoCommit, ROOT, ScalarValue, transaction::Transactable};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{Fields, put_fields, read_fields, scalar_text};
use crate::product::{check_text, parse_bool, parse_decimals};
use crate::{DomainError, Money, Product, Sku};

fn text(fields: &Fields, key: &str) -> String {
    fields
        .get(key)
        .map(|f| scalar_text(&f.value))
        .unwrap_or_default()
}

fn s(v: &str) -> ScalarValue {
    ScalarValue::Str(v.into())
}

fn opt_money(field: &'static str, v: &str) -> Result<Option<Money>, DomainError> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        Money::parse(field, v).map(Some)
    }
}

fn opt_days(field: &'static str, v: &str) -> Result<Option<u32>, DomainError> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    match v.trim().parse::<u32>() {
        Ok(d) if d <= 3650 => Ok(Some(d)),
        _ => Err(DomainError::new(
            field,
            v,
            "use a whole number of days from 0 to 3650",
        )),
    }
}

fn opt_qty(field: &'static str, v: &str) -> Result<Option<Decimal>, DomainError> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    match Decimal::from_str(v.trim()) {
        Ok(d) if d > Decimal::ZERO && d < Decimal::from(1_000_000_000i64) => {
            Ok(Some(d.normalize()))
        }
        _ => Err(DomainError::new(
            field,
            v,
            "use a positive number below 1000000000",
        )),
    }
}

fn money_text(m: Option<Money>) -> String {
    m.map(|m| m.decimal().to_string()).unwrap_or_default()
}

/// One product of the HQ catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CatalogItem {
    pub product: Product,
    pub gtin: String,
    pub list_price: Option<Money>,
    pub dealer_price: Option<Money>,
    pub lead_time_days: Option<u32>,
    pub min_order_qty: Option<Decimal>,
    pub pack_size: Option<Decimal>,
}

/// The catalog's CSV columns, in order (`jxc-hub product import`).
pub const CATALOG_COLUMNS: &[&str] = &[
    "sku",
    "name",
    "unit",
    "decimals",
    "gtin",
    "category",
    "brand",
    "lot_tracked",
    "list_price",
    "dealer_price",
    "lead_time_days",
    "min_order_qty",
    "pack_size",
];

impl CatalogItem {
    /// Builds an item from text values keyed by [`CATALOG_COLUMNS`] names;
    /// a missing key reads as empty.
    pub fn from_text(get: impl Fn(&str) -> String) -> Result<Self, DomainError> {
        let decimals = match get("decimals").trim() {
            "" => 0,
            d => parse_decimals(d)?,
        };
        let unit = get("unit");
        let category = get("category");
        let brand = get("brand");
        let product = Product::new(
            &get("sku"),
            &get("name"),
            Some(unit.as_str()).filter(|u| !u.trim().is_empty()),
            Some(category.as_str()),
            Some(brand.as_str()),
            decimals,
            parse_bool("lot_tracked", &get("lot_tracked"))?,
        )?;
        let gtin = get("gtin").trim().to_owned();
        if !gtin.is_empty() && (gtin.len() > 14 || !gtin.bytes().all(|b| b.is_ascii_digit())) {
            return Err(DomainError::new("gtin", gtin, "use up to 14 digits"));
        }
        Ok(Self {
            product,
            gtin,
            list_price: opt_money("list_price", &get("list_price"))?,
            dealer_price: opt_money("dealer_price", &get("dealer_price"))?,
            lead_time_days: opt_days("lead_time_days", &get("lead_time_days"))?,
            min_order_qty: opt_qty("min_order_qty", &get("min_order_qty"))?,
            pack_size: opt_qty("pack_size", &get("pack_size"))?,
        })
    }

    /// The item's value for a [`CATALOG_COLUMNS`] name, as text.
    pub fn column(&self, name: &str) -> String {
        let p = &self.product;
        match name {
            "sku" => p.sku.as_str().to_owned(),
            "name" => p.name.clone(),
            "unit" => p.unit.clone(),
            "decimals" => p.decimals.to_string(),
            "gtin" => self.gtin.clone(),
            "category" => p.category.clone(),
            "brand" => p.brand.clone(),
            "lot_tracked" => p.lot_tracked.to_string(),
            "list_price" => money_text(self.list_price),
            "dealer_price" => money_text(self.dealer_price),
            "lead_time_days" => self
                .lead_time_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            "min_order_qty" => self
                .min_order_qty
                .map(|d| d.to_string())
                .unwrap_or_default(),
            "pack_size" => self.pack_size.map(|d| d.to_string()).unwrap_or_default(),
            _ => String::new(),
        }
    }

    fn scalar(&self, name: &str) -> ScalarValue {
        match name {
            "decimals" => ScalarValue::Int(i64::from(self.product.decimals)),
            "lot_tracked" => ScalarValue::Boolean(self.product.lot_tracked),
            "lead_time_days" => match self.lead_time_days {
                Some(d) => ScalarValue::Int(i64::from(d)),
                None => ScalarValue::Null,
            },
            other => s(&self.column(other)),
        }
    }

    /// Writes the item into its shard: a new record with its non-empty
    /// fields, or, for an existing one, only the fields that differ.
    pub fn write(&self, doc: &mut AutoCommit) -> Result<usize, automerge::AutomergeError> {
        let fields = CATALOG_COLUMNS[1..].iter().map(|c| (*c, self.scalar(c)));
        let Some(obj) = super::record(doc, self.product.sku.as_str()) else {
            let obj = doc.put_object(ROOT, self.product.sku.as_str(), automerge::ObjType::Map)?;
            let mut n = 0;
            for (key, value) in fields {
                let empty = matches!(&value, ScalarValue::Null)
                    || matches!(&value, ScalarValue::Str(s) if s.is_empty());
                if !empty {
                    doc.put(&obj, key, value)?;
                    n += 1;
                }
            }
            return Ok(n);
        };
        let old = read_fields(doc, &obj);
        let mut n = 0;
        for (key, value) in fields {
            let same = match old.get(key) {
                Some(f) => f.others.is_empty() && f.value == value,
                // An absent field reads as empty.
                None => {
                    matches!(&value, ScalarValue::Null)
                        || matches!(&value, ScalarValue::Str(s) if s.is_empty())
                }
            };
            if !same {
                doc.put(&obj, key, value)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Reads every item of a shard; a record that does not validate is
    /// returned as an error naming its key.
    pub fn read_all(doc: &AutoCommit) -> Vec<Result<CatalogItem, (String, DomainError)>> {
        super::records(doc)
            .into_iter()
            .map(|(key, obj)| {
                let fields = read_fields(doc, &obj);
                CatalogItem::from_text(|c| {
                    if c == "sku" {
                        key.clone()
                    } else {
                        text(&fields, c)
                    }
                })
                .map_err(|e| (key, e))
            })
            .collect()
    }
}

/// The customer fields HQ may set on a branch's customers.
pub const CREDIT_FIELDS: &[&str] = &["credit_limit", "terms_days"];

/// The fields of a customer record, as `customer set` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerField {
    Name,
    Contact,
    Phone,
    Address,
    Region,
    Kind,
    CreditLimit,
    TermsDays,
}

impl CustomerField {
    pub const ALL: [CustomerField; 8] = [
        CustomerField::Name,
        CustomerField::Contact,
        CustomerField::Phone,
        CustomerField::Address,
        CustomerField::Region,
        CustomerField::Kind,
        CustomerField::CreditLimit,
        CustomerField::TermsDays,
    ];

    pub fn key(self) -> &'static str {
        match self {
            CustomerField::Name => "name",
            CustomerField::Contact => "contact",
            CustomerField::Phone => "phone",
            CustomerField::Address => "address",
            CustomerField::Region => "region",
            CustomerField::Kind => "type",
            CustomerField::CreditLimit => "credit_limit",
            CustomerField::TermsDays => "terms_days",
        }
    }

    /// Checks a user's value for this field and returns what to store.
    pub fn value(self, v: &str) -> Result<ScalarValue, DomainError> {
        let key = self.key();
        Ok(match self {
            CustomerField::CreditLimit => s(&money_text(opt_money("credit_limit", v)?)),
            CustomerField::TermsDays => match opt_days("terms_days", v)? {
                Some(d) => ScalarValue::Int(i64::from(d)),
                None => ScalarValue::Null,
            },
            CustomerField::Name => {
                let name = check_text(key, v, 200)?;
                if name.is_empty() {
                    return Err(DomainError::new("name", v, "a customer needs a name"));
                }
                s(&name)
            }
            CustomerField::Address => s(&check_text(key, v, 500)?),
            CustomerField::Kind => s(&check_text(key, v, 32)?.to_lowercase()),
            _ => s(&check_text(key, v, 100)?),
        })
    }
}

/// Checks a customer id: what a sale's counterparty names.
pub fn customer_id(v: &str) -> Result<String, DomainError> {
    Sku::parse(v)
        .map(|s| s.as_str().to_owned())
        .map_err(|e| DomainError::new("customer", v, e.reason))
}

/// A customer (客户) as every replica shows it; `conflicts` lists fields that
/// two sites edited at once, with the values that lost.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub contact: String,
    pub phone: String,
    pub address: String,
    pub region: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub credit_limit: Option<Money>,
    pub terms_days: Option<u32>,
    pub conflicts: Vec<(String, Vec<String>)>,
}

impl Customer {
    /// Sets some fields of customer `id`, creating the record if needed.
    pub fn set(
        doc: &mut AutoCommit,
        id: &str,
        fields: &[(CustomerField, ScalarValue)],
    ) -> Result<usize, automerge::AutomergeError> {
        let obj = super::ensure_record(doc, id)?;
        let fields: Vec<(&str, ScalarValue)> =
            fields.iter().map(|(f, v)| (f.key(), v.clone())).collect();
        put_fields(doc, &obj, &fields)
    }

    pub fn read(doc: &AutoCommit, id: &str) -> Option<Customer> {
        let obj = super::record(doc, id)?;
        Some(Self::from_fields(id, &read_fields(doc, &obj)))
    }

    pub fn read_all(doc: &AutoCommit) -> Vec<Customer> {
        super::records(doc)
            .into_iter()
            .map(|(id, obj)| Self::from_fields(&id, &read_fields(doc, &obj)))
            .collect()
    }

    /// Reads leniently: a value another implementation stored badly shows
    /// as empty rather than hiding the customer.
    fn from_fields(id: &str, fields: &Fields) -> Customer {
        let t = |k: &str| text(fields, k);
        Customer {
            id: id.to_owned(),
            name: t("name"),
            contact: t("contact"),
            phone: t("phone"),
            address: t("address"),
            region: t("region"),
            kind: t("type"),
            credit_limit: opt_money("credit_limit", &t("credit_limit")).ok().flatten(),
            terms_days: opt_days("terms_days", &t("terms_days")).ok().flatten(),
            conflicts: fields
                .iter()
                .filter(|(_, f)| !f.others.is_empty())
                .map(|(k, f)| (k.clone(), f.others.iter().map(scalar_text).collect()))
                .collect(),
        }
    }
}

/// Which stock a dealer shares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockScope {
    Nothing,
    All,
    Selected {
        categories: BTreeSet<String>,
        skus: BTreeSet<String>,
    },
}

/// How a dealer shares its sell-through (sales to its customers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SellThrough {
    /// Each sale with the customer as recorded.
    Identity,
    /// Each sale with the customer's region and type and a keyed pseudonym,
    /// so HQ can count distinct customers without knowing who they are.
    Pseudonym,
    /// One total per location, product and day; no customer at all.
    DailyTotals,
}

impl SellThrough {
    pub fn as_str(self) -> &'static str {
        match self {
            SellThrough::Identity => "identity",
            SellThrough::Pseudonym => "pseudonym",
            SellThrough::DailyTotals => "daily-totals",
        }
    }

    pub fn parse(v: &str) -> Result<Self, DomainError> {
        match v.trim() {
            "identity" => Ok(SellThrough::Identity),
            "pseudonym" => Ok(SellThrough::Pseudonym),
            "daily-totals" => Ok(SellThrough::DailyTotals),
            _ => Err(DomainError::new(
                "sell_through",
                v,
                "use identity, pseudonym or daily-totals",
            )),
        }
    }
}

/// A dealer's sharing policy. Until a dealer sets one it shares nothing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharePolicy {
    pub stock: StockScope,
    pub sell_through: SellThrough,
    pub costs_and_prices: bool,
    /// Business dates before this are never shared.
    pub from: Option<NaiveDate>,
}

impl Default for SharePolicy {
    fn default() -> Self {
        Self {
            stock: StockScope::Nothing,
            sell_through: SellThrough::DailyTotals,
            costs_and_prices: false,
            from: None,
        }
    }
}

fn lines(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

impl SharePolicy {
    /// What a branch shares: everything.
    pub fn everything() -> Self {
        Self {
            stock: StockScope::All,
            sell_through: SellThrough::Identity,
            costs_and_prices: true,
            from: None,
        }
    }

    /// Whether stock movements of a product in `category` are shared.
    pub fn shares_stock(&self, sku: &str, category: &str) -> bool {
        match &self.stock {
            StockScope::Nothing => false,
            StockScope::All => true,
            StockScope::Selected { categories, skus } => {
                skus.contains(sku) || (!category.is_empty() && categories.contains(category))
            }
        }
    }

    pub fn write(&self, doc: &mut AutoCommit) -> Result<usize, automerge::AutomergeError> {
        let (scope, categories, skus) = match &self.stock {
            StockScope::Nothing => ("nothing", String::new(), String::new()),
            StockScope::All => ("all", String::new(), String::new()),
            StockScope::Selected { categories, skus } => {
                ("selected", lines(categories), lines(skus))
            }
        };
        put_fields(
            doc,
            &ROOT,
            &[
                ("stock", s(scope)),
                ("stock_categories", s(&categories)),
                ("stock_skus", s(&skus)),
                ("sell_through", s(self.sell_through.as_str())),
                (
                    "costs_and_prices",
                    ScalarValue::Boolean(self.costs_and_prices),
                ),
                (
                    "from",
                    s(&self.from.map(|d| d.to_string()).unwrap_or_default()),
                ),
            ],
        )
    }

    /// Reads a policy document. An empty document is the default (nothing
    /// shared); a field that does not parse is an error, so a damaged policy
    /// never widens what is shared.
    pub fn read(doc: &AutoCommit) -> Result<SharePolicy, DomainError> {
        let f = read_fields(doc, &ROOT);
        if f.is_empty() {
            return Ok(SharePolicy::default());
        }
        let set = |k: &str| -> BTreeSet<String> {
            text(&f, k)
                .split('\n')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let stock = match text(&f, "stock").as_str() {
            "nothing" => StockScope::Nothing,
            "all" => StockScope::All,
            "selected" => StockScope::Selected {
                categories: set("stock_categories"),
                skus: set("stock_skus"),
            },
            other => {
                return Err(DomainError::new(
                    "stock",
                    other,
                    "use nothing, all or selected",
                ));
            }
        };
        let from = match text(&f, "from").trim() {
            "" => None,
            d => Some(
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| DomainError::new("from", d, "use a date like 2026-01-31"))?,
            ),
        };
        Ok(SharePolicy {
            stock,
            sell_through: SellThrough::parse(&text(&f, "sell_through"))?,
            costs_and_prices: parse_bool("costs_and_prices", &text(&f, "costs_and_prices"))?,
            from,
        })
    }
}

/// A dealer's own product code mapped to an HQ SKU (the SKU map document's
/// root holds `code → HQ SKU` strings).
pub fn set_sku_mapping(
    doc: &mut AutoCommit,
    code: &Sku,
    hq_sku: &Sku,
) -> Result<usize, automerge::AutomergeError> {
    put_fields(doc, &ROOT, &[(code.as_str(), s(hq_sku.as_str()))])
}

/// Every mapping, by dealer code; entries that are not valid SKUs are skipped.
pub fn read_sku_map(doc: &AutoCommit) -> Vec<(Sku, Sku)> {
    read_fields(doc, &ROOT)
        .into_iter()
        .filter_map(|(code, f)| {
            Some((
                Sku::parse(&code).ok()?,
                Sku::parse(&scalar_text(&f.value)).ok()?,
            ))
        })
        .collect()
}
