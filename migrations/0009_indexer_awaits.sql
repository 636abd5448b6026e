-- Sluice's own bookkeeping for the indexer (documented in README.md, "Sluice tables"): the
-- reference dataplane never reads these.

-- Awaits: a result of a plugin that depended on a record it could not see (a reply indexed before
-- its parent, a post before its thread gate). When a batch creates, updates or deletes
-- `awaited_uri`, the indexer re-runs the operation of `waiter_uri` (source `replay`) in the same
-- transaction. A waiter's rows are replaced whenever it is indexed again.
CREATE TABLE IF NOT EXISTS sluice_await (
    awaited_uri  varchar NOT NULL,
    waiter_uri   varchar NOT NULL,
    -- When the waiter started waiting (RFC 3339), to see how long results stay unsettled.
    since        varchar NOT NULL,
    PRIMARY KEY (awaited_uri, waiter_uri)
);
-- Replacing a waiter's awaits when it is indexed again (by waiter alone).
CREATE INDEX IF NOT EXISTS sluice_await_waiter_idx ON sluice_await (waiter_uri);
