//! Identity: DID resolution and handle verification (being written).
