-- The plugin registry (documented in README.md, "Sluice tables"): which plugins are installed,
-- the collections they claim, and which version each indexer runs. Every indexer process reads
-- the components from here, so all of them run the same bytes; the reference dataplane never
-- reads these tables.

-- Installed plugins: one row per plugin name, the version in use.
CREATE TABLE IF NOT EXISTS sluice_plugin (
    -- The plugin's name (`describe().name`, `[a-z][a-z0-9_]*`).
    name          text PRIMARY KEY,
    -- Its semantic version (`describe().version`).
    version       text        NOT NULL,
    -- SHA-256 of `component`, lowercase hex.
    sha256        text        NOT NULL,
    -- The `sluice:indexer` contract version the component exports (`0.1.0`).
    contract      text        NOT NULL,
    -- The WASM component.
    component     bytea       NOT NULL,
    -- `describe()`, as JSON: collections, tables, aggregates, migrations (for `plugin list`, and
    -- for `plugin reindex --truncate`, which empties the plugin's own tables).
    describe      jsonb       NOT NULL,
    -- A built-in plugin may write core tables (those of `migrations/`).
    builtin       boolean     NOT NULL,
    installed_at  timestamptz NOT NULL DEFAULT now()
);

-- Collection claims: a collection belongs to at most one plugin (the primary key), and the
-- ingester queues only claimed collections (`SELECT collection FROM sluice_plugin_collection`).
CREATE TABLE IF NOT EXISTS sluice_plugin_collection (
    collection  text PRIMARY KEY,
    plugin      text NOT NULL REFERENCES sluice_plugin (name) ON DELETE CASCADE
);
-- A plugin's claims, replaced on every install of a new version.
CREATE INDEX IF NOT EXISTS sluice_plugin_collection_plugin_idx ON sluice_plugin_collection (plugin);

-- What each indexer (by consumer name) runs, reported every few seconds while it runs.
CREATE TABLE IF NOT EXISTS sluice_plugin_consumer (
    consumer     text        NOT NULL,
    plugin       text        NOT NULL,
    version      text        NOT NULL,
    sha256       text        NOT NULL,
    -- When the indexer switched to this version.
    since        timestamptz NOT NULL,
    -- When it last said it runs it.
    reported_at  timestamptz NOT NULL,
    PRIMARY KEY (consumer, plugin)
);

-- Every change of the installed plugins notifies channel `sluice_plugins` with the schema's name
-- as payload, on commit: running indexers reload within moments instead of at their next poll.
CREATE OR REPLACE FUNCTION sluice_plugin_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sluice_plugins', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER sluice_plugin_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sluice_plugin
    FOR EACH STATEMENT EXECUTE FUNCTION sluice_plugin_notify();
