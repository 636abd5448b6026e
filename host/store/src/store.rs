//! The connection pool on one schema, and the migrations.

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgPool};

use crate::{SchemaName, StoreConfig, StoreError};

/// The workspace's `migrations/`, embedded at build time: the reference AppView's schema plus the
/// indexes Sluice adds (see `migrations/README.md`).
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// A Postgres connection pool bound to one schema.
///
/// Every connection starts with `search_path = "<schema>", public`, as the reference AppView's
/// connections do: unqualified table names resolve in the schema, and shared objects such as the
/// `pg_trgm` extension resolve in `public`. The setting is a startup parameter, so it survives
/// `RESET ALL` and needs no extra round trip; so are the configuration's `session_settings`.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    schema: SchemaName,
}

impl Store {
    /// Creates the schema if it is missing, then opens the pool (one connection eagerly, to fail
    /// early when the database is unreachable).
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let base: PgConnectOptions = config
            .database_url
            .parse()
            .map_err(StoreError::InvalidDatabaseUrl)?;
        let base = base.application_name(&config.application_name);

        create_schema_if_missing(&base, &config.schema).await?;

        let search_path = format!("{},public", config.schema.quoted());
        let options = base
            .options([("search_path", search_path)])
            .options(config.session_settings.iter().cloned());
        let tcp_port = crate::nodelay::tcp_port(&options);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .after_connect(move |_conn, _meta| {
                Box::pin(async move {
                    if let Some(port) = tcp_port {
                        match crate::nodelay::set_nodelay_for_peer_port(port) {
                            Ok(changed) => tracing::trace!(changed, "TCP_NODELAY set"),
                            Err(error) => tracing::debug!(%error, "TCP_NODELAY not set"),
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        tracing::debug!(schema = %config.schema, "connected to Postgres");
        Ok(Self {
            pool,
            schema: config.schema.clone(),
        })
    }

    /// The pool; its connections resolve unqualified names in [`Store::schema`].
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema this store reads and writes.
    pub fn schema(&self) -> &SchemaName {
        &self.schema
    }

    /// Applies the embedded migrations that the schema does not have yet; a no-op when it is up to
    /// date. Migrators of one database take turns (sqlx holds an advisory lock), and each migration
    /// runs in a transaction. Fails if an applied migration differs from its embedded version.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                schema: self.schema.to_string(),
                source,
            })?;
        tracing::info!(schema = %self.schema, "schema migrated");
        Ok(())
    }

    /// Closes every connection of the pool, waiting for the ones in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates `schema` unless it exists. Checks first, so that a role without the CREATE privilege on
/// the database can use a schema made for it; tolerates a concurrent creation.
async fn create_schema_if_missing(
    options: &PgConnectOptions,
    schema: &SchemaName,
) -> Result<(), StoreError> {
    let mut conn = PgConnection::connect_with(options)
        .await
        .map_err(StoreError::Connect)?;
    let create_error = |source| StoreError::CreateSchema {
        schema: schema.to_string(),
        source,
    };
    if !schema_exists(&mut conn, schema)
        .await
        .map_err(create_error)?
    {
        let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", schema.quoted());
        if let Err(err) = sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await {
            // Two creators racing can both pass IF NOT EXISTS; the loser gets a unique violation.
            if !schema_exists(&mut conn, schema)
                .await
                .map_err(create_error)?
            {
                return Err(create_error(err));
            }
        } else {
            tracing::info!(%schema, "created schema");
        }
    }
    conn.close().await.map_err(StoreError::Connect)
}

async fn schema_exists(conn: &mut PgConnection, schema: &SchemaName) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema.as_str())
        .fetch_one(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestDb;

    /// Tables of the reference schema that the indexer writes (a sample, for presence checks).
    const SOME_REFERENCE_TABLES: &[&str] = &[
        "record",
        "actor",
        "profile",
        "post",
        "post_agg",
        "like",
        "follow",
        "label",
        "notification",
        "kysely_migration",
    ];

    async fn tables_in(pool: &PgPool, schema: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 ORDER BY table_name",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn connections_resolve_names_in_the_configured_schema() {
        let db = TestDb::new().await;
        let (current, path): (String, String) =
            sqlx::query_as("SELECT current_schema()::text, current_setting('search_path')")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(current, db.schema());
        assert_eq!(path, format!("\"{}\",public", db.schema()));
    }

    #[tokio::test]
    async fn migrations_create_the_schema_in_the_configured_schema_only() {
        let db = TestDb::migrated().await;
        let tables = tables_in(db.pool(), db.schema()).await;
        for table in SOME_REFERENCE_TABLES {
            assert!(
                tables.iter().any(|t| t == table),
                "{table} missing: {tables:?}"
            );
        }
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(applied, MIGRATOR.iter().count() as i64);
        let in_public: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables
             WHERE table_schema = 'public' AND table_name IN ('record', 'post', '_sqlx_migrations')",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(in_public, 0, "tables leaked into public");
    }

    #[tokio::test]
    async fn migrating_again_changes_nothing() {
        let db = TestDb::migrated().await;
        let before = tables_in(db.pool(), db.schema()).await;
        // Same pool, then a second store (a fresh migrator's view) on the same schema.
        db.store().migrate().await.unwrap();
        let config = StoreConfig::new(db.database_url(), db.store().schema().clone());
        let second = Store::connect(&config).await.unwrap();
        second.migrate().await.unwrap();
        second.close().await;
        assert_eq!(tables_in(db.pool(), db.schema()).await, before);
        let kysely_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM kysely_migration")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(kysely_rows, 61);
    }

    /// Every column (with its type) and index of a schema, as sorted text.
    async fn shape_of(pool: &PgPool, schema: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
             FROM information_schema.columns WHERE table_schema = $1
             UNION ALL
             SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = $1
             ORDER BY 1",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn migrating_adopts_a_schema_that_lacks_version_specific_parts() {
        let db = TestDb::migrated().await;
        let expected = shape_of(db.pool(), db.schema()).await;
        // What a schema made by the reference's migrator (0.0.280 or divy/backfill) lacks: our
        // bookkeeping, and the parts that only the other version has.
        sqlx::raw_sql(
            r#"DROP TABLE _sqlx_migrations;
               ALTER TABLE record DROP COLUMN rev;
               ALTER TABLE actor_state DROP COLUMN "lastSeenPriorityNotifs";
               DROP TABLE draft;
               DROP INDEX like_subject_sort_at_creator_idx;
               ALTER TABLE mute DROP COLUMN "onlyReposts";
               ALTER TABLE actor DROP COLUMN "ageAssuranceAccess";
               DROP INDEX sluice_op_thread_reply_uri_idx;"#,
        )
        .execute(db.pool())
        .await
        .unwrap();
        assert_ne!(shape_of(db.pool(), db.schema()).await, expected);
        db.store().migrate().await.unwrap();
        assert_eq!(shape_of(db.pool(), db.schema()).await, expected);
    }

    #[tokio::test]
    async fn schemas_migrate_side_by_side() {
        let (a, b) = tokio::join!(TestDb::migrated(), TestDb::migrated());
        assert_ne!(a.schema(), b.schema());
        assert_eq!(
            tables_in(a.pool(), a.schema()).await,
            tables_in(b.pool(), b.schema()).await
        );
    }

    #[tokio::test]
    async fn sort_at_is_generated_from_the_earlier_timestamp() {
        let db = TestDb::migrated().await;
        sqlx::query(
            r#"INSERT INTO post (uri, cid, creator, text, "createdAt", "indexedAt")
               VALUES ('at://did:plc:a/app.bsky.feed.post/1', 'c', 'did:plc:a', 'hi',
                       '2024-05-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z')"#,
        )
        .execute(db.pool())
        .await
        .unwrap();
        let sort_at: String = sqlx::query_scalar(r#"SELECT "sortAt" FROM post"#)
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(sort_at, "2024-04-01T00:00:00.000Z");
    }

    #[tokio::test]
    async fn kysely_bookkeeping_lists_reference_migrations_in_order() {
        let db = TestDb::migrated().await;
        let rows: Vec<(String, String)> =
            sqlx::query_as(r#"SELECT name::text, "timestamp"::text FROM kysely_migration"#)
                .fetch_all(db.pool())
                .await
                .unwrap();
        let mut by_name = rows.clone();
        by_name.sort_by(|a, b| a.0.cmp(&b.0));
        let mut by_time = rows;
        by_time.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(by_name, by_time, "timestamps must increase in name order");
        assert_eq!(
            by_name.first().map(|r| r.0.as_str()),
            Some("_20230309T045948368Z")
        );
        let lock: (String, i32) =
            sqlx::query_as("SELECT id::text, is_locked FROM kysely_migration_lock")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(lock, ("migration_lock".to_owned(), 0));
    }

    #[tokio::test]
    async fn trigram_indexes_use_the_extension_operator_class() {
        let db = TestDb::migrated().await;
        let defs: Vec<String> = sqlx::query_scalar(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE '%tgrm%'
             ORDER BY indexname",
        )
        .bind(db.schema())
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(defs.len(), 3, "{defs:?}");
        for def in &defs {
            assert!(
                def.contains("USING gist") && def.contains("gist_trgm_ops"),
                "{def}"
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_connect_error() {
        let schema = SchemaName::new("t_unreachable").unwrap();
        let mut config = StoreConfig::new("postgres://postgres@127.0.0.1:1/postgres", schema);
        config.acquire_timeout = std::time::Duration::from_secs(2);
        let err = Store::connect(&config).await.unwrap_err();
        assert!(matches!(err, StoreError::Connect(_)), "{err:?}");
    }
}
