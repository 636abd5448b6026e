//! Datetimes: the intersection of RFC 3339 and ISO 8601 that atproto requires.
//!
//! Syntax (<https://atproto.com/specs/lexicon#datetime>): `YYYY-MM-DDThh:mm:ss`, an optional
//! fraction of one or more digits, then `Z` or a `±hh:mm` offset (not `-00:00`); upper-case `T`
//! and `Z`; at most 64 characters. [`Datetime::validate_syntax`] checks only that shape.
//!
//! [`Datetime::parse`] (and `FromStr`, serde) is stricter: the fields must name a real instant
//! (month 1–12, a day that exists in that month, hour ≤ 23, minute and second ≤ 59, no leap
//! seconds) and the instant, in UTC, must fall in the years 0000 to 9999.
//!
//! [`Datetime::normalize`] turns any value found in a record's `createdAt` into the preferred
//! form `YYYY-MM-DDThh:mm:ss.sssZ`, like the reference implementation's
//! `normalizeDatetimeAlways`: strict values are converted to UTC (truncated to milliseconds);
//! looser ISO-like forms are accepted (no timezone means UTC, `t`/`z`/space separators, `+hhmm`
//! offsets, date-only values, days past the end of the month rolling over as JavaScript's `Date`
//! does); so are RFC 2822 dates and JavaScript's `Date.toString()` output; anything else becomes
//! the UNIX epoch, `1970-01-01T00:00:00.000Z`.

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
};

use super::error::{SyntaxError, SyntaxKind};
use super::string_conversions;

/// Longest datetime accepted, in bytes.
const MAX_LEN: usize = 64;

/// What [`Datetime::normalize`] returns for values it can not read.
const EPOCH: &str = "1970-01-01T00:00:00.000Z";

/// A strictly valid atproto datetime, kept as written, with the instant it names.
///
/// Ordered by instant (then by text, so that equal instants written differently stay distinct).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Datetime {
    utc: DateTime<Utc>,
    raw: String,
}

impl Datetime {
    /// Parses a datetime strictly: valid syntax, a real instant, years 0000 to 9999 in UTC.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        let utc =
            parse_strict(s).map_err(|reason| SyntaxError::new(SyntaxKind::Datetime, s, reason))?;
        Ok(Self {
            utc,
            raw: s.to_owned(),
        })
    }

    /// Checks only the datetime syntax (the shape), not whether the fields name a real instant.
    pub fn validate_syntax(s: &str) -> Result<(), SyntaxError> {
        parse_fields(s)
            .map(|_| ())
            .map_err(|reason| SyntaxError::new(SyntaxKind::Datetime, s, reason))
    }

    /// The datetime of an instant, in the preferred form (milliseconds, `Z`); fails outside the
    /// years 0000 to 9999. Sub-millisecond precision is dropped.
    pub fn from_utc(instant: DateTime<Utc>) -> Result<Self, SyntaxError> {
        let raw = format_preferred(instant);
        if !in_year_range(instant) {
            return Err(SyntaxError::new(
                SyntaxKind::Datetime,
                &raw,
                "year outside 0000 to 9999",
            ));
        }
        let millis = instant.nanosecond().min(999_999_999) / 1_000_000;
        let utc = instant
            .with_nanosecond(millis * 1_000_000)
            .unwrap_or(instant);
        Ok(Self { utc, raw })
    }

    /// The current time, in the preferred form.
    pub fn now() -> Self {
        let now = Utc::now();
        Self::from_utc(now).unwrap_or_else(|_| Self {
            utc: DateTime::UNIX_EPOCH,
            raw: EPOCH.to_owned(),
        })
    }

    /// The datetime as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The datetime as written, owned.
    pub fn into_string(self) -> String {
        self.raw
    }

    /// The instant, in UTC.
    pub fn to_utc(&self) -> DateTime<Utc> {
        self.utc
    }

    /// The instant in the preferred form `YYYY-MM-DDThh:mm:ss.sssZ` (UTC, milliseconds
    /// truncated), as [`Datetime::normalize`] writes it.
    pub fn to_normalized_string(&self) -> String {
        format_preferred(self.utc)
    }

    /// Reads a datetime as leniently as [`Datetime::normalize`] does, returning the instant.
    pub fn parse_lenient(s: &str) -> Result<DateTime<Utc>, SyntaxError> {
        parse_lenient(s).ok_or_else(|| {
            SyntaxError::new(
                SyntaxKind::Datetime,
                s,
                "not readable as a datetime, even leniently",
            )
        })
    }

    /// Any string to a valid datetime in the preferred form `YYYY-MM-DDThh:mm:ss.sssZ`, for
    /// columns such as `createdAt`: what [`Datetime::parse_lenient`] reads, else the UNIX epoch
    /// (`1970-01-01T00:00:00.000Z`). Never fails.
    pub fn normalize(s: &str) -> String {
        match parse_lenient(s) {
            Some(instant) => format_preferred(instant),
            None => EPOCH.to_owned(),
        }
    }
}

impl TryFrom<String> for Datetime {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match parse_strict(&s) {
            Ok(utc) => Ok(Self { utc, raw: s }),
            Err(reason) => Err(SyntaxError::new(SyntaxKind::Datetime, &s, reason)),
        }
    }
}

impl From<Datetime> for DateTime<Utc> {
    fn from(datetime: Datetime) -> Self {
        datetime.utc
    }
}

impl std::fmt::Debug for Datetime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Datetime({:?})", self.raw)
    }
}

string_conversions!(Datetime, "an RFC 3339 datetime string");

/// The fields of a datetime string, as written (not range-checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// The timezone offset: east of UTC (`+`) or west (`-`).
    offset_east: bool,
    offset_hours: u32,
    offset_minutes: u32,
}

/// A byte cursor for the hand-written datetime grammars.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    /// Consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `n` digits (n ≤ 9), or `None` (consuming nothing).
    fn digits(&mut self, n: usize) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + n)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += n;
        Some(
            digits
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }

    /// One or more digits as a fraction of a second, in nanoseconds (digits past the ninth are
    /// truncated), or `None` when no digit follows.
    fn fraction_nanos(&mut self) -> Option<u32> {
        let start = self.pos;
        let mut nanos = 0u32;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            let place = self.pos - start;
            if place < 9 {
                nanos += u32::from(d - b'0') * 10u32.pow(8 - place as u32);
            }
            self.pos += 1;
        }
        (self.pos > start).then_some(nanos)
    }
}

/// Parses the strict syntax into fields; the error is the reason.
fn parse_fields(s: &str) -> Result<Fields, &'static str> {
    const SHAPE: &str = "must look like YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)";
    if s.len() > MAX_LEN {
        return Err("longer than 64 characters");
    }
    let mut c = Cursor::new(s);
    let year = c.digits(4).ok_or(SHAPE)?;
    let month = (c.eat(b'-').then(|| c.digits(2)).flatten()).ok_or(SHAPE)?;
    let day = (c.eat(b'-').then(|| c.digits(2)).flatten()).ok_or(SHAPE)?;
    if !c.eat(b'T') {
        return Err("date and time must be separated by an upper-case \"T\"");
    }
    let hour = c.digits(2).ok_or(SHAPE)?;
    let minute = (c.eat(b':').then(|| c.digits(2)).flatten()).ok_or(SHAPE)?;
    let second = (c.eat(b':').then(|| c.digits(2)).flatten()).ok_or(SHAPE)?;
    let nanos = if c.eat(b'.') {
        c.fraction_nanos()
            .ok_or("a \".\" must be followed by fraction digits")?
    } else {
        0
    };
    let (offset_east, offset_hours, offset_minutes) = match c.peek() {
        Some(b'Z') => {
            c.pos += 1;
            (true, 0, 0)
        }
        Some(sign @ (b'+' | b'-')) => {
            if c.rest() == b"-00:00" {
                return Err("\"-00:00\" is not allowed for UTC (use \"Z\" or \"+00:00\")");
            }
            c.pos += 1;
            let hours = c.digits(2).ok_or("timezone offset must be ±hh:mm")?;
            let minutes = (c.eat(b':').then(|| c.digits(2)).flatten())
                .ok_or("timezone offset must be ±hh:mm")?;
            (sign == b'+', hours, minutes)
        }
        _ => return Err("a timezone is required (\"Z\" or ±hh:mm, upper-case \"Z\")"),
    };
    if !c.at_end() {
        return Err("unexpected characters after the timezone");
    }
    Ok(Fields {
        year: year as i32,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset_east,
        offset_hours,
        offset_minutes,
    })
}

/// The strict parse: syntax, real calendar fields, UTC year 0000 to 9999.
fn parse_strict(s: &str) -> Result<DateTime<Utc>, &'static str> {
    let f = parse_fields(s)?;
    if !(1..=12).contains(&f.month) {
        return Err("month out of range (01 to 12)");
    }
    let date = NaiveDate::from_ymd_opt(f.year, f.month, f.day)
        .ok_or("day does not exist in that month")?;
    if f.hour > 23 {
        return Err("hour out of range (00 to 23)");
    }
    if f.minute > 59 {
        return Err("minute out of range (00 to 59)");
    }
    if f.second > 59 {
        return Err("second out of range (00 to 59; no leap seconds)");
    }
    if f.offset_hours > 23 || f.offset_minutes > 59 {
        return Err("timezone offset out of range (hours 00 to 23, minutes 00 to 59)");
    }
    let offset_magnitude = (f.offset_hours * 60 + f.offset_minutes) as i32;
    let offset = if f.offset_east {
        offset_magnitude
    } else {
        -offset_magnitude
    };
    let time = NaiveTime::from_hms_nano_opt(f.hour, f.minute, f.second, f.nanos)
        .ok_or("time out of range")?;
    let utc = to_utc(NaiveDateTime::new(date, time), offset).ok_or("out of range")?;
    if utc.year() < 0 {
        return Err("normalises (in UTC) to a year before 0000");
    }
    if utc.year() > 9999 {
        return Err("normalises (in UTC) to a year after 9999");
    }
    Ok(utc)
}

/// Local date and time at `offset_minutes` east of UTC, as a UTC instant.
fn to_utc(local: NaiveDateTime, offset_minutes: i32) -> Option<DateTime<Utc>> {
    local
        .checked_sub_signed(TimeDelta::minutes(i64::from(offset_minutes)))
        .map(|naive| naive.and_utc())
}

fn in_year_range(instant: DateTime<Utc>) -> bool {
    (0..=9999).contains(&instant.year())
}

/// `YYYY-MM-DDThh:mm:ss.sssZ`, milliseconds truncated. For years 0000 to 9999 (others are
/// written with `format!`'s sign and width rules, for error messages only).
fn format_preferred(instant: DateTime<Utc>) -> String {
    let millis = instant.nanosecond().min(999_999_999) / 1_000_000;
    if !in_year_range(instant) {
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            instant.year(),
            instant.month(),
            instant.day(),
            instant.hour(),
            instant.minute(),
            instant.second(),
        );
    }
    // Hand-written: this runs for every record's `createdAt`, and `format!` is several times
    // slower.
    let mut out = String::with_capacity(24);
    push_digits(&mut out, instant.year().unsigned_abs(), 4);
    out.push('-');
    push_digits(&mut out, instant.month(), 2);
    out.push('-');
    push_digits(&mut out, instant.day(), 2);
    out.push('T');
    push_digits(&mut out, instant.hour(), 2);
    out.push(':');
    push_digits(&mut out, instant.minute(), 2);
    out.push(':');
    push_digits(&mut out, instant.second(), 2);
    out.push('.');
    push_digits(&mut out, millis, 3);
    out.push('Z');
    out
}

/// Appends the low `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Every form [`Datetime::normalize`] reads, in UTC, within the years 0000 to 9999.
fn parse_lenient(s: &str) -> Option<DateTime<Utc>> {
    let instant = parse_strict(s)
        .ok()
        .or_else(|| parse_iso_like(s))
        .or_else(|| parse_js_to_string(s))
        .or_else(|| DateTime::parse_from_rfc2822(s).ok().map(|dt| dt.to_utc()))?;
    in_year_range(instant).then_some(instant)
}

/// Loose ISO 8601 forms, read the way JavaScript's `Date` reads them when a missing timezone
/// means UTC: `YYYY[-MM[-DD]]` alone (legacy two-digit-year rule: years 00–49 are 20xx, 50–99
/// are 19xx), or a date, `T`/`t`/space, `hh:mm[:ss[.fraction]]`, then nothing (UTC), `Z`/`z`,
/// `±hh:mm` or `±hhmm` (or ` UTC`/` GMT` after a space separator). Days up to 31 roll over into
/// the next month; `24:00:00` is the next midnight.
fn parse_iso_like(s: &str) -> Option<DateTime<Utc>> {
    let mut c = Cursor::new(s);
    let year = match c.peek()? {
        sign @ (b'+' | b'-') => {
            c.pos += 1;
            let magnitude = c.digits(6)? as i32;
            if sign == b'-' { -magnitude } else { magnitude }
        }
        _ => c.digits(4)? as i32,
    };
    let mut month = 1;
    let mut day = 1;
    let mut date_only = true;
    if c.eat(b'-') {
        month = c.digits(2)?;
        if c.eat(b'-') {
            day = c.digits(2)?;
            date_only = c.at_end();
        }
    }
    if date_only {
        if !c.at_end() {
            return None;
        }
        let year = match year {
            0..=49 if !s.starts_with(['+', '-']) => year + 2000,
            50..=99 if !s.starts_with(['+', '-']) => year + 1900,
            _ => year,
        };
        let date = rolled_over_date(year, month, day)?;
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    }
    let separator = c.peek()?;
    if !matches!(separator, b'T' | b't' | b' ') {
        return None;
    }
    c.pos += 1;
    let hour = c.digits(2)?;
    let minute = c.eat(b':').then(|| c.digits(2)).flatten()?;
    let mut second = 0;
    let mut nanos = 0;
    if c.eat(b':') {
        second = c.digits(2)?;
        if c.eat(b'.') {
            nanos = c.fraction_nanos()?;
        }
    }
    let offset_minutes = match c.rest() {
        b"" | b"Z" | b"z" => 0,
        b" UTC" | b" GMT" if separator == b' ' => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let hours = two_digits(*h1, *h2)?;
            let minutes = two_digits(*m1, *m2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = (hours * 60 + minutes) as i32;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    if minute > 59 || second > 59 {
        return None;
    }
    let date = rolled_over_date(year, month, day)?;
    let local = if hour == 24 && minute == 0 && second == 0 && nanos == 0 {
        date.checked_add_days(Days::new(1))?
            .and_time(NaiveTime::MIN)
    } else {
        date.and_time(NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?)
    };
    to_utc(local, offset_minutes)
}

/// A calendar date where a day from 1 to 31 past the end of the month rolls over into the
/// next (`02-30` is `03-02` in a common year), as JavaScript's `Date` does.
fn rolled_over_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, 1)?.checked_add_days(Days::new(u64::from(day - 1)))
}

fn two_digits(tens: u8, units: u8) -> Option<u32> {
    (tens.is_ascii_digit() && units.is_ascii_digit())
        .then(|| u32::from(tens - b'0') * 10 + u32::from(units - b'0'))
}

/// JavaScript's `Date.prototype.toString()` output, e.g.
/// `Tue Mar 17 2026 16:38:44 GMT-0700 (Pacific Daylight Time)`.
fn parse_js_to_string(s: &str) -> Option<DateTime<Utc>> {
    let without_zone_name = match s.find(" (") {
        Some(start) if s.ends_with(')') => s.get(..start)?,
        _ => s,
    };
    DateTime::parse_from_str(without_zone_name, "%a %b %d %Y %H:%M:%S GMT%z")
        .ok()
        .map(|dt| dt.to_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parse_converts_to_utc() {
        let dt = Datetime::parse("1985-04-12T23:20:50.123-07:00").unwrap();
        assert_eq!(dt.as_str(), "1985-04-12T23:20:50.123-07:00");
        assert_eq!(dt.to_normalized_string(), "1985-04-13T06:20:50.123Z");
        assert_eq!(dt.to_utc().timestamp_millis(), 482_221_250_123);
    }

    #[test]
    fn fractions_keep_nanoseconds_and_truncate_beyond() {
        let dt = Datetime::parse("1985-04-12T23:20:50.1234567891Z").unwrap();
        assert_eq!(dt.to_utc().nanosecond(), 123_456_789);
        assert_eq!(dt.to_normalized_string(), "1985-04-12T23:20:50.123Z");
    }

    #[test]
    fn strict_errors_say_which_field() {
        let reason = |s: &str| Datetime::parse(s).unwrap_err().reason().to_owned();
        assert_eq!(
            reason("1985-13-12T23:20:50.123Z"),
            "month out of range (01 to 12)"
        );
        assert_eq!(
            reason("2023-02-29T00:00:00Z"),
            "day does not exist in that month"
        );
        assert_eq!(
            reason("1985-04-12T23:20:60Z"),
            "second out of range (00 to 59; no leap seconds)"
        );
        assert_eq!(
            reason("0000-01-01T00:00:00+01:00"),
            "normalises (in UTC) to a year before 0000"
        );
        assert_eq!(
            reason("9999-12-31T23:00:00-01:00"),
            "normalises (in UTC) to a year after 9999"
        );
        assert_eq!(
            reason("1985-04-12T23:20:50.123-00:00"),
            "\"-00:00\" is not allowed for UTC (use \"Z\" or \"+00:00\")"
        );
        assert!(Datetime::parse("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn syntax_check_does_not_check_ranges() {
        assert!(Datetime::validate_syntax("1985-00-12T23:20:50.123Z").is_ok());
        assert!(Datetime::parse("1985-00-12T23:20:50.123Z").is_err());
    }

    #[test]
    fn from_utc_writes_the_preferred_form() {
        let instant = DateTime::from_timestamp_micros(482_196_050_123_456).unwrap();
        let dt = Datetime::from_utc(instant).unwrap();
        assert_eq!(dt.as_str(), "1985-04-12T23:20:50.123Z");
        assert_eq!(Datetime::parse(dt.as_str()).unwrap(), dt);
        let far = NaiveDate::from_ymd_opt(10_000, 1, 1)
            .unwrap()
            .and_time(NaiveTime::MIN)
            .and_utc();
        assert!(Datetime::from_utc(far).is_err());
        assert!(Datetime::parse(Datetime::now().as_str()).is_ok());
    }

    #[test]
    fn ordered_by_instant() {
        let earlier = Datetime::parse("1985-04-12T23:20:50Z").unwrap();
        let later = Datetime::parse("1985-04-12T22:20:51-01:00").unwrap();
        assert!(earlier < later);
    }

    /// Inputs and what the reference `normalizeDatetimeAlways` (bluesky-social/atproto
    /// `packages/syntax`, run under Node 20) returns for them.
    const REFERENCE_NORMALIZATIONS: &[(&str, &str)] = &[
        ("1985-04-12T23:20:50.123Z", "1985-04-12T23:20:50.123Z"),
        ("1985-04-12T23:20:50.1239Z", "1985-04-12T23:20:50.123Z"),
        (
            "1985-04-12T23:20:50.123456789012Z",
            "1985-04-12T23:20:50.123Z",
        ),
        ("1985-04-12T23:20:50.123+01:45", "1985-04-12T21:35:50.123Z"),
        ("1985-04-12T23:20:50.123-07:00", "1985-04-13T06:20:50.123Z"),
        ("1985-04-12T23:20:50.123-00:00", "1985-04-12T23:20:50.123Z"),
        ("1985-04-12T23:20:50.123+0000", "1985-04-12T23:20:50.123Z"),
        ("1985-04-12T23:20:50.123+0530", "1985-04-12T17:50:50.123Z"),
        ("1985-04-12T23:20:50.123+23:59", "1985-04-11T23:21:50.123Z"),
        ("1985-04-12t23:20:50.123z", "1985-04-12T23:20:50.123Z"),
        ("1985-04-12T23:20:50.123z", "1985-04-12T23:20:50.123Z"),
        ("1985-04-12T23:20:50", "1985-04-12T23:20:50.000Z"),
        ("1985-04-12T23:20:50.123456", "1985-04-12T23:20:50.123Z"),
        ("1985-04-12T01:02:03.5", "1985-04-12T01:02:03.500Z"),
        ("1985-04-12T23:20", "1985-04-12T23:20:00.000Z"),
        ("1985-04-12T23:20Z", "1985-04-12T23:20:00.000Z"),
        ("1985-04-12 23:20:50", "1985-04-12T23:20:50.000Z"),
        ("1985-04-12 23:20:50.123Z", "1985-04-12T23:20:50.123Z"),
        ("1985-04-12 23:20:50.123+00:00", "1985-04-12T23:20:50.123Z"),
        ("1985-04-12 23:20:50 UTC", "1985-04-12T23:20:50.000Z"),
        (
            "2023-06-01T12:00:00.000000+00:00",
            "2023-06-01T12:00:00.000Z",
        ),
        ("2023-06-01T12:00:00.000000", "2023-06-01T12:00:00.000Z"),
        ("1985-04-12", "1985-04-12T00:00:00.000Z"),
        ("1985-04", "1985-04-01T00:00:00.000Z"),
        ("1985", "1985-01-01T00:00:00.000Z"),
        ("0000-01-01", "2000-01-01T00:00:00.000Z"),
        ("+001985-04-12T23:20:50.123Z", "1985-04-12T23:20:50.123Z"),
        ("2023-02-30T00:00:00Z", "2023-03-02T00:00:00.000Z"),
        ("2023-02-31T00:00:00.000Z", "2023-03-03T00:00:00.000Z"),
        ("2023-02-29T00:00:00Z", "2023-03-01T00:00:00.000Z"),
        ("2023-04-31T00:00:00Z", "2023-05-01T00:00:00.000Z"),
        ("1985-04-12T24:00:00Z", "1985-04-13T00:00:00.000Z"),
        ("0000-01-01T00:00:00.000Z", "0000-01-01T00:00:00.000Z"),
        ("0099-01-01T00:00:00.000Z", "0099-01-01T00:00:00.000Z"),
        ("Tue, 17 Mar 2026 16:38:44 GMT", "2026-03-17T16:38:44.000Z"),
        (
            "Tue Mar 17 2026 16:38:44 GMT-0700 (Pacific Daylight Time)",
            "2026-03-17T23:38:44.000Z",
        ),
        // Unreadable, or outside the years 0000 to 9999: the epoch.
        ("2023-02-32T00:00:00Z", EPOCH),
        ("2023-00-10T00:00:00Z", EPOCH),
        ("2023-13-10T00:00:00Z", EPOCH),
        ("2023-12-00T00:00:00Z", EPOCH),
        ("1985-04-12T24:30:00Z", EPOCH),
        ("1985-04-12T23:20:60Z", EPOCH),
        ("2020-01-01T00:60:00Z", EPOCH),
        ("1985-04-12T23:20:50.123+00", EPOCH),
        ("1985-04-12T23:20:50.123+05", EPOCH),
        ("1985-04-12T23:20:50.123+24:00", EPOCH),
        ("1985-04-12T23:20:50.123+12:60", EPOCH),
        ("1985-04-12T23:20:50.123 +01:00", EPOCH),
        ("1985-04-12T23:20:50 UTC", EPOCH),
        ("1985-04-12T23:20:50.123GMT", EPOCH),
        ("1985-04-12T23:20:50,123Z", EPOCH),
        ("1985-04-12T23:20:50.123ZZ", EPOCH),
        ("1985-04-12T23:20:50Z ", EPOCH),
        ("   1985-04-12T23:20:50Z  ", EPOCH),
        ("1985-04-12T23", EPOCH),
        ("1985-04-12T1:2:3Z", EPOCH),
        ("2023-01-05T10:00:00.Z", EPOCH),
        ("19850412T232050Z", EPOCH),
        ("0000-01-01T00:00:00+01:00", EPOCH),
        ("9999-12-31T23:00:00-01:00", EPOCH),
        ("-000001-01-01T00:00:00Z", EPOCH),
        ("+010000-01-01T00:00:00Z", EPOCH),
        ("12345", EPOCH),
        ("garbage", EPOCH),
        ("", EPOCH),
    ];

    #[test]
    fn normalize_matches_the_reference() {
        let mismatches: Vec<String> = REFERENCE_NORMALIZATIONS
            .iter()
            .filter_map(|&(input, expected)| {
                let got = Datetime::normalize(input);
                (got != expected).then(|| format!("{input:?}: got {got}, reference {expected}"))
            })
            .collect();
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }

    #[test]
    fn normalized_values_are_strictly_valid() {
        for &(input, _) in REFERENCE_NORMALIZATIONS {
            let normalized = Datetime::normalize(input);
            let reparsed = Datetime::parse(&normalized).unwrap();
            assert_eq!(reparsed.to_normalized_string(), normalized, "{input:?}");
        }
    }

    #[test]
    fn parse_lenient_says_what_failed() {
        let err = Datetime::parse_lenient("garbage").unwrap_err();
        assert_eq!(err.kind(), SyntaxKind::Datetime);
        assert_eq!(
            Datetime::parse_lenient("1985-04-12T23:20:50").unwrap(),
            Datetime::parse("1985-04-12T23:20:50Z").unwrap().to_utc()
        );
    }
}
