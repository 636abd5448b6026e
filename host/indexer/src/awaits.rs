//! Awaits (`sluice_await`): records a plugin's result depended on but could not see, and the
//! operations to re-run when they arrive.
//!
//! Lost wake-ups are what can go wrong: batch A writes a parent while batch B (another worker,
//! another indexer) indexes its reply without seeing it, and each commits without seeing the
//! other's await or record. So every batch takes one advisory lock ([`lock`]), then looks for
//! waiters of the records it wrote and re-checks its own new awaits, and holds the lock until
//! it commits: of two such batches, the later one sees the earlier one's commit. The batch does
//! the same once before it takes the lock, which finds nearly all of the work while batches run
//! beside each other, so what runs under the lock is two lookups and, rarely, a replay.

use std::collections::HashMap;

use sqlx::PgConnection;

/// The advisory lock serialising the awaits step of batches ("sluice awaits").
pub const AWAITS_LOCK: i64 = 0x736c_7569_6365_6177;

/// Takes the awaits lock until the end of the transaction.
pub async fn lock(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AWAITS_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces the awaits of `waiters` with `awaits` (waiter, awaited). Awaits a waiter keeps
/// stay as they are (a replay usually awaits what it awaited before); new ones are stamped
/// `since`.
pub async fn replace(
    conn: &mut PgConnection,
    waiters: &[String],
    awaits: &[(String, String)],
    since: &str,
) -> Result<(), sqlx::Error> {
    let mut sorted: Vec<&(String, String)> = awaits.iter().collect();
    sorted.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    sorted.dedup();
    let awaited: Vec<&str> = sorted.iter().map(|(_, a)| a.as_str()).collect();
    let waiter: Vec<&str> = sorted.iter().map(|(w, _)| w.as_str()).collect();
    if !waiters.is_empty() {
        sqlx::query(
            "DELETE FROM sluice_await AS s WHERE s.waiter_uri = ANY($1)
             AND NOT EXISTS (SELECT 1 FROM UNNEST($2::text[], $3::text[]) AS u(a, w)
                             WHERE u.a = s.awaited_uri AND u.w = s.waiter_uri)",
        )
        .bind(waiters)
        .bind(&awaited)
        .bind(&waiter)
        .execute(&mut *conn)
        .await?;
    }
    if sorted.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO sluice_await (awaited_uri, waiter_uri, since)
         SELECT a, w, $3 FROM UNNEST($1::text[], $2::text[]) AS u(a, w)
         ON CONFLICT DO NOTHING",
    )
    .bind(awaited)
    .bind(waiter)
    .bind(since)
    .execute(conn)
    .await?;
    Ok(())
}

/// The waiters of any of `awaited`, each once, sorted.
pub async fn waiters_of(
    conn: &mut PgConnection,
    awaited: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    if awaited.is_empty() {
        return Ok(Vec::new());
    }
    // Sorted and deduplicated here: asked for in SQL, they let the planner prefer walking the
    // waiter index in order while the table has no statistics (see `pipeline::SESSION_SETTINGS`).
    let mut waiters: Vec<String> = sqlx::query_scalar(WAITERS_OF)
        .bind(awaited)
        .fetch_all(conn)
        .await?;
    waiters.sort_unstable();
    waiters.dedup();
    Ok(waiters)
}

/// The statement of [`waiters_of`].
const WAITERS_OF: &str = "SELECT waiter_uri FROM sluice_await WHERE awaited_uri = ANY($1)";

/// The CIDs of those of `uris` that are stored and not deleted.
pub async fn present(
    conn: &mut PgConnection,
    uris: &[String],
) -> Result<HashMap<String, String>, sqlx::Error> {
    if uris.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT uri, cid FROM record WHERE uri = ANY($1) AND json <> ''")
            .bind(uris)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use sluice_store::{SchemaName, Store, StoreConfig, TestDb};

    use crate::pipeline::indexer_store_config;

    /// The plan of [`super::waiters_of`] for `awaited`, each line cut short (the array literal of
    /// a custom plan is long).
    async fn plan_of_waiters_of(pool: &sqlx::PgPool, awaited: &[String]) -> String {
        let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN {}",
            super::WAITERS_OF
        )))
        .bind(awaited)
        .fetch_all(pool)
        .await
        .unwrap();
        lines
            .iter()
            .map(|line| line.chars().take(100).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn the_indexer_finds_waiters_by_index_before_the_table_has_statistics() {
        let db = TestDb::migrated().await;
        // A young table: many rows, never analyzed (as in the first minute of a backfill). The
        // server's autovacuum must not analyze it while the test runs.
        sqlx::query("ALTER TABLE sluice_await SET (autovacuum_enabled = false)")
            .execute(db.pool())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO sluice_await (awaited_uri, waiter_uri, since)
             SELECT 'at://did:plc:a/app.bsky.feed.threadgate/' || i,
                    'at://did:plc:a/app.bsky.feed.post/' || i, '2024-01-01T00:00:00.000Z'
             FROM generate_series(1, 20000) AS i",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let awaited: Vec<String> = (0..1000)
            .map(|i| format!("at://did:plc:a/app.bsky.feed.threadgate/{}", i * 7))
            .collect();

        // Without the indexer's settings: the whole table, every row compared with every value
        // (the reason for the settings).
        let plain = plan_of_waiters_of(db.pool(), &awaited).await;
        assert!(plain.contains("Seq Scan on sluice_await"), "{plain}");

        let schema = SchemaName::new(db.schema()).unwrap();
        let config = indexer_store_config(&StoreConfig::new(db.database_url(), schema));
        let store = Store::connect(&config).await.unwrap();
        let indexer = plan_of_waiters_of(store.pool(), &awaited).await;
        let mut conn = store.pool().acquire().await.unwrap();
        let found = super::waiters_of(&mut conn, &awaited).await.unwrap();
        drop(conn);
        store.close().await;
        // The values are the index's condition, not a filter over every row.
        assert!(
            indexer.contains("Index Cond: ((awaited_uri)::text = ANY"),
            "{indexer}"
        );
        assert!(!indexer.contains("Filter"), "{indexer}");
        assert!(!indexer.contains("Seq Scan"), "{indexer}");
        // Each waiter once, sorted.
        let mut expected: Vec<String> = (1..1000)
            .map(|i| format!("at://did:plc:a/app.bsky.feed.post/{}", i * 7))
            .collect();
        expected.sort();
        assert_eq!(found, expected);
    }
}
