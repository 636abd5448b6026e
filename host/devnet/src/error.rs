//! The devnet's error type.

use sluice_atproto::mst::MstError;

use crate::content::ContentError;

/// Why the devnet could not generate or serve something.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// No account has this index or DID.
    #[error("no such repo: {0}")]
    NoSuchRepo(String),
    /// A record could not be generated.
    #[error(transparent)]
    Content(Box<ContentError>),
    /// The repo's tree could not be edited (a bug: the plan only writes what fits).
    #[error("repo tree: {0}")]
    Mst(Box<MstError>),
    /// A bad request parameter.
    #[error("{0}")]
    BadRequest(String),
    /// Something that should not happen (a thread panicked, a cache lost an entry).
    #[error("internal error: {0}")]
    Internal(String),
    /// Writing a file or a socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

// Boxed: the wrapped errors carry CIDs and keys, and `DevnetError` travels through every result.
impl From<ContentError> for DevnetError {
    fn from(error: ContentError) -> Self {
        Self::Content(Box::new(error))
    }
}

impl From<MstError> for DevnetError {
    fn from(error: MstError) -> Self {
        Self::Mst(Box::new(error))
    }
}
