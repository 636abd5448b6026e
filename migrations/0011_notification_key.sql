-- Notifications are identified by (record, recipient, reason): one record notifies one account at
-- most once per reason. The Bluesky plugins upsert notifications on that key (their rows carry no
-- serial id), so re-indexing a record or replaying it never doubles a notification. Documented in
-- README.md ("Indexes added for the indexer").
CREATE UNIQUE INDEX IF NOT EXISTS sluice_notification_record_did_reason
    ON notification ("recordUri", did, reason);
