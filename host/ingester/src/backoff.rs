//! Capped exponential backoff with full jitter, for reconnecting and retrying.

use std::time::Duration;

use rand::Rng as _;

/// How retries are spaced: the `n`-th wait is a random duration in `[0, min(max, initial·2ⁿ)]`
/// ("full jitter"), so that many clients failing together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The ceiling of the first wait.
    pub initial: Duration,
    /// The largest ceiling any wait may have.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
        }
    }
}

/// The state of one retry sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    /// A fresh sequence.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, attempt: 0 }
    }

    /// Failures since the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The ceiling of the next wait.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.policy
            .initial
            .checked_mul(factor)
            .unwrap_or(self.policy.max)
            .min(self.policy.max)
    }

    /// The next wait (random, up to [`Backoff::ceiling`]); counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap_and_delays_stay_under_them() {
        let mut backoff = Backoff::new(BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        });
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let ceiling = backoff.ceiling();
            ceilings.push(ceiling.as_millis());
            assert!(backoff.next_delay() <= ceiling);
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
        assert_eq!(backoff.attempts(), 8);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        backoff.attempt = u32::MAX;
        assert_eq!(backoff.ceiling(), BackoffPolicy::default().max);
        assert!(backoff.next_delay() <= BackoffPolicy::default().max);
    }
}
