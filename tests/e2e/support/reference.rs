//! The reference AppView's own tools, run from the realnet install.

use serde_json::Value;
use tokio::process::Command;

use super::{node, realnet_dir, workspace_root};

/// Runs the reference's migrator (`@atproto/bsky` 0.0.280's `Database.migrateToLatestOrThrow`) on
/// `schema` of the test database (creating the schema if missing) and returns how many migrations
/// it applied.
///
/// # Panics
/// If the migrator fails; its output is in the panic message.
pub(crate) async fn migrate(schema: &str) -> u64 {
    let script = workspace_root().join("tests/e2e/support/reference-migrate.mjs");
    let output = Command::new(node())
        .arg(&script)
        .arg("--realnet-dir")
        .arg(realnet_dir())
        .arg("--pg-url")
        .arg(sluice_store::database_url())
        .arg("--pg-schema")
        .arg(schema)
        .output()
        .await
        .unwrap_or_else(|err| panic!("running {}: {err}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "reference migrator failed on {schema} ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|value| value.get("migrated").and_then(Value::as_u64))
        .unwrap_or_else(|| panic!("reference migrator printed no count:\n{stdout}\n{stderr}"))
}
