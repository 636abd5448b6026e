//! A test guest that misbehaves on purpose. What it does with an operation depends on the
//! operation's record key:
//!
//! | rkey | behaviour |
//! |---|---|
//! | `trap` | panics (a trap) |
//! | `loop` | never returns (the deadline must stop it) |
//! | `alloc` | allocates without bound (the memory cap must stop it) |
//! | `undeclared-table` | writes a table it did not declare |
//! | `undeclared-column` | writes a column it did not declare |
//! | `wrong-kind` | writes text into an integer column |
//! | `invalid` | reports an invalid record |
//! | `internal` | reports an internal error |
//! | `reply` | looks up `at://<did>/test.sluice.misbehave/parent` and writes whether it exists |
//! | anything else | writes one good row |
//!
//! It also claims `xyz.statusphere.status`, which the Statusphere example claims: loading both
//! must be refused.

use sluice_plugin_sdk::prelude::*;

/// The collection this guest's operations come from.
pub const COLLECTION: &str = "test.sluice.misbehave";

/// The plugin.
pub struct Misbehave;

impl Plugin for Misbehave {
    type Record = serde::de::IgnoredAny;

    fn describe() -> PluginInfo {
        PluginInfoBuilder::new("misbehave", "0.0.1")
            .collection(COLLECTION)
            .collection("xyz.statusphere.status")
            .table(
                table("thing")
                    .column("uri", ColumnKind::Text)
                    .column("n", ColumnKind::Integer)
                    .nullable("parentExists", ColumnKind::Boolean)
                    .primary_key(["uri"]),
            )
            .build()
    }

    fn project(
        ctx: &mut Context<'_>,
        record: &Version<'_, Self::Record>,
    ) -> Result<Vec<RowOp>, Error> {
        let uri = record.uri.as_str();
        let good = || upsert("thing").key("uri", uri).set("n", 1);
        let op = match record.rkey() {
            "trap" => panic!("misbehave: trapping on purpose"),
            "loop" => {
                let mut spins: u64 = 0;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "undeclared-table" => upsert("secrets").key("uri", uri),
            "undeclared-column" => good().set("evil", "x"),
            "wrong-kind" => upsert("thing").key("uri", uri).set("n", "one"),
            "invalid" => return Err(Error::invalid("misbehave: invalid on purpose")),
            "internal" => return Err(Error::Internal("misbehave: internal on purpose".into())),
            "reply" => {
                let parent = format!("at://{}/{COLLECTION}/parent", record.did());
                let exists = ctx.record(&parent)?.is_some();
                good().set("parentExists", exists)
            }
            _ => good(),
        };
        Ok(vec![op.into()])
    }
}

register_plugin!(Misbehave);
