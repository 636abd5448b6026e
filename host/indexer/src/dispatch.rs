//! Between the reader and the workers: read entries wait here, one queue per worker (a repo
//! always goes to the same worker, so its entries stay in order), until that worker takes its
//! next batch.
//!
//! The reader reads ahead while fewer than `read_ahead` entries wait, no more than the workers
//! take in `max_wait` at their recent rate (but always a batch per worker), and none has waited
//! longer than `max_wait`. A worker busy with one large repo (a backfill holds a repo's records
//! together, tens of thousands of them) then no longer stops the reader: the other workers go on
//! with the repos behind it. A worker takes up to `batch_size` entries at once, from the stream
//! read first (live before backfill) and then the next, so its batches stay full however the
//! reads split between workers.
//!
//! `max_wait` keeps entries from waiting here long enough for another indexer to reclaim them
//! (`claim_min_idle`); entries left here at shutdown stay pending in Redis and come back to this
//! consumer (its own history) or to another one.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sluice_queue::Delivery;
use tokio::sync::Notify;

/// What a worker takes: deliveries in queue order and when the oldest of them was read.
#[derive(Debug)]
pub(crate) struct Taken {
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) read_at: Instant,
}

/// How much the reader may read ahead of the workers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DispatchLimits {
    /// Entries a worker takes at once.
    pub(crate) batch_size: usize,
    /// Entries that may wait in all queues together.
    pub(crate) read_ahead: usize,
    /// How long entries should wait here at most: the reader keeps no more waiting than the
    /// workers take in this time, and stops while the oldest has waited longer.
    pub(crate) max_wait: Duration,
}

/// The workers' queues, shared by the reader and the workers.
pub(crate) struct Dispatch {
    state: Mutex<State>,
    /// One per worker: entries arrived, or the dispatch closed.
    ready: Vec<Notify>,
    /// A worker took entries: the reader may have room again.
    room: Notify,
    /// Stream names in priority order (the consumer's order).
    streams: Vec<String>,
    limits: DispatchLimits,
}

struct State {
    /// `[worker][stream priority]`.
    queues: Vec<Vec<VecDeque<Waiting>>>,
    waiting: usize,
    closed: bool,
    rate: TakeRate,
}

/// How fast the workers take entries (entries/s), smoothed over windows of a second or more.
struct TakeRate {
    per_second: f64,
    window_start: Instant,
    taken_in_window: usize,
}

impl TakeRate {
    fn new() -> Self {
        Self {
            per_second: 0.0,
            window_start: Instant::now(),
            taken_in_window: 0,
        }
    }

    fn record(&mut self, taken: usize) {
        self.taken_in_window += taken;
        let elapsed = self.window_start.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let current = self.taken_in_window as f64 / elapsed.as_secs_f64();
            self.per_second = if self.per_second == 0.0 {
                current
            } else {
                (self.per_second + current) / 2.0
            };
            self.window_start = Instant::now();
            self.taken_in_window = 0;
        }
    }
}

struct Waiting {
    delivery: Delivery,
    read_at: Instant,
}

impl Dispatch {
    /// Queues for `workers` workers over `streams` (highest priority first).
    pub(crate) fn new(workers: usize, streams: Vec<String>, limits: DispatchLimits) -> Self {
        let workers = workers.max(1);
        let priorities = streams.len() + 1; // the last one: entries of another stream
        Self {
            state: Mutex::new(State {
                queues: (0..workers)
                    .map(|_| (0..priorities).map(|_| VecDeque::new()).collect())
                    .collect(),
                waiting: 0,
                closed: false,
                rate: TakeRate::new(),
            }),
            ready: (0..workers).map(|_| Notify::new()).collect(),
            room: Notify::new(),
            streams,
            limits: DispatchLimits {
                batch_size: limits.batch_size.max(1),
                read_ahead: limits.read_ahead.max(1),
                max_wait: limits.max_wait,
            },
        }
    }

    /// The number of workers.
    pub(crate) fn workers(&self) -> usize {
        self.ready.len()
    }

    /// Waits until the reader may read more: fewer entries wait than [`Self::limit`] and the
    /// oldest has waited less than `max_wait`.
    pub(crate) async fn room(&self) {
        loop {
            let notified = self.room.notified();
            if self.has_room() {
                return;
            }
            // A worker taking entries wakes us; the age limit needs a look now and then.
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }

    fn has_room(&self) -> bool {
        let state = self.lock();
        if state.waiting == 0 {
            return true;
        }
        if state.waiting >= self.limit(&state) {
            return false;
        }
        let oldest = state
            .queues
            .iter()
            .flatten()
            .filter_map(|queue| queue.front())
            .map(|waiting| waiting.read_at)
            .min();
        oldest.is_none_or(|read_at| read_at.elapsed() < self.limits.max_wait)
    }

    /// How many entries may wait: what the workers take in `max_wait` at their recent rate,
    /// at least a batch per worker, at most `read_ahead`.
    fn limit(&self, state: &State) -> usize {
        let floor = self.limits.batch_size.saturating_mul(self.workers());
        let in_time = (state.rate.per_second * self.limits.max_wait.as_secs_f64()) as usize;
        in_time.max(floor).min(self.limits.read_ahead)
    }

    /// Queues each delivery for worker `shard(delivery)` (taken modulo the number of workers).
    pub(crate) fn push(&self, deliveries: Vec<Delivery>, shard: impl Fn(&Delivery) -> usize) {
        let read_at = Instant::now();
        let workers = self.workers();
        let mut woken = vec![false; workers];
        {
            let mut state = self.lock();
            for delivery in deliveries {
                let worker = shard(&delivery) % workers;
                let priority = self
                    .streams
                    .iter()
                    .position(|stream| *stream == delivery.stream)
                    .unwrap_or(self.streams.len());
                if let Some(queue) = state
                    .queues
                    .get_mut(worker)
                    .and_then(|queues| queues.get_mut(priority))
                {
                    queue.push_back(Waiting { delivery, read_at });
                    state.waiting += 1;
                    woken[worker] = true;
                }
            }
        }
        for (notify, woken) in self.ready.iter().zip(woken) {
            if woken {
                notify.notify_one();
            }
        }
    }

    /// The next batch of worker `worker`: up to `batch_size` entries, higher-priority streams
    /// first. Waits while its queues are empty; `None` once the dispatch is closed.
    pub(crate) async fn take(&self, worker: usize) -> Option<Taken> {
        let notify = self.ready.get(worker)?;
        loop {
            let notified = notify.notified();
            if let Some(taken) = self.take_now(worker) {
                self.room.notify_one();
                return Some(taken);
            }
            if self.lock().closed {
                return None;
            }
            notified.await;
        }
    }

    fn take_now(&self, worker: usize) -> Option<Taken> {
        let mut state = self.lock();
        let queues = state.queues.get_mut(worker)?;
        let mut deliveries = Vec::new();
        let mut read_at: Option<Instant> = None;
        for queue in queues.iter_mut() {
            while deliveries.len() < self.limits.batch_size {
                let Some(waiting) = queue.pop_front() else {
                    break;
                };
                read_at = Some(read_at.map_or(waiting.read_at, |t| t.min(waiting.read_at)));
                deliveries.push(waiting.delivery);
            }
        }
        let read_at = read_at?;
        state.waiting -= deliveries.len();
        state.rate.record(deliveries.len());
        Some(Taken {
            deliveries,
            read_at,
        })
    }

    /// Stops the workers: each returns from [`take`](Self::take) with `None` once its current
    /// batch is done. Entries still waiting stay pending in Redis.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        for notify in &self.ready {
            notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain queues behind, still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(stream: &str, id: usize, repo: usize) -> Delivery {
        Delivery {
            stream: stream.into(),
            id: format!("{id}-0"),
            fields: vec![("repo".into(), repo.to_string().into_bytes())],
        }
    }

    fn repo_of(delivery: &Delivery) -> usize {
        delivery
            .field("repo")
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0)
    }

    fn ids(taken: &Taken) -> Vec<&str> {
        taken.deliveries.iter().map(|d| d.id.as_str()).collect()
    }

    fn limits(batch_size: usize, read_ahead: usize) -> DispatchLimits {
        DispatchLimits {
            batch_size,
            read_ahead,
            max_wait: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_busy_worker_does_not_hold_back_the_others() {
        let dispatch = Dispatch::new(2, vec!["live".into(), "backfill".into()], limits(3, 100));
        // Repo 0 (worker 0) has many entries, then repo 1 (worker 1) comes.
        let mut read: Vec<Delivery> = (0..7).map(|n| delivery("backfill", n, 0)).collect();
        read.push(delivery("backfill", 7, 1));
        dispatch.push(read, repo_of);
        let first = dispatch.take(0).await.unwrap();
        assert_eq!(ids(&first), ["0-0", "1-0", "2-0"], "a full batch, in order");
        let other = dispatch.take(1).await.unwrap();
        assert_eq!(ids(&other), ["7-0"], "the other repo waits for no one");
        let second = dispatch.take(0).await.unwrap();
        assert_eq!(ids(&second), ["3-0", "4-0", "5-0"]);
    }

    #[tokio::test]
    async fn live_entries_are_taken_before_backfill() {
        let dispatch = Dispatch::new(1, vec!["live".into(), "backfill".into()], limits(2, 100));
        dispatch.push(
            vec![delivery("backfill", 1, 0), delivery("backfill", 2, 0)],
            repo_of,
        );
        dispatch.push(vec![delivery("live", 3, 0)], repo_of);
        let taken = dispatch.take(0).await.unwrap();
        assert_eq!(ids(&taken), ["3-0", "1-0"]);
    }

    #[tokio::test]
    async fn the_reader_waits_for_room() {
        let dispatch = Dispatch::new(1, vec!["s".into()], limits(2, 3));
        dispatch.push((0..3).map(|n| delivery("s", n, 0)).collect(), repo_of);
        assert!(
            !dispatch.has_room(),
            "a batch per worker, before any rate is known"
        );
        let _ = dispatch.take(0).await.unwrap();
        assert!(dispatch.has_room());

        // Workers taking 100 entries/s may have 60 s of work waiting, but no more than
        // `read_ahead`.
        let fast = Dispatch::new(2, vec!["s".into()], limits(10, 1000));
        fast.lock().rate.per_second = 100.0;
        fast.push((0..999).map(|n| delivery("s", n, 0)).collect(), repo_of);
        assert!(fast.has_room());
        fast.push(vec![delivery("s", 999, 1)], repo_of);
        assert!(!fast.has_room(), "read_ahead reached");
        fast.lock().rate.per_second = 1.0;
        let _ = fast.take(1).await.unwrap();
        assert!(
            !fast.has_room(),
            "60 s at 1 entry/s: 60 waiting at most, and a batch each"
        );

        let aged = Dispatch::new(
            1,
            vec!["s".into()],
            DispatchLimits {
                batch_size: 2,
                read_ahead: 100,
                max_wait: Duration::ZERO,
            },
        );
        aged.push(vec![delivery("s", 0, 0)], repo_of);
        assert!(!aged.has_room(), "the oldest entry waited too long");
    }

    #[tokio::test]
    async fn closing_releases_idle_workers() {
        let dispatch = std::sync::Arc::new(Dispatch::new(2, vec!["s".into()], limits(2, 10)));
        let waiting = tokio::spawn({
            let dispatch = std::sync::Arc::clone(&dispatch);
            async move { dispatch.take(1).await.is_none() }
        });
        tokio::task::yield_now().await;
        dispatch.close();
        assert!(waiting.await.unwrap(), "an idle worker stops on close");
    }
}
