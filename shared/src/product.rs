//! Products as the ledger needs them: how finely they are counted and whether
//! they carry lots.

use crate::{DomainError, Sku, amount::QTY_MAX_DECIMALS};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: Sku,
    pub name: String,
    pub unit: String,
    pub category: String,
    pub brand: String,
    /// Decimal places a quantity of this product may have (0 = whole units).
    pub decimals: u32,
    pub lot_tracked: bool,
}

pub const DEFAULT_UNIT: &str = "pcs";

/// Checks a free-text field: no control characters, bounded length.
pub fn check_text(field: &'static str, s: &str, max: usize) -> Result<String, DomainError> {
    if s.chars().count() > max {
        return Err(DomainError::new(
            field,
            s,
            format!("at most {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(DomainError::new(field, s, "no control characters"));
    }
    Ok(s.trim().to_owned())
}

pub fn parse_decimals(s: &str) -> Result<u32, DomainError> {
    match s.trim().parse::<u32>() {
        Ok(d) if d <= QTY_MAX_DECIMALS => Ok(d),
        _ => Err(DomainError::new(
            "decimals",
            s,
            format!("use a whole number from 0 to {QTY_MAX_DECIMALS}"),
        )),
    }
}

pub fn parse_bool(field: &'static str, s: &str) -> Result<bool, DomainError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "n" => Ok(false),
        "1" | "true" | "yes" | "y" => Ok(true),
        _ => Err(DomainError::new(field, s, "use true or false")),
    }
}

impl Product {
    /// Builds a product from user-supplied parts, validating each.
    pub fn new(
        sku: &str,
        name: &str,
        unit: Option<&str>,
        category: Option<&str>,
        brand: Option<&str>,
        decimals: u32,
        lot_tracked: bool,
    ) -> Result<Self, DomainError> {
        let sku = Sku::parse(sku)?;
        let name = check_text("name", name, 200)?;
        if name.is_empty() {
            return Err(DomainError::new("name", name, "a product needs a name"));
        }
        let unit = check_text("unit", unit.unwrap_or(DEFAULT_UNIT), 16)?;
        let unit = if unit.is_empty() {
            DEFAULT_UNIT.to_owned()
        } else {
            unit
        };
        if decimals > QTY_MAX_DECIMALS {
            return Err(DomainError::new(
                "decimals",
                decimals.to_string(),
                format!("use a whole number from 0 to {QTY_MAX_DECIMALS}"),
            ));
        }
        Ok(Self {
            sku,
            name,
            unit,
            category: check_text("category", category.unwrap_or(""), 100)?,
            brand: check_text("brand", brand.unwrap_or(""), 100)?,
            decimals,
            lot_tracked,
        })
    }
}
