//! Times on the command line and in the API: lifetimes such as `1d2h30m`, and fixed clocks
//! (`--now`) as unix seconds or `YYYYMMDDTHHMMSSZ`.

/// A lifetime in seconds: plain seconds (`3600`) or days/hours/minutes/seconds in that order
/// (`1d`, `2h30m`, `45m`, `1d2h30m10s`). Zero is refused: a link must live.
pub fn parse_lifetime(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a lifetime: use seconds (3600) or e.g. 1d2h30m");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let total = if t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>().map_err(|_| bad())?
    } else {
        let mut total: u64 = 0;
        let mut number = String::new();
        let mut last_rank = 0;
        for c in t.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let (rank, unit) = match c.to_ascii_lowercase() {
                'd' => (1, 86_400),
                'h' => (2, 3_600),
                'm' => (3, 60),
                's' => (4, 1),
                _ => return Err(bad()),
            };
            if number.is_empty() || rank <= last_rank {
                return Err(bad());
            }
            last_rank = rank;
            let n: u64 = number.parse().map_err(|_| bad())?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
            number.clear();
        }
        if !number.is_empty() {
            return Err(bad());
        }
        total
    };
    if total == 0 {
        return Err(format!("{text:?}: a link must live at least one second"));
    }
    Ok(total)
}

/// A fixed clock: unix seconds, or the compact ISO 8601 form AWS uses (`20130524T000000Z`).
pub fn parse_now(text: &str) -> Result<u64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| format!("{text:?} is too large"));
    }
    parse_amz_date(text)
        .ok_or_else(|| format!("{text:?} is neither unix seconds nor YYYYMMDDTHHMMSSZ"))
}

/// `YYYYMMDDTHHMMSSZ` to unix seconds. Every SigV4 request carries one, so the fixed
/// positions are read as digits here and `time` checks the calendar (month lengths, leap
/// years) and the clock, rather than interpreting a format description per request.
pub fn parse_amz_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 16 {
        // Only a signed year (`+20130524T000000Z`, which `--now` takes) is longer; no SigV4
        // date is, as the verifiers require exactly 16 bytes.
        return parse_amz_date_by_format(text);
    }
    if b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |at: usize, n: usize| -> Option<u16> {
        b.get(at..at + n)?.iter().try_fold(0u16, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u16::from(c - b'0'))
        })
    };
    let two = |at: usize| digits(at, 2).and_then(|v| u8::try_from(v).ok());
    let month = time::Month::try_from(two(4)?).ok()?;
    let date = time::Date::from_calendar_date(i32::from(digits(0, 4)?), month, two(6)?).ok()?;
    let clock = time::Time::from_hms(two(9)?, two(11)?, two(13)?).ok()?;
    let t = time::PrimitiveDateTime::new(date, clock);
    u64::try_from(t.assume_utc().unix_timestamp()).ok()
}

/// `parse_amz_date` by `time`'s format description, for the forms the fixed positions do not
/// cover.
fn parse_amz_date_by_format(text: &str) -> Option<u64> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(text, format).ok()?;
    u64::try_from(t.assume_utc().unix_timestamp()).ok()
}

/// Unix seconds to `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(unix: u64) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    i64::try_from(unix)
        .ok()
        .and_then(|u| time::OffsetDateTime::from_unix_timestamp(u).ok())
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "99991231T235959Z".to_string())
}

/// Unix seconds to ISO 8601 `YYYY-MM-DDTHH:MM:SSZ` (Swift's `--iso8601` form).
pub fn format_iso8601(unix: u64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    i64::try_from(unix)
        .ok()
        .and_then(|u| time::OffsetDateTime::from_unix_timestamp(u).ok())
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fixed-position reader accepts exactly what `time`'s format description does,
        /// with the same result: near-dates, impossible days and hours, signs and stray bytes.
        #[test]
        fn the_fixed_position_amz_date_parser_agrees_with_the_format_description(
            text in "[+-]?(19[6-9][0-9]|20[0-9]{2}|[0-9+ -]{4})(0[0-9]|1[0-3]|[0-9 ]{2})([0-3][0-9]|[0-9 ]{2})[T ]([0-2][0-9]|[0-9 ]{2})[0-6][0-9][0-6][0-9]Z?[0-9]?"
        ) {
            proptest::prop_assert_eq!(parse_amz_date(&text), parse_amz_date_by_format(&text));
        }
    }

    #[test]
    fn amz_dates_are_checked_against_the_calendar() {
        assert_eq!(parse_amz_date("20240229T235959Z"), Some(1_709_251_199));
        for bad in [
            "20230229T000000Z",
            "20130524T240000Z",
            "20130524T000060Z",
            "20131324T000000Z",
            "20130500T000000Z",
            "2013052T0000000Z",
            "20130524T000000z",
            "\u{e1}0130524T00000Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
            assert_eq!(parse_amz_date_by_format(bad), None, "{bad}");
        }
    }

    #[test]
    fn lifetimes_in_days_hours_minutes_and_seconds() {
        assert_eq!(parse_lifetime("1d"), Ok(86_400));
        assert_eq!(parse_lifetime("2h30m"), Ok(9_000));
        assert_eq!(parse_lifetime("45m"), Ok(2_700));
        assert_eq!(parse_lifetime("3600"), Ok(3_600));
        assert_eq!(parse_lifetime("1d2h30m"), Ok(95_400));
        assert_eq!(parse_lifetime("1D2H"), Ok(93_600));
    }

    #[test]
    fn malformed_or_zero_lifetimes_are_refused() {
        for bad in [
            "",
            "0",
            "0m",
            "h",
            "1x",
            "30m2h",
            "1h1h",
            "-5",
            "1.5h",
            "99999999999999999999d",
            "1d2",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn clocks_as_unix_seconds_or_amz_dates() {
        assert_eq!(parse_now("1369353600"), Ok(1_369_353_600));
        assert_eq!(parse_now("20130524T000000Z"), Ok(1_369_353_600));
        assert!(parse_now("2013-05-24").is_err());
        assert_eq!(format_amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(format_iso8601(1_369_353_600), "2013-05-24T00:00:00Z");
    }
}
