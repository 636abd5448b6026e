-- Indexes the reference schema lacks but Sluice's indexer needs. Each is documented in README.md
-- ("Indexes added for the indexer"); names start with `sluice_` so that they can never clash with an
-- index a later reference migration adds.

-- Deleting a post soft-deletes its op_thread_reply row by `uri` alone (the reference does the same:
-- `UPDATE op_thread_reply SET "deletedAt" = … WHERE uri = …`); the primary key leads with "rootUri",
-- so without this every post deletion scans the table.
CREATE INDEX sluice_op_thread_reply_uri_idx ON op_thread_reply (uri);
