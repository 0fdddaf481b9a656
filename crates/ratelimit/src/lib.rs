//! Request limits per client: "at most N requests per minute from one address
//! to one group of routes".
//!
//! Fixed one-minute windows: a counter per (bucket, client, minute) that
//! expires with its window. [`MemoryLimiter`] keeps the counters in this
//! process (one instance); [`RedisLimiter`] keeps them in Redis so that every
//! instance sharing it enforces one limit. Fixed windows allow up to twice the
//! limit across a window boundary; that is accepted for the routes limited
//! here (the sign-in throttle in the database is the precise guard against
//! password guessing).
//!
//! Written by hand rather than with `actix-governor` (GPL-3.0) or `governor`
//! (in-memory only): the shared Redis counter is a few lines of `INCR` and
//! `EXPIRE`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;

/// The window every limit is counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What a limiter decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit: try again after this many seconds (at least 1).
    Limited {
        retry_after_secs: u64,
    },
}

/// Counts requests per key in one-minute windows.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request for `key` and says whether it is within `per_minute`.
    async fn hit(&self, key: &str, per_minute: u32) -> anyhow::Result<Decision>;
}

/// The current window's index and the seconds left in it.
fn window_now() -> (u64, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let len = WINDOW.as_secs();
    (now / len, len - now % len)
}

fn decide(count: u64, per_minute: u32, left: u64) -> Decision {
    if count <= u64::from(per_minute) {
        Decision::Allowed
    } else {
        Decision::Limited {
            retry_after_secs: left.max(1),
        }
    }
}

/// Counters in this process: right for a single instance.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    counters: Mutex<HashMap<String, (u64, u64)>>,
}

/// Counters kept before stale windows are swept.
const SWEEP_ABOVE: usize = 10_000;

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn hit(&self, key: &str, per_minute: u32) -> anyhow::Result<Decision> {
        let (window, left) = window_now();
        let mut counters = self
            .counters
            .lock()
            .map_err(|_| anyhow::anyhow!("the rate-limit counters are poisoned"))?;
        if counters.len() > SWEEP_ABOVE {
            counters.retain(|_, (w, _)| *w == window);
        }
        let entry = counters.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        Ok(decide(entry.1, per_minute, left))
    }
}

/// Counters in Redis, shared by every instance that uses the same Redis and
/// key prefix.
#[derive(Clone)]
pub struct RedisLimiter {
    connection: redis::aio::ConnectionManager,
    prefix: String,
}

impl RedisLimiter {
    /// Connects to `url` (`redis://host:6379/0`); keys start with `prefix:`.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
        let connection = tokio::time::timeout(
            Duration::from_secs(5),
            redis::aio::ConnectionManager::new(client),
        )
        .await
        .context("Redis did not answer within 5 seconds")?
        .context("could not connect to Redis")?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn hit(&self, key: &str, per_minute: u32) -> anyhow::Result<Decision> {
        let (window, left) = window_now();
        let counter = format!("{}:rl:{key}:{window}", self.prefix);
        let mut connection = self.connection.clone();
        // INCR and EXPIRE in one transaction: a counter never outlives its
        // window by more than a window.
        let (count,): (u64,) = tokio::time::timeout(
            Duration::from_secs(1),
            redis::pipe()
                .atomic()
                .incr(&counter, 1)
                .expire(&counter, 2 * WINDOW.as_secs() as i64)
                .ignore()
                .query_async(&mut connection),
        )
        .await
        .context("Redis did not answer within 1 second")?
        .context("the Redis rate-limit counter failed")?;
        Ok(decide(count, per_minute, left))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn memory_counts_per_key_and_refuses_past_the_limit() {
        let limiter = MemoryLimiter::default();
        for _ in 0..3 {
            assert_eq!(limiter.hit("a", 3).await.unwrap(), Decision::Allowed);
        }
        match limiter.hit("a", 3).await.unwrap() {
            Decision::Limited { retry_after_secs } => {
                assert!((1..=60).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(limiter.hit("b", 3).await.unwrap(), Decision::Allowed);
    }

    /// The real Redis on this machine (`REDIS_URL`, default
    /// `redis://127.0.0.1:6379`): two limiters (two instances) share one count.
    #[tokio::test]
    async fn redis_counts_are_shared_between_limiters() {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("vs-test-{}", uuid::Uuid::new_v4().simple());
        let (a, b) = match (
            RedisLimiter::connect(&url, &prefix).await,
            RedisLimiter::connect(&url, &prefix).await,
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                assert!(
                    std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
                    "Redis unreachable: {e:#}"
                );
                eprintln!("SKIPPED (Redis unreachable at {url}: {e:#})");
                return;
            }
        };
        assert_eq!(a.hit("k", 2).await.unwrap(), Decision::Allowed);
        assert_eq!(b.hit("k", 2).await.unwrap(), Decision::Allowed);
        assert!(matches!(
            a.hit("k", 2).await.unwrap(),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            b.hit("k", 2).await.unwrap(),
            Decision::Limited { .. }
        ));
        assert_eq!(b.hit("other", 2).await.unwrap(), Decision::Allowed);
    }
}
