//! The indexer's errors.

use sluice_plugin_host::LoadError;

/// Why a set of plugins could not be prepared for indexing (their tables checked against the
/// database, their own tables created).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Reading a plugin file or directory failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A plugin's schema name is longer than Postgres keeps.
    #[error("schema name {0:?} is longer than 63 bytes")]
    SchemaName(String),
    /// A plugin has migrations but plugin migrations are not allowed.
    #[error(
        "{plugin} brings SQL migrations for its tables; run the indexer with plugin migrations allowed to apply them"
    )]
    MigrationsRefused {
        /// The plugin.
        plugin: String,
    },
    /// An applied migration's text changed.
    #[error("{plugin}: migration {position} was applied with a different text")]
    MigrationChanged {
        /// The plugin.
        plugin: String,
        /// Its position in the list.
        position: usize,
    },
    /// A migration failed.
    #[error("{plugin}: migration {position} failed: {source}")]
    Migration {
        /// The plugin.
        plugin: String,
        /// Its position in the list.
        position: usize,
        /// The database's answer.
        source: sqlx::Error,
    },
    /// A declared or read table does not exist.
    #[error("{plugin}: table {table} does not exist")]
    MissingTable {
        /// The plugin.
        plugin: String,
        /// The table (`schema.name`).
        table: String,
    },
    /// A declared column does not match the real table.
    #[error("{plugin}: {table}.{column}: {reason}")]
    Column {
        /// The plugin.
        plugin: String,
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What does not match.
        reason: String,
    },
    /// A declared key is not a unique index of the real table.
    #[error("{plugin}: ({columns}) is not a unique key of {table}")]
    NotUnique {
        /// The plugin.
        plugin: String,
        /// The table.
        table: String,
        /// The columns.
        columns: String,
    },
    /// An aggregate cannot be maintained.
    #[error("{plugin}: aggregate {target}.{column}: {reason}")]
    Aggregate {
        /// The plugin.
        plugin: String,
        /// The count's table.
        target: String,
        /// The count's column.
        column: String,
        /// Why.
        reason: String,
    },
    /// A table named in `reads` is neither a core table nor another plugin's.
    #[error("{plugin}: reads {table}, which no schema has")]
    UnknownRead {
        /// The plugin.
        plugin: String,
        /// The table.
        table: String,
    },
}

/// Why a batch could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The database failed; [`BatchError::is_transient`] says whether retrying may help.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Another indexer changed records of this batch between its reads and its writes: the
    /// batch is retried from the start.
    #[error("concurrent change: {0}")]
    Concurrent(String),
    /// Plugin lookups could not be answered.
    #[error(transparent)]
    Lookup(#[from] sluice_plugin_host::LookupError),
    /// A stored row could not be turned into a plugin value, or a value into a parameter.
    #[error("{0}")]
    Data(String),
}

impl BatchError {
    /// Whether retrying the same batch may succeed (a lost connection, a deadlock, a concurrent
    /// change) rather than fail again the same way (a row Postgres refuses).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Concurrent(_) | Self::Lookup(_) => true,
            Self::Data(_) => false,
            Self::Database(error) => match error {
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    // Serialization failure, deadlock, lock timeout, cancellation, too many
                    // connections, admin shutdown and the like.
                    matches!(
                        code.as_ref(),
                        "40001"
                            | "40P01"
                            | "55P03"
                            | "57014"
                            | "53300"
                            | "57P01"
                            | "57P02"
                            | "57P03"
                    ) || code.starts_with("08")
                }),
                sqlx::Error::Protocol(_)
                | sqlx::Error::Decode(_)
                | sqlx::Error::ColumnNotFound(_) => false,
                _ => true,
            },
        }
    }

    /// Whether the error is a unique violation (the batch may succeed with its row operations
    /// applied in their exact order).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505"))
    }

    /// A short, bounded name for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Concurrent(_) => "concurrent",
            Self::Lookup(_) => "lookup",
            Self::Data(_) => "data",
            Self::Database(_) if self.is_transient() => "database_transient",
            Self::Database(_) => "database",
        }
    }
}
