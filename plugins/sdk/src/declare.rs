//! Builders for a plugin's declaration.

use crate::types::{
    Aggregate, Column, ColumnKind, EventKinds, PluginInfo, RecordEncoding, Table, TableOwner, Value,
};

/// Starts the declaration of a table owned by the plugin.
pub fn table(name: &str) -> TableBuilder {
    TableBuilder {
        table: Table {
            name: name.to_owned(),
            owner: TableOwner::Plugin,
            columns: Vec::new(),
            primary_key: Vec::new(),
            unique_keys: Vec::new(),
            indexes: Vec::new(),
        },
    }
}

/// A table declaration being built.
#[derive(Debug, Clone)]
pub struct TableBuilder {
    table: Table,
}

impl TableBuilder {
    /// Marks the table as one of Sluice's own schema (`migrations/`): built-in plugins only.
    pub fn core(mut self) -> Self {
        self.table.owner = TableOwner::Core;
        self
    }

    /// A column that must hold a value.
    pub fn column(self, name: &str, kind: ColumnKind) -> Self {
        self.push(name, kind, false, None)
    }

    /// A column that may be null.
    pub fn nullable(self, name: &str, kind: ColumnKind) -> Self {
        self.push(name, kind, true, None)
    }

    /// A column with a default for rows inserted without it.
    pub fn defaulted(self, name: &str, kind: ColumnKind, default: impl Into<Value>) -> Self {
        self.push(name, kind, false, Some(default.into()))
    }

    /// The primary key.
    pub fn primary_key<const N: usize>(mut self, columns: [&str; N]) -> Self {
        self.table.primary_key = columns.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Another unique key (usable as an upsert's conflict target).
    pub fn unique<const N: usize>(mut self, columns: [&str; N]) -> Self {
        self.table
            .unique_keys
            .push(columns.iter().map(|c| (*c).to_owned()).collect());
        self
    }

    /// An index: columns deletes and lookups may filter on.
    pub fn index<const N: usize>(mut self, columns: [&str; N]) -> Self {
        self.table
            .indexes
            .push(columns.iter().map(|c| (*c).to_owned()).collect());
        self
    }

    /// The finished declaration.
    pub fn build(self) -> Table {
        self.table
    }

    fn push(
        mut self,
        name: &str,
        kind: ColumnKind,
        nullable: bool,
        default: Option<Value>,
    ) -> Self {
        self.table.columns.push(Column {
            name: name.to_owned(),
            kind,
            nullable,
            default,
        });
        self
    }
}

impl From<TableBuilder> for Table {
    fn from(builder: TableBuilder) -> Self {
        builder.build()
    }
}

/// A plugin's declaration being built. Defaults: no events, DAG-CBOR bodies.
#[derive(Debug, Clone)]
pub struct PluginInfoBuilder {
    info: PluginInfo,
}

impl PluginInfoBuilder {
    /// Starts a declaration.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            info: PluginInfo {
                name: name.to_owned(),
                version: version.to_owned(),
                collections: Vec::new(),
                events: EventKinds::empty(),
                encoding: RecordEncoding::DagCbor,
                tables: Vec::new(),
                aggregates: Vec::new(),
                reads: Vec::new(),
                migrations: Vec::new(),
            },
        }
    }

    /// Claims a collection.
    pub fn collection(mut self, nsid: &str) -> Self {
        self.info.collections.push(nsid.to_owned());
        self
    }

    /// Subscribes to network events.
    pub fn events(mut self, events: EventKinds) -> Self {
        self.info.events = events;
        self
    }

    /// Asks for record bodies as atproto JSON rather than DAG-CBOR.
    pub fn json_records(mut self) -> Self {
        self.info.encoding = RecordEncoding::Json;
        self
    }

    /// Declares a table.
    pub fn table(mut self, table: impl Into<Table>) -> Self {
        self.info.tables.push(table.into());
        self
    }

    /// Declares a count the host maintains.
    pub fn aggregate(mut self, aggregate: Aggregate) -> Self {
        self.info.aggregates.push(aggregate);
        self
    }

    /// Names a table of another owner that lookups read.
    pub fn reads(mut self, table: &str) -> Self {
        self.info.reads.push(table.to_owned());
        self
    }

    /// Adds a migration for the plugin's own tables.
    pub fn migration(mut self, sql: &str) -> Self {
        self.info.migrations.push(sql.to_owned());
        self
    }

    /// The finished declaration.
    pub fn build(self) -> PluginInfo {
        self.info
    }
}
