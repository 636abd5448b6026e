//! Write Sluice indexer plugins in Rust.
//!
//! A plugin is one projection: the rows one version of a record produces. The SDK does the rest:
//! it decodes records (DAG-CBOR or JSON) into your type, answers lookups in rounds
//! ([`Context::record`], [`Context::rows`]: ask with `?`, the host answers and calls again),
//! waits for records that are not there yet, and derives what a delete or an update must undo
//! from the previous version of the record.
//!
//! ```ignore
//! use sluice_plugin_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Status { status: String, #[serde(rename = "createdAt")] created_at: String }
//!
//! struct Statusphere;
//!
//! impl Plugin for Statusphere {
//!     type Record = Status;
//!     fn describe() -> PluginInfo {
//!         PluginInfoBuilder::new("statusphere", "0.1.0")
//!             .collection("xyz.statusphere.status")
//!             .table(table("status").column("uri", ColumnKind::Text).column("status", ColumnKind::Text).primary_key(["uri"]))
//!             .build()
//!     }
//!     fn project(_ctx: &mut Context<'_>, record: &Version<'_, Status>) -> Result<Vec<RowOp>, Error> {
//!         Ok(vec![upsert("status").key("uri", record.uri.as_str()).set("status", record.value.status.as_str()).into()])
//!     }
//! }
//!
//! register_plugin!(Statusphere);
//! ```

// The generated bindings are full of `unsafe` glue; everything written by hand here is safe.
#[allow(
    unsafe_code,
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::mem_forget
)]
pub mod bindings {
    //! The generated bindings of `sluice:indexer@0.1.0` (`wit/since_v0.1.0`).
    wit_bindgen::generate!({
        world: "indexer-plugin",
        path: "../../wit/since_v0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_plugin_bindings",
        default_bindings_module: "sluice_plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

mod context;
mod declare;
mod derive;
mod error;
pub mod log;
mod plugin;
mod record;
mod rows;
#[doc(hidden)]
pub mod runtime;

/// The contract's types (values, declarations, row operations, record operations...).
pub mod types {
    pub use crate::bindings::sluice::indexer::types::*;
}

pub use cid::Cid;
pub use context::Context;
pub use declare::{PluginInfoBuilder, TableBuilder, table};
pub use derive::derive_changes;
pub use error::Error;
pub use plugin::Plugin;
pub use record::{Version, decode, is_datetime};
pub use rows::{Delete, Increment, Upsert, delete, increment, upsert};

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::types::{
        ColumnKind, EventKinds, Lookup, NetworkEvent, PluginInfo, RecordOp, Row, RowOp, RowQuery,
        StoredRecord, Value,
    };
    pub use crate::{
        Context, Error, Plugin, PluginInfoBuilder, Version, delete, increment, register_plugin,
        table, upsert,
    };
}

/// Exports a type implementing [`Plugin`] as the component's `sluice:indexer/plugin`.
///
/// Use it once, at the root of a `cdylib` crate built for `wasm32-wasip2`.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        // Only in the component: natively the exported names (`sluice:indexer/plugin@…`) are not
        // valid linker symbols, and native callers use `sluice_plugin_sdk::runtime` directly.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __sluice_plugin_export {
            use super::*;

            struct Export;

            impl $crate::bindings::exports::sluice::indexer::plugin::Guest for Export {
                fn describe() -> $crate::types::PluginInfo {
                    <$plugin as $crate::Plugin>::describe()
                }

                fn index_records(
                    ops: ::std::vec::Vec<$crate::types::RecordOp>,
                    answers: ::std::vec::Vec<$crate::types::Answer>,
                ) -> ::std::vec::Vec<$crate::types::Outcome> {
                    $crate::runtime::index_records::<$plugin>(&ops, &answers)
                }

                fn index_events(
                    events: ::std::vec::Vec<$crate::types::NetworkEvent>,
                    answers: ::std::vec::Vec<$crate::types::Answer>,
                ) -> ::std::vec::Vec<$crate::types::Outcome> {
                    $crate::runtime::index_events::<$plugin>(&events, &answers)
                }
            }

            $crate::bindings::export_plugin_bindings!(Export with_types_in $crate::bindings);
        }
    };
}
