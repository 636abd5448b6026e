-- Tombstones of deleted records live in their own table, not in `record`: the reference
-- dataplane reads `record` by URI and parses its `json`, so a tombstone row there (`json = ''`)
-- made it fail (500) on anything that hydrates a deleted record, such as a reply whose parent
-- was deleted. A tombstone keeps the revision of the delete (the revision guard) and the
-- indexing time of the version it replaced. Documented in README.md ("Sluice tables").
CREATE TABLE IF NOT EXISTS sluice_tombstone (
    uri varchar PRIMARY KEY,
    did varchar NOT NULL,
    rev varchar NOT NULL,
    "indexedAt" varchar NOT NULL
);
CREATE INDEX IF NOT EXISTS sluice_tombstone_did_idx ON sluice_tombstone (did);

-- Tombstones written into `record` before this migration move over.
INSERT INTO sluice_tombstone (uri, did, rev, "indexedAt")
SELECT uri, did, rev, "indexedAt" FROM record WHERE json = ''
ON CONFLICT (uri) DO NOTHING;
DELETE FROM record WHERE json = '';
