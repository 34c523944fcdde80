//! Business timestamps: parsed as people write them in the site's time zone
//! (or RFC 3339 with an explicit offset, kept as written), stored as RFC 3339.

use crate::DomainError;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    TimeZone,
};
use chrono_tz::Tz;

/// The forms a business time may be written in, for refusals.
pub const TIME_FORMS: &str = "2026-12-01, 2026/12/01, 2026-12-01 14:30, 2026/12/01 14:30:05 \
     (in the site's time zone) or RFC 3339 with an offset such as 2026-12-01T14:30:00+08:00";

/// The forms a date may be written in, for refusals.
pub const DATE_FORMS: &str = "2026-12-01 or 2026/12/01";

/// Parses an RFC 3339 timestamp (`2026-11-02T09:30:00+08:00`), keeping its
/// offset. Years outside 1970–2099 are refused as typing errors. This is the
/// stored form; what people type goes through [`parse_business_time`].
pub fn parse_time(field: &'static str, s: &str) -> Result<DateTime<FixedOffset>, DomainError> {
    let t = DateTime::parse_from_rfc3339(s.trim()).map_err(|_| {
        DomainError::new(
            field,
            s,
            "write an RFC 3339 time with offset, such as 2026-11-02T09:30:00+08:00",
        )
    })?;
    in_range(field, s, t)
}

fn in_range(
    field: &'static str,
    s: &str,
    t: DateTime<FixedOffset>,
) -> Result<DateTime<FixedOffset>, DomainError> {
    if !(1970..=2099).contains(&t.year()) {
        return Err(DomainError::new(
            field,
            s,
            "the year must be between 1970 and 2099",
        ));
    }
    Ok(t)
}

/// Parses a date written `2026-12-01` or `2026/12/01`.
pub fn parse_date(field: &'static str, s: &str) -> Result<NaiveDate, DomainError> {
    let t = s.trim();
    let d = ["%Y-%m-%d", "%Y/%m/%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
        .ok_or_else(|| DomainError::new(field, s, format!("write a date as {DATE_FORMS}")))?;
    if !(1970..=2099).contains(&d.year()) {
        return Err(DomainError::new(
            field,
            s,
            "the year must be between 1970 and 2099",
        ));
    }
    Ok(d)
}

/// Parses a business time as people write it: RFC 3339 with an explicit
/// offset keeps that offset; a date alone (`2026-12-01`, `2026/12/01`) is the
/// start of that day, and a date with a time (`2026-12-01 14:30`,
/// `2026/12/01 14:30:05`, also with `T`) is that wall-clock time, both in
/// `zone`, the site's time zone. A wall-clock time that a daylight-saving
/// change skips is refused; one it repeats is the earlier.
pub fn parse_business_time(
    field: &'static str,
    s: &str,
    zone: Tz,
) -> Result<DateTime<FixedOffset>, DomainError> {
    let t = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(t) {
        return in_range(field, s, t);
    }
    let refuse = || DomainError::new(field, s, format!("write a time as {TIME_FORMS}"));
    let date = ["%Y-%m-%d", "%Y/%m/%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok());
    let local = if let Some(d) = date {
        d.and_time(NaiveTime::MIN)
    } else {
        const FORMS: [&str; 8] = [
            "%Y-%m-%d %H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y/%m/%d %H:%M",
            "%Y/%m/%d %H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
        ];
        FORMS
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
            .ok_or_else(refuse)?
    };
    let at = match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(early, _) => early,
        LocalResult::None => {
            return Err(DomainError::new(
                field,
                s,
                format!("that time does not exist in {zone} (a daylight-saving change skips it)"),
            ));
        }
    };
    in_range(field, s, at.fixed_offset())
}

/// Refuses a business time more than a day after `now`: almost always a
/// typing error (a wrong year or month), and one that would sit in the
/// future of every report.
pub fn check_not_future(
    field: &'static str,
    written: &str,
    t: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
) -> Result<(), DomainError> {
    if t > now + Duration::days(1) {
        return Err(DomainError::new(
            field,
            written,
            format!(
                "it is more than a day in the future (now is {}); give --allow-future if that is meant",
                format_time(&now)
            ),
        ));
    }
    Ok(())
}

/// A time as the site shows it: the same instant in the site's zone.
pub fn in_zone(t: &DateTime<FixedOffset>, zone: Tz) -> DateTime<FixedOffset> {
    t.with_timezone(&zone).fixed_offset()
}

/// A stored RFC 3339 text shown in the site's zone; text that does not parse
/// is shown as it is.
pub fn show_in_zone(stored: &str, zone: Tz) -> String {
    match DateTime::parse_from_rfc3339(stored.trim()) {
        Ok(t) => format_time(&in_zone(&t, zone)),
        Err(_) => stored.to_owned(),
    }
}

/// Parses an IANA time zone name such as `Asia/Shanghai`.
pub fn parse_zone(field: &'static str, s: &str) -> Result<Tz, DomainError> {
    s.trim().parse::<Tz>().map_err(|_| {
        DomainError::new(
            field,
            s,
            "use an IANA time zone name such as Asia/Shanghai, Europe/Berlin or UTC",
        )
    })
}

/// The stored and printed form: RFC 3339, offset as written, no lost precision.
pub fn format_time(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Tz = chrono_tz::Asia::Shanghai;

    #[test]
    fn keeps_offset_and_refuses_garbage() {
        let t = parse_time("occurred_at", "2026-11-02T09:30:00+08:00").unwrap();
        assert_eq!(format_time(&t), "2026-11-02T09:30:00+08:00");
        assert!(parse_time("occurred_at", "2026-11-02 09:30").is_err());
        assert!(parse_time("occurred_at", "2026-11-02T09:30:00").is_err());
        let err = parse_time("occurred_at", "9999-01-01T00:00:00Z").unwrap_err();
        assert!(err.reason.contains("1970"));
    }

    #[test]
    fn accepts_what_people_write_in_the_sites_zone() {
        let p = |s: &str, z: Tz| format_time(&parse_business_time("at", s, z).unwrap());
        assert_eq!(p("2026-12-01", SH), "2026-12-01T00:00:00+08:00");
        assert_eq!(p("2026/12/01 14:30", SH), "2026-12-01T14:30:00+08:00");
        assert_eq!(p(" 2026-12-01 14:30 ", SH), "2026-12-01T14:30:00+08:00");
        assert_eq!(p("2026-12-01T14:30:05", SH), "2026-12-01T14:30:05+08:00");
        assert_eq!(
            p("2026-12-01 14:30", chrono_tz::UTC),
            "2026-12-01T14:30:00Z"
        );
        // An explicit offset wins over the zone.
        assert_eq!(
            p("2026-12-01T14:30:00-05:00", SH),
            "2026-12-01T14:30:00-05:00"
        );
        // Daylight saving: summer and winter offsets of one zone.
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(p("2026-07-01 12:00", berlin), "2026-07-01T12:00:00+02:00");
        assert_eq!(p("2026-12-01 12:00", berlin), "2026-12-01T12:00:00+01:00");
        let gap = parse_business_time("at", "2026-03-29 02:30", berlin).unwrap_err();
        assert!(gap.reason.contains("does not exist"), "{gap}");
        assert_eq!(p("2026-10-25 02:30", berlin), "2026-10-25T02:30:00+02:00");
    }

    #[test]
    fn refusals_name_the_field_the_value_and_the_forms() {
        for bad in [
            "12/01/2026",
            "2026-13-01",
            "2026-12-01 25:00",
            "tomorrow",
            "",
        ] {
            let e = parse_business_time("at", bad, SH).unwrap_err();
            assert_eq!(e.field, "at");
            assert!(e.reason.contains("2026/12/01 14:30"), "{e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        let e = parse_business_time("at", "1900-01-01", SH).unwrap_err();
        assert!(e.reason.contains("1970"), "{e}");
        assert_eq!(
            parse_date("from", "2026/01/31").unwrap(),
            NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
        );
        assert!(
            parse_date("from", "31.01.2026")
                .unwrap_err()
                .reason
                .contains("2026/12/01")
        );
        assert!(parse_zone("time_zone", "Asia/Shanghai").is_ok());
        assert!(parse_zone("time_zone", "Mars/Olympus").is_err());
    }

    #[test]
    fn the_future_is_a_day_away() {
        let now = parse_time("now", "2026-12-01T10:00:00+08:00").unwrap();
        let ok = parse_time("at", "2026-12-02T10:00:00+08:00").unwrap();
        assert!(check_not_future("at", "x", ok, now).is_ok());
        let late = parse_time("at", "2026-12-02T10:00:01+08:00").unwrap();
        let e = check_not_future("at", "2026-12-02 10:00:01", late, now).unwrap_err();
        assert!(e.reason.contains("--allow-future"), "{e}");
    }

    #[test]
    fn shows_an_instant_in_the_sites_zone() {
        assert_eq!(
            show_in_zone("2026-12-01T00:30:00Z", SH),
            "2026-12-01T08:30:00+08:00"
        );
        assert_eq!(show_in_zone("never", SH), "never");
    }
}
