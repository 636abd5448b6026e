//! Log lines through the host's `tracing` (in a component), or to stderr (natively).

use crate::bindings::sluice::indexer::host::Level;

/// Writes a log line with fields.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        crate::bindings::sluice::indexer::host::log(level, message, &fields);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("[{level:?}] {message} {fields:?}");
    }
}

/// Writes a debug line.
pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}

/// Writes an info line.
pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

/// Writes a warning.
pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}
