//! The HTTP client of identity lookups, and reading bodies with a size cap.

use std::time::Duration;

use crate::tls::install_crypto_provider;

/// Largest DID document or `atproto-did` body read; anything longer is refused.
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// An HTTP client for identity lookups: `timeout` per request, at most 5 redirects, TLS through
/// the ring provider (installed here if not yet).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("response body larger than {MAX_BODY} bytes")]
    TooLarge,
}

/// Reads a response body, refusing one over [`MAX_BODY`] without buffering it whole.
pub(crate) async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
