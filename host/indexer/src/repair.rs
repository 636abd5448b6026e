//! Recomputing aggregates from their tables: every declared count is compared with the rows it
//! counts, drift is reported per target column, and with `fix` corrected.
//!
//! The comparison is one statement, so it reads one snapshot; counts are written in the same
//! transactions as the rows they count, so a healthy database shows no drift even while
//! indexers run. Fixing locks the counted tables against writes (indexers wait) and the count
//! table, so that no batch commits between the recount and the correction.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Connection, PgPool, Row};

use crate::apply::aggregates::contribution_sql;
use crate::binding::ident;
use crate::prepared::{PreparedPlugins, TableId};

/// The drift of one count column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// `schema.table.column`.
    pub target: String,
    /// Keys whose stored count differs from the recount.
    pub drifted: u64,
    /// Up to ten of them: (key, recounted, stored).
    pub examples: Vec<(String, i64, i64)>,
    /// Whether they were corrected.
    pub fixed: bool,
}

/// Recomputes every aggregate of `prepared`; corrects the drift when `fix`.
pub async fn repair_counts(
    pool: &PgPool,
    prepared: &PreparedPlugins,
    fix: bool,
) -> Result<Vec<Drift>, sqlx::Error> {
    // (target, key column, count column) → the aggregates summed into it.
    let mut columns: BTreeMap<(TableId, String, String), Vec<usize>> = BTreeMap::new();
    for (index, spec) in prepared.aggregates().iter().enumerate() {
        columns
            .entry((
                spec.target,
                spec.target_key.clone(),
                spec.target_column.clone(),
            ))
            .or_default()
            .push(index);
    }
    let mut report = Vec::new();
    for ((target, key, column), specs) in columns {
        let Some(target_table) = prepared.table(target) else {
            continue;
        };
        let mut recounts = Vec::new();
        let mut sources = Vec::new();
        for spec in specs.iter().filter_map(|&s| prepared.aggregates().get(s)) {
            let Some(source) = prepared.table(spec.source) else {
                continue;
            };
            sources.push(source.qualified.clone());
            recounts.push(format!(
                "SELECT c AS k, count(*) AS n FROM (SELECT {} AS c FROM {} AS t) AS s \
                 WHERE c IS NOT NULL GROUP BY c",
                contribution_sql(spec),
                source.qualified
            ));
        }
        let drift_sql = format!(
            "WITH expected AS (SELECT k, sum(n)::int8 AS n FROM ({}) AS x GROUP BY k),
                  stored AS (SELECT (a.{key})::text AS k, a.{column}::int8 AS n FROM {target} AS a)
             SELECT COALESCE(e.k, s.k), COALESCE(e.n, 0), COALESCE(s.n, 0)
             FROM expected e FULL JOIN stored s ON s.k = e.k
             WHERE COALESCE(e.n, 0) <> COALESCE(s.n, 0)
             ORDER BY 1",
            recounts.join(" UNION ALL "),
            key = ident(&key),
            column = ident(&column),
            target = target_table.qualified,
        );
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin().await?;
        if fix {
            sources.sort();
            sources.dedup();
            for source in &sources {
                sqlx::raw_sql(AssertSqlSafe(format!("LOCK TABLE {source} IN SHARE MODE")))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::raw_sql(AssertSqlSafe(format!(
                "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
                target_table.qualified
            )))
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query(AssertSqlSafe(drift_sql))
            .fetch_all(&mut *tx)
            .await?;
        let mut drifted: Vec<(String, i64, i64)> = Vec::with_capacity(rows.len());
        for row in rows {
            drifted.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
        }
        let fixed = fix && !drifted.is_empty();
        if fixed {
            let key_type = target_table
                .physical
                .column(&key)
                .map_or("text", |c| c.sql_type.as_str());
            let keys: Vec<&str> = drifted.iter().map(|(k, _, _)| k.as_str()).collect();
            let counts: Vec<i64> = drifted.iter().map(|(_, n, _)| *n).collect();
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {target} AS a ({key}, {column})
                 SELECT CAST(u.k AS {key_type}), u.n FROM UNNEST($1::text[], $2::int8[]) AS u(k, n)
                 ON CONFLICT ({key}) DO UPDATE SET {column} = EXCLUDED.{column}",
                target = target_table.qualified,
                key = ident(&key),
                column = ident(&column),
            )))
            .bind(keys)
            .bind(counts)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let target_name = format!("{}.{column}", target_table.physical.name);
        if !drifted.is_empty() {
            tracing::warn!(target = %target_name, drifted = drifted.len(), fixed, "aggregate drift");
        }
        report.push(Drift {
            target: target_name,
            drifted: drifted.len() as u64,
            examples: drifted.into_iter().take(10).collect(),
            fixed,
        });
    }
    Ok(report)
}
