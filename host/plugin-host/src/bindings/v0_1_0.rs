//! Bindings of `sluice:indexer@0.1.0` (`wit/since_v0.1.0`). Frozen with that folder.

#![allow(missing_docs, unreachable_pub)]

wasmtime::component::bindgen!({
    world: "indexer-plugin",
    path: "../../wit/since_v0.1.0",
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    // Exports are called with `call_async`: WASI's host functions are async, and a synchronous
    // call would block on them inside the caller's tokio runtime. `log` stays synchronous.
    exports: { default: async },
});

pub use sluice::indexer::host::Level;
pub use sluice::indexer::types::*;

// `flags` types get no derives from `bindgen!`: serde by hand, as the list of set flag names.
impl serde::Serialize for EventKinds {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = [
            (EventKinds::IDENTITY, "identity"),
            (EventKinds::ACCOUNT, "account"),
            (EventKinds::LABEL, "label"),
        ]
        .into_iter()
        .filter(|(flag, _)| self.contains(*flag))
        .map(|(_, name)| name)
        .collect();
        serializer.collect_seq(names)
    }
}

impl<'de> serde::Deserialize<'de> for EventKinds {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names.iter().try_fold(EventKinds::empty(), |kinds, name| {
            Ok(kinds
                | match name.as_str() {
                    "identity" => EventKinds::IDENTITY,
                    "account" => EventKinds::ACCOUNT,
                    "label" => EventKinds::LABEL,
                    other => {
                        return Err(serde::de::Error::unknown_variant(
                            other,
                            &["identity", "account", "label"],
                        ));
                    }
                })
        })
    }
}
