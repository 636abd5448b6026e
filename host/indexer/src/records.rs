//! The `record` table: every indexed record's current version (or its tombstone) with the repo
//! revision that wrote it, and the revision guard.
//!
//! **The guard.** An operation applies only when its revision is newer than the stored one, so
//! operations delivered out of order (a backfill racing the live firehose, a redelivery after a
//! crash) never roll a record back. A delete of a record never seen leaves a tombstone
//! (`json = ''`, `cid = ''`) carrying the delete's revision, so a create of an older revision
//! arriving later is refused instead of resurrecting the record. At an equal revision:
//! a tombstone wins (a redelivered delete, or a backfill snapshot taken at the revision of the
//! deletion); the same version again is a redelivery and does nothing; a different version
//! applies (the reference's `rev <=` rule).

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
}

/// The revision guard. `new_cid` is the operation's record CID, `None` for a delete.
pub fn guard(stored: Option<&StoredState>, rev: &str, new_cid: Option<&str>) -> Verdict {
    let Some(stored) = stored else {
        return Verdict::Apply;
    };
    match rev.cmp(stored.rev.as_str()) {
        std::cmp::Ordering::Greater => Verdict::Apply,
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
    let rows =
        sqlx::query(r#"SELECT uri, cid, json, rev, "indexedAt" FROM record WHERE uri = ANY($1)"#)
            .bind(uris)
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
/// the new states. A difference means another indexer changed one of them in between:
/// [`BatchError::Concurrent`], and the batch starts over.
pub async fn write(conn: &mut PgConnection, writes: &[RecordWrite]) -> Result<(), BatchError> {
    if writes.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&RecordWrite> = writes.iter().collect();
    sorted.sort_by(|a, b| a.uri.cmp(&b.uri));
    let uris: Vec<&str> = sorted.iter().map(|w| w.uri.as_str()).collect();
    let locked =
        sqlx::query("SELECT uri, cid, rev FROM record WHERE uri = ANY($1) ORDER BY uri FOR UPDATE")
            .bind(&uris)
            .fetch_all(&mut *conn)
            .await?;
    let mut now: HashMap<String, (String, String)> = HashMap::with_capacity(locked.len());
    for row in locked {
        now.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    for write in &sorted {
        let current = now.get(&write.uri);
        let unchanged = match (&write.expected, current) {
            (None, None) => true,
            (Some(expected), Some((cid, rev))) => expected.cid == *cid && expected.rev == *rev,
            _ => false,
        };
        if !unchanged {
            return Err(BatchError::Concurrent(format!(
                "{} changed since it was read",
                write.uri
            )));
        }
    }

    let mut columns: [Vec<&str>; 6] = Default::default();
    for write in &sorted {
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
    // A tombstone keeps the indexing time of the version it replaces, as the reference's delete.
    let written = sqlx::query(
        r#"INSERT INTO record AS r (uri, cid, did, json, "indexedAt", rev)
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
           ON CONFLICT (uri) DO UPDATE SET
               cid = EXCLUDED.cid,
               json = EXCLUDED.json,
               rev = EXCLUDED.rev,
               "indexedAt" = CASE WHEN EXCLUDED.json = '' THEN r."indexedAt" ELSE EXCLUDED."indexedAt" END
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
    let expected_new: HashMap<&str, bool> = sorted
        .iter()
        .map(|w| (w.uri.as_str(), w.expected.is_none()))
        .collect();
    for row in written {
        let uri: String = row.try_get(0)?;
        let inserted: bool = row.try_get(1)?;
        if expected_new.get(uri.as_str()) == Some(&true) && !inserted {
            return Err(BatchError::Concurrent(format!(
                "{uri} was created by another indexer meanwhile"
            )));
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
