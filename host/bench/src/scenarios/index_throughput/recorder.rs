//! An in-process `metrics` recorder: counters and histogram sums, read back by name and labels.
//!
//! The indexer runs in this process, so its own metrics (`sluice_indexer_*`, see
//! `sluice_indexer::metrics`) give the breakdown without a Prometheus scrape.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// A counter's value.
#[derive(Debug, Default)]
struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// A gauge's value (the bits of an `f64`).
#[derive(Debug, Default)]
struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn update(&self, change: impl Fn(f64) -> f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(change(f64::from_bits(bits)).to_bits())
            });
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// A histogram's count and sum.
#[derive(Debug, Default)]
struct HistogramCell(Mutex<(u64, f64)>);

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        let mut cell = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cell.0 += 1;
        cell.1 += value;
    }
}

/// One metric: its name and labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
}

impl Series {
    fn of(key: &Key) -> Self {
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        Self {
            name: key.name().to_owned(),
            labels,
        }
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Cells {
    counters: HashMap<Series, Arc<CounterCell>>,
    gauges: HashMap<Series, Arc<GaugeCell>>,
    histograms: HashMap<Series, Arc<HistogramCell>>,
}

/// The recorder; [`BenchRecorder::install`] makes it the process's.
#[derive(Debug, Clone, Default)]
pub(crate) struct BenchRecorder {
    cells: Arc<Mutex<Cells>>,
}

impl BenchRecorder {
    /// Installs a recorder as the global one (once per process) and returns it.
    pub(crate) fn install() -> anyhow::Result<Self> {
        static INSTALLED: OnceLock<BenchRecorder> = OnceLock::new();
        if let Some(recorder) = INSTALLED.get() {
            return Ok(recorder.clone());
        }
        let recorder = Self::default();
        metrics::set_global_recorder(recorder.clone())
            .map_err(|_| anyhow::anyhow!("another metrics recorder is installed"))?;
        let _ = INSTALLED.set(recorder.clone());
        Ok(recorder)
    }

    fn cells(&self) -> std::sync::MutexGuard<'_, Cells> {
        self.cells.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sum of counter `name` over its series whose labels include `filter`.
    pub(crate) fn counter(&self, name: &str, filter: &[(&str, &str)]) -> u64 {
        self.cells()
            .counters
            .iter()
            .filter(|(series, _)| series.name == name && matches(series, filter))
            .map(|(_, cell)| cell.0.load(Ordering::Relaxed))
            .sum()
    }

    /// Counter `name` per value of its label `label`.
    pub(crate) fn counter_by(&self, name: &str, label: &str) -> Vec<(String, u64)> {
        let mut by: HashMap<String, u64> = HashMap::new();
        for (series, cell) in &self.cells().counters {
            if series.name == name {
                let value = series.label(label).unwrap_or("").to_owned();
                *by.entry(value).or_default() += cell.0.load(Ordering::Relaxed);
            }
        }
        let mut by: Vec<(String, u64)> = by.into_iter().collect();
        by.sort();
        by
    }

    /// Histogram `name` per value of its label `label`: (count, sum).
    pub(crate) fn histogram_by(&self, name: &str, label: &str) -> HashMap<String, (u64, f64)> {
        let mut by: HashMap<String, (u64, f64)> = HashMap::new();
        for (series, cell) in &self.cells().histograms {
            if series.name == name {
                let (count, sum) = *cell.0.lock().unwrap_or_else(PoisonError::into_inner);
                let slot = by
                    .entry(series.label(label).unwrap_or("").to_owned())
                    .or_default();
                slot.0 += count;
                slot.1 += sum;
            }
        }
        by
    }

    /// Histogram `name` over all its series: (count, sum).
    pub(crate) fn histogram(&self, name: &str) -> (u64, f64) {
        self.histogram_by(name, "")
            .into_values()
            .fold((0, 0.0), |(c, s), (count, sum)| (c + count, s + sum))
    }
}

fn matches(series: &Series, filter: &[(&str, &str)]) -> bool {
    filter
        .iter()
        .all(|(name, value)| series.label(name) == Some(*value))
}

impl Recorder for BenchRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let cell = Arc::clone(self.cells().counters.entry(Series::of(key)).or_default());
        Counter::from_arc(cell)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let cell = Arc::clone(self.cells().gauges.entry(Series::of(key)).or_default());
        Gauge::from_arc(cell)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let cell = Arc::clone(self.cells().histograms.entry(Series::of(key)).or_default());
        Histogram::from_arc(cell)
    }
}
