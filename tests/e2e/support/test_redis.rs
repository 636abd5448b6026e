//! A Redis key prefix for one test, every key under it deleted on drop (never FLUSHALL): the
//! shared helper of `sluice_queue::testing`, scoped `test:e2e:…`.

pub(crate) use sluice_queue::testing::TestRedis;

/// The scope of the end-to-end tests' Redis prefixes.
pub(crate) const SCOPE: &str = "e2e";
