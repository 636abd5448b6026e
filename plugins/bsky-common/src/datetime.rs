//! Datetimes as the reference AppView stores them: `normalizeDatetimeAlways` of `@atproto/syntax`
//! (UTC, millisecond precision, `Z`), and the string comparisons the schema relies on (`sortAt`
//! is `least("createdAt", "indexedAt")` over such strings).

/// What `normalizeDatetimeAlways` gives for a value it cannot parse: the UNIX epoch.
pub const EPOCH: &str = "1970-01-01T00:00:00.000Z";

const MS_PER_DAY: i64 = 86_400_000;

/// The reference's `normalizeDatetimeAlways`: the instant `text` names, written
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, fraction cut to milliseconds); a value without a timezone is
/// read as UTC; anything unparsable, or outside the years 0000–9999, gives [`EPOCH`].
///
/// Parsing follows what V8's `Date` accepts for the ISO shapes records use: `T` or a space
/// between date and time, optional seconds and fraction, `Z`, `±HH:MM` or `±HHMM`, a trailing
/// ` UTC`/` GMT`; days past the end of the month roll over (`02-30` is 1 March), second 60 does
/// not parse.
pub fn normalize_datetime_always(text: &str) -> String {
    normalize_datetime(text).unwrap_or_else(|| EPOCH.to_owned())
}

/// Like [`normalize_datetime_always`], `None` instead of the epoch.
pub fn normalize_datetime(text: &str) -> Option<String> {
    let millis = if has_timezone(text) {
        parse_millis(text)?
    } else {
        parse_millis(&format!("{text}Z"))?
    };
    format_millis(millis)
}

/// Milliseconds since the epoch of a datetime in the shapes [`normalize_datetime_always`]
/// accepts (with an explicit timezone), `None` otherwise.
pub fn parse_millis(text: &str) -> Option<i64> {
    let text = text
        .strip_suffix(" UTC")
        .or_else(|| text.strip_suffix(" GMT"))
        .map_or_else(|| text.to_owned(), |rest| format!("{rest}Z"));
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = bytes.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let year = number(0..4)?;
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    let month = number(5..7)?;
    let day = number(8..10)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut rest = bytes.get(10..)?;
    let (mut hour, mut minute, mut second, mut milli) = (0, 0, 0, 0);
    if let Some((&separator, time)) = rest.split_first()
        && (separator == b'T' || separator == b' ')
    {
        let two = |slice: &[u8], at: usize| -> Option<i64> {
            let digits = slice.get(at..at + 2)?;
            digits
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| i64::from(digits[0] - b'0') * 10 + i64::from(digits[1] - b'0'))
        };
        hour = two(time, 0)?;
        if time.get(2) != Some(&b':') {
            return None;
        }
        minute = two(time, 3)?;
        rest = time.get(5..)?;
        if let Some(after) = rest.strip_prefix(b":") {
            second = two(after, 0)?;
            rest = after.get(2..)?;
            if let Some(fraction) = rest.strip_prefix(b".") {
                let count = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
                if count == 0 {
                    return None;
                }
                let kept = fraction.get(..count.min(3))?;
                let mut value = 0;
                for (index, digit) in kept.iter().enumerate() {
                    value += i64::from(digit - b'0') * [100, 10, 1][index];
                }
                milli = value;
                rest = fraction.get(count..)?;
            }
        }
        let end_of_day = hour == 24 && minute == 0 && second == 0 && milli == 0;
        if (hour > 23 && !end_of_day) || minute > 59 || second > 59 {
            return None;
        }
    }
    let offset_minutes = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let digits = [h1, h2, m1, m2];
            if !digits.iter().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours = i64::from(*h1 - b'0') * 10 + i64::from(*h2 - b'0');
            let minutes = i64::from(*m1 - b'0') * 10 + i64::from(*m2 - b'0');
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, 1) + (day - 1);
    Some(
        days * MS_PER_DAY + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli
            - offset_minutes * 60_000,
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the epoch; `None` outside the years
/// 0000–9999.
pub fn format_millis(millis: i64) -> Option<String> {
    let days = millis.div_euclid(MS_PER_DAY);
    let in_day = millis.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    ))
}

/// The earlier of two normalised datetimes, as `least("createdAt", "indexedAt")` picks it (a
/// string comparison, which orders normalised datetimes by time).
pub fn least<'a>(a: &'a str, b: &'a str) -> &'a str {
    if b < a { b } else { a }
}

/// The reference's test for "has a timezone" before it parses (an explicit offset, a `Z` after
/// a digit, or a zone abbreviation); without one it parses the value as UTC.
fn has_timezone(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digit = |index: usize| bytes.get(index).is_some_and(u8::is_ascii_digit);
    let offset = (0..bytes.len()).any(|index| {
        matches!(bytes.get(index), Some(b'+' | b'-'))
            && digit(index + 1)
            && digit(index + 2)
            && if bytes.get(index + 3) == Some(&b':') {
                digit(index + 4) && digit(index + 5)
            } else {
                digit(index + 3) && digit(index + 4)
            }
    });
    let word = |byte: Option<&u8>| byte.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let zulu = (1..bytes.len()).any(|index| {
        bytes.get(index) == Some(&b'Z') && digit(index - 1) && !word(bytes.get(index + 1))
    });
    let abbreviation = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|token| {
            (3..=4).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_uppercase())
        });
    offset || zulu || abbreviation
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day number of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values printed by `normalizeDatetimeAlways` of `@atproto/syntax` 0.7.7 (the
    /// version `@atproto/bsky` 0.0.280 uses) on Node 22.
    const REFERENCE: &[(&str, &str)] = &[
        ("2024-02-30T00:00:00Z", "2024-03-01T00:00:00.000Z"),
        ("2023-02-29T00:00:00Z", "2023-03-01T00:00:00.000Z"),
        ("2024-01-01T00:00:00.1239Z", "2024-01-01T00:00:00.123Z"),
        ("2024-01-01T00:00:00.9999Z", "2024-01-01T00:00:00.999Z"),
        ("2024-01-01T23:59:60Z", EPOCH),
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000Z"),
        ("2024-01-01T00:00:00+01:00", "2023-12-31T23:00:00.000Z"),
        ("2024-01-01T00:00:00-00:00", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T00:00:00", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T00:00:00.5+05:30", "2023-12-31T18:30:00.500Z"),
        (
            "1985-04-12T23:20:50.1235678912345Z",
            "1985-04-12T23:20:50.123Z",
        ),
        ("garbage", EPOCH),
        ("2024-01-01T00:00Z", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01 10:00:00Z", "2024-01-01T10:00:00.000Z"),
        ("2024-13-01T00:00:00Z", EPOCH),
        ("9999-12-31T23:59:59.999+00:00", "9999-12-31T23:59:59.999Z"),
        ("0000-01-01T00:00:00+01:00", EPOCH),
        (
            "2024-01-01T00:00:00.123456789+14:00",
            "2023-12-31T10:00:00.123Z",
        ),
    ];

    #[test]
    fn matches_the_reference() {
        for (input, expected) in REFERENCE {
            assert_eq!(normalize_datetime_always(input), *expected, "{input}");
        }
    }

    #[test]
    fn round_trips_days() {
        for days in [-719_528, -1, 0, 1, 365, 10_957, 19_723, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(parse_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(format_millis(0).as_deref(), Some(EPOCH));
        assert_eq!(
            format_millis(1_700_000_000_123).as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
    }

    #[test]
    fn least_is_the_earlier() {
        let (a, b) = ("2024-01-01T00:00:00.000Z", "2023-01-01T00:00:00.000Z");
        assert_eq!(least(a, b), b);
        assert_eq!(least(b, a), b);
    }
}
