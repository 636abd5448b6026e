//! What the tables plugins write and read really are in Postgres: columns with their types,
//! nullability, defaults and generated-ness, unique keys and indexes, read from `pg_catalog`.

use std::collections::{BTreeSet, HashMap};

use sqlx::PgConnection;

use crate::binding::ident;

/// A table's place: its Postgres schema and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The Postgres schema.
    pub schema: String,
    /// The table.
    pub name: String,
}

impl TableName {
    /// A table in a schema.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// `"schema"."name"`, for SQL.
    pub fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// One column as Postgres has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalColumn {
    /// The column name.
    pub name: String,
    /// `pg_type.typname` (`varchar`, `int8`, `jsonb`, `_text`...).
    pub type_name: String,
    /// The full type (`format_type`), for casts (`character varying`, `bigint`...).
    pub sql_type: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Has a default.
    pub has_default: bool,
    /// `GENERATED ALWAYS AS (...)`: never written.
    pub generated: bool,
}

impl PhysicalColumn {
    /// Whether values of the column can be compared with `IS DISTINCT FROM` (its type, or its
    /// arrays' element type, is one of the common types with an equality operator; `json`,
    /// `xml` and the geometric types have none).
    pub fn compares_equal(&self) -> bool {
        const COMPARABLE: &[&str] = &[
            "text",
            "varchar",
            "bpchar",
            "char",
            "name",
            "int2",
            "int4",
            "int8",
            "bool",
            "jsonb",
            "bytea",
            "numeric",
            "float4",
            "float8",
            "uuid",
            "date",
            "time",
            "timetz",
            "timestamp",
            "timestamptz",
            "interval",
        ];
        let element = self.type_name.strip_prefix('_').unwrap_or(&self.type_name);
        COMPARABLE.contains(&element)
    }

    /// Whether an insert may leave this column out.
    pub fn optional_on_insert(&self) -> bool {
        !self.not_null || self.has_default || self.generated
    }
}

/// One index of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalIndex {
    /// Key columns, in index order.
    pub columns: Vec<String>,
    /// A unique index (or the primary key) without a predicate: usable as a conflict target.
    pub unique: bool,
    /// The primary key.
    pub primary: bool,
}

/// A table as Postgres has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalTable {
    /// Where it lives.
    pub name: TableName,
    /// Its columns, in order.
    pub columns: Vec<PhysicalColumn>,
    /// Its plain (non-partial, non-expression) indexes.
    pub indexes: Vec<PhysicalIndex>,
}

impl PhysicalTable {
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&PhysicalColumn> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// Whether these columns (in any order) are exactly a unique index: a valid `ON CONFLICT`
    /// target.
    pub fn is_unique_key(&self, columns: &BTreeSet<String>) -> bool {
        self.indexes.iter().any(|index| {
            index.unique
                && index.columns.len() == columns.len()
                && index.columns.iter().all(|c| columns.contains(c))
        })
    }

    /// Whether an equality filter on these columns can use an index (the columns are a prefix
    /// of some index, in any order).
    pub fn is_indexed(&self, columns: &BTreeSet<String>) -> bool {
        self.indexes.iter().any(|index| {
            index.columns.len() >= columns.len()
                && index
                    .columns
                    .iter()
                    .take(columns.len())
                    .all(|c| columns.contains(c))
        })
    }

    /// The primary key's columns (empty when the table has none).
    pub fn primary_key(&self) -> &[String] {
        self.indexes
            .iter()
            .find(|index| index.primary)
            .map_or(&[], |index| index.columns.as_slice())
    }
}

/// One column as `introspect` reads it: schema, table, column, type name, formatted type, not
/// null, has a default, generated.
type ColumnRow = (String, String, String, String, String, bool, bool, bool);

/// Reads the tables `names` from `pg_catalog`. Tables that do not exist are absent from the
/// result.
pub async fn introspect(
    conn: &mut PgConnection,
    names: &[TableName],
) -> Result<HashMap<TableName, PhysicalTable>, sqlx::Error> {
    let schemas: Vec<&str> = names.iter().map(|n| n.schema.as_str()).collect();
    let tables: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
    let columns: Vec<ColumnRow> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, a.attname::text, t.typname::text,
                    format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef,
                    a.attgenerated <> ''
             FROM unnest($1::text[], $2::text[]) AS wanted(schema_name, table_name)
             JOIN pg_namespace n ON n.nspname = wanted.schema_name
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.table_name
                            AND c.relkind IN ('r', 'p')
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             JOIN pg_type t ON t.oid = a.atttypid
             ORDER BY 1, 2, a.attnum",
    )
    .bind(&schemas)
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await?;
    let indexes: Vec<(String, String, bool, bool, Vec<String>)> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, i.indisunique, i.indisprimary,
                ARRAY(SELECT a.attname::text
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
                      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                      WHERE k.position <= i.indnkeyatts
                      ORDER BY k.position)
         FROM unnest($1::text[], $2::text[]) AS wanted(schema_name, table_name)
         JOIN pg_namespace n ON n.nspname = wanted.schema_name
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.table_name
         JOIN pg_index i ON i.indrelid = c.oid
         WHERE i.indpred IS NULL AND NOT (0 = ANY(i.indkey::int2[])) AND i.indisvalid
         ORDER BY 1, 2, i.indexrelid",
    )
    .bind(&schemas)
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await?;

    let mut found: HashMap<TableName, PhysicalTable> = HashMap::new();
    for (schema, table, name, type_name, sql_type, not_null, has_default, generated) in columns {
        let key = TableName::new(schema, table);
        found
            .entry(key.clone())
            .or_insert_with(|| PhysicalTable {
                name: key,
                columns: Vec::new(),
                indexes: Vec::new(),
            })
            .columns
            .push(PhysicalColumn {
                name,
                type_name,
                sql_type,
                not_null,
                has_default,
                generated,
            });
    }
    for (schema, table, unique, primary, columns) in indexes {
        if let Some(physical) = found.get_mut(&TableName::new(schema, table)) {
            physical.indexes.push(PhysicalIndex {
                columns,
                unique,
                primary,
            });
        }
    }
    Ok(found)
}

/// A `like` table for tests: primary key `uri`, unique (`subject`, `creator`), and a plain
/// index on (`creator`, `sortAt`).
#[cfg(test)]
pub(crate) fn like_table_for_tests() -> PhysicalTable {
    PhysicalTable {
        name: TableName::new("s", "like"),
        columns: vec![],
        indexes: vec![
            PhysicalIndex {
                columns: vec!["uri".into()],
                unique: true,
                primary: true,
            },
            PhysicalIndex {
                columns: vec!["subject".into(), "creator".into()],
                unique: true,
                primary: false,
            },
            PhysicalIndex {
                columns: vec!["creator".into(), "sortAt".into()],
                unique: false,
                primary: false,
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PhysicalTable {
        like_table_for_tests()
    }

    fn set(columns: &[&str]) -> BTreeSet<String> {
        columns.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn keys_and_index_prefixes() {
        let table = table();
        assert!(table.is_unique_key(&set(&["uri"])));
        assert!(table.is_unique_key(&set(&["creator", "subject"])));
        assert!(!table.is_unique_key(&set(&["creator"])));
        assert!(table.is_indexed(&set(&["creator"])));
        assert!(table.is_indexed(&set(&["subject"])));
        assert!(!table.is_indexed(&set(&["sortAt"])));
        assert_eq!(table.primary_key(), ["uri"]);
        assert_eq!(table.name.qualified(), "\"s\".\"like\"");
    }

    #[test]
    fn columns_compare_by_their_type() {
        let column = |type_name: &str| PhysicalColumn {
            name: "c".into(),
            type_name: type_name.into(),
            sql_type: String::new(),
            not_null: false,
            has_default: false,
            generated: false,
        };
        for comparable in ["varchar", "int8", "jsonb", "_text", "timestamptz"] {
            assert!(column(comparable).compares_equal(), "{comparable}");
        }
        for not_comparable in ["json", "_json", "xml", "point", "my_enum_without_ops"] {
            assert!(!column(not_comparable).compares_equal(), "{not_comparable}");
        }
    }
}
