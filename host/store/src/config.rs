//! What to connect to: the database URL, the Postgres schema and the pool's limits.

use std::fmt;
use std::time::Duration;

use crate::StoreError;

/// The longest identifier Postgres keeps (longer names are silently truncated).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A Postgres schema name that is safe to quote into SQL: ASCII letters, digits and `_`, not
/// starting with a digit, at most 63 bytes. Case is kept (the name is always quoted).
///
/// The reference AppView (`@atproto/bsky`) is stricter: it accepts only `[A-Za-z_]+`. Use a name
/// without digits for a schema that the reference dataplane must also open.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaName(String);

impl SchemaName {
    /// Checks `name` and wraps it.
    pub fn new(name: impl Into<String>) -> Result<Self, StoreError> {
        let name = name.into();
        let invalid = |reason| StoreError::InvalidSchemaName {
            name: name.clone(),
            reason,
        };
        let Some(first) = name.chars().next() else {
            return Err(invalid("it is empty"));
        };
        if name.len() > MAX_IDENTIFIER_BYTES {
            return Err(invalid("it is longer than 63 bytes"));
        }
        if !(first.is_ascii_alphabetic() || first == '_') {
            return Err(invalid("it must start with an ASCII letter or '_'"));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid("only ASCII letters, digits and '_' are allowed"));
        }
        Ok(Self(name))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier (`"name"`); safe because of the checked alphabet.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to reach the database and how large a pool to keep.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// A `postgres://` URL (user, password, host, port, database and URL options).
    pub database_url: String,
    /// The schema that holds the tables; created if missing.
    pub schema: SchemaName,
    /// Upper bound on open connections.
    pub max_connections: u32,
    /// How long a caller waits for a free connection before getting an error.
    pub acquire_timeout: Duration,
    /// Shown in `pg_stat_activity.application_name`.
    pub application_name: String,
    /// Settings every connection starts with (`SET name = value`, sent as startup parameters,
    /// so they cost no round trip and survive `RESET ALL`). Empty by default.
    pub session_settings: Vec<(String, String)>,
}

impl StoreConfig {
    /// A configuration with default pool limits (10 connections, 30 s acquire timeout).
    pub fn new(database_url: impl Into<String>, schema: SchemaName) -> Self {
        Self {
            database_url: database_url.into(),
            schema,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            application_name: "sluice".to_owned(),
            session_settings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_identifiers_of_the_safe_alphabet() {
        for name in ["bsky", "t_abc", "_private", "Schema_2", &"a".repeat(63)] {
            let schema = SchemaName::new(name).unwrap();
            assert_eq!(schema.as_str(), name);
            assert_eq!(schema.quoted(), format!("\"{name}\""));
        }
    }

    #[test]
    fn refuses_names_that_would_need_escaping_or_get_truncated() {
        for name in [
            "",
            "2fast",
            "with space",
            "quote\"d",
            "semi;colon",
            "dash-ed",
            "é",
            &"a".repeat(64),
        ] {
            let err = SchemaName::new(name).unwrap_err();
            assert!(
                matches!(&err, StoreError::InvalidSchemaName { name: n, .. } if n == name),
                "{name:?}: {err}"
            );
        }
    }
}
