//! A set of plugins made ready for indexing: every table they write or read located and checked
//! against the real database (columns, kinds, keys), their own tables created, and the aggregates
//! they declare resolved to tables.
//!
//! A [`PreparedPlugins`] is immutable. The indexer makes a new one when the plugin set changes
//! (hot swap) and switches between batches.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use sluice_plugin_host::types::{ColumnKind, EventKinds, TableOwner, Value};
use sluice_plugin_host::{Plugin, PluginSet};
use sqlx::PgPool;

use crate::binding::{ColumnBinding, kind_of_type};
use crate::catalog::{PhysicalTable, TableName, introspect};
use crate::error::PrepareError;
use crate::plugin_tables::{ensure_plugin_tables, plugin_schema};

/// Index of a table in [`PreparedPlugins::tables`].
pub type TableId = usize;

/// Where tables live and what the indexer may do to them.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// The schema of the core tables (the reference AppView's).
    pub store_schema: String,
    /// Put before `plugin_<name>` for the schemas of plugin-owned tables (tests isolate
    /// themselves with it; empty in production).
    pub plugin_schema_prefix: String,
    /// Apply the SQL migrations plugins bring for their own tables. Off: such a plugin is
    /// refused (migrations run with the indexer's database privileges).
    pub allow_plugin_migrations: bool,
}

/// One table that plugins write or read, as the indexer uses it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// The table as Postgres has it.
    pub physical: PhysicalTable,
    /// `"schema"."name"`.
    pub qualified: String,
    /// How each declared column is written (the declared kind bound to the real type).
    pub bindings: HashMap<String, ColumnBinding>,
    /// The kind each column is read back as (declared kind, else derived from its type).
    pub read_kinds: HashMap<String, ColumnKind>,
    /// The aggregates counting rows of this table ([`PreparedPlugins::aggregates`] indexes).
    pub aggregates: Vec<usize>,
    /// Columns an aggregate of this table groups or filters on.
    pub aggregate_columns: HashSet<String>,
}

/// A count kept by the host: rows of `source` whose `group_by` equals the target key and that
/// match `filter`, in `target.target_column`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateSpec {
    /// The declaring plugin (`name@version`).
    pub plugin: String,
    /// The counted table.
    pub source: TableId,
    /// The column of `source` naming the target row.
    pub group_by: String,
    /// Conditions on `source` rows (a boolean `false` also matches null).
    pub filter: Vec<(String, Value)>,
    /// The table holding the count.
    pub target: TableId,
    /// The key column of `target`.
    pub target_key: String,
    /// The count column of `target`.
    pub target_column: String,
}

/// Plugins ready for indexing. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct PreparedPlugins {
    set: Arc<PluginSet>,
    tables: Vec<TableInfo>,
    /// Per plugin (same order as `set.plugins()`): table name → table (declared and read).
    plugin_tables: Vec<HashMap<String, TableId>>,
    by_collection: HashMap<String, usize>,
    by_label: HashMap<String, usize>,
    aggregates: Vec<AggregateSpec>,
}

impl PreparedPlugins {
    /// Prepares `set`: creates the plugins' own tables, reads every table they use from
    /// `pg_catalog` and checks their declarations against it.
    pub async fn prepare(
        pool: &PgPool,
        set: Arc<PluginSet>,
        options: &PrepareOptions,
    ) -> Result<Self, PrepareError> {
        let mut conn = pool.acquire().await?;
        for plugin in set.plugins() {
            let declaration = plugin.declaration();
            let schema = plugin_schema(&options.plugin_schema_prefix, declaration);
            ensure_plugin_tables(
                &mut conn,
                &schema,
                declaration,
                options.allow_plugin_migrations,
            )
            .await?;
        }

        // Where every declared table lives, and candidates for every read table.
        let mut wanted: BTreeSet<TableName> = BTreeSet::new();
        let mut owned_by_name: HashMap<String, TableName> = HashMap::new();
        for plugin in set.plugins() {
            let declaration = plugin.declaration();
            for table in &declaration.info().tables {
                let name = declared_location(options, plugin, table.owner, &table.name);
                if table.owner == TableOwner::Plugin {
                    owned_by_name
                        .entry(table.name.clone())
                        .or_insert_with(|| name.clone());
                }
                wanted.insert(name);
            }
            for read in &declaration.info().reads {
                wanted.insert(TableName::new(&options.store_schema, read));
            }
        }
        wanted.extend(owned_by_name.values().cloned());
        let wanted: Vec<TableName> = wanted.into_iter().collect();
        let found = introspect(&mut conn, &wanted).await?;
        drop(conn);

        let mut builder = Builder {
            tables: Vec::new(),
            ids: HashMap::new(),
        };
        let mut plugin_tables = Vec::with_capacity(set.plugins().len());
        let mut by_collection = HashMap::new();
        for (index, plugin) in set.plugins().iter().enumerate() {
            let label = plugin.label().to_owned();
            let info = plugin.declaration().info();
            for collection in &info.collections {
                by_collection.insert(collection.clone(), index);
            }
            let mut tables = HashMap::new();
            for table in &info.tables {
                let name = declared_location(options, plugin, table.owner, &table.name);
                let physical = found.get(&name).ok_or_else(|| PrepareError::MissingTable {
                    plugin: label.clone(),
                    table: name.to_string(),
                })?;
                let id = builder.table(physical);
                builder.declare(id, &label, table)?;
                tables.insert(table.name.clone(), id);
            }
            for read in &info.reads {
                if tables.contains_key(read) {
                    continue;
                }
                let core = TableName::new(&options.store_schema, read);
                let physical = found
                    .get(&core)
                    .or_else(|| owned_by_name.get(read).and_then(|name| found.get(name)))
                    .ok_or_else(|| PrepareError::UnknownRead {
                        plugin: label.clone(),
                        table: read.clone(),
                    })?;
                let id = builder.table(physical);
                tables.insert(read.clone(), id);
            }
            plugin_tables.push(tables);
        }

        let mut aggregates: Vec<AggregateSpec> = Vec::new();
        for (index, plugin) in set.plugins().iter().enumerate() {
            let label = plugin.label();
            let tables = plugin_tables.get(index).cloned().unwrap_or_default();
            for aggregate in &plugin.declaration().info().aggregates {
                let fail = |reason: String| PrepareError::Aggregate {
                    plugin: label.to_owned(),
                    target: aggregate.target.clone(),
                    column: aggregate.target_column.clone(),
                    reason,
                };
                let (Some(&source), Some(&target)) =
                    (tables.get(&aggregate.source), tables.get(&aggregate.target))
                else {
                    return Err(fail("its tables are not declared".into()));
                };
                let mut filter = Vec::new();
                for cell in &aggregate.filter {
                    if !matches!(
                        cell.value,
                        Value::Null | Value::Boolean(_) | Value::Integer(_) | Value::Text(_)
                    ) {
                        return Err(fail(format!(
                            "filter on {}: only null, boolean, integer and text values are supported",
                            cell.column
                        )));
                    }
                    if matches!(&cell.value, Value::Text(text) if text.contains('\0')) {
                        return Err(fail(format!(
                            "filter on {}: text contains NUL",
                            cell.column
                        )));
                    }
                    filter.push((cell.column.clone(), cell.value.clone()));
                }
                let spec = AggregateSpec {
                    plugin: label.to_owned(),
                    source,
                    group_by: aggregate.group_by.clone(),
                    filter,
                    target,
                    target_key: aggregate.target_key.clone(),
                    target_column: aggregate.target_column.clone(),
                };
                builder.check_aggregate(&spec).map_err(fail)?;
                // The same count declared twice (two plugins sharing a core table) is kept once.
                if aggregates.iter().any(|known| {
                    known.source == spec.source
                        && known.group_by == spec.group_by
                        && known.filter == spec.filter
                        && known.target == spec.target
                        && known.target_column == spec.target_column
                }) {
                    continue;
                }
                let id = aggregates.len();
                if let Some(table) = builder.tables.get_mut(source) {
                    table.aggregates.push(id);
                    table.aggregate_columns.insert(spec.group_by.clone());
                    table
                        .aggregate_columns
                        .extend(spec.filter.iter().map(|(column, _)| column.clone()));
                }
                aggregates.push(spec);
            }
        }

        let by_label = set
            .plugins()
            .iter()
            .enumerate()
            .map(|(index, plugin)| (plugin.label().to_owned(), index))
            .collect();
        Ok(Self {
            set,
            tables: builder.tables,
            plugin_tables,
            by_collection,
            by_label,
            aggregates,
        })
    }

    /// The plugin set.
    pub fn set(&self) -> &Arc<PluginSet> {
        &self.set
    }

    /// The plugins, in order; a plugin's position is its index everywhere here.
    pub fn plugins(&self) -> &[Plugin] {
        self.set.plugins()
    }

    /// The plugin claiming a collection.
    pub fn plugin_for_collection(&self, collection: &str) -> Option<usize> {
        self.by_collection.get(collection).copied()
    }

    /// A plugin's index by `name@version`.
    pub fn plugin_index(&self, label: &str) -> Option<usize> {
        self.by_label.get(label).copied()
    }

    /// The plugins subscribed to any of these event kinds.
    pub fn plugins_for_events(&self, kinds: EventKinds) -> Vec<usize> {
        self.plugins()
            .iter()
            .enumerate()
            .filter(|(_, plugin)| plugin.declaration().info().events.intersects(kinds))
            .map(|(index, _)| index)
            .collect()
    }

    /// Every table.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    /// A table.
    pub fn table(&self, id: TableId) -> Option<&TableInfo> {
        self.tables.get(id)
    }

    /// The table a plugin means by `name` (declared, or named in `reads`).
    pub fn resolve_table(&self, plugin: usize, name: &str) -> Option<TableId> {
        self.plugin_tables.get(plugin)?.get(name).copied()
    }

    /// Every aggregate.
    pub fn aggregates(&self) -> &[AggregateSpec] {
        &self.aggregates
    }
}

fn declared_location(
    options: &PrepareOptions,
    plugin: &Plugin,
    owner: TableOwner,
    table: &str,
) -> TableName {
    match owner {
        TableOwner::Core => TableName::new(&options.store_schema, table),
        TableOwner::Plugin => TableName::new(
            plugin_schema(&options.plugin_schema_prefix, plugin.declaration()),
            table,
        ),
    }
}

struct Builder {
    tables: Vec<TableInfo>,
    ids: HashMap<TableName, TableId>,
}

impl Builder {
    fn table(&mut self, physical: &PhysicalTable) -> TableId {
        if let Some(&id) = self.ids.get(&physical.name) {
            return id;
        }
        let id = self.tables.len();
        let read_kinds = physical
            .columns
            .iter()
            .filter_map(|column| Some((column.name.clone(), kind_of_type(&column.type_name)?)))
            .collect();
        self.tables.push(TableInfo {
            qualified: physical.name.qualified(),
            physical: physical.clone(),
            bindings: HashMap::new(),
            read_kinds,
            aggregates: Vec::new(),
            aggregate_columns: HashSet::new(),
        });
        self.ids.insert(physical.name.clone(), id);
        id
    }

    /// Checks a plugin's declaration of a table against the real one and records the bindings
    /// of its columns.
    fn declare(
        &mut self,
        id: TableId,
        plugin: &str,
        table: &sluice_plugin_host::types::Table,
    ) -> Result<(), PrepareError> {
        let Some(info) = self.tables.get_mut(id) else {
            return Ok(());
        };
        let table_name = info.physical.name.to_string();
        let column_error = |column: &str, reason: String| PrepareError::Column {
            plugin: plugin.to_owned(),
            table: table_name.clone(),
            column: column.to_owned(),
            reason,
        };
        for column in &table.columns {
            let physical = info
                .physical
                .column(&column.name)
                .ok_or_else(|| column_error(&column.name, "no such column".into()))?;
            if physical.generated {
                return Err(column_error(
                    &column.name,
                    "a generated column cannot be written".into(),
                ));
            }
            let binding =
                ColumnBinding::new(column.kind, &physical.type_name).ok_or_else(|| {
                    column_error(
                        &column.name,
                        format!(
                            "declared {:?} but the column is {}",
                            column.kind, physical.sql_type
                        ),
                    )
                })?;
            if column.nullable && physical.not_null {
                return Err(column_error(
                    &column.name,
                    "declared nullable but the column is NOT NULL".into(),
                ));
            }
            if column.default.is_some() && !physical.optional_on_insert() {
                return Err(column_error(
                    &column.name,
                    "declared with a default but the column has none".into(),
                ));
            }
            match info.bindings.get(&column.name) {
                Some(known) if known.kind != column.kind => {
                    return Err(column_error(
                        &column.name,
                        format!(
                            "declared {:?} here and {:?} by another plugin",
                            column.kind, known.kind
                        ),
                    ));
                }
                _ => {
                    info.read_kinds.insert(column.name.clone(), column.kind);
                    info.bindings.insert(column.name.clone(), binding);
                }
            }
        }
        // A column an insert cannot leave out must be one the plugin always assigns.
        for physical in &info.physical.columns {
            if physical.optional_on_insert() {
                continue;
            }
            let always_assigned = table
                .columns
                .iter()
                .any(|c| c.name == physical.name && !c.nullable && c.default.is_none());
            if !always_assigned {
                return Err(column_error(
                    &physical.name,
                    "the column is NOT NULL without a default, so the plugin must declare it \
                     non-nullable without a default"
                        .into(),
                ));
            }
        }
        let keys = std::iter::once(&table.primary_key).chain(&table.unique_keys);
        for key in keys {
            let columns: BTreeSet<String> = key.iter().cloned().collect();
            if !info.physical.is_unique_key(&columns) {
                return Err(PrepareError::NotUnique {
                    plugin: plugin.to_owned(),
                    table: table_name,
                    columns: key.join(", "),
                });
            }
        }
        for index in &table.indexes {
            let columns: BTreeSet<String> = index.iter().cloned().collect();
            if !info.physical.is_indexed(&columns) {
                tracing::warn!(
                    plugin,
                    table = %table_name,
                    columns = index.join(", "),
                    "a declared index has no matching index: deletes and lookups on it read the whole table"
                );
            }
        }
        Ok(())
    }

    fn check_aggregate(&self, spec: &AggregateSpec) -> Result<(), String> {
        let (Some(source), Some(target)) =
            (self.tables.get(spec.source), self.tables.get(spec.target))
        else {
            return Err("its tables are not declared".into());
        };
        if source.physical.column(&spec.group_by).is_none() {
            return Err(format!(
                "{} has no column {}",
                source.qualified, spec.group_by
            ));
        }
        for (column, _) in &spec.filter {
            if source.physical.column(column).is_none() {
                return Err(format!("{} has no column {column}", source.qualified));
            }
        }
        let key = BTreeSet::from([spec.target_key.clone()]);
        if !target.physical.is_unique_key(&key) {
            return Err(format!(
                "{} is not a unique key of {}",
                spec.target_key, target.qualified
            ));
        }
        match target.physical.column(&spec.target_column) {
            Some(column) if matches!(column.type_name.as_str(), "int8" | "int4" | "numeric") => {}
            _ => {
                return Err(format!(
                    "{} is not an integer column of {}",
                    spec.target_column, target.qualified
                ));
            }
        }
        // The host creates target rows from the key and the counts alone.
        for column in &target.physical.columns {
            if column.name != spec.target_key && !column.optional_on_insert() {
                return Err(format!(
                    "{}.{} is NOT NULL without a default, so a count row cannot be created",
                    target.qualified, column.name
                ));
            }
        }
        Ok(())
    }
}
