//! Business timestamps: RFC 3339 with the writer's offset kept as written.

use crate::DomainError;
use chrono::{DateTime, Datelike, FixedOffset};

/// Parses an RFC 3339 timestamp (`2026-11-02T09:30:00+08:00`), keeping its
/// offset. Years outside 1970–2099 are refused as typing errors.
pub fn parse_time(field: &'static str, s: &str) -> Result<DateTime<FixedOffset>, DomainError> {
    let t = DateTime::parse_from_rfc3339(s.trim()).map_err(|_| {
        DomainError::new(
            field,
            s,
            "write an RFC 3339 time with offset, such as 2026-11-02T09:30:00+08:00",
        )
    })?;
    if !(1970..=2099).contains(&t.year()) {
        return Err(DomainError::new(
            field,
            s,
            "the year must be between 1970 and 2099",
        ));
    }
    Ok(t)
}

/// The stored and printed form: RFC 3339, offset as written, no lost precision.
pub fn format_time(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_offset_and_refuses_garbage() {
        let t = parse_time("occurred_at", "2026-11-02T09:30:00+08:00").unwrap();
        assert_eq!(format_time(&t), "2026-11-02T09:30:00+08:00");
        assert!(parse_time("occurred_at", "2026-11-02 09:30").is_err());
        assert!(parse_time("occurred_at", "2026-11-02T09:30:00").is_err());
        let err = parse_time("occurred_at", "9999-01-01T00:00:00Z").unwrap_err();
        assert!(err.reason.contains("1970"));
    }
}
