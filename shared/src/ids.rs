//! Identifiers: sites, locations, SKUs and lots, each validated on construction.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Site and location ids travel in global names (`SITE/LOC`), file names and
/// URLs, so they are kept to a small, unambiguous alphabet.
fn check_code(field: &'static str, s: &str) -> Result<(), DomainError> {
    let ok_len = (1..=32).contains(&s.len());
    let mut chars = s.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok_len && ok_first && ok_rest {
        Ok(())
    } else {
        Err(DomainError::new(
            field,
            s,
            "use 1-32 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit",
        ))
    }
}

/// SKUs and lots come from other systems (ERP exports, dealer codes, printed
/// labels): any printable text is allowed, Chinese included, but no control
/// characters and no surrounding blanks, which would make two codes look equal.
fn check_label(field: &'static str, s: &str, max: usize) -> Result<(), DomainError> {
    if s.is_empty() {
        return Err(DomainError::new(field, s, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(DomainError::new(
            field,
            s,
            format!("at most {max} characters"),
        ));
    }
    if s.trim() != s || s.chars().any(char::is_control) {
        return Err(DomainError::new(
            field,
            s,
            "no leading or trailing spaces and no control characters",
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                let check: fn(&str) -> Result<(), DomainError> = $check;
                check(s)?;
                Ok(Self(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, DomainError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                Self::parse(s)
            }
        }
    };
}

id_type!(
    /// A site: the HQ, a branch office or a dealer. One agent is one site.
    SiteId, "site", |s| check_code("site", s)
);
id_type!(
    /// A stock location, local to its owner site; globally `SITE/LOC`.
    LocationId, "location", |s| check_code("location", s)
);
id_type!(
    /// A product code.
    Sku, "sku", |s| check_label("sku", s, 64)
);
id_type!(
    /// A lot (batch) number of a lot-tracked product.
    Lot, "lot", |s| check_label("lot", s, 64)
);

/// What kind of site an agent is; decides later what it shares by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteKind {
    Hq,
    Branch,
    Dealer,
}

impl SiteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::Hq => "hq",
            SiteKind::Branch => "branch",
            SiteKind::Dealer => "dealer",
        }
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "hq" => Ok(SiteKind::Hq),
            "branch" => Ok(SiteKind::Branch),
            "dealer" => Ok(SiteKind::Dealer),
            _ => Err(DomainError::new("kind", s, "use hq, branch or dealer")),
        }
    }
}

/// A location's global name, `SITE/LOC`, as a transfer addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GlobalLocation {
    pub site: SiteId,
    pub location: LocationId,
}

impl GlobalLocation {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, DomainError> {
        let Some((site, loc)) = s.split_once('/') else {
            return Err(DomainError::new(field, s, "write it as SITE/LOCATION"));
        };
        let site = SiteId::parse(site).map_err(|e| DomainError::new(field, s, e.reason))?;
        let location = LocationId::parse(loc).map_err(|e| DomainError::new(field, s, e.reason))?;
        Ok(Self { site, location })
    }
}

impl fmt::Display for GlobalLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.site, self.location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_accept_plain_ids_and_refuse_the_rest() {
        assert!(SiteId::parse("BJ-01").is_ok());
        assert!(LocationId::parse("main.wh_2").is_ok());
        for bad in ["", "-x", "a/b", "仓库", "a b", &"x".repeat(33)] {
            let err = LocationId::parse(bad).unwrap_err();
            assert_eq!(err.field, "location");
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn skus_allow_chinese_commas_and_quotes_but_not_blanks() {
        assert!(Sku::parse("茶叶-500g,\"特级\"").is_ok());
        assert!(Sku::parse(" A1").is_err());
        assert!(Sku::parse("A\n1").is_err());
        assert!(Sku::parse("").is_err());
    }

    #[test]
    fn global_location_splits_site_and_location() {
        let g = GlobalLocation::parse("to", "SH01/main").unwrap();
        assert_eq!(g.site.as_str(), "SH01");
        assert_eq!(g.to_string(), "SH01/main");
        assert_eq!(GlobalLocation::parse("to", "main").unwrap_err().field, "to");
    }
}
