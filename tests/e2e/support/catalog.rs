//! Snapshots of a Postgres schema's definitions, read from `pg_catalog`, for comparing two schemas.
//!
//! A [`SchemaCatalog`] maps one key per object — `relation post`, `column post.sortAt`,
//! `constraint post.post_pkey`, `index post_order_by_idx`, `sequence notification_id_seq`,
//! `view algo_whats_hot_view`, `row view_param.whats_hot_interval` — to its definition as Postgres
//! prints it, with the schema's own name removed so that two schemas compare equal when their
//! objects do. sqlx's bookkeeping table (`_sqlx_migrations`) is left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sqlx::PgPool;

/// Tables whose rows are part of the schema's definition (bookkeeping and seeded parameters), with
/// the key and value columns to read.
const DEFINING_ROWS: &[(&str, &str, &str)] = &[
    ("kysely_migration", "name", "''"),
    ("kysely_migration_lock", "id", "is_locked::text"),
    ("view_param", "name", "value"),
];

/// sqlx's own table of applied migrations: ours only, and not part of the reference's schema.
const SQLX_MIGRATIONS: &str = "_sqlx_migrations";

/// Every definition in one schema, by key.
#[derive(Debug, Clone)]
pub(crate) struct SchemaCatalog {
    /// Object key → definition.
    pub(crate) objects: BTreeMap<String, String>,
}

/// How a schema differs from a reference one.
#[derive(Debug, Default)]
pub(crate) struct CatalogDiff {
    /// In the reference, absent here: (key, reference definition).
    pub(crate) missing: Vec<(String, String)>,
    /// In both, defined differently: (key, reference definition, ours).
    pub(crate) different: Vec<(String, String, String)>,
    /// Only here: (key, definition).
    pub(crate) extra: Vec<(String, String)>,
}

impl SchemaCatalog {
    /// Reads every definition of `schema` through `pool` (whose search_path should start with it).
    pub(crate) async fn read(pool: &PgPool, schema: &str) -> Self {
        let mut objects = BTreeMap::new();
        let strip = |definition: &str| definition.replace(&format!("{schema}."), "");

        let relations: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.relname::text,
                    CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
                                   WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                                   WHEN 'S' THEN 'sequence' ELSE c.relkind::text END
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S')",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap();
        for (name, kind) in &relations {
            objects.insert(format!("relation {name}"), kind.clone());
        }

        let columns: Vec<(String, String, String, bool, Option<String>, String)> = sqlx::query_as(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod),
                    a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attgenerated::text
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm')
               AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap();
        for (table, column, data_type, not_null, expression, generated) in columns {
            let mut definition = data_type;
            if not_null {
                definition.push_str(" NOT NULL");
            }
            if let Some(expression) = expression {
                if generated == "s" {
                    let _ = write!(
                        definition,
                        " GENERATED ALWAYS AS ({}) STORED",
                        strip(&expression)
                    );
                } else {
                    let _ = write!(definition, " DEFAULT {}", strip(&expression));
                }
            }
            objects.insert(format!("column {table}.{column}"), definition);
        }

        let constraints: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT c.relname::text, con.conname::text, pg_get_constraintdef(con.oid)
             FROM pg_constraint con
             JOIN pg_class c ON c.oid = con.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap();
        for (table, name, definition) in constraints {
            objects.insert(format!("constraint {table}.{name}"), strip(&definition));
        }

        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = $1",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap();
        for (name, definition) in indexes {
            objects.insert(format!("index {name}"), strip(&definition));
        }

        let sequences: Vec<(String, String, i64, i64, i64, i64, bool)> = sqlx::query_as(
            "SELECT sequencename::text, data_type::text, start_value, increment_by, min_value,
                    max_value, cycle
             FROM pg_sequences WHERE schemaname = $1",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap();
        for (name, data_type, start, increment, min, max, cycle) in sequences {
            objects.insert(
                format!("sequence {name}"),
                format!("{data_type} start {start} increment {increment} min {min} max {max} cycle {cycle}"),
            );
        }

        let views: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.relname::text, pg_get_viewdef(c.oid)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('v', 'm')",
        )
        .bind(schema)
        .fetch_all(pool)
        .await
        .unwrap();
        for (name, definition) in views {
            objects.insert(format!("view {name}"), strip(&definition));
        }

        for (table, key, value) in DEFINING_ROWS {
            if !objects.contains_key(&format!("relation {table}")) {
                continue;
            }
            let sql = format!("SELECT {key}::text, {value} FROM \"{schema}\".{table}");
            let rows: Vec<(String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .unwrap();
            for (key, value) in rows {
                objects.insert(format!("row {table}.{key}"), value.unwrap_or_default());
            }
        }

        objects.retain(|key, _| !key.contains(SQLX_MIGRATIONS));
        Self { objects }
    }

    /// Number of objects whose key starts with `prefix` (e.g. `"relation "`).
    pub(crate) fn count(&self, prefix: &str) -> usize {
        self.objects
            .keys()
            .filter(|key| key.starts_with(prefix))
            .count()
    }

    /// How `self` differs from `reference`.
    pub(crate) fn diff_from(&self, reference: &SchemaCatalog) -> CatalogDiff {
        let mut diff = CatalogDiff::default();
        for (key, expected) in &reference.objects {
            match self.objects.get(key) {
                None => diff.missing.push((key.clone(), expected.clone())),
                Some(actual) if actual != expected => {
                    diff.different
                        .push((key.clone(), expected.clone(), actual.clone()));
                }
                Some(_) => {}
            }
        }
        for (key, definition) in &self.objects {
            if !reference.objects.contains_key(key) {
                diff.extra.push((key.clone(), definition.clone()));
            }
        }
        diff
    }
}

impl CatalogDiff {
    /// True when every reference object exists here with the same definition.
    pub(crate) fn covers_reference(&self) -> bool {
        self.missing.is_empty() && self.different.is_empty()
    }

    /// A readable list of every difference.
    pub(crate) fn report(&self) -> String {
        let mut out = String::new();
        for (key, expected) in &self.missing {
            let _ = writeln!(out, "missing   {key}: {expected}");
        }
        for (key, expected, actual) in &self.different {
            let _ = writeln!(
                out,
                "different {key}:\n  reference: {expected}\n  ours:      {actual}"
            );
        }
        for (key, definition) in &self.extra {
            let _ = writeln!(out, "extra     {key}: {definition}");
        }
        out
    }
}
