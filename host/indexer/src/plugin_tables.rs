//! Creating the tables a plugin owns, in its own Postgres schema (`plugin_<name>`, after an
//! optional prefix): from its migrations when it has some, otherwise from its declaration.
//!
//! The plugin registry (issue 5) will take this over at install time; until then the indexer
//! runs it when it loads a plugin. DDL of concurrent indexers takes turns (an advisory lock).

use sha2::{Digest, Sha256};
use sluice_plugin_host::Declaration;
use sluice_plugin_host::types::{ColumnKind, Table, TableOwner, Value};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::binding::{array_literal, ident, string_literal};
use crate::error::PrepareError;

/// The advisory lock key under which plugin DDL runs (any constant; "sluice plugin ddl").
const DDL_LOCK: i64 = 0x736c_7569_6365_6464;

/// The Postgres schema of a plugin's own tables.
pub fn plugin_schema(prefix: &str, declaration: &Declaration) -> String {
    format!("{prefix}{}", declaration.schema_name())
}

/// Creates what `declaration`'s own tables need in `schema`: the schema, then either the
/// plugin's migrations (each once, checked by a digest), or the tables, missing columns and
/// indexes from the declaration.
pub async fn ensure_plugin_tables(
    conn: &mut PgConnection,
    schema: &str,
    declaration: &Declaration,
    allow_migrations: bool,
) -> Result<(), PrepareError> {
    let owned: Vec<&Table> = declaration
        .info()
        .tables
        .iter()
        .filter(|table| table.owner == TableOwner::Plugin)
        .collect();
    if owned.is_empty() {
        return Ok(());
    }
    if schema.len() > 63 {
        return Err(PrepareError::SchemaName(schema.to_owned()));
    }
    let plugin = declaration.label().to_owned();
    let migrations = &declaration.info().migrations;
    if !migrations.is_empty() && !allow_migrations {
        return Err(PrepareError::MigrationsRefused { plugin });
    }
    let mut tx = conn.begin().await?;
    // A plugin's migrations may move data (`UPDATE`, `INSERT … SELECT`): plan them as the server
    // would, not with the indexer's keyed-statement settings (`pipeline::SESSION_SETTINGS`).
    execute(&mut tx, "SET LOCAL enable_seqscan = on".to_owned()).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(DDL_LOCK)
        .execute(&mut *tx)
        .await?;
    let schema_sql = ident(schema);
    execute(&mut tx, format!("CREATE SCHEMA IF NOT EXISTS {schema_sql}")).await?;
    if migrations.is_empty() {
        for table in owned {
            for statement in table_ddl(&schema_sql, table) {
                execute(&mut tx, statement).await?;
            }
        }
    } else {
        run_migrations(&mut tx, &schema_sql, &plugin, migrations).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(conn).await?;
    Ok(())
}

/// Applies the migrations not applied yet, recording each with its digest; an applied one whose
/// text changed is an error (migrations are append-only, as the host's own).
async fn run_migrations(
    tx: &mut PgConnection,
    schema_sql: &str,
    plugin: &str,
    migrations: &[String],
) -> Result<(), PrepareError> {
    execute(
        tx,
        format!(
            "CREATE TABLE IF NOT EXISTS {schema_sql}._sluice_migrations (
                 position integer PRIMARY KEY,
                 digest   text NOT NULL
             )"
        ),
    )
    .await?;
    let applied: Vec<(i32, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT position, digest FROM {schema_sql}._sluice_migrations ORDER BY position"
    )))
    .fetch_all(&mut *tx)
    .await?;
    for (position, migration) in migrations.iter().enumerate() {
        let position_i32 = i32::try_from(position).unwrap_or(i32::MAX);
        let digest = hex_digest(migration.as_bytes());
        match applied.iter().find(|(p, _)| *p == position_i32) {
            Some((_, recorded)) if *recorded == digest => continue,
            Some(_) => {
                return Err(PrepareError::MigrationChanged {
                    plugin: plugin.to_owned(),
                    position,
                });
            }
            None => {}
        }
        execute(tx, format!("SET LOCAL search_path = {schema_sql}")).await?;
        sqlx::raw_sql(AssertSqlSafe(migration.clone()))
            .execute(&mut *tx)
            .await
            .map_err(|source| PrepareError::Migration {
                plugin: plugin.to_owned(),
                position,
                source,
            })?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {schema_sql}._sluice_migrations (position, digest) VALUES ($1, $2)"
        )))
        .bind(position_i32)
        .bind(&digest)
        .execute(&mut *tx)
        .await?;
        tracing::info!(plugin, position, "plugin migration applied");
    }
    Ok(())
}

/// The statements that create `table` from its declaration (idempotent).
fn table_ddl(schema_sql: &str, table: &Table) -> Vec<String> {
    let qualified = format!("{schema_sql}.{}", ident(&table.name));
    let column_sql = |column: &sluice_plugin_host::types::Column| {
        let mut sql = format!("{} {}", ident(&column.name), sql_type(column.kind));
        if !column.nullable {
            sql.push_str(" NOT NULL");
        }
        if let Some(default) = &column.default {
            sql.push_str(" DEFAULT ");
            sql.push_str(&literal(default, column.kind));
        }
        sql
    };
    let columns: Vec<String> = table.columns.iter().map(column_sql).collect();
    let key: Vec<String> = table.primary_key.iter().map(|c| ident(c)).collect();
    let mut statements = vec![format!(
        "CREATE TABLE IF NOT EXISTS {qualified} ({}, PRIMARY KEY ({}))",
        columns.join(", "),
        key.join(", ")
    )];
    for column in &table.columns {
        statements.push(format!(
            "ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {}",
            column_sql(column)
        ));
    }
    let short_name: String = table.name.chars().take(48).collect();
    for (position, unique) in table.unique_keys.iter().enumerate() {
        let columns: Vec<String> = unique.iter().map(|c| ident(c)).collect();
        statements.push(format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {qualified} ({})",
            ident(&format!("{short_name}_unique_{position}")),
            columns.join(", ")
        ));
    }
    for (position, index) in table.indexes.iter().enumerate() {
        let columns: Vec<String> = index.iter().map(|c| ident(c)).collect();
        statements.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {qualified} ({})",
            ident(&format!("{short_name}_index_{position}")),
            columns.join(", ")
        ));
    }
    statements
}

/// The column type a plugin-owned column of this kind gets.
pub fn sql_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Boolean => "boolean",
        ColumnKind::Integer => "bigint",
        ColumnKind::Float => "double precision",
        ColumnKind::Text => "text",
        ColumnKind::Bytes => "bytea",
        ColumnKind::Json => "jsonb",
        ColumnKind::Timestamp => "timestamptz",
        ColumnKind::TextList => "text[]",
    }
}

/// A default value as a SQL literal of the column's type. Values were checked by the
/// declaration checks (no NUL, valid JSON and timestamps).
fn literal(value: &Value, kind: ColumnKind) -> String {
    let ty = sql_type(kind);
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(n) => n.to_string(),
        Value::Float(f) if f.is_finite() => format!("{f:?}::double precision"),
        Value::Float(f) => format!("'{f}'::double precision"),
        Value::Text(text) | Value::Json(text) | Value::Timestamp(text) => {
            format!("{}::{ty}", string_literal(text))
        }
        Value::TextList(items) => format!("{}::text[]", string_literal(&array_literal(items))),
        Value::Bytes(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("'\\x{hex}'::bytea")
        }
    }
}

/// The digest recorded for an applied migration: SHA-256 of its text, hex.
fn hex_digest(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_host::types::Column;

    #[test]
    fn ddl_from_a_declaration() {
        let table = Table {
            name: "status".into(),
            owner: TableOwner::Plugin,
            columns: vec![
                Column {
                    name: "uri".into(),
                    kind: ColumnKind::Text,
                    nullable: false,
                    default: None,
                },
                Column {
                    name: "n".into(),
                    kind: ColumnKind::Integer,
                    nullable: false,
                    default: Some(Value::Integer(0)),
                },
                Column {
                    name: "note".into(),
                    kind: ColumnKind::Text,
                    nullable: true,
                    default: Some(Value::Text("it's".into())),
                },
            ],
            primary_key: vec!["uri".into()],
            unique_keys: vec![vec!["n".into(), "uri".into()]],
            indexes: vec![vec!["note".into()]],
        };
        let ddl = table_ddl("\"plugin_x\"", &table);
        assert_eq!(
            ddl[0],
            "CREATE TABLE IF NOT EXISTS \"plugin_x\".\"status\" (\"uri\" text NOT NULL, \
             \"n\" bigint NOT NULL DEFAULT 0, \"note\" text DEFAULT 'it''s'::text, \
             PRIMARY KEY (\"uri\"))"
        );
        assert!(ddl.iter().any(|s| s
            == "CREATE UNIQUE INDEX IF NOT EXISTS \"status_unique_0\" ON \"plugin_x\".\"status\" (\"n\", \"uri\")"));
        assert!(ddl.iter().any(|s| s
            == "CREATE INDEX IF NOT EXISTS \"status_index_0\" ON \"plugin_x\".\"status\" (\"note\")"));
    }

    #[test]
    fn literals() {
        assert_eq!(
            literal(&Value::TextList(vec!["a".into()]), ColumnKind::TextList),
            "'{\"a\"}'::text[]"
        );
        assert_eq!(
            literal(&Value::Bytes(vec![1, 255]), ColumnKind::Bytes),
            "'\\x01ff'::bytea"
        );
        assert_eq!(
            literal(&Value::Float(1.5), ColumnKind::Float),
            "1.5::double precision"
        );
    }

    #[test]
    fn digests_change_with_the_text() {
        assert_ne!(hex_digest(b"a"), hex_digest(b"b"));
        assert_eq!(hex_digest(b"a"), hex_digest(b"a"));
    }
}
