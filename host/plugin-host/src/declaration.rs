//! A plugin's declaration (`describe`), checked once at load and indexed for the per-row-op
//! checks of [`crate::validate`].

use std::collections::{HashMap, HashSet};

use crate::bindings::latest::{ColumnKind, PluginInfo, Table, TableOwner};
use crate::error::DeclarationError;
use crate::validate::{check_value_content, kind_name, value_kind};

/// A checked declaration.
#[derive(Debug, Clone)]
pub struct Declaration {
    info: PluginInfo,
    tables: HashMap<String, TableSchema>,
    label: String,
}

/// One declared table, with its columns and keys indexed by name.
#[derive(Debug, Clone)]
pub struct TableSchema {
    table: Table,
    columns: HashMap<String, usize>,
    /// The primary key and unique keys, each sorted.
    keys: Vec<Vec<String>>,
    /// The keys and indexes, each sorted.
    filters: Vec<Vec<String>>,
    /// Columns neither nullable nor defaulted.
    required: Vec<String>,
}

impl TableSchema {
    /// The declaration as the plugin gave it.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&crate::bindings::latest::Column> {
        self.columns
            .get(name)
            .and_then(|&index| self.table.columns.get(index))
    }

    /// Whether these columns (sorted, without duplicates) are exactly the primary key or a
    /// unique key.
    pub fn is_key(&self, sorted_columns: &[&str]) -> bool {
        self.keys
            .iter()
            .any(|key| same_columns(key, sorted_columns))
    }

    /// Whether these columns (sorted, without duplicates) are exactly a key or a declared index
    /// (what deletes and lookups may filter on).
    pub fn is_filter(&self, sorted_columns: &[&str]) -> bool {
        self.filters
            .iter()
            .any(|filter| same_columns(filter, sorted_columns))
    }

    /// Columns a new row cannot do without: neither nullable nor defaulted.
    pub fn required_columns(&self) -> impl Iterator<Item = &str> {
        self.required.iter().map(String::as_str)
    }
}

impl Declaration {
    /// Checks a plugin's declaration. `builtin` plugins may declare `core` tables.
    pub fn check(info: PluginInfo, builtin: bool) -> Result<Self, DeclarationError> {
        check_name(&info.name)?;
        check_version(&info.version)?;
        let mut claimed = HashSet::new();
        for collection in &info.collections {
            if !is_nsid(collection) {
                return Err(DeclarationError::Collection(collection.clone()));
            }
            if !claimed.insert(collection.as_str()) {
                return Err(DeclarationError::DuplicateCollection(collection.clone()));
            }
        }
        let mut tables = HashMap::new();
        for table in &info.tables {
            if table.owner == TableOwner::Core && !builtin {
                return Err(DeclarationError::CoreTable(table.name.clone()));
            }
            let schema = check_table(table)?;
            if tables.insert(table.name.clone(), schema).is_some() {
                return Err(DeclarationError::DuplicateTable(table.name.clone()));
            }
        }
        for aggregate in &info.aggregates {
            let fail = |reason: &str| DeclarationError::Aggregate {
                source_table: aggregate.source.clone(),
                group_by: aggregate.group_by.clone(),
                target: aggregate.target.clone(),
                column: aggregate.target_column.clone(),
                reason: reason.to_owned(),
            };
            let source = tables
                .get(&aggregate.source)
                .ok_or_else(|| fail("the counted table is not declared"))?;
            if source.column(&aggregate.group_by).is_none() {
                return Err(fail("the grouping column is not declared"));
            }
            for cell in &aggregate.filter {
                let column = source
                    .column(&cell.column)
                    .ok_or_else(|| fail("a filter column is not declared"))?;
                if value_kind(&cell.value).is_some_and(|kind| kind != column.kind) {
                    return Err(fail("a filter value is not of its column's kind"));
                }
            }
            let target = tables
                .get(&aggregate.target)
                .ok_or_else(|| fail("the count's table is not declared"))?;
            if !target.is_key(&[aggregate.target_key.as_str()]) {
                return Err(fail(
                    "the target key is not a one-column key of the count's table",
                ));
            }
            match target.column(&aggregate.target_column) {
                Some(column) if column.kind == ColumnKind::Integer => {}
                _ => return Err(fail("the count column is not a declared integer column")),
            }
        }
        for read in &info.reads {
            if !is_identifier(read) {
                return Err(DeclarationError::Reads(read.clone()));
            }
        }
        if !info.migrations.is_empty()
            && !info
                .tables
                .iter()
                .any(|table| table.owner == TableOwner::Plugin)
        {
            return Err(DeclarationError::Migrations);
        }
        let label = format!("{}@{}", info.name, info.version);
        Ok(Self {
            info,
            tables,
            label,
        })
    }

    /// The declaration as the plugin gave it.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// `name@version`: how parked operations and logs name the plugin.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// A declared table.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }

    /// Whether the plugin may read this table through lookups (declared, or named in `reads`).
    pub fn may_read(&self, table: &str) -> bool {
        self.tables.contains_key(table) || self.info.reads.iter().any(|read| read == table)
    }

    /// The Postgres schema of the plugin's own tables.
    pub fn schema_name(&self) -> String {
        format!("plugin_{}", self.info.name)
    }
}

fn check_table(table: &Table) -> Result<TableSchema, DeclarationError> {
    if !is_identifier(&table.name) {
        return Err(DeclarationError::Identifier(table.name.clone()));
    }
    let mut columns = HashMap::new();
    for (index, column) in table.columns.iter().enumerate() {
        if !is_identifier(&column.name) {
            return Err(DeclarationError::Identifier(column.name.clone()));
        }
        if columns.insert(column.name.clone(), index).is_some() {
            return Err(DeclarationError::DuplicateColumn {
                table: table.name.clone(),
                column: column.name.clone(),
            });
        }
        if let Some(default) = &column.default {
            let kind_ok = match value_kind(default) {
                Some(kind) => kind == column.kind,
                None => column.nullable,
            };
            if !kind_ok || check_value_content(default).is_err() {
                return Err(DeclarationError::DefaultKind {
                    table: table.name.clone(),
                    column: column.name.clone(),
                    kind: kind_name(column.kind).to_owned(),
                });
            }
        }
    }
    let column_set =
        |what: &'static str, names: &[String]| -> Result<Vec<String>, DeclarationError> {
            let unknown = names.iter().find(|name| !columns.contains_key(*name));
            if names.is_empty() || unknown.is_some() {
                return Err(DeclarationError::KeyColumn {
                    table: table.name.clone(),
                    what,
                    column: unknown.cloned().unwrap_or_default(),
                });
            }
            let mut sorted = names.to_vec();
            sorted.sort();
            sorted.dedup();
            Ok(sorted)
        };
    let primary = column_set("primary key", &table.primary_key)?;
    for name in &primary {
        let nullable = columns
            .get(name)
            .and_then(|&index| table.columns.get(index))
            .is_some_and(|c| c.nullable);
        if nullable {
            return Err(DeclarationError::NullableKey {
                table: table.name.clone(),
                column: name.clone(),
            });
        }
    }
    let mut keys = vec![primary];
    for unique in &table.unique_keys {
        keys.push(column_set("unique key", unique)?);
    }
    let mut filters = keys.clone();
    for index in &table.indexes {
        filters.push(column_set("index", index)?);
    }
    let required = table
        .columns
        .iter()
        .filter(|column| !column.nullable && column.default.is_none())
        .map(|column| column.name.clone())
        .collect();
    Ok(TableSchema {
        table: table.clone(),
        columns,
        keys,
        filters,
        required,
    })
}

fn same_columns(declared: &[String], sorted_columns: &[&str]) -> bool {
    declared.len() == sorted_columns.len()
        && declared.iter().zip(sorted_columns).all(|(a, b)| a == b)
}

fn check_name(name: &str) -> Result<(), DeclarationError> {
    let mut chars = name.chars();
    let ok = name.len() <= 48
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DeclarationError::Name(name.to_owned()))
    }
}

fn check_version(version: &str) -> Result<(), DeclarationError> {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let ok = parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if ok && version.len() <= 64 {
        Ok(())
    } else {
        Err(DeclarationError::Version(version.to_owned()))
    }
}

/// A plain SQL identifier: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes (Postgres' limit).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An NSID as atproto defines it: at least three dot-separated segments, a reversed domain
/// and a name.
fn is_nsid(nsid: &str) -> bool {
    let segments: Vec<&str> = nsid.split('.').collect();
    let Some((name, authority)) = segments.split_last() else {
        return false;
    };
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    nsid.len() <= 317
        && segments.len() >= 3
        && authority.iter().all(label_ok)
        && authority
            .first()
            .is_some_and(|tld| tld.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()))
        && !name.is_empty()
        && name.len() <= 63
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::latest::{Column, EventKinds, RecordEncoding, Value};

    fn column(name: &str, kind: ColumnKind, nullable: bool) -> Column {
        Column {
            name: name.into(),
            kind,
            nullable,
            default: None,
        }
    }

    fn info(tables: Vec<Table>) -> PluginInfo {
        PluginInfo {
            name: "statusphere".into(),
            version: "0.1.0".into(),
            collections: vec!["xyz.statusphere.status".into()],
            events: EventKinds::empty(),
            encoding: RecordEncoding::DagCbor,
            tables,
            aggregates: vec![],
            reads: vec![],
            migrations: vec![],
        }
    }

    fn status_table() -> Table {
        Table {
            name: "status".into(),
            owner: TableOwner::Plugin,
            columns: vec![
                column("uri", ColumnKind::Text, false),
                column("status", ColumnKind::Text, false),
                column("note", ColumnKind::Text, true),
            ],
            primary_key: vec!["uri".into()],
            unique_keys: vec![],
            indexes: vec![vec!["status".into()]],
        }
    }

    #[test]
    fn accepts_a_good_declaration() {
        let declaration = Declaration::check(info(vec![status_table()]), false).unwrap();
        assert_eq!(declaration.label(), "statusphere@0.1.0");
        assert_eq!(declaration.schema_name(), "plugin_statusphere");
        let table = declaration.table("status").unwrap();
        assert!(table.is_key(&["uri"]));
        assert!(!table.is_key(&["status"]));
        assert!(table.is_filter(&["status"]));
        assert_eq!(
            table.required_columns().collect::<Vec<_>>(),
            ["uri", "status"]
        );
    }

    #[test]
    fn refuses_broken_declarations() {
        let mut bad_name = info(vec![]);
        bad_name.name = "Status".into();
        assert!(matches!(
            Declaration::check(bad_name, false),
            Err(DeclarationError::Name(_))
        ));

        let mut bad_version = info(vec![]);
        bad_version.version = "1.0".into();
        assert!(matches!(
            Declaration::check(bad_version, false),
            Err(DeclarationError::Version(_))
        ));

        let mut bad_nsid = info(vec![]);
        bad_nsid.collections = vec!["status".into()];
        assert!(matches!(
            Declaration::check(bad_nsid, false),
            Err(DeclarationError::Collection(_))
        ));

        let mut core = status_table();
        core.owner = TableOwner::Core;
        assert!(matches!(
            Declaration::check(info(vec![core.clone()]), false),
            Err(DeclarationError::CoreTable(_))
        ));
        assert!(Declaration::check(info(vec![core]), true).is_ok());

        let mut nullable_key = status_table();
        nullable_key.columns[0].nullable = true;
        assert!(matches!(
            Declaration::check(info(vec![nullable_key]), false),
            Err(DeclarationError::NullableKey { .. })
        ));

        let mut unknown_key = status_table();
        unknown_key.unique_keys = vec![vec!["nope".into()]];
        assert!(matches!(
            Declaration::check(info(vec![unknown_key]), false),
            Err(DeclarationError::KeyColumn { .. })
        ));

        let mut bad_default = status_table();
        bad_default.columns[1].default = Some(Value::Integer(1));
        assert!(matches!(
            Declaration::check(info(vec![bad_default]), false),
            Err(DeclarationError::DefaultKind { .. })
        ));

        let mut injection = status_table();
        injection.columns[1].name = "status\"; drop table x; --".into();
        assert!(matches!(
            Declaration::check(info(vec![injection]), false),
            Err(DeclarationError::Identifier(_))
        ));

        assert!(matches!(
            Declaration::check(info(vec![status_table(), status_table()]), false),
            Err(DeclarationError::DuplicateTable(_))
        ));
    }
}
