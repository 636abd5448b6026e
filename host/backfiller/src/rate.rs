//! A request budget per host: at most `requests` per `period` to any one host, spread evenly
//! (a generic cell-rate algorithm with a small burst), so that a backfill never trips a PDS's
//! rate limit (Bluesky's PDSes allow 3,000 `getRepo` per 5 minutes per client).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many requests a host may receive per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBudget {
    /// Requests allowed per period.
    pub requests: u32,
    /// The period.
    pub period: Duration,
}

impl Default for RateBudget {
    fn default() -> Self {
        Self {
            requests: 3000,
            period: Duration::from_secs(300),
        }
    }
}

impl RateBudget {
    /// Parses `N/DURATION` (`3000/5m`, `100/1s`, `10/500ms`; units `ms`, `s`, `m`, `h`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("expected N/DURATION such as 3000/5m, got {text:?}");
        let (count, period) = text.split_once('/').ok_or_else(bad)?;
        let requests: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let (number, unit) = period
            .find(|c: char| !c.is_ascii_digit())
            .map_or((period, "s"), |at| period.split_at(at));
        let number: u64 = if number.is_empty() {
            1
        } else {
            number.parse().map_err(|_| bad())?
        };
        let period = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            _ => return Err(bad()),
        };
        if requests == 0 || period.is_zero() {
            return Err(bad());
        }
        Ok(Self { requests, period })
    }

    /// Requests that may go at once after a quiet spell.
    fn burst(&self) -> u32 {
        (self.requests / 100).clamp(1, 30)
    }

    /// Time between requests, chosen so that any window of `period` holds at most `requests`
    /// even after a burst.
    fn spacing(&self) -> Duration {
        let steady = self.requests.saturating_sub(self.burst()).max(1);
        self.period / steady
    }
}

/// Per-host request budgets. Cheap to clone.
#[derive(Clone)]
pub struct HostBudgets {
    budget: RateBudget,
    /// Per host, the "theoretical arrival time" of the next request.
    next: Arc<Mutex<HashMap<String, Instant>>>,
}

impl HostBudgets {
    /// Budgets of `budget` each.
    pub fn new(budget: RateBudget) -> Self {
        Self {
            budget,
            next: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Reserves one request to `host`; returns how long to wait before sending it.
    pub fn reserve(&self, host: &str) -> Duration {
        self.reserve_at(host, Instant::now())
    }

    fn reserve_at(&self, host: &str, now: Instant) -> Duration {
        let spacing = self.budget.spacing();
        let tolerance = spacing * self.budget.burst().saturating_sub(1);
        let mut next = match self.next.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let tat = next.get(host).copied().unwrap_or(now).max(now);
        let allowed_at = tat.checked_sub(tolerance).unwrap_or(now);
        next.insert(host.to_owned(), tat + spacing);
        allowed_at.saturating_duration_since(now)
    }

    /// Waits until a request to `host` fits the budget; returns how long it waited.
    pub async fn acquire(&self, host: &str) -> Duration {
        let wait = self.reserve(host);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_budgets() {
        assert_eq!(
            RateBudget::parse("3000/5m").unwrap(),
            RateBudget {
                requests: 3000,
                period: Duration::from_secs(300)
            }
        );
        assert_eq!(
            RateBudget::parse("10/500ms").unwrap().period,
            Duration::from_millis(500)
        );
        assert_eq!(
            RateBudget::parse("5/s").unwrap().period,
            Duration::from_secs(1)
        );
        for bad in ["", "3000", "0/5m", "x/5m", "10/5d", "10/0s"] {
            assert!(RateBudget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_window_holds_more_than_the_budget() {
        let budget = RateBudget {
            requests: 200,
            period: Duration::from_secs(10),
        };
        let budgets = HostBudgets::new(budget);
        let start = Instant::now();
        // Requests sent as soon as allowed: their send times.
        let mut sent = Vec::new();
        for _ in 0..1000 {
            let wait = budgets.reserve_at("pds.example", start);
            sent.push(wait);
        }
        // The first `burst` go at once, the rest are spread.
        assert!(sent[0].is_zero() && sent[1].is_zero());
        assert!(!sent[100].is_zero());
        for (i, &t) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|&&u| u < t + budget.period)
                .count();
            assert!(
                in_window <= 200,
                "{in_window} requests within one period from request {i}"
            );
        }
        // Another host has its own budget.
        assert!(budgets.reserve_at("other.example", start).is_zero());
    }
}
