//! Parsing rows of a movement import file into drafts. The file itself is read
//! by the caller; this module only sees the text of each field.

use crate::movement::DraftInput;
use crate::time::parse_business_time;
use crate::{DomainError, LocationId, MovementDraft, MovementKind, Product, Sku};
use chrono::{DateTime, FixedOffset};

/// The columns a movement import file must have, in any order.
pub const IMPORT_COLUMNS: [&str; 10] = [
    "type",
    "location",
    "sku",
    "qty",
    "lot",
    "unit_cost",
    "unit_price",
    "counterparty",
    "ref",
    "occurred_at",
];

/// Where each known column sits in the file. `reason` is optional; any other
/// extra column is ignored.
#[derive(Debug, Clone)]
pub struct ImportColumns {
    idx: [usize; 10],
    reason: Option<usize>,
}

impl ImportColumns {
    /// Maps a header row. Refuses a header that lacks a required column.
    pub fn from_header<'a>(header: impl IntoIterator<Item = &'a str>) -> Result<Self, DomainError> {
        // Spreadsheet exports often start with a byte-order mark.
        let names: Vec<String> = header
            .into_iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
            .collect();
        let find = |want: &str| names.iter().position(|n| n == want);
        let mut idx = [0; 10];
        for (slot, col) in idx.iter_mut().zip(IMPORT_COLUMNS) {
            *slot = find(col).ok_or_else(|| {
                DomainError::new(
                    "header",
                    names.join(","),
                    format!(
                        "missing column {col}; expected {}",
                        IMPORT_COLUMNS.join(",")
                    ),
                )
            })?;
        }
        Ok(Self {
            idx,
            reason: find("reason"),
        })
    }

    /// The import-file name of the `i`-th required column.
    pub fn name(i: usize) -> &'static str {
        IMPORT_COLUMNS[i]
    }
}

/// Parses one row. `field(i)` returns the text of file column `i` (empty if
/// the row is short). `product` and `has_location` answer from the ledger;
/// an `occurred_at` written without an offset is in `zone`, the site's.
pub fn parse_import_row<'r, 'p>(
    cols: &ImportColumns,
    field: impl Fn(usize) -> &'r str,
    product: impl Fn(&Sku) -> Option<&'p Product>,
    has_location: impl Fn(&LocationId) -> bool,
    now: DateTime<FixedOffset>,
    zone: chrono_tz::Tz,
) -> Result<MovementDraft, DomainError> {
    let get = |c: usize| field(cols.idx[c]);
    let opt = |c: usize| Some(get(c)).filter(|s| !s.trim().is_empty());

    let kind = MovementKind::parse(get(0).trim())?;
    if matches!(kind, MovementKind::TransferOut | MovementKind::TransferIn) {
        return Err(DomainError::new(
            "type",
            get(0),
            "transfers are recorded with `transfer send`, not imported",
        ));
    }
    let location = LocationId::parse(get(1).trim())?;
    if !has_location(&location) {
        return Err(unknown_location(&location));
    }
    let sku = Sku::parse(get(2))?;
    let product = product(&sku).ok_or_else(|| unknown_sku(&sku))?;
    let occurred_at = match opt(9) {
        Some(t) => parse_business_time("occurred_at", t, zone)?,
        None => now,
    };
    let input = DraftInput {
        lot: opt(4),
        unit_cost: opt(5),
        unit_price: opt(6),
        counterparty: opt(7),
        reference: opt(8),
        reason: cols
            .reason
            .map(&field)
            .filter(|s| !s.trim().is_empty())
            .or(Some("imported")),
    };
    MovementDraft::build(kind, location, product, get(3), &input, occurred_at)
}

pub fn unknown_location(l: &LocationId) -> DomainError {
    DomainError::new(
        "location",
        l.as_str(),
        "this site has no such location (see `location list`)",
    )
}

pub fn unknown_sku(s: &Sku) -> DomainError {
    DomainError::new("sku", s.as_str(), "no such product (see `product list`)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn header_in_any_order_with_extras_and_bom() {
        let mut h: Vec<&str> = IMPORT_COLUMNS.to_vec();
        h.reverse();
        h.push("note");
        h[0] = "\u{feff}occurred_at";
        assert!(ImportColumns::from_header(h).is_ok());
        let err = ImportColumns::from_header(["type", "sku"]).unwrap_err();
        assert!(err.reason.contains("missing column location"), "{err}");
    }

    #[test]
    fn parses_a_full_row_and_names_the_bad_column() {
        let cols = ImportColumns::from_header(IMPORT_COLUMNS).unwrap();
        let p = Product::new("A,1", "甲", None, None, None, 2, false).unwrap();
        let now = Utc::now().fixed_offset();
        let row = [
            "sale",
            "main",
            "A,1",
            "1.25",
            "",
            "",
            "9.90",
            "张三, Ltd",
            "SO-1",
            "2026-11-02T10:00:00+08:00",
        ];
        let d = parse_import_row(
            &cols,
            |i| row[i],
            |s| (s == &p.sku).then_some(&p),
            |_| true,
            now,
            chrono_tz::UTC,
        )
        .unwrap();
        assert_eq!(d.qty.to_string(), "-1.25");
        assert_eq!(d.counterparty.as_deref(), Some("张三, Ltd"));

        let mut bad = row;
        bad[9] = "yesterday";
        let e = parse_import_row(
            &cols,
            |i| bad[i],
            |s| (s == &p.sku).then_some(&p),
            |_| true,
            now,
            chrono_tz::UTC,
        );
        assert_eq!(e.unwrap_err().field, "occurred_at");
        let e = parse_import_row(&cols, |i| row[i], |_| None, |_| true, now, chrono_tz::UTC);
        assert_eq!(e.unwrap_err().field, "sku");
        let e = parse_import_row(
            &cols,
            |i| row[i],
            |_| Some(&p),
            |_| false,
            now,
            chrono_tz::UTC,
        );
        assert_eq!(e.unwrap_err().field, "location");
    }
}
