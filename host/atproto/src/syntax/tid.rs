//! Timestamp identifiers (TIDs): 13-character, sortable record keys and revisions.
//!
//! A TID is a 64-bit integer written in base32-sortable (`234567abcdefghijklmnopqrstuvwxyz`,
//! most significant digit first): the top bit is zero, then 53 bits of microseconds since the
//! UNIX epoch, then a 10-bit clock identifier (<https://atproto.com/specs/tid>). The syntax
//! itself only requires the value to fit in 64 bits (first character `2`–`7` or `a`–`j`);
//! generated TIDs always have the top bit clear. Because the
//! alphabet is in ASCII order, comparing TID strings compares their integers; [`Tid`]'s `Ord`
//! is that order.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::error::{SyntaxError, SyntaxKind};
use super::record_key::RecordKey;
use super::string_conversions;

/// The base32-sortable alphabet, in value order.
const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// Characters in a TID.
const LEN: usize = 13;

/// Bits of the clock identifier.
const CLOCK_ID_BITS: u32 = 10;

/// Mask of the clock identifier.
const CLOCK_ID_MASK: u64 = (1 << CLOCK_ID_BITS) - 1;

/// Mask of the timestamp (53 bits of microseconds).
const MICROS_MASK: u64 = (1 << 53) - 1;

/// A syntactically valid TID. `Copy`, ordered by value (which is also string order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid([u8; LEN]);

impl Tid {
    /// Parses and validates a TID.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        let fail = |reason| SyntaxError::new(SyntaxKind::Tid, s, reason);
        let bytes: [u8; LEN] = s
            .as_bytes()
            .try_into()
            .map_err(|_| fail("must be 13 characters"))?;
        if !bytes.iter().all(|&b| digit_value(b).is_some()) {
            return Err(fail(
                "characters must be from the base32-sortable alphabet (2-7, a-z; lower case)",
            ));
        }
        if !matches!(bytes[0], b'2'..=b'7' | b'a'..=b'j') {
            return Err(fail(
                "first character must be one of 234567abcdefghij (the value must fit in 64 bits)",
            ));
        }
        Ok(Self(bytes))
    }

    /// The TID of a timestamp (microseconds since the UNIX epoch) and a clock identifier.
    ///
    /// Only the low 53 bits of `micros` and the low 10 bits of `clock_id` are used (53 bits of
    /// microseconds reach the year 2255).
    pub fn from_parts(micros: u64, clock_id: u16) -> Self {
        Self::from_integer(
            ((micros & MICROS_MASK) << CLOCK_ID_BITS) | (u64::from(clock_id) & CLOCK_ID_MASK),
        )
    }

    /// The TID of a 64-bit integer (the top bit is cleared).
    pub fn from_integer(value: u64) -> Self {
        let mut value = value & (u64::MAX >> 1);
        let mut bytes = [ALPHABET[0]; LEN];
        for byte in bytes.iter_mut().rev() {
            // `value & 31` is below 32: always a valid index.
            *byte = ALPHABET.get((value & 31) as usize).copied().unwrap_or(b'2');
            value >>= 5;
        }
        Self(bytes)
    }

    /// A new TID for the current time, with this process's random clock identifier.
    ///
    /// Strictly increasing within the process, across threads: when the clock has not moved
    /// on (or went backwards), the timestamp is bumped past the last one handed out.
    pub fn now() -> Self {
        static LAST_MICROS: AtomicU64 = AtomicU64::new(0);
        let now = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
        let mut last = LAST_MICROS.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            match LAST_MICROS.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Self::from_parts(next, process_clock_id()),
                Err(actual) => last = actual,
            }
        }
    }

    /// The TID as a string.
    pub fn as_str(&self) -> &str {
        // Always ASCII: built only from the alphabet.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The 64-bit integer this TID encodes.
    pub fn to_integer(&self) -> u64 {
        self.0.iter().fold(0u64, |acc, &b| {
            (acc << 5) | u64::from(digit_value(b).unwrap_or(0))
        })
    }

    /// The timestamp part: microseconds since the UNIX epoch.
    pub fn timestamp_micros(&self) -> u64 {
        (self.to_integer() >> CLOCK_ID_BITS) & MICROS_MASK
    }

    /// The timestamp part as a UTC datetime.
    pub fn timestamp(&self) -> DateTime<Utc> {
        // 53 bits of microseconds are well inside chrono's range.
        i64::try_from(self.timestamp_micros())
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .unwrap_or_default()
    }

    /// The clock identifier part (0 to 1023).
    pub fn clock_id(&self) -> u16 {
        // Masked to 10 bits: always fits.
        u16::try_from(self.to_integer() & CLOCK_ID_MASK).unwrap_or(0)
    }

    /// This TID as a record key (every TID is one).
    pub fn to_record_key(&self) -> RecordKey {
        RecordKey::from_valid(self.as_str().to_owned())
    }
}

impl TryFrom<String> for Tid {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Tid> for RecordKey {
    fn from(tid: Tid) -> Self {
        tid.to_record_key()
    }
}

impl std::fmt::Debug for Tid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tid({:?})", self.as_str())
    }
}

string_conversions!(Tid, "a TID string");

/// The value of one base32-sortable digit.
fn digit_value(b: u8) -> Option<u8> {
    match b {
        b'2'..=b'7' => Some(b - b'2'),
        b'a'..=b'z' => Some(b - b'a' + 6),
        _ => None,
    }
}

/// This process's clock identifier, chosen at random once.
fn process_clock_id() -> u16 {
    static CLOCK_ID: OnceLock<u16> = OnceLock::new();
    *CLOCK_ID.get_or_init(|| rand::random::<u16>() & (CLOCK_ID_MASK as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip() {
        let micros = 1_700_000_000_123_456;
        let tid = Tid::from_parts(micros, 1023);
        assert_eq!(tid.timestamp_micros(), micros);
        assert_eq!(tid.clock_id(), 1023);
        assert_eq!(tid.timestamp().timestamp_micros(), micros as i64);
        let reparsed = Tid::parse(tid.as_str()).unwrap();
        assert_eq!(reparsed, tid);
        assert_eq!(Tid::from_integer(tid.to_integer()), tid);
    }

    #[test]
    fn known_values() {
        assert_eq!(Tid::from_integer(0).as_str(), "2222222222222");
        assert_eq!(Tid::from_integer(u64::MAX).as_str(), "bzzzzzzzzzzzz");
        // Valid syntax allows the top bit (first character up to `j`): all 64 bits are read.
        assert_eq!(Tid::parse("jzzzzzzzzzzzz").unwrap().to_integer(), u64::MAX);
        assert_eq!(Tid::parse("2222222222223").unwrap().to_integer(), 1);
        assert_eq!(Tid::parse("2222222222232").unwrap().to_integer(), 32);
    }

    #[test]
    fn string_order_is_value_order() {
        let small = Tid::from_parts(1_000, 5);
        let later_clock = Tid::from_parts(1_000, 6);
        let later_time = Tid::from_parts(1_001, 0);
        assert!(small < later_clock && later_clock < later_time);
        assert!(
            small.as_str() < later_clock.as_str() && later_clock.as_str() < later_time.as_str()
        );
    }

    #[test]
    fn now_is_strictly_increasing() {
        let mut previous = Tid::now();
        for _ in 0..10_000 {
            let next = Tid::now();
            assert!(next > previous, "{next:?} after {previous:?}");
            previous = next;
        }
        let age = Utc::now() - previous.timestamp();
        assert!(
            age.num_seconds().abs() < 60,
            "TID timestamp is the current time"
        );
    }

    #[test]
    fn now_is_strictly_increasing_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2_000).map(|_| Tid::now()).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<Tid> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "no TID was handed out twice");
    }

    #[test]
    fn errors_say_why() {
        assert_eq!(
            Tid::parse("222").unwrap_err().reason(),
            "must be 13 characters"
        );
        assert!(
            Tid::parse("3JZFCIJPJ2Z2A")
                .unwrap_err()
                .reason()
                .contains("lower case")
        );
        assert!(
            Tid::parse("kjzfcijpj2z2a")
                .unwrap_err()
                .reason()
                .contains("64 bits")
        );
    }

    #[test]
    fn is_a_record_key() {
        let tid = Tid::parse("3jzfcijpj2z2a").unwrap();
        assert_eq!(RecordKey::from(tid).as_str(), "3jzfcijpj2z2a");
        assert_eq!(serde_json::to_string(&tid).unwrap(), r#""3jzfcijpj2z2a""#);
        assert_eq!(
            serde_json::from_str::<Tid>(r#""3jzfcijpj2z2a""#).unwrap(),
            tid
        );
    }
}
