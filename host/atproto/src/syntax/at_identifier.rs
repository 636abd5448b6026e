//! AT identifiers: an account named either by its DID or by its handle.
//!
//! A string starting with `did:` must be a valid DID (it is never read as a handle); anything
//! else must be a valid handle.

use super::did::Did;
use super::error::{SyntaxError, SyntaxKind};
use super::handle::Handle;
use super::string_conversions;

/// A DID or a handle (the handle normalised to lower case).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AtIdentifier {
    /// The account's DID.
    Did(Did),
    /// The account's handle.
    Handle(Handle),
}

impl AtIdentifier {
    /// Parses a DID (when the input starts with `did:`) or else a handle.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        if s.starts_with("did:") {
            Did::parse(s)
                .map(Self::Did)
                .map_err(|e| SyntaxError::new(SyntaxKind::AtIdentifier, s, did_reason(&e)))
        } else {
            Handle::parse(s)
                .map(Self::Handle)
                .map_err(|e| SyntaxError::new(SyntaxKind::AtIdentifier, s, handle_reason(&e)))
        }
    }

    /// The identifier as a string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Did(did) => did.as_str(),
            Self::Handle(handle) => handle.as_str(),
        }
    }

    /// True when this is a DID.
    pub fn is_did(&self) -> bool {
        matches!(self, Self::Did(_))
    }

    /// True when this is a handle.
    pub fn is_handle(&self) -> bool {
        matches!(self, Self::Handle(_))
    }

    /// The DID, if this is one.
    pub fn as_did(&self) -> Option<&Did> {
        match self {
            Self::Did(did) => Some(did),
            Self::Handle(_) => None,
        }
    }

    /// The handle, if this is one.
    pub fn as_handle(&self) -> Option<&Handle> {
        match self {
            Self::Handle(handle) => Some(handle),
            Self::Did(_) => None,
        }
    }
}

impl TryFrom<String> for AtIdentifier {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.starts_with("did:") {
            Did::try_from(s)
                .map(Self::Did)
                .map_err(|e| SyntaxError::new(SyntaxKind::AtIdentifier, e.input(), did_reason(&e)))
        } else {
            Handle::try_from(s).map(Self::Handle).map_err(|e| {
                SyntaxError::new(SyntaxKind::AtIdentifier, e.input(), handle_reason(&e))
            })
        }
    }
}

impl From<Did> for AtIdentifier {
    fn from(did: Did) -> Self {
        Self::Did(did)
    }
}

impl From<Handle> for AtIdentifier {
    fn from(handle: Handle) -> Self {
        Self::Handle(handle)
    }
}

impl std::fmt::Debug for AtIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Did(did) => did.fmt(f),
            Self::Handle(handle) => handle.fmt(f),
        }
    }
}

string_conversions!(AtIdentifier, "a DID or handle string");

fn did_reason(e: &SyntaxError) -> String {
    format!("not a valid DID: {}", e.reason())
}

fn handle_reason(e: &SyntaxError) -> String {
    format!("not a valid handle: {}", e.reason())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_prefix_decides_the_kind() {
        let did = AtIdentifier::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").unwrap();
        assert!(did.is_did() && !did.is_handle());
        assert_eq!(
            did.as_did().unwrap().as_str(),
            "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
        );

        let handle = AtIdentifier::parse("Alice.Test").unwrap();
        assert!(handle.is_handle());
        assert_eq!(handle.as_str(), "alice.test");
        assert_eq!(handle.to_string(), "alice.test");

        // Starts with "did:" but is not a DID: never falls back to a handle.
        let err = AtIdentifier::parse("did:thing.test").unwrap_err();
        assert_eq!(err.kind(), SyntaxKind::AtIdentifier);
        assert!(err.reason().starts_with("not a valid DID"), "{err}");
    }

    #[test]
    fn owned_parse_agrees_with_borrowed() {
        for s in ["did:web:example.com", "John.Test", "did:x", "john"] {
            let borrowed = AtIdentifier::parse(s);
            let owned = AtIdentifier::try_from(s.to_owned());
            assert_eq!(borrowed, owned, "{s}");
        }
    }
}
