//! What a projection can fail with.

use crate::types::IndexError;

/// Why a projection stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A lookup is not answered yet: the SDK asks the host and the projection runs again next
    /// round. Produced by [`crate::Context`]; just propagate it with `?`.
    Pending,
    /// The record does not match its lexicon: counted, skipped, acknowledged.
    InvalidRecord(String),
    /// The plugin does not handle this kind of operation: counted, skipped, acknowledged.
    Unsupported(String),
    /// A bug: the operation is parked for a replay after an upgrade.
    Internal(String),
}

impl Error {
    /// An [`Error::InvalidRecord`] from anything printable.
    pub fn invalid(reason: impl std::fmt::Display) -> Self {
        Self::InvalidRecord(reason.to_string())
    }

    /// The contract's error, or `None` for [`Error::Pending`].
    pub fn into_index_error(self) -> Option<IndexError> {
        match self {
            Error::Pending => None,
            Error::InvalidRecord(reason) => Some(IndexError::InvalidRecord(reason)),
            Error::Unsupported(reason) => Some(IndexError::Unsupported(reason)),
            Error::Internal(reason) => Some(IndexError::Internal(reason)),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Pending => f.write_str("waiting for lookups"),
            Error::InvalidRecord(reason) => write!(f, "invalid record: {reason}"),
            Error::Unsupported(reason) => write!(f, "unsupported: {reason}"),
            Error::Internal(reason) => write!(f, "internal: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
