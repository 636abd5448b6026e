//! Sluice's Postgres store.
//!
//! Sluice writes the reference AppView's schema (bluesky-social/atproto,
//! `packages/bsky/src/data-plane/server/db/`), so that the reference dataplane and API can serve
//! what Sluice indexed. The schema lives in the workspace's `migrations/` folder (its README says
//! where each table comes from); this crate embeds those migrations and runs them.
//!
//! - [`StoreConfig`] / [`SchemaName`]: which database and which Postgres schema.
//! - [`Store`]: a connection pool whose every connection has `search_path = "<schema>", public`
//!   (the reference's own setting: tables in the schema, the `pg_trgm` extension in `public`), the
//!   schema being created if missing; [`Store::migrate`] applies the embedded migrations.
//! - `TestDb` (feature `test-util`): a fresh throwaway schema per test, dropped afterwards.

mod config;
mod error;
mod nodelay;
mod store;
#[cfg(any(test, feature = "test-util"))]
mod testing;

pub use config::{SchemaName, StoreConfig};
pub use error::StoreError;
pub use store::{MIGRATOR, Store};
#[cfg(any(test, feature = "test-util"))]
pub use testing::{DEFAULT_DATABASE_URL, TestDb, database_url};

/// The connection pool type the store hands out.
pub use sqlx::PgPool;
