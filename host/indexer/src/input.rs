//! Turning stream entries into work: record changes (their record converted to DAG-CBOR, its
//! CID checked, validated against its lexicon), identity, account and repo events, labels — or a
//! rejection with the reason, for the dead-letter stream.
//!
//! Everything here is pure and runs before any database work.

use sluice_atproto::Cid;
use sluice_atproto::data::{AtprotoJson, cid_for_dag_cbor, record_from_json, to_dag_cbor};
use sluice_atproto::syntax::{Did, Nsid, RecordKey, Tid};
use sluice_lexicon::{Catalog, RecordError};
use sluice_plugin_host::types::{Action, Label, Source};
use sluice_queue::events::{RecordEvent, SEQ_BACKFILL};
use sluice_queue::{Delivery, FirehoseEvent, LabelEvent};

use crate::prepared::PreparedPlugins;

/// The account statuses of `com.atproto.sync.subscribeRepos#account`.
pub const KNOWN_STATUSES: &[&str] = &[
    "takendown",
    "suspended",
    "deleted",
    "deactivated",
    "desynchronized",
    "throttled",
];

/// The new version of a record, in both encodings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    /// Its CID (checked against the bytes).
    pub cid: String,
    /// Its atproto JSON, as received (what the `record` table stores).
    pub json: String,
    /// Its DAG-CBOR bytes.
    pub cbor: Vec<u8>,
}

/// A record created, updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChange {
    /// What happened.
    pub action: Action,
    /// The repo.
    pub did: String,
    /// The collection.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// `at://did/collection/rkey`.
    pub uri: String,
    /// The commit's revision.
    pub rev: String,
    /// The commit's CID.
    pub commit: String,
    /// The new version (create, update).
    pub new: Option<NewVersion>,
    /// When it happened (the event's `time`): the record's `indexedAt`.
    pub indexed_at: String,
    /// Live firehose or backfill.
    pub source: Source,
}

/// What one stream entry asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A record change of a collection a plugin claims.
    Record(RecordChange),
    /// A record change of a collection no plugin claims: nothing to index, but the repo was
    /// seen (its actor and its last commit).
    Unclaimed {
        /// The repo.
        did: String,
        /// The commit's revision.
        rev: String,
        /// The commit's CID.
        commit: String,
        /// Whether it came from the live firehose.
        live: bool,
    },
    /// `#identity`: refresh the handle.
    Identity {
        /// The account.
        did: String,
    },
    /// `#account`: a status change (`deleted` removes the account's records).
    Account {
        /// The account.
        did: String,
        /// Whether it is active.
        active: bool,
        /// Why not.
        status: Option<String>,
    },
    /// A backfill reached a commit of a repo.
    Repo {
        /// The repo.
        did: String,
        /// The commit's revision.
        rev: String,
        /// The commit's CID.
        commit: String,
    },
    /// A label.
    Label(Label),
    /// Replay a record's stored version through the current plugin (`sluice plugin reindex`;
    /// see [`crate::reindex`]).
    Reindex {
        /// The repo.
        did: String,
        /// The record.
        uri: String,
    },
}

impl Item {
    /// The account the item is about (none for labels).
    pub fn did(&self) -> Option<&str> {
        match self {
            Self::Record(change) => Some(&change.did),
            Self::Unclaimed { did, .. }
            | Self::Identity { did }
            | Self::Account { did, .. }
            | Self::Repo { did, .. }
            | Self::Reindex { did, .. } => Some(did),
            Self::Label(_) => None,
        }
    }

    /// Whether this is an account deletion.
    pub fn is_account_deletion(&self) -> bool {
        matches!(self, Self::Account { active: false, status: Some(status), .. } if status == "deleted")
    }
}

/// Why an entry is parked instead of indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {error}")]
pub struct Rejection {
    /// A short word for the dead letter's `reason` and for metrics.
    pub reason: &'static str,
    /// What was wrong.
    pub error: String,
}

impl Rejection {
    fn new(reason: &'static str, error: impl Into<String>) -> Self {
        Self {
            reason,
            error: error.into(),
        }
    }
}

/// `reason` of an entry that is not the JSON it should be.
pub const REASON_MALFORMED: &str = "malformed";
/// `reason` of a record that breaks its lexicon.
pub const REASON_INVALID: &str = "invalid";
/// `reason` of a record whose bytes do not hash to the event's CID.
pub const REASON_CID_MISMATCH: &str = "cid_mismatch";
/// `reason` of an account event with a status nobody knows.
pub const REASON_UNKNOWN_STATUS: &str = "unknown_status";
/// `reason` of an operation a plugin failed on (a bug, or a limit).
pub const REASON_PLUGIN: &str = "plugin";
/// `reason` of an operation Postgres refuses whatever the batch (isolated by bisection).
pub const REASON_POISON: &str = "poison";

/// Reads a firehose entry. `catalog` validates records of the lexicons it knows.
pub fn parse_firehose(
    delivery: &Delivery,
    catalog: &Catalog,
    prepared: &PreparedPlugins,
) -> Result<Item, Rejection> {
    let event: FirehoseEvent = match delivery.payload() {
        Ok(event) => event,
        Err(error) => {
            return match crate::reindex::parse_reindex(delivery) {
                Some(reindex) => reindex.map_err(|e| Rejection::new(REASON_MALFORMED, e)),
                None => Err(Rejection::new(REASON_MALFORMED, error.to_string())),
            };
        }
    };
    let live = !event.is_backfill();
    let did = check_did(event.did())?;
    Ok(match event {
        FirehoseEvent::Create(event) => record(Action::Create, event, catalog, prepared, did)?,
        FirehoseEvent::Update(event) => record(Action::Update, event, catalog, prepared, did)?,
        FirehoseEvent::Delete(event) => {
            check_op(&event.collection, &event.rkey, &event.rev)?;
            if prepared.plugin_for_collection(&event.collection).is_none() {
                Item::Unclaimed {
                    did,
                    rev: event.rev,
                    commit: event.commit,
                    live,
                }
            } else {
                Item::Record(RecordChange {
                    action: Action::Delete,
                    uri: format!("at://{did}/{}/{}", event.collection, event.rkey),
                    did,
                    collection: event.collection,
                    rkey: event.rkey,
                    rev: event.rev,
                    commit: event.commit,
                    new: None,
                    indexed_at: event.time,
                    source: if live { Source::Live } else { Source::Backfill },
                })
            }
        }
        FirehoseEvent::Repo(event) => {
            check_rev(&event.rev)?;
            Item::Repo {
                did,
                rev: event.rev,
                commit: event.commit,
            }
        }
        FirehoseEvent::Account(event) => {
            if let Some(status) = &event.status
                && !KNOWN_STATUSES.contains(&status.as_str())
            {
                return Err(Rejection::new(
                    REASON_UNKNOWN_STATUS,
                    format!("account status {status:?} is not one of {KNOWN_STATUSES:?}"),
                ));
            }
            if !event.active && event.status.is_none() {
                return Err(Rejection::new(
                    REASON_UNKNOWN_STATUS,
                    "an inactive account without a status",
                ));
            }
            Item::Account {
                did,
                active: event.active,
                status: event.status,
            }
        }
        FirehoseEvent::Identity(_) => Item::Identity { did },
    })
}

fn record(
    action: Action,
    event: RecordEvent,
    catalog: &Catalog,
    prepared: &PreparedPlugins,
    did: String,
) -> Result<Item, Rejection> {
    check_op(&event.collection, &event.rkey, &event.rev)?;
    let live = event.seq != SEQ_BACKFILL;
    if prepared.plugin_for_collection(&event.collection).is_none() {
        return Ok(Item::Unclaimed {
            did,
            rev: event.rev,
            commit: event.commit,
            live,
        });
    }
    let json = event.record.get();
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Rejection::new(REASON_MALFORMED, format!("record JSON: {e}")))?;
    let ipld = record_from_json(&value)
        .map_err(|e| Rejection::new(REASON_INVALID, format!("record: {e}")))?;
    match catalog.validate_record(&event.collection, &ipld) {
        Ok(()) | Err(RecordError::NoLexicon(_)) => {}
        Err(error) => return Err(Rejection::new(REASON_INVALID, error.to_string())),
    }
    let cbor = to_dag_cbor(&ipld).map_err(|e| Rejection::new(REASON_INVALID, e.to_string()))?;
    let computed = cid_for_dag_cbor(&cbor);
    let claimed = Cid::try_from(event.cid.as_str())
        .map_err(|e| Rejection::new(REASON_MALFORMED, format!("cid {:?}: {e}", event.cid)))?;
    if computed != claimed {
        return Err(Rejection::new(
            REASON_CID_MISMATCH,
            format!("the record hashes to {computed}, the event says {claimed}"),
        ));
    }
    // Stored as the reference stores it: the record's JSON with keys in DAG-CBOR order, whatever
    // order the event's producer wrote them in.
    let canonical_json = serde_json::to_string(&AtprotoJson(&ipld))
        .map_err(|e| Rejection::new(REASON_INVALID, format!("record JSON: {e}")))?;
    Ok(Item::Record(RecordChange {
        action,
        uri: format!("at://{did}/{}/{}", event.collection, event.rkey),
        did,
        collection: event.collection,
        rkey: event.rkey,
        rev: event.rev,
        commit: event.commit,
        new: Some(NewVersion {
            cid: computed.to_string(),
            json: canonical_json,
            cbor,
        }),
        indexed_at: event.time,
        source: if live { Source::Live } else { Source::Backfill },
    }))
}

fn check_did(did: &str) -> Result<String, Rejection> {
    Did::parse(did)
        .map(|_| did.to_owned())
        .map_err(|e| Rejection::new(REASON_MALFORMED, format!("did {did:?}: {e}")))
}

fn check_op(collection: &str, rkey: &str, rev: &str) -> Result<(), Rejection> {
    Nsid::parse(collection)
        .map_err(|e| Rejection::new(REASON_MALFORMED, format!("collection {collection:?}: {e}")))?;
    RecordKey::parse(rkey)
        .map_err(|e| Rejection::new(REASON_MALFORMED, format!("rkey {rkey:?}: {e}")))?;
    check_rev(rev)
}

fn check_rev(rev: &str) -> Result<(), Rejection> {
    Tid::parse(rev)
        .map(|_| ())
        .map_err(|e| Rejection::new(REASON_MALFORMED, format!("rev {rev:?}: {e}")))
}

/// Reads a label entry.
pub fn parse_label(delivery: &Delivery) -> Result<Item, Rejection> {
    let event: LabelEvent = delivery
        .payload()
        .map_err(|e| Rejection::new(REASON_MALFORMED, e.to_string()))?;
    let label = event.label;
    Ok(Item::Label(Label {
        src: label.src,
        uri: label.uri,
        cid: label.cid,
        val: label.val,
        neg: label.neg.unwrap_or(false),
        cts: label.cts,
        exp: label.exp,
    }))
}
