//! Test helpers: a fresh, throwaway schema per test (feature `test-util`).
//!
//! Tests run in parallel (nextest runs each in its own process), so each one gets its own schema
//! in the shared database and drops it at the end. Schema names are `t_` followed by random
//! lowercase letters: no digits, so that the reference AppView (`@atproto/bsky`, which accepts only
//! `[A-Za-z_]+`) can open them too.

use std::time::Duration;

use rand::Rng;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection, PgPool};

use crate::{SchemaName, Store, StoreConfig};

/// The database tests use when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long dropping a test schema may wait for locks before giving up (and leaving it behind).
const DROP_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The database for tests: `DATABASE_URL`, else [`DEFAULT_DATABASE_URL`].
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// A [`Store`] on a fresh schema `t_<random letters>`, dropped (with everything in it) when the
/// `TestDb` is dropped.
///
/// The helpers panic with a clear message when Postgres is unreachable: they are for tests.
#[derive(Debug)]
pub struct TestDb {
    store: Store,
    database_url: String,
}

impl TestDb {
    /// A fresh, empty schema (no tables).
    ///
    /// # Panics
    /// If Postgres at [`database_url`] cannot be reached or the schema cannot be created.
    pub async fn new() -> Self {
        let database_url = database_url();
        let schema = SchemaName::new(random_schema_name())
            .unwrap_or_else(|err| panic!("generated schema name: {err}"));
        let mut config = StoreConfig::new(database_url.clone(), schema);
        config.max_connections = 5;
        config.application_name = "sluice-test".to_owned();
        let store = Store::connect(&config).await.unwrap_or_else(|err| {
            panic!("test database at {database_url} (set DATABASE_URL): {err:?}")
        });
        Self {
            store,
            database_url,
        }
    }

    /// A fresh schema with every migration applied.
    ///
    /// # Panics
    /// As [`TestDb::new`], or if a migration fails.
    pub async fn migrated() -> Self {
        let db = Self::new().await;
        db.store
            .migrate()
            .await
            .unwrap_or_else(|err| panic!("migrating {}: {err:?}", db.store.schema()));
        db
    }

    /// The store on the test schema.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store's pool.
    pub fn pool(&self) -> &PgPool {
        self.store.pool()
    }

    /// The test schema's name.
    pub fn schema(&self) -> &str {
        self.store.schema().as_str()
    }

    /// The URL of the database holding the schema.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be single-threaded: drop the schema from a
        // separate thread with its own small runtime and connection.
        let url = self.database_url.clone();
        let schema = self.store.schema().clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?;
            runtime.block_on(drop_schema(&url, &schema))
        })
        .join();
        // Test output, where a tracing subscriber is rarely installed: say it on stderr.
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("test schema {} left behind: {err}", self.store.schema()),
            Err(_) => eprintln!(
                "test schema {} left behind (drop panicked)",
                self.store.schema()
            ),
        }
    }
}

async fn drop_schema(url: &str, schema: &SchemaName) -> Result<(), String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|err| err.to_string())?;
    let lock_timeout = format!("SET lock_timeout = '{}ms'", DROP_LOCK_TIMEOUT.as_millis());
    sqlx::query(AssertSqlSafe(lock_timeout))
        .execute(&mut conn)
        .await
        .map_err(|err| err.to_string())?;
    let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.quoted());
    sqlx::query(AssertSqlSafe(drop))
        .execute(&mut conn)
        .await
        .map_err(|err| err.to_string())?;
    conn.close().await.map_err(|err| err.to_string())
}

fn random_schema_name() -> String {
    let mut rng = rand::rng();
    let letters: String = (0..16)
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect();
    format!("t_{letters}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_are_valid_letters_only_and_distinct() {
        let a = random_schema_name();
        let b = random_schema_name();
        assert_ne!(a, b);
        for name in [&a, &b] {
            SchemaName::new(name.as_str()).unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn dropping_a_test_db_drops_its_schema() {
        let db = TestDb::new().await;
        let schema = db.schema().to_owned();
        let url = db.database_url().to_owned();
        drop(db);
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(&schema)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(!exists, "schema {schema} still exists");
    }
}
