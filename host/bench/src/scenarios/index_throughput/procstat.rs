//! CPU time from `/proc` (Linux): this process, the Postgres and Redis servers, the machine.
//! Elsewhere every reading is zero.

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on every mainstream Linux build).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuTimes {
    /// This process.
    pub(crate) own: f64,
    /// Every `postgres` process (the postmaster's children that exited included).
    pub(crate) postgres: f64,
    /// Every `redis-server` process.
    pub(crate) redis: f64,
    /// The whole machine, busy (user, nice, system, irq, softirq, steal).
    pub(crate) machine_busy: f64,
    /// The whole machine, waiting for I/O.
    pub(crate) machine_iowait: f64,
    /// The whole machine, everything (idle included).
    pub(crate) machine_total: f64,
}

impl CpuTimes {
    /// The times now.
    pub(crate) fn now() -> Self {
        let mut times = Self {
            own: process_seconds("self", false).unwrap_or(0.0),
            ..Self::default()
        };
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                match std::fs::read_to_string(format!("/proc/{pid}/comm")).as_deref() {
                    Ok("postgres\n") => times.postgres += process_seconds(pid, true).unwrap_or(0.0),
                    Ok("redis-server\n") => {
                        times.redis += process_seconds(pid, false).unwrap_or(0.0);
                    }
                    _ => {}
                }
            }
        }
        if let Some((busy, iowait, total)) = machine_seconds() {
            times.machine_busy = busy;
            times.machine_iowait = iowait;
            times.machine_total = total;
        }
        times
    }

    /// What was used between `earlier` and `self`.
    pub(crate) fn since(&self, earlier: &Self) -> Self {
        Self {
            own: self.own - earlier.own,
            postgres: self.postgres - earlier.postgres,
            redis: self.redis - earlier.redis,
            machine_busy: self.machine_busy - earlier.machine_busy,
            machine_iowait: self.machine_iowait - earlier.machine_iowait,
            machine_total: self.machine_total - earlier.machine_total,
        }
    }
}

/// utime + stime of a process (and cutime + cstime, its reaped children's, with `children`).
fn process_seconds(pid: &str, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> f64 {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .unwrap_or(0.0)
    };
    let mut ticks = field(14) + field(15);
    if children {
        ticks += field(16) + field(17);
    }
    Some(ticks / TICKS_PER_SECOND)
}

/// (busy, iowait, total) CPU seconds of the machine since boot, all cores summed.
fn machine_seconds() -> Option<(f64, f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let get = |n: usize| values.get(n).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal (guest times are inside user and nice).
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    let iowait = get(4);
    let total = busy + get(3) + iowait;
    Some((
        busy / TICKS_PER_SECOND,
        iowait / TICKS_PER_SECOND,
        total / TICKS_PER_SECOND,
    ))
}

/// Resident memory of this process now, in KiB.
pub(crate) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
