//! Indexing one batch: from parsed entries to one committed transaction.
//!
//! ```text
//! read stored versions (record table)        ─┐
//! resolve handles (identity events)           │ before the transaction: no locks held
//! per generation: guard → plugins → outcomes ─┘ (lookups on the pool, the batch's states first)
//! BEGIN
//!   record rows: lock, check unchanged since read, write final states (guarded)
//!   row operations, grouped per table (UNNEST), count changes collected
//!   deferred operations (a unique value an earlier one takes) run again, in rounds
//!   awaits: replace the batch's; replay waiters of what changed (and of new awaits whose
//!           record is there by now), to a fixed point
//!   aggregate deltas (summed per key, sorted), actor_sync
//!   take the awaits lock; replay what batches committed meanwhile woke (usually nothing)
//! COMMIT
//! ```
//! **Generations.** Operations of one batch on the same record run in order: the n-th operation
//! on a record is in generation n, and each generation sees the states the previous ones left (its
//! `previous` version, the guard). An account deletion is a barrier for its account: it deletes
//! every record of the account that earlier generations left, and what follows comes after it.
//!
//! **Deferred operations.** Plugins look rows up in the database, which does not hold the batch's
//! own rows until the transaction writes them. A record operation whose upserts would take a
//! unique value that an earlier operation of the batch takes (a second like of one post by one
//! account) is left out of the main write and runs again inside the transaction, after the rows
//! before it are written, so that its lookups see them ([`crate::apply::collisions`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use sluice_plugin_host::types::{
    AccountEvent, Action, EventKinds, IdentityEvent, Indexed, NetworkEvent, RecordEncoding,
    RecordOp, RowOp, Source,
};
use sluice_plugin_host::{DriverOptions, OpResult, PluginWorker};
use sqlx::{PgConnection, PgPool};

use crate::apply::collisions::{UniqueValue, Unit, colliding_units, unique_values_of};
use crate::apply::{AggregateDeltas, ApplyStats, TableOp, apply_ops, check_physical};
use crate::awaits;
use crate::error::BatchError;
use crate::identity::{HandleSource, RecentlyAnnounced};
use crate::input::{Item, REASON_PLUGIN, RecordChange};
use crate::lookup::{Database, PgLookups, stored_record};
use crate::metrics;
use crate::prepared::PreparedPlugins;
use crate::records::{self, RecordWrite, StoredState, Verdict};

/// Limits of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Lookup rounds per plugin call.
    pub driver: DriverOptions,
    /// Rounds of replaying waiters within one transaction.
    pub max_replay_rounds: u32,
    /// Handles resolved at once.
    pub identity_concurrency: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            driver: DriverOptions::default(),
            max_replay_rounds: 8,
            identity_concurrency: 16,
        }
    }
}

/// The record row a batch writes for `uri`: its new `state`, on condition that what the batch
/// read at the start (`initial`) is still stored.
fn record_write(
    uri: &str,
    did: &str,
    initial: &HashMap<String, StoredState>,
    state: StoredState,
) -> RecordWrite {
    RecordWrite {
        uri: uri.to_owned(),
        did: did.to_owned(),
        expected: initial.get(uri).cloned(),
        state,
    }
}

/// One plugin instance per plugin of a prepared set, owned by one indexer worker.
pub struct PluginWorkers {
    prepared: Arc<PreparedPlugins>,
    workers: Vec<PluginWorker>,
}

impl PluginWorkers {
    /// Workers for every plugin of `prepared`.
    pub fn new(prepared: Arc<PreparedPlugins>) -> Self {
        let workers = prepared.plugins().iter().map(|p| p.worker()).collect();
        Self { prepared, workers }
    }

    /// The plugins these workers run.
    pub fn prepared(&self) -> &Arc<PreparedPlugins> {
        &self.prepared
    }
}

/// What a batch needs besides its entries.
pub struct BatchContext<'a> {
    /// The database.
    pub pool: &'a PgPool,
    /// Handles for identity events.
    pub handles: &'a dyn HandleSource,
    /// Accounts announced recently (shared by the process's workers).
    pub announced: &'a RecentlyAnnounced,
    /// Limits.
    pub options: BatchOptions,
}

/// A parsed stream entry: what it asks for and which delivery it came from.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The delivery's index in the caller's list.
    pub delivery: usize,
    /// The work.
    pub item: Item,
}

/// A delivery to park after the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Park {
    /// The delivery's index.
    pub delivery: usize,
    /// Its dead letter's `reason`.
    pub reason: &'static str,
    /// What went wrong.
    pub error: String,
}

/// Counters of one batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchCounts {
    /// Record operations whose rows were written.
    pub applied: u64,
    /// Record operations older than the stored revision.
    pub stale: u64,
    /// Record operations already stored (redeliveries).
    pub duplicate: u64,
    /// Operations a plugin skipped (`invalid-record`, `unsupported`).
    pub skipped: u64,
    /// Operations parked.
    pub parked: u64,
    /// Record operations of collections no plugin claims.
    pub unclaimed: u64,
    /// Network events given to plugins.
    pub events: u64,
    /// Waiters re-run.
    pub replays: u64,
    /// Replays a plugin failed on.
    pub replays_failed: u64,
    /// Record operations run again inside the transaction (see "Deferred operations").
    pub deferred: u64,
    /// Statements and rows written for row operations.
    pub write: ApplyStats,
    /// (aggregate, key) pairs whose count was written.
    pub aggregate_keys: u64,
}

/// What became of a batch.
#[derive(Debug, Default, Clone)]
pub struct BatchReport {
    /// Deliveries to park after the commit.
    pub parked: Vec<Park>,
    /// Counters.
    pub counts: BatchCounts,
    /// Accounts announced to plugins for the first time.
    pub announced: Vec<String>,
}

/// A unit of work scheduled in a generation.
enum Work<'e> {
    Record {
        entry: Option<&'e Entry>,
        change: std::borrow::Cow<'e, RecordChange>,
    },
    DeleteAccount {
        did: &'e str,
        entry: &'e Entry,
    },
    Event {
        entry: Option<&'e Entry>,
        event: NetworkEvent,
    },
}

struct Scheduled<'e> {
    generation: u32,
    work: Work<'e>,
}

/// The row operations of one unit of a batch (a record operation or a network event).
struct UnitOps<'e> {
    ops: Vec<TableOp>,
    /// For a record operation: how to run it again if it is deferred.
    rerun: Option<Rerun<'e>>,
}

/// A record operation as given to its plugin, to run again inside the transaction.
struct Rerun<'e> {
    /// Its position in the batch's order.
    order: usize,
    uri: String,
    plugin: usize,
    op: RecordOp,
    entry: Option<&'e Entry>,
    /// The unique values its rows took when it ran before: its group (see [`Rerunning::run`]).
    claims: Vec<UniqueValue>,
}

/// A record operation given to a plugin, with where it came from.
struct Pending<'e> {
    seq: usize,
    entry: Option<&'e Entry>,
    uri: String,
    did: String,
    new_state: Option<StoredState>,
    op: RecordOp,
}

/// Indexes `entries` in one transaction. `strict`: write row operations in their exact order
/// (after a unique violation). `Err` when nothing was committed.
pub async fn index_batch(
    ctx: &BatchContext<'_>,
    workers: &mut PluginWorkers,
    entries: &[Entry],
    strict: bool,
) -> Result<BatchReport, BatchError> {
    let prepared = Arc::clone(&workers.prepared);
    let mut report = BatchReport::default();

    // Stored versions of every record the batch touches, and of accounts it deletes.
    let mut uris: Vec<String> = Vec::new();
    let mut deleted_accounts: Vec<&str> = Vec::new();
    for entry in entries {
        match &entry.item {
            Item::Record(change) => uris.push(change.uri.clone()),
            item if item.is_account_deletion() => {
                if let Some(did) = item.did() {
                    deleted_accounts.push(did);
                }
            }
            Item::Unclaimed { .. } => report.counts.unclaimed += 1,
            _ => {}
        }
    }
    uris.sort();
    uris.dedup();
    let mut initial: HashMap<String, StoredState>;
    let mut account_uris: HashMap<&str, Vec<String>> = HashMap::new();
    let loading = Instant::now();
    {
        let mut conn = ctx.pool.acquire().await?;
        initial = records::load(&mut conn, &uris).await?;
        for did in &deleted_accounts {
            let live = records::load_account(&mut conn, did).await?;
            let list = account_uris.entry(did).or_default();
            for (uri, state) in live {
                list.push(uri.clone());
                initial.entry(uri).or_insert(state);
            }
            list.sort();
        }
    }
    metrics::phase("load", loading.elapsed());
    let mut state: HashMap<String, Option<StoredState>> = uris
        .iter()
        .chain(account_uris.values().flatten())
        .map(|uri| (uri.clone(), initial.get(uri).cloned()))
        .collect();

    // Handles: forced by `#identity`, or for accounts seen for the first time.
    let identity_plugins = prepared.plugins_for_events(EventKinds::IDENTITY);
    let mut first_seen: Vec<String> = Vec::new();
    let mut handles: HashMap<String, Option<String>> = HashMap::new();
    let resolving = Instant::now();
    if !identity_plugins.is_empty() {
        let dids: Vec<String> = {
            let mut dids: Vec<String> = entries
                .iter()
                .filter_map(|e| e.item.did())
                .filter(|did| !ctx.announced.contains(did))
                .map(str::to_owned)
                .collect();
            dids.sort();
            dids.dedup();
            dids
        };
        if !dids.is_empty() {
            let known: Vec<String> =
                sqlx::query_scalar("SELECT did FROM actor WHERE did = ANY($1)")
                    .bind(&dids)
                    .fetch_all(ctx.pool)
                    .await?;
            let known: HashSet<String> = known.into_iter().collect();
            first_seen = dids.into_iter().filter(|d| !known.contains(d)).collect();
        }
        let mut wanted: Vec<(String, bool)> =
            first_seen.iter().map(|did| (did.clone(), false)).collect();
        for entry in entries {
            if let Item::Identity { did } = &entry.item {
                wanted.push((did.clone(), true));
            }
        }
        let handle_source = ctx.handles;
        let resolved: Vec<(String, Option<String>)> = futures::stream::iter(wanted)
            .map(|(did, fresh)| async move {
                let handle = handle_source.verified_handle(&did, fresh).await;
                (did, handle)
            })
            .buffer_unordered(ctx.options.identity_concurrency.max(1))
            .collect()
            .await;
        handles.extend(resolved);
    }
    metrics::phase("handles", resolving.elapsed());

    // The schedule.
    let mut schedule: Vec<Scheduled<'_>> = Vec::new();
    for did in &first_seen {
        schedule.push(Scheduled {
            generation: 0,
            work: Work::Event {
                entry: None,
                event: NetworkEvent::Identity(IdentityEvent {
                    did: did.clone(),
                    handle: handles.get(did).cloned().flatten(),
                }),
            },
        });
    }
    let mut floor: HashMap<&str, u32> = HashMap::new();
    let mut next: HashMap<&str, u32> = HashMap::new();
    for entry in entries {
        match &entry.item {
            Item::Record(change) => {
                let did_floor = floor.get(change.did.as_str()).copied().unwrap_or(0);
                let generation = did_floor.max(next.get(change.uri.as_str()).copied().unwrap_or(0));
                next.insert(change.uri.as_str(), generation + 1);
                schedule.push(Scheduled {
                    generation,
                    work: Work::Record {
                        entry: Some(entry),
                        change: std::borrow::Cow::Borrowed(change),
                    },
                });
            }
            Item::Identity { did } if !identity_plugins.is_empty() => {
                schedule.push(Scheduled {
                    generation: floor.get(did.as_str()).copied().unwrap_or(0),
                    work: Work::Event {
                        entry: Some(entry),
                        event: NetworkEvent::Identity(IdentityEvent {
                            did: did.clone(),
                            handle: handles.get(did).cloned().flatten(),
                        }),
                    },
                });
            }
            Item::Account {
                did,
                active,
                status,
            } => {
                let event = NetworkEvent::Account(AccountEvent {
                    did: did.clone(),
                    active: *active,
                    status: status.clone(),
                });
                let did_floor = floor.get(did.as_str()).copied().unwrap_or(0);
                if entry.item.is_account_deletion() {
                    let generation = next
                        .iter()
                        .filter(|(uri, _)| uri_did(uri) == Some(did.as_str()))
                        .map(|(_, g)| *g)
                        .fold(did_floor, u32::max);
                    schedule.push(Scheduled {
                        generation,
                        work: Work::DeleteAccount { did, entry },
                    });
                    schedule.push(Scheduled {
                        generation,
                        work: Work::Event {
                            entry: Some(entry),
                            event,
                        },
                    });
                    floor.insert(did.as_str(), generation + 1);
                } else {
                    schedule.push(Scheduled {
                        generation: did_floor,
                        work: Work::Event {
                            entry: Some(entry),
                            event,
                        },
                    });
                }
            }
            Item::Label(label) => schedule.push(Scheduled {
                generation: 0,
                work: Work::Event {
                    entry: Some(entry),
                    event: NetworkEvent::Label(label.clone()),
                },
            }),
            _ => {}
        }
    }
    let last_generation = schedule.iter().map(|s| s.generation).max().unwrap_or(0);

    // Run the plugins, generation by generation.
    let mut all_units: Vec<UnitOps<'_>> = Vec::new();
    let mut record_writes: BTreeMap<String, RecordWrite> = BTreeMap::new();
    let mut indexed_waiters: Vec<String> = Vec::new();
    let mut new_awaits: Vec<(String, String)> = Vec::new();
    let mut seen: HashMap<String, Option<String>> = HashMap::new();
    for generation in 0..=last_generation {
        let units: Vec<&Scheduled<'_>> = schedule
            .iter()
            .filter(|s| s.generation == generation)
            .collect();
        // Expand account deletions into deletes of every record the account still has.
        let mut expanded: Vec<(Option<&Entry>, std::borrow::Cow<'_, RecordChange>)> = Vec::new();
        let mut events: Vec<(Option<&Entry>, &NetworkEvent)> = Vec::new();
        for unit in &units {
            match &unit.work {
                Work::Record { entry, change } => expanded.push((*entry, change.clone())),
                Work::DeleteAccount { did, entry } => {
                    let mut live: Vec<(&String, &StoredState)> = state
                        .iter()
                        .filter_map(|(uri, s)| s.as_ref().map(|s| (uri, s)))
                        .filter(|(uri, s)| uri_did(uri) == Some(*did) && !s.is_tombstone())
                        .collect();
                    live.sort_by(|a, b| a.0.cmp(b.0));
                    for (uri, stored) in live {
                        let Some((collection, rkey)) = uri_parts(uri) else {
                            continue;
                        };
                        if prepared.plugin_for_collection(collection).is_none() {
                            continue;
                        }
                        expanded.push((
                            Some(*entry),
                            std::borrow::Cow::Owned(RecordChange {
                                action: Action::Delete,
                                did: (*did).to_owned(),
                                collection: collection.to_owned(),
                                rkey: rkey.to_owned(),
                                uri: uri.clone(),
                                // The stored revision: an equal revision deletes a live record,
                                // and the tombstone then wins every tie.
                                rev: stored.rev.clone(),
                                commit: String::new(),
                                new: None,
                                indexed_at: stored.indexed_at.clone(),
                                source: Source::Live,
                            }),
                        ));
                    }
                }
                Work::Event { entry, event } => events.push((*entry, event)),
            }
        }

        // Guard, then group the surviving operations by plugin.
        let mut by_plugin: BTreeMap<usize, Vec<Pending<'_>>> = BTreeMap::new();
        for (seq, (entry, change)) in expanded.iter().enumerate() {
            let Some(plugin) = prepared.plugin_for_collection(&change.collection) else {
                report.counts.unclaimed += 1;
                continue;
            };
            let previous = state.get(&change.uri).cloned().flatten();
            let new_cid = change.new.as_ref().map(|n| n.cid.as_str());
            match records::guard(previous.as_ref(), &change.rev, new_cid) {
                Verdict::Stale => {
                    report.counts.stale += 1;
                    continue;
                }
                Verdict::Duplicate => {
                    report.counts.duplicate += 1;
                    continue;
                }
                Verdict::Unchanged => {
                    report.counts.duplicate += 1;
                    if let Some(stored) = previous {
                        let moved = StoredState {
                            rev: change.rev.clone(),
                            ..stored
                        };
                        state.insert(change.uri.clone(), Some(moved.clone()));
                        let write = record_write(&change.uri, &change.did, &initial, moved);
                        record_writes.insert(change.uri.clone(), write);
                    }
                    continue;
                }
                Verdict::Apply => {}
            }
            let encoding = prepared
                .plugins()
                .get(plugin)
                .map_or(RecordEncoding::DagCbor, |p| p.declaration().info().encoding);
            let record = change
                .new
                .as_ref()
                .map(|new| sluice_plugin_host::types::StoredRecord {
                    cid: new.cid.clone(),
                    body: match encoding {
                        RecordEncoding::DagCbor => new.cbor.clone(),
                        RecordEncoding::Json => new.json.as_bytes().to_vec(),
                    },
                });
            let previous_record = previous
                .as_ref()
                .filter(|p| !p.is_tombstone())
                .and_then(|p| stored_record(encoding, p));
            let new_state = match &change.new {
                Some(new) => StoredState {
                    cid: new.cid.clone(),
                    json: new.json.clone(),
                    rev: change.rev.clone(),
                    indexed_at: change.indexed_at.clone(),
                },
                None => StoredState::tombstone(&change.rev, &change.indexed_at),
            };
            by_plugin.entry(plugin).or_default().push(Pending {
                seq,
                entry: *entry,
                uri: change.uri.clone(),
                did: change.did.clone(),
                new_state: Some(new_state),
                op: RecordOp {
                    action: change.action,
                    did: change.did.clone(),
                    collection: change.collection.clone(),
                    rkey: change.rkey.clone(),
                    record,
                    previous: previous_record,
                    rev: change.rev.clone(),
                    indexed_at: change.indexed_at.clone(),
                    source: change.source,
                },
            });
        }

        let mut generation_ops: Vec<(usize, UnitOps<'_>)> = Vec::new();
        for (plugin, pending) in by_plugin {
            let ops: Vec<RecordOp> = pending.iter().map(|p| p.op.clone()).collect();
            let Some(worker) = workers.workers.get_mut(plugin) else {
                continue;
            };
            let resolver = PgLookups::new(Database::Pool(ctx.pool), &prepared, Some(&state));
            let calling = Instant::now();
            let result = worker
                .index_records(&ops, &resolver, ctx.options.driver)
                .await;
            plugin_phases(calling.elapsed(), resolver.lookup_time());
            let result = result?;
            merge_seen(&mut seen, resolver.take_seen());
            drop(resolver);
            for (pending, outcome) in pending.into_iter().zip(result.results) {
                match accept(&prepared, plugin, outcome) {
                    Accepted::Indexed(table_ops, awaits) => {
                        report.counts.applied += 1;
                        let new_state = pending.new_state;
                        state.insert(pending.uri.clone(), new_state.clone());
                        if let Some(new_state) = new_state {
                            let write =
                                record_write(&pending.uri, &pending.did, &initial, new_state);
                            record_writes.insert(pending.uri.clone(), write);
                        }
                        new_awaits.retain(|(waiter, _)| *waiter != pending.uri);
                        new_awaits.extend(awaits.into_iter().map(|a| (pending.uri.clone(), a)));
                        // A record never stored before has no awaits to replace.
                        if initial.contains_key(&pending.uri) {
                            indexed_waiters.push(pending.uri.clone());
                        }
                        generation_ops.push((
                            pending.seq,
                            UnitOps {
                                ops: table_ops,
                                rerun: Some(Rerun {
                                    order: 0,
                                    uri: pending.uri,
                                    plugin,
                                    op: pending.op,
                                    entry: pending.entry,
                                    claims: Vec::new(),
                                }),
                            },
                        ));
                    }
                    Accepted::Skipped(reason) => {
                        report.counts.skipped += 1;
                        tracing::debug!(uri = %pending.uri, reason, "plugin skipped the operation");
                    }
                    Accepted::Parked(error) => {
                        report.counts.parked += 1;
                        if let Some(entry) = pending.entry {
                            report.parked.push(Park {
                                delivery: entry.delivery,
                                reason: REASON_PLUGIN,
                                error,
                            });
                        }
                    }
                }
            }
        }

        // Network events, after the generation's record operations.
        let event_base = expanded.len();
        for (plugin_index, plugin) in prepared.plugins().iter().enumerate() {
            let wanted = plugin.declaration().info().events;
            let mine: Vec<(usize, Option<&Entry>, NetworkEvent)> = events
                .iter()
                .enumerate()
                .filter(|(_, (_, event))| wants(wanted, event))
                .map(|(position, (entry, event))| (event_base + position, *entry, (*event).clone()))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let Some(worker) = workers.workers.get_mut(plugin_index) else {
                continue;
            };
            let list: Vec<NetworkEvent> = mine.iter().map(|(_, _, e)| e.clone()).collect();
            let resolver = PgLookups::new(Database::Pool(ctx.pool), &prepared, Some(&state));
            let calling = Instant::now();
            let result = worker
                .index_events(&list, &resolver, ctx.options.driver)
                .await;
            plugin_phases(calling.elapsed(), resolver.lookup_time());
            let result = result?;
            drop(resolver);
            for ((seq, entry, _), outcome) in mine.into_iter().zip(result.results) {
                report.counts.events += 1;
                match accept(&prepared, plugin_index, outcome) {
                    Accepted::Indexed(table_ops, _awaits) => generation_ops.push((
                        seq,
                        UnitOps {
                            ops: table_ops,
                            rerun: None,
                        },
                    )),
                    Accepted::Skipped(_) => report.counts.skipped += 1,
                    Accepted::Parked(error) => {
                        report.counts.parked += 1;
                        if let Some(entry) = entry {
                            report.parked.push(Park {
                                delivery: entry.delivery,
                                reason: REASON_PLUGIN,
                                error,
                            });
                        }
                    }
                }
            }
        }
        generation_ops.sort_by_key(|(seq, _)| *seq);
        all_units.extend(generation_ops.into_iter().map(|(_, unit)| unit));
    }

    // Operations that would take a unique value an earlier one takes run again later.
    let units: Vec<Unit<'_>> = all_units
        .iter()
        .map(|unit| Unit {
            record: unit.rerun.as_ref().map(|r| r.uri.as_str()),
            ops: &unit.ops,
        })
        .collect();
    let colliding = colliding_units(&prepared, &units);
    drop(units);
    let mut all_ops: Vec<TableOp> = Vec::new();
    let mut deferred: Vec<Rerun<'_>> = Vec::new();
    for (order, unit) in all_units.into_iter().enumerate() {
        match unit.rerun {
            Some(rerun) if colliding.contains(&order) => deferred.push(Rerun {
                order,
                claims: unique_values_of(&prepared, &unit.ops),
                ..rerun
            }),
            _ => all_ops.extend(unit.ops),
        }
    }

    // The write transaction.
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let writing = Instant::now();
    let mut tx = ctx.pool.begin().await?;
    let writes: Vec<RecordWrite> = record_writes.into_values().collect();
    records::write(&mut tx, &writes).await?;
    let writing = metrics::phase_from("write_records", writing);
    let mut deltas = AggregateDeltas::default();
    report.counts.write += apply_ops(&mut tx, &prepared, &all_ops, strict, &mut deltas).await?;
    let mut writing = metrics::phase_from("write_rows", writing);
    if !deferred.is_empty() {
        let mut rerun = Rerunning {
            workers: &mut *workers,
            prepared: &prepared,
            strict,
            driver: ctx.options.driver,
            deltas: &mut deltas,
            seen: &mut seen,
            new_awaits: &mut new_awaits,
            report: &mut report,
        };
        rerun.run(&mut tx, deferred).await?;
        writing = metrics::phase_from("deferred", writing);
    }
    indexed_waiters.sort();
    indexed_waiters.dedup();
    awaits::replace(&mut tx, &indexed_waiters, &new_awaits, &since).await?;
    let writing = metrics::phase_from("awaits", writing);
    // Waiters of what the batch wrote, and the batch's awaits whose record is there by now,
    // are replayed twice over: first without the awaits lock, which finds nearly all of them
    // while other batches run beside this one; then under the lock, which finds only what
    // batches that committed meanwhile added (usually nothing), so the lock is held briefly.
    let touched: Vec<String> = writes.iter().map(|w| w.uri.clone()).collect();
    let mut replays = Replays {
        workers: &mut *workers,
        prepared: &prepared,
        strict,
        since: &since,
        options: ctx.options,
        deltas: &mut deltas,
        counts: &mut report.counts,
        awaits: Awaiting::with_what_was_seen(new_awaits, &seen),
        replayed: HashSet::new(),
    };
    let mut candidates = awaits::waiters_of(&mut tx, &touched).await?;
    // Re-index requests (`crate::reindex`) are replayed as waiters are.
    candidates.extend(entries.iter().filter_map(|entry| match &entry.item {
        Item::Reindex { uri, .. } => Some(uri.clone()),
        _ => None,
    }));
    let writing = replays.settle(&mut tx, candidates, writing).await?;
    replays.counts.aggregate_keys = replays.deltas.len() as u64;
    replays.counts.write.statements += replays.deltas.write(&mut tx, &prepared).await?;
    let writing = metrics::phase_from("aggregates", writing);
    write_actor_sync(&mut tx, entries).await?;
    let writing = metrics::phase_from("actor_sync", writing);
    awaits::lock(&mut tx).await?;
    let writing = metrics::phase_from("awaits_lock", writing);
    // Waiters replayed already saw this batch's records (and hold their record rows locked);
    // what changed since for them shows in their awaits.
    let mut candidates = awaits::waiters_of(&mut tx, &touched).await?;
    candidates.retain(|waiter| !replays.replayed.contains(waiter));
    let writing = replays.settle(&mut tx, candidates, writing).await?;
    if !replays.deltas.is_empty() {
        replays.counts.aggregate_keys += replays.deltas.len() as u64;
        replays.counts.write.statements += replays.deltas.write(&mut tx, &prepared).await?;
    }
    drop(replays);
    let writing = metrics::phase_from("aggregates", writing);
    tx.commit().await?;
    metrics::phase_from("commit", writing);
    report.announced = first_seen;
    Ok(report)
}

/// An await a waiter recorded, with the version of the awaited record it saw (`None`: absent).
#[derive(Debug, Clone)]
struct Awaiting {
    waiter: String,
    awaited: String,
    saw: Option<String>,
}

impl Awaiting {
    /// (waiter, awaited) pairs, each with what `seen` says the waiter saw of the awaited record.
    fn with_what_was_seen(
        pairs: Vec<(String, String)>,
        seen: &HashMap<String, Option<String>>,
    ) -> Vec<Self> {
        pairs
            .into_iter()
            .map(|(waiter, awaited)| {
                let saw = seen.get(&awaited).cloned().flatten();
                Self {
                    waiter,
                    awaited,
                    saw,
                }
            })
            .collect()
    }
}

/// Replaying a batch's waiters inside its transaction, to a fixed point.
struct Replays<'w, 'p> {
    workers: &'w mut PluginWorkers,
    prepared: &'p PreparedPlugins,
    strict: bool,
    since: &'p str,
    options: BatchOptions,
    deltas: &'w mut AggregateDeltas,
    counts: &'w mut BatchCounts,
    /// The current awaits of the batch's records and of the waiters it replayed.
    awaits: Vec<Awaiting>,
    /// Every waiter replayed so far.
    replayed: HashSet<String>,
}

impl Replays<'_, '_> {
    /// Replays `candidates`, and every waiter whose awaited record is there now in another
    /// version than the waiter saw, then what those replays wake (waiters of what they wrote and
    /// of the waiters themselves), until nothing is left (or the
    /// rounds run out: what is left stays awaited, for a later batch). Returns the time
    /// `writing` of the phase figures continues from.
    async fn settle(
        &mut self,
        tx: &mut PgConnection,
        mut candidates: Vec<String>,
        mut writing: Instant,
    ) -> Result<Instant, BatchError> {
        let mut recheck: Vec<Awaiting> = self.awaits.clone();
        let mut rounds = 0;
        loop {
            if !recheck.is_empty() {
                let awaited: Vec<String> = recheck.iter().map(|a| a.awaited.clone()).collect();
                let present = awaits::present(tx, &awaited).await?;
                for awaiting in recheck.drain(..) {
                    let now = present.get(&awaiting.awaited);
                    if now.is_some() && now != awaiting.saw.as_ref() {
                        candidates.push(awaiting.waiter);
                    }
                }
            }
            candidates.sort();
            candidates.dedup();
            if candidates.is_empty() {
                break;
            }
            if rounds >= self.options.max_replay_rounds {
                tracing::warn!(
                    waiters = candidates.len(),
                    first = %candidates[0],
                    "awaits did not settle within the replay rounds; they stay for a later batch"
                );
                break;
            }
            rounds += 1;
            writing = metrics::phase_from("awaits", writing);
            let waiters = std::mem::take(&mut candidates);
            let replayed = replay(
                tx,
                self.workers,
                self.prepared,
                &waiters,
                self.strict,
                self.since,
                self.options.driver,
                self.deltas,
                self.counts,
                &mut candidates,
            )
            .await?;
            // What others read of a waiter's rows may have changed (a reply's flag that the
            // replies below it could not trust): their waiters run again too.
            candidates.extend(awaits::waiters_of(tx, &replayed.waiters).await?);
            let again: HashSet<&str> = replayed.waiters.iter().map(String::as_str).collect();
            self.awaits.retain(|a| !again.contains(a.waiter.as_str()));
            self.awaits.extend(replayed.awaits.iter().cloned());
            self.replayed.extend(replayed.waiters);
            recheck = replayed.awaits;
            writing = metrics::phase_from("replay", writing);
        }
        Ok(metrics::phase_from("awaits", writing))
    }
}

/// Records the time of a plugin call: its lookups apart.
fn plugin_phases(call: std::time::Duration, lookups: std::time::Duration) {
    metrics::phase("plugins", call.saturating_sub(lookups));
    metrics::phase("lookups", lookups);
}

/// An outcome checked against the real tables.
enum Accepted {
    Indexed(Vec<TableOp>, Vec<String>),
    Skipped(String),
    Parked(String),
}

fn accept(prepared: &PreparedPlugins, plugin: usize, outcome: OpResult) -> Accepted {
    match outcome {
        OpResult::Indexed(Indexed { ops, awaits }) => match resolve_ops(prepared, plugin, ops) {
            Ok(table_ops) => Accepted::Indexed(table_ops, awaits),
            Err(error) => {
                let label = prepared.plugins().get(plugin).map_or("?", |p| p.label());
                Accepted::Parked(format!("{label}: invalid output: {error}"))
            }
        },
        OpResult::Skipped(error) => Accepted::Skipped(format!("{error:?}")),
        OpResult::Parked(parked) => {
            Accepted::Parked(format!("{}: {}", parked.plugin, parked.reason))
        }
    }
}

/// Resolves a plugin's row operations to tables and checks them against the real columns.
fn resolve_ops(
    prepared: &PreparedPlugins,
    plugin: usize,
    ops: Vec<RowOp>,
) -> Result<Vec<TableOp>, String> {
    ops.into_iter()
        .map(|op| {
            let name = match &op {
                RowOp::Upsert(u) => &u.table,
                RowOp::Delete(d) => &d.table,
                RowOp::Increment(i) => &i.table,
            };
            let table = prepared
                .resolve_table(plugin, name)
                .ok_or_else(|| format!("table {name} is not declared"))?;
            let table_op = TableOp { table, op };
            check_physical(prepared, &table_op)?;
            Ok(table_op)
        })
        .collect()
}

fn wants(kinds: EventKinds, event: &NetworkEvent) -> bool {
    match event {
        NetworkEvent::Identity(_) => kinds.contains(EventKinds::IDENTITY),
        NetworkEvent::Account(_) => kinds.contains(EventKinds::ACCOUNT),
        NetworkEvent::Label(_) => kinds.contains(EventKinds::LABEL),
    }
}

/// Remembers record answers: absent wins over present (the result that saw it absent awaits it).
fn merge_seen(seen: &mut HashMap<String, Option<String>>, more: HashMap<String, Option<String>>) {
    for (uri, cid) in more {
        match seen.get(&uri) {
            Some(None) => {}
            _ => {
                seen.insert(uri, cid);
            }
        }
    }
}

/// The DID of an AT-URI (`at://did/collection/rkey`).
fn uri_did(uri: &str) -> Option<&str> {
    uri.strip_prefix("at://")?.split('/').next()
}

/// The collection and record key of an AT-URI.
fn uri_parts(uri: &str) -> Option<(&str, &str)> {
    let mut parts = uri.strip_prefix("at://")?.splitn(3, '/');
    let _did = parts.next()?;
    Some((parts.next()?, parts.next()?))
}

/// Re-runs `waiters` (their current stored version, source `replay`) inside the transaction,
/// writes their new rows and replaces their awaits. Returns their new awaits (to re-check).
/// Waiters whose rows would take a unique value that an earlier waiter of the round takes are
/// not written: they go to `retry`, for the next round (whose lookups see those rows).
#[allow(clippy::too_many_arguments)]
async fn replay(
    tx: &mut PgConnection,
    workers: &mut PluginWorkers,
    prepared: &PreparedPlugins,
    waiters: &[String],
    strict: bool,
    since: &str,
    driver: DriverOptions,
    deltas: &mut AggregateDeltas,
    counts: &mut BatchCounts,
    retry: &mut Vec<String>,
) -> Result<Replayed, BatchError> {
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        r#"SELECT uri, cid, json, rev, "indexedAt" FROM record
           WHERE uri = ANY($1) ORDER BY uri FOR UPDATE"#,
    )
    .bind(waiters)
    .fetch_all(&mut *tx)
    .await?;
    let stored: HashMap<String, StoredState> = rows
        .into_iter()
        .map(|(uri, cid, json, rev, indexed_at)| {
            (
                uri,
                StoredState {
                    cid,
                    json,
                    rev,
                    indexed_at,
                },
            )
        })
        .collect();
    let mut gone: Vec<String> = Vec::new();
    let mut by_plugin: BTreeMap<usize, Vec<(String, RecordOp)>> = BTreeMap::new();
    for waiter in waiters {
        let live = stored.get(waiter).filter(|s| !s.is_tombstone());
        let parts = uri_parts(waiter).zip(uri_did(waiter));
        let plugin =
            parts.and_then(|((collection, _), _)| prepared.plugin_for_collection(collection));
        let (Some(state), Some(((collection, rkey), did)), Some(plugin)) = (live, parts, plugin)
        else {
            gone.push(waiter.clone());
            continue;
        };
        let encoding = prepared
            .plugins()
            .get(plugin)
            .map_or(RecordEncoding::DagCbor, |p| p.declaration().info().encoding);
        let Some(record) = stored_record(encoding, state) else {
            gone.push(waiter.clone());
            continue;
        };
        by_plugin.entry(plugin).or_default().push((
            waiter.clone(),
            RecordOp {
                // The stored version again, not a new one: a create over that same version
                // (`previous` = `record`), as the plugins' test host (bsky-testkit) replays.
                // `update` would say the content changed, and a plugin would run its delete
                // path first: bsky-feed then deletes the quotes *of* the post and the feed
                // items of its reposts, and soft-deletes its `op_thread_reply` row, rows that
                // other records wrote and that no replay brings back (found by tests/e2e/crash.rs).
                action: Action::Create,
                did: did.to_owned(),
                collection: collection.to_owned(),
                rkey: rkey.to_owned(),
                record: Some(record.clone()),
                previous: Some(record),
                rev: state.rev.clone(),
                indexed_at: state.indexed_at.clone(),
                source: Source::Replay,
            },
        ));
    }
    // Waiters that are gone wait for nothing any more.
    awaits::replace(tx, &gone, &[], since).await?;

    let mut indexed: Vec<(String, Vec<TableOp>, Vec<String>)> = Vec::new();
    let mut seen: HashMap<String, Option<String>> = HashMap::new();
    for (plugin, pending) in by_plugin {
        let Some(worker) = workers.workers.get_mut(plugin) else {
            continue;
        };
        let record_ops: Vec<RecordOp> = pending.iter().map(|(_, op)| op.clone()).collect();
        let result =
            index_in_transaction(tx, worker, prepared, &record_ops, driver, &mut seen).await?;
        for ((waiter, _), outcome) in pending.into_iter().zip(result.results) {
            match accept(prepared, plugin, outcome) {
                Accepted::Indexed(table_ops, awaits) => indexed.push((waiter, table_ops, awaits)),
                Accepted::Skipped(reason) | Accepted::Parked(reason) => {
                    counts.replays += 1;
                    counts.replays_failed += 1;
                    tracing::warn!(waiter, reason, "a replay failed; its awaits are kept");
                }
            }
        }
    }
    let units: Vec<Unit<'_>> = indexed
        .iter()
        .map(|(waiter, ops, _)| Unit {
            record: Some(waiter.as_str()),
            ops,
        })
        .collect();
    let colliding = colliding_units(prepared, &units);
    drop(units);
    let mut new_awaits: Vec<(String, String)> = Vec::new();
    let mut replayed: Vec<String> = Vec::new();
    let mut ops: Vec<TableOp> = Vec::new();
    for (position, (waiter, table_ops, awaits)) in indexed.into_iter().enumerate() {
        if colliding.contains(&position) {
            retry.push(waiter);
            continue;
        }
        counts.replays += 1;
        ops.extend(table_ops);
        new_awaits.extend(awaits.into_iter().map(|a| (waiter.clone(), a)));
        replayed.push(waiter);
    }
    counts.write += apply_ops(tx, prepared, &ops, strict, deltas).await?;
    awaits::replace(tx, &replayed, &new_awaits, since).await?;
    Ok(Replayed {
        waiters: replayed.into_iter().chain(gone).collect(),
        awaits: Awaiting::with_what_was_seen(new_awaits, &seen),
    })
}

/// What a round of replays did.
struct Replayed {
    /// The waiters replayed (or found gone): their earlier awaits are replaced.
    waiters: Vec<String>,
    /// Their new awaits, each with what the replay saw of the awaited record.
    awaits: Vec<Awaiting>,
}

/// Runs `ops` through `worker` with lookups answered inside the transaction `tx` (which already
/// holds the batch's record rows); remembers the record answers in `seen`.
async fn index_in_transaction(
    tx: &mut PgConnection,
    worker: &mut PluginWorker,
    prepared: &PreparedPlugins,
    ops: &[RecordOp],
    driver: DriverOptions,
    seen: &mut HashMap<String, Option<String>>,
) -> Result<sluice_plugin_host::BatchReport, BatchError> {
    let resolver = PgLookups::new(
        Database::Transaction(tokio::sync::Mutex::new(tx)),
        prepared,
        None,
    );
    let result = worker.index_records(ops, &resolver, driver).await?;
    merge_seen(seen, resolver.take_seen());
    Ok(result)
}

/// Runs deferred record operations inside the transaction (see "Deferred operations").
struct Rerunning<'w, 'p> {
    workers: &'w mut PluginWorkers,
    prepared: &'p PreparedPlugins,
    strict: bool,
    driver: DriverOptions,
    deltas: &'w mut AggregateDeltas,
    seen: &'w mut HashMap<String, Option<String>>,
    new_awaits: &'w mut Vec<(String, String)>,
    report: &'w mut BatchReport,
}

impl Rerunning<'_, '_> {
    /// Runs `deferred` (in the batch's order) in rounds: each round runs the first pending
    /// operation of each record, and writes the rows of those that can go together, leaving
    /// the others for the next round, whose lookups see those rows. Operations that claimed
    /// the same unique value (when they last ran) form a group, and one that takes a unique
    /// value now must see what the earlier ones of its group decided. So in a round, an
    /// operation goes ahead unless it takes a value an earlier one of the round takes, or an
    /// earlier one of its group took one (it may have taken over the row this one read), or it
    /// takes one itself after an earlier one of its group (which it did not see). The n-th
    /// like of one post by one account, run again after the main write, finds the first and
    /// becomes a duplicate, claiming nothing: all of them go in one round. The first operation
    /// of a round never waits, so every round makes progress.
    async fn run(
        &mut self,
        tx: &mut PgConnection,
        mut deferred: Vec<Rerun<'_>>,
    ) -> Result<(), BatchError> {
        while !deferred.is_empty() {
            deferred.sort_by_key(|rerun| rerun.order);
            let mut round: Vec<Rerun<'_>> = Vec::new();
            let mut later: Vec<Rerun<'_>> = Vec::new();
            let mut records: HashSet<String> = HashSet::new();
            for rerun in deferred.drain(..) {
                if records.insert(rerun.uri.clone()) {
                    round.push(rerun);
                } else {
                    later.push(rerun);
                }
            }
            let outcomes = self.run_round(tx, &round).await?;
            let units: Vec<Unit<'_>> = round
                .iter()
                .zip(&outcomes)
                .map(|(rerun, outcome)| Unit {
                    record: Some(rerun.uri.as_str()),
                    ops: match outcome {
                        Accepted::Indexed(ops, _) => ops,
                        _ => &[],
                    },
                })
                .collect();
            let colliding = colliding_units(self.prepared, &units);
            drop(units);
            let mut ops: Vec<TableOp> = Vec::new();
            // Unique values of the groups run in this round so far, and those of the groups
            // in which an operation of the round takes a value.
            let mut groups_run: HashSet<UniqueValue> = HashSet::new();
            let mut groups_taken: HashSet<UniqueValue> = HashSet::new();
            for (position, (rerun, outcome)) in round.into_iter().zip(outcomes).enumerate() {
                let takes = match &outcome {
                    Accepted::Indexed(ops, _) => unique_values_of(self.prepared, ops),
                    _ => Vec::new(),
                };
                let group: Vec<&UniqueValue> = rerun.claims.iter().chain(&takes).collect();
                let after_a_taker = group.iter().any(|value| groups_taken.contains(*value));
                let takes_after_its_group =
                    !takes.is_empty() && group.iter().any(|value| groups_run.contains(*value));
                if colliding.contains(&position) || after_a_taker || takes_after_its_group {
                    // Later ones of its group must wait for it too (it may take the value).
                    let claims: Vec<UniqueValue> = group.into_iter().cloned().collect();
                    groups_taken.extend(claims.iter().cloned());
                    later.push(Rerun { claims, ..rerun });
                    continue;
                }
                groups_run.extend(group.iter().map(|value| (*value).clone()));
                if !takes.is_empty() {
                    groups_taken.extend(group.into_iter().cloned());
                }
                self.report.counts.deferred += 1;
                match outcome {
                    Accepted::Indexed(table_ops, awaits) => {
                        ops.extend(table_ops);
                        self.new_awaits.retain(|(waiter, _)| *waiter != rerun.uri);
                        self.new_awaits
                            .extend(awaits.into_iter().map(|a| (rerun.uri.clone(), a)));
                    }
                    // The first run indexed it; the same operation rarely fails the second time
                    // (its lookups differ). Its record row stays; its rows are not written.
                    Accepted::Skipped(reason) => {
                        self.report.counts.applied = self.report.counts.applied.saturating_sub(1);
                        self.report.counts.skipped += 1;
                        tracing::warn!(uri = %rerun.uri, reason, "a deferred operation was skipped");
                    }
                    Accepted::Parked(error) => {
                        self.report.counts.applied = self.report.counts.applied.saturating_sub(1);
                        self.report.counts.parked += 1;
                        tracing::warn!(uri = %rerun.uri, error, "a deferred operation was parked");
                        if let Some(entry) = rerun.entry {
                            self.report.parked.push(Park {
                                delivery: entry.delivery,
                                reason: REASON_PLUGIN,
                                error,
                            });
                        }
                    }
                }
            }
            self.report.counts.write +=
                apply_ops(tx, self.prepared, &ops, self.strict, self.deltas).await?;
            deferred = later;
        }
        Ok(())
    }

    /// Runs one round's operations, plugin by plugin, with lookups in the transaction; the
    /// outcomes in the round's order.
    async fn run_round(
        &mut self,
        tx: &mut PgConnection,
        round: &[Rerun<'_>],
    ) -> Result<Vec<Accepted>, BatchError> {
        let mut by_plugin: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (position, rerun) in round.iter().enumerate() {
            by_plugin.entry(rerun.plugin).or_default().push(position);
        }
        let mut outcomes: Vec<Option<Accepted>> = round.iter().map(|_| None).collect();
        for (plugin, positions) in by_plugin {
            let Some(worker) = self.workers.workers.get_mut(plugin) else {
                continue;
            };
            let record_ops: Vec<RecordOp> = positions
                .iter()
                .filter_map(|&position| round.get(position).map(|r| r.op.clone()))
                .collect();
            // Timed as a whole by the caller (phase `deferred`), as replays are.
            let result = index_in_transaction(
                tx,
                worker,
                self.prepared,
                &record_ops,
                self.driver,
                self.seen,
            )
            .await?;
            for (position, outcome) in positions.into_iter().zip(result.results) {
                if let Some(slot) = outcomes.get_mut(position) {
                    *slot = Some(accept(self.prepared, plugin, outcome));
                }
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| Accepted::Parked("no plugin ran the operation".into()))
            })
            .collect())
    }
}

/// The last commit seen per repo (`actor_sync`), from live record events and backfill `repo`
/// events, only ever moving forward.
async fn write_actor_sync(tx: &mut PgConnection, entries: &[Entry]) -> Result<(), BatchError> {
    let mut latest: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for entry in entries {
        let seen = match &entry.item {
            Item::Record(change) if change.source == Source::Live => Some((
                change.did.as_str(),
                change.rev.as_str(),
                change.commit.as_str(),
            )),
            Item::Unclaimed {
                did,
                rev,
                commit,
                live: true,
            }
            | Item::Repo { did, rev, commit } => {
                Some((did.as_str(), rev.as_str(), commit.as_str()))
            }
            _ => None,
        };
        if let Some((did, rev, commit)) = seen {
            let slot = latest.entry(did).or_insert((rev, commit));
            if rev > slot.0 {
                *slot = (rev, commit);
            }
        }
    }
    if latest.is_empty() {
        return Ok(());
    }
    let dids: Vec<&str> = latest.keys().copied().collect();
    let commits: Vec<&str> = latest.values().map(|(_, c)| *c).collect();
    let revs: Vec<&str> = latest.values().map(|(r, _)| *r).collect();
    sqlx::query(
        r#"INSERT INTO actor_sync AS s (did, "commitCid", "repoRev")
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
           ON CONFLICT (did) DO UPDATE SET "commitCid" = EXCLUDED."commitCid", "repoRev" = EXCLUDED."repoRev"
           WHERE s."repoRev" IS NULL OR s."repoRev" < EXCLUDED."repoRev""#,
    )
    .bind(dids)
    .bind(commits)
    .bind(revs)
    .execute(tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_helpers() {
        assert_eq!(
            uri_did("at://did:plc:a/app.bsky.feed.post/1"),
            Some("did:plc:a")
        );
        assert_eq!(
            uri_parts("at://did:plc:a/app.bsky.feed.post/1"),
            Some(("app.bsky.feed.post", "1"))
        );
        assert_eq!(uri_parts("https://x"), None);
    }

    #[test]
    fn absent_answers_win() {
        let mut seen = HashMap::new();
        merge_seen(&mut seen, HashMap::from([("a".to_owned(), None)]));
        merge_seen(
            &mut seen,
            HashMap::from([("a".to_owned(), Some("c".to_owned()))]),
        );
        merge_seen(
            &mut seen,
            HashMap::from([("b".to_owned(), Some("c".to_owned()))]),
        );
        assert_eq!(seen.get("a"), Some(&None));
        assert_eq!(seen.get("b"), Some(&Some("c".to_owned())));
    }
}
