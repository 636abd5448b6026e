//! Errors of loading plugins and of checking their declarations.

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The wasmtime engine could not be built.
    #[error("the WASM engine could not be set up: {0}")]
    Engine(String),
    /// The compiled-code cache could not be set up.
    #[error("the compiled-code cache could not be set up: {0}")]
    Cache(String),
    /// The bytes are not a valid WASM component.
    #[error("not a valid WASM component: {0}")]
    Compile(String),
    /// The component does not export a contract version this host runs.
    #[error(
        "the component exports none of the plugin interfaces this host accepts ({accepted}); it exports: {exported}"
    )]
    UnsupportedVersion {
        /// The interfaces this host accepts.
        accepted: String,
        /// The interfaces the component exports.
        exported: String,
    },
    /// The component imports something the host does not provide (a file system, a socket...).
    #[error("the component cannot be linked (it imports something the host does not provide): {0}")]
    Link(String),
    /// Instantiating the component, or calling its `describe`, failed.
    #[error("the plugin failed while starting or describing itself: {0}")]
    Describe(String),
    /// The plugin's declaration breaks a rule.
    #[error("plugin {plugin}: invalid declaration: {error}")]
    Declaration {
        /// `name@version` (or what the plugin reported of it).
        plugin: String,
        /// What is wrong.
        error: Box<DeclarationError>,
    },
    /// The plugin conflicts with one already loaded.
    #[error("plugin {plugin} conflicts with a loaded plugin: {error}")]
    Conflict {
        /// `name@version` of the plugin refused.
        plugin: String,
        /// What it conflicts on.
        error: ConflictError,
    },
    /// Reading the plugin file failed.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A rule of plugin declarations that a plugin's `describe` broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeclarationError {
    /// The plugin name is not `[a-z][a-z0-9_]*` (at most 48 characters).
    #[error("name {0:?} is not [a-z][a-z0-9_]* of at most 48 characters")]
    Name(String),
    /// The version is empty or not `MAJOR.MINOR.PATCH[-pre][+build]`.
    #[error("version {0:?} is not a semantic version")]
    Version(String),
    /// A claimed collection is not an NSID.
    #[error("collection {0:?} is not an NSID")]
    Collection(String),
    /// A collection is claimed twice.
    #[error("collection {0} is claimed twice")]
    DuplicateCollection(String),
    /// Two tables share a name.
    #[error("table {0} is declared twice")]
    DuplicateTable(String),
    /// A table or column name is not a plain SQL identifier.
    #[error("{0:?} is not a valid table or column name ([A-Za-z_][A-Za-z0-9_]*, at most 63 bytes)")]
    Identifier(String),
    /// A table declares a column twice.
    #[error("table {table}: column {column} is declared twice")]
    DuplicateColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A key or index names a column the table does not have, or is empty.
    #[error("table {table}: {what} names unknown column {column:?} (or is empty)")]
    KeyColumn {
        /// The table.
        table: String,
        /// Which key: "primary key", "unique key", "index".
        what: &'static str,
        /// The column named.
        column: String,
    },
    /// A primary-key column is declared nullable.
    #[error("table {table}: primary-key column {column} must not be nullable")]
    NullableKey {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A column's default is not of the column's kind.
    #[error("table {table}: the default of column {column} is not a {kind}")]
    DefaultKind {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The column's kind.
        kind: String,
    },
    /// A plugin that is not built in declares a `core` table.
    #[error("table {0} is a core table; only built-in plugins may write core tables")]
    CoreTable(String),
    /// An aggregate refers to an undeclared table or column, or its count column is not an
    /// integer.
    #[error("aggregate on {source_table}.{group_by} → {target}.{column}: {reason}")]
    Aggregate {
        /// The counted table.
        source_table: String,
        /// Its grouping column.
        group_by: String,
        /// The table holding the count.
        target: String,
        /// The count column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// A table named in `reads` is not a valid name.
    #[error("reads: {0:?} is not a valid table name")]
    Reads(String),
    /// Migrations were given although the plugin declares no plugin-owned table.
    #[error("migrations given but no plugin-owned table is declared")]
    Migrations,
}

/// A conflict between a plugin and the plugins already loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConflictError {
    /// Another plugin already has this name.
    #[error("a plugin named {0} is already loaded")]
    Name(String),
    /// Another plugin already claims this collection.
    #[error("collection {collection} is already claimed by {owner}")]
    Collection {
        /// The collection.
        collection: String,
        /// `name@version` of the plugin that claims it.
        owner: String,
    },
}
