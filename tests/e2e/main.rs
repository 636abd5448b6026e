//! End-to-end tests: Sluice next to real PLC, PDS and reference AppView processes.
//!
//! The processes come from the realnet harness (`shared/realnet`, installed into `.cache/realnet`
//! by `scripts/realnet-setup`, which these tests call). They need Postgres (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and Node.js with npm for the first install.
//! nextest runs them one at a time (`.config/nextest.toml`, group `end-to-end`).
//!
//! One module per area; shared helpers live in [`support`].

mod backfill;
mod compose;
mod crash;
mod devnet_interop;
mod ingest;
mod pipeline;
mod schema;
mod support;
