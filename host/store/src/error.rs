//! The store's errors.

use sqlx::migrate::MigrateError;

/// Everything that can go wrong while setting up or migrating the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The schema name is not a plain identifier (see [`crate::SchemaName`]).
    #[error("invalid schema name {name:?}: {reason}")]
    InvalidSchemaName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The database URL does not parse.
    #[error("invalid database URL")]
    InvalidDatabaseUrl(#[source] sqlx::Error),
    /// Postgres could not be reached or refused the connection.
    #[error("cannot connect to Postgres")]
    Connect(#[source] sqlx::Error),
    /// The schema is missing and could not be created.
    #[error("cannot create schema {schema:?}")]
    CreateSchema {
        /// The schema's name.
        schema: String,
        /// The database's answer.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed, or the applied migrations differ from the embedded ones.
    #[error("migrating schema {schema:?} failed")]
    Migrate {
        /// The schema's name.
        schema: String,
        /// What sqlx reported.
        #[source]
        source: MigrateError,
    },
}
