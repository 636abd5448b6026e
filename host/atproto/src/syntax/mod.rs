//! AT Protocol identifier syntax: strict, allocation-light, panic-free parsers.
//!
//! Every identifier kind is a small owned type that can only hold a valid value: parse it with
//! `FromStr` / `TryFrom<&str>` / `TryFrom<String>` (or the type's `parse`), read it back with
//! `as_str()` or `Display`, and (de)serialize it with serde as a plain string (deserializing
//! validates). Every failure is one [`SyntaxError`] naming the kind, the input and the reason.
//!
//! | type | what | notes |
//! | --- | --- | --- |
//! | [`Did`] | `did:method:identifier` | generic W3C syntax; `did:plc` / `did:web` recognised |
//! | [`Handle`] | DNS-style account handle | stored lower-cased (normalised) |
//! | [`AtIdentifier`] | a DID or a handle | |
//! | [`Nsid`] | `com.example.recordName` | authority and name parts |
//! | [`AtUri`] | `at://authority[/collection[/rkey]]` | no query, no fragment |
//! | [`RecordKey`] | record key | |
//! | [`Tid`] | 13-character timestamp identifier | `Copy`; generation with [`Tid::now`] |
//! | [`Datetime`] | RFC 3339 ∩ ISO 8601 datetime | strict parse; [`Datetime::normalize`] for columns |
//! | [`Language`] | BCP 47 language tag | well-formed; [`Language::parse_strict`] for validity |
//! | [`Uri`] | any URI (Lexicon `uri` format) | |
//!
//! CIDs have only a string syntax check here ([`is_valid_cid_syntax`]); decoding a CID is
//! [`crate::Cid`]'s job.
//!
//! The rules follow the atproto specifications and the cross-implementation vectors in
//! `atproto-interop-tests` (see the `interop_tests` module for where they lean when the
//! reference implementations disagree).

mod at_identifier;
mod at_uri;
mod cid;
mod datetime;
mod did;
mod error;
mod handle;
mod language;
mod nsid;
mod record_key;
mod tid;
mod uri;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod property_tests;

pub use at_identifier::AtIdentifier;
pub use at_uri::AtUri;
pub use cid::{is_valid_cid_syntax, validate_cid_syntax};
pub use datetime::Datetime;
pub use did::{Did, DidMethod};
pub use error::{SyntaxError, SyntaxKind};
pub use handle::Handle;
pub use language::Language;
pub use nsid::Nsid;
pub use record_key::RecordKey;
pub use tid::Tid;
pub use uri::Uri;

/// Implements the string conveniences shared by every identifier type: `FromStr`,
/// `TryFrom<&str>`, `Display`, `AsRef<str>`, comparison with `str`, and serde as a string.
///
/// The type must provide `fn parse(&str) -> Result<Self, SyntaxError>`,
/// `TryFrom<String, Error = SyntaxError>` and `fn as_str(&self) -> &str`.
macro_rules! string_conversions {
    ($ty:ident, $expecting:literal) => {
        impl ::std::str::FromStr for $ty {
            type Err = $crate::syntax::SyntaxError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $ty {
            type Error = $crate::syntax::SyntaxError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::cmp::PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl ::std::cmp::PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                struct Visitor;

                impl ::serde::de::Visitor<'_> for Visitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        $ty::parse(v).map_err(E::custom)
                    }

                    fn visit_string<E: ::serde::de::Error>(self, v: String) -> Result<$ty, E> {
                        $ty::try_from(v).map_err(E::custom)
                    }
                }

                deserializer.deserialize_string(Visitor)
            }
        }
    };
}

pub(crate) use string_conversions;
