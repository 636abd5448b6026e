//! The plugins loaded in one process, and the rule that two plugins may not claim the same
//! collection (nor share a name).

use std::collections::HashMap;

use crate::error::{ConflictError, LoadError};
use crate::plugin::Plugin;

/// The loaded plugins, with the collection each is responsible for.
#[derive(Debug, Clone, Default)]
pub struct PluginSet {
    plugins: Vec<Plugin>,
    by_collection: HashMap<String, usize>,
}

impl PluginSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin, refusing it when its name or one of its collections is taken.
    pub fn add(&mut self, plugin: Plugin) -> Result<(), LoadError> {
        let conflict = |error| LoadError::Conflict {
            plugin: plugin.label().to_owned(),
            error,
        };
        let info = plugin.declaration().info();
        if self
            .plugins
            .iter()
            .any(|loaded| loaded.declaration().info().name == info.name)
        {
            return Err(conflict(ConflictError::Name(info.name.clone())));
        }
        for collection in &info.collections {
            if let Some(&owner) = self.by_collection.get(collection) {
                let owner = self
                    .plugins
                    .get(owner)
                    .map(|p| p.label().to_owned())
                    .unwrap_or_default();
                return Err(conflict(ConflictError::Collection {
                    collection: collection.clone(),
                    owner,
                }));
            }
        }
        let index = self.plugins.len();
        for collection in &info.collections {
            self.by_collection.insert(collection.clone(), index);
        }
        self.plugins.push(plugin);
        Ok(())
    }

    /// The plugin that claims a collection.
    pub fn for_collection(&self, collection: &str) -> Option<&Plugin> {
        self.by_collection
            .get(collection)
            .and_then(|&index| self.plugins.get(index))
    }

    /// Every loaded plugin, in the order added.
    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }
}
