//! What autovacuum would do, for a server that runs without it.
//!
//! A deployment's Postgres runs autovacuum; a CI server may not (`autovacuum = off`). Without it
//! the growing tables are never analyzed — the planner keeps the plans it made for empty
//! tables, sequential scans included — and the dead tuples of rolled-back attempts are never
//! reclaimed, and the indexing rate falls as the tables grow. When the server's autovacuum is
//! off, this task does what it would do with the default settings, on the bench's schema only:
//! every `autovacuum_naptime` (1 min), `VACUUM` the tables with more than 50 + 20 % dead tuples
//! or 1,000 + 20 % inserts since the last vacuum, `ANALYZE` those with more than 50 + 10 %
//! changes since the last analyze, one table at a time, throttled as autovacuum is
//! (`vacuum_cost_delay` 2 ms, `vacuum_cost_limit` 200).

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// What the task did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Maintenance {
    /// Tables vacuumed.
    pub(crate) vacuums: u64,
    /// Tables analyzed.
    pub(crate) analyzes: u64,
    /// Time spent vacuuming and analyzing.
    pub(crate) busy: Duration,
}

/// Whether the server runs autovacuum.
pub(crate) async fn server_autovacuum(pool: &PgPool) -> anyhow::Result<bool> {
    let setting: String = sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(pool)
        .await?;
    Ok(setting == "on")
}

/// Runs until `stop`, every `naptime`; returns what it did.
pub(crate) async fn run(
    database_url: String,
    schema: String,
    naptime: Duration,
    stop: CancellationToken,
) -> anyhow::Result<Maintenance> {
    let mut conn = PgConnection::connect(&database_url).await?;
    sqlx::query("SET vacuum_cost_delay = 2")
        .execute(&mut conn)
        .await?;
    sqlx::query("SET vacuum_cost_limit = 200")
        .execute(&mut conn)
        .await?;
    let mut done = Maintenance::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(naptime) => {}
        }
        let due: Vec<(String, bool, bool)> = sqlx::query_as(
            "SELECT format('%I.%I', s.schemaname, s.relname),
                    s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)
                      OR s.n_ins_since_vacuum > 1000 + 0.2 * greatest(c.reltuples, 0),
                    s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
             FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
             WHERE s.schemaname = $1",
        )
        .bind(&schema)
        .fetch_all(&mut conn)
        .await?;
        for (table, vacuum, analyze) in due {
            if stop.is_cancelled() {
                break;
            }
            let sql = match (vacuum, analyze) {
                (true, true) => format!("VACUUM (ANALYZE) {table}"),
                (true, false) => format!("VACUUM {table}"),
                (false, true) => format!("ANALYZE {table}"),
                (false, false) => continue,
            };
            let started = Instant::now();
            sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await?;
            done.busy += started.elapsed();
            done.vacuums += u64::from(vacuum);
            done.analyzes += u64::from(analyze);
            tracing::debug!(table, vacuum, analyze, "maintenance");
        }
    }
    conn.close().await?;
    Ok(done)
}
