//! `compose.yaml`, checked without a Docker engine: `docker-compose config` (Debian's
//! `docker-compose` package, which `scripts/test` installs) accepts it; it stands up the pipeline
//! the README promises (Redis with AOF and `noeviction`, Postgres, migrations, an ingester, a
//! backfiller, two indexers with the plugin volume); and every `sluice` command, flag and
//! environment variable it uses is one the binary built here accepts — the same binary the
//! no-Docker path (`scripts/dev`, the other end-to-end tests) runs.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::support::sluice_bin::sluice_binary;
use crate::support::workspace_root;

/// `docker-compose config` of the repository's `compose.yaml`, as JSON.
fn resolved_compose() -> Value {
    let root = workspace_root();
    let mut command = Command::new("docker-compose");
    command
        .arg("--project-directory")
        .arg(&root)
        .arg("-f")
        .arg(root.join("compose.yaml"))
        .arg("config");
    // The defaults, not whatever the caller's environment overrides.
    for (name, _) in std::env::vars() {
        if name.starts_with("SLUICE_") {
            command.env_remove(name);
        }
    }
    let output = command.output().unwrap_or_else(|error| {
        panic!("docker-compose: {error} (install Debian's docker-compose; scripts/test does)")
    });
    assert!(
        output.status.success(),
        "docker-compose config refuses compose.yaml:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_norway::from_slice(&output.stdout).expect("docker-compose config prints YAML")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The `sluice` arguments a service runs: its command, or what its `sh -c "exec sluice …"`
/// entrypoint runs (the image's entrypoint is `sluice`).
fn sluice_arguments(service: &Value) -> Vec<String> {
    let entrypoint = strings(&service["entrypoint"]);
    match entrypoint.as_slice() {
        [] => strings(&service["command"]),
        [sh, flag, script] if sh == "sh" && flag == "-c" => {
            let rest = script
                .strip_prefix("exec sluice ")
                .unwrap_or_else(|| panic!("an entrypoint that does not exec sluice: {script}"));
            rest.split_whitespace().map(str::to_owned).collect()
        }
        other => panic!("an entrypoint this test does not know: {other:?}"),
    }
}

/// `sluice <subcommand…> --help`.
fn help(subcommand: &[String]) -> String {
    let output = Command::new(sluice_binary())
        .args(subcommand)
        .arg("--help")
        .output()
        .expect("running sluice");
    assert!(
        output.status.success(),
        "sluice {} --help: {}",
        subcommand.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn compose_stands_up_the_pipeline_with_what_sluice_accepts() {
    let config = resolved_compose();
    let services = config["services"]
        .as_object()
        .expect("compose.yaml has services");
    for name in [
        "postgres",
        "redis",
        "migrate",
        "ingester",
        "backfiller",
        "indexer",
    ] {
        assert!(services.contains_key(name), "no {name} service");
    }

    let redis = strings(&services["redis"]["command"]).join(" ");
    assert!(
        redis.contains("--appendonly yes"),
        "Redis without AOF: {redis}"
    );
    assert!(
        redis.contains("--maxmemory-policy noeviction"),
        "Redis may evict stream entries: {redis}"
    );
    let indexer = &services["indexer"];
    assert_eq!(indexer["deploy"]["replicas"], 2, "two indexers");
    let plugin_dir = indexer["environment"]["SLUICE_PLUGIN_DIR"]
        .as_str()
        .expect("the indexers watch a plugin directory");
    let mounted = indexer["volumes"].as_array().is_some_and(|volumes| {
        volumes.iter().any(|volume| {
            volume["target"].as_str() == Some(plugin_dir)
                || volume.as_str().is_some_and(|v| {
                    // `source:target[:mode]`
                    v.split(':').nth(1) == Some(plugin_dir)
                })
        })
    });
    assert!(mounted, "the plugin volume is mounted at {plugin_dir}");

    let mut checked = BTreeSet::new();
    for (name, service) in services {
        if !service["image"]
            .as_str()
            .is_some_and(|image| image.starts_with("sluice"))
        {
            continue;
        }
        let arguments = sluice_arguments(service);
        let subcommand: Vec<String> = arguments
            .iter()
            .take_while(|argument| !argument.starts_with('-'))
            .cloned()
            .collect();
        assert!(!subcommand.is_empty(), "{name}: no sluice subcommand");
        let text = help(&subcommand);
        for flag in arguments
            .iter()
            .filter(|argument| argument.starts_with("--"))
        {
            let flag = flag.split('=').next().unwrap_or(flag);
            assert!(
                text.contains(&format!("{flag} ")) || text.contains(&format!("{flag}\n")),
                "{name}: sluice {} has no {flag}",
                subcommand.join(" ")
            );
        }
        if let Some(environment) = service["environment"].as_object() {
            for variable in environment.keys().filter(|key| key.starts_with("SLUICE_")) {
                assert!(
                    text.contains(&format!("[env: {variable}=")),
                    "{name}: sluice {} does not read {variable}",
                    subcommand.join(" ")
                );
            }
        }
        checked.insert(name.clone());
    }
    for name in ["migrate", "ingester", "backfiller", "indexer"] {
        assert!(checked.contains(name), "{name} does not run sluice");
    }
}
