//! The `record` table (every live record's current version with the repo revision that wrote
//! it), the `sluice_tombstone` table (deleted records), and the revision guard.
//!
//! **The guard.** An operation applies only when its revision is newer than the stored one, so
//! operations delivered out of order (a backfill racing the live firehose, a redelivery after a
//! crash) never roll a record back. A delete (even of a record never seen) leaves a tombstone
//! in `sluice_tombstone` carrying the delete's revision, so a create of an older revision
//! arriving later is refused instead of resurrecting the record. At an equal revision:
//! a tombstone wins (a redelivered delete, or a backfill snapshot taken at the revision of the
//! deletion); the same version again is a redelivery and does nothing; a different version
//! applies (the reference's `rev <=` rule).
//!
//! Tombstones are kept out of `record` because the reference dataplane parses the `json` of
//! every `record` row it reads. A URI is in one of the two tables, never both; in memory a
//! tombstone is a [`StoredState`] with empty `cid` and `json`.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

use crate::error::BatchError;

/// A record's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    /// Its CID; empty for a tombstone.
    pub cid: String,
    /// Its atproto JSON; empty for a tombstone.
    pub json: String,
    /// The revision of the commit that wrote it (or deleted it).
    pub rev: String,
    /// When it was indexed.
    pub indexed_at: String,
}

impl StoredState {
    /// A deleted record's remains.
    pub fn is_tombstone(&self) -> bool {
        self.json.is_empty()
    }

    /// A tombstone left by a delete of revision `rev` at `indexed_at`.
    pub fn tombstone(rev: &str, indexed_at: &str) -> Self {
        Self {
            cid: String::new(),
            json: String::new(),
            rev: rev.to_owned(),
            indexed_at: indexed_at.to_owned(),
        }
    }
}

/// What the guard decides about an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Newer than what is stored: apply it.
    Apply,
    /// Older than what is stored: skip it.
    Stale,
    /// What is stored already (a redelivery, or a delete losing to an equal tombstone): skip.
    Duplicate,
    /// The same record (same CID) at a newer revision, e.g. a backfill delivering a record the
    /// live firehose indexed already: only the stored revision moves. Re-running the plugin
    /// would undo and redo the record's rows and lose what was settled since (a repost's feed
    /// item removed by the post's re-index, reply states, notifications).
    Unchanged,
}

/// The revision guard. `new_cid` is the operation's record CID, `None` for a delete.
pub fn guard(stored: Option<&StoredState>, rev: &str, new_cid: Option<&str>) -> Verdict {
    let Some(stored) = stored else {
        return Verdict::Apply;
    };
    match rev.cmp(stored.rev.as_str()) {
        std::cmp::Ordering::Greater => match new_cid {
            Some(cid) if !stored.is_tombstone() && cid == stored.cid => Verdict::Unchanged,
            _ => Verdict::Apply,
        },
        std::cmp::Ordering::Less => Verdict::Stale,
        std::cmp::Ordering::Equal => {
            if stored.is_tombstone() {
                return Verdict::Duplicate;
            }
            match new_cid {
                None => Verdict::Apply,
                Some(cid) if cid == stored.cid => Verdict::Duplicate,
                Some(_) => Verdict::Apply,
            }
        }
    }
}

/// The stored states of `uris` (tombstones included); absent ones are missing from the map.
pub async fn load(
    conn: &mut PgConnection,
    uris: &[String],
) -> Result<HashMap<String, StoredState>, sqlx::Error> {
    if uris.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        r#"SELECT uri, cid, json, rev, "indexedAt" FROM record WHERE uri = ANY($1)
           UNION ALL
           SELECT uri, '', '', rev, "indexedAt" FROM sluice_tombstone WHERE uri = ANY($1)"#,
    )
    .bind(uris)
    .fetch_all(conn)
    .await?;
    let mut states = HashMap::with_capacity(rows.len());
    for row in rows {
        let state = StoredState {
            cid: row.try_get(1)?,
            json: row.try_get(2)?,
            rev: row.try_get(3)?,
            indexed_at: row.try_get(4)?,
        };
        // Never both; should it happen, the live version wins.
        match states.entry(row.try_get::<String, _>(0)?) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(state);
            }
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                if !state.is_tombstone() {
                    slot.insert(state);
                }
            }
        }
    }
    Ok(states)
}

/// The live records of one account (not tombstones), for deleting an account.
pub async fn load_account(
    conn: &mut PgConnection,
    did: &str,
) -> Result<HashMap<String, StoredState>, sqlx::Error> {
    let rows = sqlx::query(
        r#"SELECT uri, cid, json, rev, "indexedAt" FROM record WHERE did = $1 AND json <> ''"#,
    )
    .bind(did)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get::<String, _>(0)?,
                StoredState {
                    cid: row.try_get(1)?,
                    json: row.try_get(2)?,
                    rev: row.try_get(3)?,
                    indexed_at: row.try_get(4)?,
                },
            ))
        })
        .collect()
}

/// One record row to write: its final state after the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite {
    /// The record's AT-URI.
    pub uri: String,
    /// The repo's DID.
    pub did: String,
    /// What the batch read before deciding (must still be stored when writing).
    pub expected: Option<StoredState>,
    /// The new state.
    pub state: StoredState,
}

/// Locks the rows of `writes` and checks that they are still what the batch read; then writes
/// the new states: live versions into `record`, tombstones into `sluice_tombstone`, each URI
/// removed from the other table. A difference means another indexer changed one of them in
/// between: [`BatchError::Concurrent`], and the batch starts over.
pub async fn write(conn: &mut PgConnection, writes: &[RecordWrite]) -> Result<(), BatchError> {
    if writes.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&RecordWrite> = writes.iter().collect();
    sorted.sort_by(|a, b| a.uri.cmp(&b.uri));
    // Rows the batch read are locked and compared. Where it read none (every create of a
    // backfill), there is nothing to lock: a row another indexer wrote meanwhile shows up below,
    // when the insert finds it or the tombstone delete removes it.
    let known: Vec<&str> = sorted
        .iter()
        .filter(|w| w.expected.is_some())
        .map(|w| w.uri.as_str())
        .collect();
    let mut now: HashMap<String, (String, String)> = HashMap::with_capacity(known.len());
    if !known.is_empty() {
        for sql in [
            "SELECT uri, cid, rev FROM record WHERE uri = ANY($1) ORDER BY uri FOR UPDATE",
            "SELECT uri, '', rev FROM sluice_tombstone WHERE uri = ANY($1) ORDER BY uri FOR UPDATE",
        ] {
            for row in sqlx::query(sql).bind(&known).fetch_all(&mut *conn).await? {
                now.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
            }
        }
    }
    for write in &sorted {
        let Some(expected) = &write.expected else {
            continue;
        };
        let unchanged = now
            .get(&write.uri)
            .is_some_and(|(cid, rev)| expected.cid == *cid && expected.rev == *rev);
        if !unchanged {
            return Err(BatchError::Concurrent(format!(
                "{} changed since it was read",
                write.uri
            )));
        }
    }
    let (live, deleted): (Vec<&RecordWrite>, Vec<&RecordWrite>) =
        sorted.iter().partition(|w| !w.state.is_tombstone());
    let expected_new: HashMap<&str, bool> = sorted
        .iter()
        .map(|w| (w.uri.as_str(), w.expected.is_none()))
        .collect();
    // A row found where the batch saw none was written by another indexer meanwhile.
    let check_fresh = |uri: &str, fresh: bool| {
        if expected_new.get(uri) == Some(&true) && !fresh {
            Err(BatchError::Concurrent(format!(
                "{uri} was created by another indexer meanwhile"
            )))
        } else {
            Ok(())
        }
    };

    if !live.is_empty() {
        let live_uris: Vec<&str> = live.iter().map(|w| w.uri.as_str()).collect();
        let revived: Vec<String> =
            sqlx::query_scalar("DELETE FROM sluice_tombstone WHERE uri = ANY($1) RETURNING uri")
                .bind(&live_uris)
                .fetch_all(&mut *conn)
                .await?;
        for uri in &revived {
            check_fresh(uri, false)?;
        }
        let mut columns: [Vec<&str>; 6] = Default::default();
        for write in &live {
            let values = [
                write.uri.as_str(),
                write.state.cid.as_str(),
                write.did.as_str(),
                write.state.json.as_str(),
                write.state.indexed_at.as_str(),
                write.state.rev.as_str(),
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let [uri, cid, did, json, indexed_at, rev] = columns;
        let written = sqlx::query(
            r#"INSERT INTO record AS r (uri, cid, did, json, "indexedAt", rev)
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
               ON CONFLICT (uri) DO UPDATE SET
                   cid = EXCLUDED.cid,
                   json = EXCLUDED.json,
                   rev = EXCLUDED.rev,
                   "indexedAt" = EXCLUDED."indexedAt"
               RETURNING uri, (r.xmax = 0)"#,
        )
        .bind(uri)
        .bind(cid)
        .bind(did)
        .bind(json)
        .bind(indexed_at)
        .bind(rev)
        .fetch_all(&mut *conn)
        .await?;
        for row in written {
            let uri: String = row.try_get(0)?;
            check_fresh(&uri, row.try_get(1)?)?;
        }
    }

    if !deleted.is_empty() {
        let deleted_uris: Vec<&str> = deleted.iter().map(|w| w.uri.as_str()).collect();
        // A tombstone keeps the indexing time of the version it replaces, as the reference's
        // delete does.
        let replaced: Vec<(String, String)> =
            sqlx::query_as(r#"DELETE FROM record WHERE uri = ANY($1) RETURNING uri, "indexedAt""#)
                .bind(&deleted_uris)
                .fetch_all(&mut *conn)
                .await?;
        let mut replaced_at: HashMap<String, String> = HashMap::with_capacity(replaced.len());
        for (uri, indexed_at) in replaced {
            check_fresh(&uri, false)?;
            replaced_at.insert(uri, indexed_at);
        }
        let mut columns: [Vec<&str>; 4] = Default::default();
        for write in &deleted {
            let indexed_at = replaced_at
                .get(&write.uri)
                .map_or(write.state.indexed_at.as_str(), String::as_str);
            let values = [
                write.uri.as_str(),
                write.did.as_str(),
                write.state.rev.as_str(),
                indexed_at,
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let [uri, did, rev, indexed_at] = columns;
        let written = sqlx::query(
            r#"INSERT INTO sluice_tombstone AS t (uri, did, rev, "indexedAt")
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
               ON CONFLICT (uri) DO UPDATE SET rev = EXCLUDED.rev
               RETURNING uri, (t.xmax = 0)"#,
        )
        .bind(uri)
        .bind(did)
        .bind(rev)
        .bind(indexed_at)
        .fetch_all(&mut *conn)
        .await?;
        for row in written {
            let uri: String = row.try_get(0)?;
            check_fresh(&uri, row.try_get(1)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(rev: &str, cid: &str) -> StoredState {
        StoredState {
            cid: cid.into(),
            json: "{}".into(),
            rev: rev.into(),
            indexed_at: "t".into(),
        }
    }

    #[test]
    fn newer_revisions_apply_older_ones_are_stale() {
        assert_eq!(guard(None, "3k2", Some("c1")), Verdict::Apply);
        assert_eq!(
            guard(None, "3k2", None),
            Verdict::Apply,
            "delete of an unseen record"
        );
        let stored = live("3k5", "c1");
        assert_eq!(guard(Some(&stored), "3k6", Some("c2")), Verdict::Apply);
        assert_eq!(guard(Some(&stored), "3k4", Some("c2")), Verdict::Stale);
        assert_eq!(guard(Some(&stored), "3k4", None), Verdict::Stale);
    }

    #[test]
    fn the_same_record_at_a_newer_revision_only_moves_the_revision() {
        let stored = live("3k5", "c1");
        assert_eq!(guard(Some(&stored), "3k6", Some("c1")), Verdict::Unchanged);
        assert_eq!(
            guard(Some(&stored), "3k6", None),
            Verdict::Apply,
            "a delete"
        );
        let tombstone = StoredState::tombstone("3k5", "t");
        assert_eq!(
            guard(Some(&tombstone), "3k6", Some("")),
            Verdict::Apply,
            "a create after a tombstone is never unchanged"
        );
    }

    #[test]
    fn equal_revisions() {
        let stored = live("3k5", "c1");
        assert_eq!(guard(Some(&stored), "3k5", Some("c1")), Verdict::Duplicate);
        assert_eq!(guard(Some(&stored), "3k5", Some("c2")), Verdict::Apply);
        assert_eq!(guard(Some(&stored), "3k5", None), Verdict::Apply);
        let tombstone = StoredState::tombstone("3k5", "t");
        assert_eq!(
            guard(Some(&tombstone), "3k5", Some("c1")),
            Verdict::Duplicate
        );
        assert_eq!(guard(Some(&tombstone), "3k5", None), Verdict::Duplicate);
        assert_eq!(guard(Some(&tombstone), "3k4", Some("c1")), Verdict::Stale);
        assert_eq!(guard(Some(&tombstone), "3k6", Some("c1")), Verdict::Apply);
    }
}
