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
    sqlx::query_scalar(
        "SELECT DISTINCT waiter_uri FROM sluice_await WHERE awaited_uri = ANY($1) ORDER BY 1",
    )
    .bind(awaited)
    .fetch_all(conn)
    .await
}

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
