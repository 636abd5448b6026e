//! The limit: the rows the indexer wrote, loaded into a fresh schema with the same migrations
//! (same indexes, constraints and generated columns) by `COPY … FROM STDIN (FORMAT binary)`, all
//! tables in one transaction, as a bulk loader would.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::TryStreamExt as _;
use sqlx::{AssertSqlSafe, PgPool};

/// What the load did.
#[derive(Debug)]
pub(crate) struct Copied {
    /// Tables loaded.
    pub(crate) tables: usize,
    /// Rows loaded.
    pub(crate) rows: u64,
    /// Bytes of `COPY` data.
    pub(crate) bytes: u64,
    /// Dumping the rows (not part of the limit).
    pub(crate) dump_time: Duration,
    /// `BEGIN`, every `COPY`, `COMMIT`.
    pub(crate) load_time: Duration,
}

/// One table's rows, as `COPY` data.
struct Dump {
    table: String,
    columns: String,
    chunks: Vec<bytes::Bytes>,
}

/// Quotes an identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every table of `schema` that holds rows, with its row count, by name (the migrator's own
/// bookkeeping left out).
pub(crate) async fn table_rows(pool: &PgPool, schema: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'
         ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await?;
    let mut rows = Vec::new();
    for table in tables {
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.{}",
            ident(schema),
            ident(&table)
        )))
        .fetch_one(pool)
        .await?;
        if count > 0 {
            rows.push((table, u64::try_from(count).unwrap_or(0)));
        }
    }
    Ok(rows)
}

/// The columns `COPY` may write (not generated, not dropped), in order, quoted.
async fn columns(pool: &PgPool, schema: &str, table: &str) -> anyhow::Result<String> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attgenerated = ''
         ORDER BY a.attnum",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await?;
    Ok(names
        .iter()
        .map(|n| ident(n))
        .collect::<Vec<_>>()
        .join(", "))
}

/// Dumps `rows`' tables from `source_schema` and times loading them into `target_schema` (fresh
/// and migrated). Tables the migrations themselves fill in the target are left out.
pub(crate) async fn copy_limit(
    source: &PgPool,
    source_schema: &str,
    target: &PgPool,
    target_schema: &str,
    rows: &[(String, u64)],
) -> anyhow::Result<Copied> {
    let already = table_rows(target, target_schema).await?;
    let dump_started = Instant::now();
    let mut dumps = Vec::new();
    let mut total_rows = 0u64;
    let mut bytes = 0u64;
    let mut conn = source.acquire().await?;
    for (table, count) in rows {
        if already.iter().any(|(name, _)| name == table) {
            tracing::info!(table, "left out of the COPY: the migrations fill it");
            continue;
        }
        let columns = columns(source, source_schema, table).await?;
        let sql = format!(
            "COPY {}.{} ({columns}) TO STDOUT (FORMAT binary)",
            ident(source_schema),
            ident(table)
        );
        let chunks: Vec<bytes::Bytes> = conn
            .copy_out_raw(&sql)
            .await?
            .try_collect()
            .await
            .with_context(|| format!("dumping {table}"))?;
        bytes += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
        total_rows += count;
        dumps.push(Dump {
            table: table.clone(),
            columns,
            chunks,
        });
    }
    drop(conn);
    let dump_time = dump_started.elapsed();
    tracing::info!(
        tables = dumps.len(),
        rows = total_rows,
        bytes,
        "dumped; loading by COPY"
    );

    let mut conn = target.acquire().await?;
    let started = Instant::now();
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for dump in &dumps {
        let sql = format!(
            "COPY {}.{} ({}) FROM STDIN (FORMAT binary)",
            ident(target_schema),
            ident(&dump.table),
            dump.columns
        );
        let mut copy = tx.copy_in_raw(&sql).await?;
        for chunk in &dump.chunks {
            copy.send(chunk.as_ref()).await?;
        }
        copy.finish()
            .await
            .with_context(|| format!("loading {}", dump.table))?;
    }
    tx.commit().await?;
    let load_time = started.elapsed();
    Ok(Copied {
        tables: dumps.len(),
        rows: total_rows,
        bytes,
        dump_time,
        load_time,
    })
}
