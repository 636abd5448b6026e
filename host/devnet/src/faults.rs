//! Fault injection, for the reliability tests of the consumers.
//!
//! Each fault hits a deterministic share of its targets, chosen from the seed: the same frames and
//! repos are faulty on every run and after every reconnection, so a test can ask
//! [`Faults::frame_fault`] and [`Faults::repo_fault`] which ones to expect.
//!
//! - Firehose frames: *malformed* (the bytes are cut in the middle of the body, so the frame does
//!   not decode), *forged signature* (a `#commit` signed by another key: its commit block and CID
//!   change, its ops and tree do not), *broken `prevData`* (a `#commit` whose `prevData` is not
//!   the previous root, so the sync 1.1 check fails).
//! - `getRepo`: *failing* repos answer HTTP 500, *truncated* repos stop in the middle of the
//!   CAR, *stalled* repos send the headers and then nothing.
//! - *Slow* responses: every HTTP response waits a while before its first byte.

use std::time::Duration;

use crate::draw::{Draw, Topic};

/// Which faults to inject, and how often (fractions in `0.0..=1.0`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Share of firehose frames sent malformed.
    pub malformed_frames: f64,
    /// Share of `#commit`s signed with a key that is not the account's.
    pub forged_signatures: f64,
    /// Share of `#commit`s with a wrong `prevData`.
    pub broken_prev_data: f64,
    /// Share of repos whose `getRepo` answers HTTP 500.
    pub failing_repos: f64,
    /// Share of repos whose `getRepo` stops in the middle of the CAR.
    pub truncated_repos: f64,
    /// Share of repos whose `getRepo` never sends a byte of body.
    pub stalled_repos: f64,
    /// Delay before every HTTP response.
    pub slow_responses: Duration,
}

impl FaultConfig {
    /// Whether any fault is configured.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// What goes wrong with one firehose frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFault {
    /// The bytes are cut short.
    Malformed,
    /// The commit is signed by another key.
    ForgedSignature,
    /// `prevData` is wrong.
    BrokenPrevData,
}

/// What goes wrong with one repo's `getRepo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoFault {
    /// HTTP 500.
    Fails,
    /// The CAR stops in the middle.
    Truncated,
    /// Headers, then nothing.
    Stalls,
}

/// The faults of one network (see the module docs).
#[derive(Debug, Clone)]
pub struct Faults {
    seed: u64,
    config: FaultConfig,
}

impl Faults {
    /// The faults of the network `seed`.
    pub fn new(seed: u64, config: FaultConfig) -> Self {
        Self { seed, config }
    }

    /// The configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    fn hit(&self, kind: u64, target: u64, share: f64) -> bool {
        share > 0.0 && Draw::new(self.seed, Topic::Fault, kind, target, 0).unit() < share
    }

    /// The fault of the frame with sequence number `seq`, if any. `commit` says whether it is
    /// a `#commit` (only those can have forged signatures or broken `prevData`).
    pub fn frame_fault(&self, seq: u64, commit: bool) -> Option<FrameFault> {
        let config = &self.config;
        if self.hit(1, seq, config.malformed_frames) {
            Some(FrameFault::Malformed)
        } else if commit && self.hit(2, seq, config.forged_signatures) {
            Some(FrameFault::ForgedSignature)
        } else if commit && self.hit(3, seq, config.broken_prev_data) {
            Some(FrameFault::BrokenPrevData)
        } else {
            None
        }
    }

    /// The fault of a repo's `getRepo`, if any.
    pub fn repo_fault(&self, repo: u32) -> Option<RepoFault> {
        let config = &self.config;
        let repo = u64::from(repo);
        if self.hit(4, repo, config.failing_repos) {
            Some(RepoFault::Fails)
        } else if self.hit(5, repo, config.truncated_repos) {
            Some(RepoFault::Truncated)
        } else if self.hit(6, repo, config.stalled_repos) {
            Some(RepoFault::Stalls)
        } else {
            None
        }
    }

    /// The delay before every HTTP response.
    pub fn response_delay(&self) -> Duration {
        self.config.slow_responses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_configuration_no_fault() {
        let faults = Faults::new(1, FaultConfig::default());
        assert!(!faults.config().any());
        for target in 0..1000 {
            assert_eq!(faults.frame_fault(target, true), None);
            assert_eq!(faults.repo_fault(target as u32), None);
        }
    }

    #[test]
    fn faults_hit_their_share_deterministically() {
        let config = FaultConfig {
            malformed_frames: 0.01,
            forged_signatures: 0.02,
            broken_prev_data: 0.03,
            failing_repos: 0.1,
            truncated_repos: 0.1,
            stalled_repos: 0.1,
            slow_responses: Duration::from_millis(5),
        };
        let faults = Faults::new(2, config.clone());
        let again = Faults::new(2, config);
        let mut counts = [0u32; 3];
        for seq in 0..100_000 {
            let fault = faults.frame_fault(seq, true);
            assert_eq!(fault, again.frame_fault(seq, true));
            match fault {
                Some(FrameFault::Malformed) => counts[0] += 1,
                Some(FrameFault::ForgedSignature) => counts[1] += 1,
                Some(FrameFault::BrokenPrevData) => counts[2] += 1,
                None => {}
            }
            // Only commits get commit faults.
            assert!(matches!(
                faults.frame_fault(seq, false),
                None | Some(FrameFault::Malformed)
            ));
        }
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
        assert!((1700..2300).contains(&counts[1]), "{counts:?}");
        assert!((2600..3400).contains(&counts[2]), "{counts:?}");
        let repos = (0..1000)
            .filter(|&r| faults.repo_fault(r).is_some())
            .count();
        assert!((200..340).contains(&repos), "{repos}");
    }
}
