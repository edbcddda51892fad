//! Byte-rate limits for uploads and downloads (`--upload-limit`, `--download-limit`), shared
//! by every stream of a node, built on the `governor` token bucket.

use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Tokens are KiB: a rate of up to 4 TiB/s fits the limiter's 32-bit counts.
const UNIT: u64 = 1024;
/// The bucket holds at least a full chunk and its framing, so any block can pass.
const MIN_BURST_UNITS: u32 = 1024 + 64;

/// A rate in bytes per second, written like `50MiB`, `50MiB/s` or `1.5GB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u64);

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let amount = trimmed.strip_suffix("/s").unwrap_or(trimmed);
        let bytes: bytesize::ByteSize = amount.parse().map_err(|e| {
            format!("{text:?} is not a rate: expected bytes per second such as 50MiB or 1GB ({e})")
        })?;
        if bytes.as_u64() < UNIT {
            return Err(format!(
                "{text:?} is below the smallest rate, 1KiB per second"
            ));
        }
        Ok(Rate(bytes.as_u64()))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", bytesize::ByteSize(self.0).display().iec())
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(
            &bytesize::ByteSize(self.0)
                .display()
                .iec()
                .to_string()
                .replace(' ', ""),
        )
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The clock a [`RateLimit`] reads, and how a wait on it is spent. Nodes use governor's
/// default clock and tokio's timer; tests use a fake clock that they advance themselves.
pub trait RateClock: Clock + Send + Sync + 'static {
    /// Waits until `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

impl RateClock for DefaultClock {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// The token bucket behind a limit, on clock `C`.
struct Bucket<C: RateClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    /// The most units the bucket holds.
    burst: NonZeroU32,
}

/// A shared limit on bytes per second; unlimited when built from `None`. Cheap to clone.
///
/// Bytes are counted in KiB, rounded up; zero bytes always pass and cost nothing. The
/// bucket holds a quarter of a second of the rate, and never less than a chunk with its
/// framing. A request larger than the bucket is taken in bucket-sized parts by
/// [`consume`](Self::consume); [`try_take`](Self::try_take) lets it pass only when the
/// bucket is full, and empties it.
pub struct RateLimit<C: RateClock = DefaultClock> {
    bucket: Option<Arc<Bucket<C>>>,
}

impl<C: RateClock> Clone for RateLimit<C> {
    fn clone(&self) -> Self {
        Self {
            bucket: self.bucket.clone(),
        }
    }
}

impl<C: RateClock> Default for RateLimit<C> {
    fn default() -> Self {
        Self { bucket: None }
    }
}

impl RateLimit {
    /// A limit of `rate`, or none, on the real clock.
    pub fn new(rate: Option<Rate>) -> Self {
        Self::with_clock(rate, DefaultClock::default())
    }
}

impl<C: RateClock> RateLimit<C> {
    /// A limit of `rate`, or none, read on `clock`.
    pub fn with_clock(rate: Option<Rate>, clock: C) -> Self {
        let Some(Rate(bytes_per_second)) = rate else {
            return Self::default();
        };
        let units = u32::try_from((bytes_per_second / UNIT).max(1)).unwrap_or(u32::MAX);
        let burst = NonZeroU32::MIN.saturating_add((units / 4).max(MIN_BURST_UNITS) - 1);
        let quota = Quota::per_second(NonZeroU32::MIN.saturating_add(units - 1)).allow_burst(burst);
        Self {
            bucket: Some(Arc::new(Bucket {
                limiter: RateLimiter::direct_with_clock(quota, clock),
                burst,
            })),
        }
    }

    /// Waits until `bytes` may pass, and takes them.
    pub async fn consume(&self, bytes: usize) {
        let (Some(bucket), Some(units)) = (&self.bucket, units(bytes)) else {
            return;
        };
        let mut left = units.get();
        while let Some(part) = NonZeroU32::new(left.min(bucket.burst.get())) {
            loop {
                let wait = match bucket.limiter.check_n(part) {
                    Ok(Ok(())) => break,
                    Ok(Err(not_until)) => not_until.wait_time_from(bucket.limiter.clock().now()),
                    // Cannot happen: a part is never larger than the bucket.
                    Err(_) => break,
                };
                bucket.limiter.clock().sleep(wait).await;
            }
            left -= part.get();
        }
    }

    /// Takes `bytes` from the budget if they may pass now, without waiting.
    pub fn try_take(&self, bytes: usize) -> bool {
        match (&self.bucket, units(bytes)) {
            (Some(bucket), Some(units)) => {
                matches!(bucket.limiter.check_n(units.min(bucket.burst)), Ok(Ok(())))
            }
            _ => true,
        }
    }
}

/// `bytes` in the limiter's units (KiB, rounded up); `None` for zero bytes.
fn units(bytes: usize) -> Option<NonZeroU32> {
    NonZeroU32::new(u32::try_from((bytes as u64).div_ceil(UNIT)).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;
    use governor::clock::FakeRelativeClock;

    use super::*;

    const KIB: usize = 1024;
    const MIB: usize = 1 << 20;
    /// 1000 KiB per second: one KiB every millisecond, a bucket of 1088 KiB.
    const ONE_PER_MS: Rate = Rate(1000 * 1024);

    /// Waits are spent by moving the fake clock on, so nothing here waits for real.
    impl RateClock for FakeRelativeClock {
        fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
            self.advance(duration);
            std::future::ready(())
        }
    }

    fn fake(rate: Rate) -> (RateLimit<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimit::with_clock(Some(rate), clock.clone()), clock)
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// How long `bytes` took to consume, on the fake clock.
    fn time_to_consume(
        limit: &RateLimit<FakeRelativeClock>,
        clock: &FakeRelativeClock,
        bytes: usize,
    ) -> Duration {
        let start = clock.now();
        futures::executor::block_on(limit.consume(bytes));
        Duration::from(clock.now().saturating_sub(start))
    }

    #[test]
    fn rates_parse_in_common_units() {
        assert_eq!("50MiB".parse::<Rate>(), Ok(Rate(50 << 20)));
        assert_eq!("50MiB/s".parse::<Rate>(), Ok(Rate(50 << 20)));
        assert_eq!("1GB".parse::<Rate>(), Ok(Rate(1_000_000_000)));
        assert!("fast".parse::<Rate>().is_err());
        assert!("10".parse::<Rate>().is_err());
        assert!("1000B".parse::<Rate>().is_err());
    }

    #[test]
    fn a_full_bucket_passes_then_refills_with_time() {
        let (limit, clock) = fake(ONE_PER_MS);
        // The bucket holds 1088 KiB.
        assert!(limit.try_take(MIB));
        assert!(limit.try_take(64 * KIB));
        assert!(!limit.try_take(1));
        // One KiB comes back each millisecond.
        clock.advance(ms(1));
        assert!(limit.try_take(KIB));
        assert!(!limit.try_take(1));
        clock.advance(ms(1023));
        assert!(!limit.try_take(MIB));
        clock.advance(ms(1));
        assert!(limit.try_take(MIB));
        assert!(!limit.try_take(1));
    }

    #[test]
    fn a_realistic_rate_refills_at_its_rate() {
        // 8 MiB/s with a 2 MiB bucket: two 1 MiB takes pass at once, a third only after
        // another 1/8 s.
        let (limit, clock) = fake(Rate(8 << 20));
        assert!(limit.try_take(MIB));
        assert!(limit.try_take(MIB));
        assert!(!limit.try_take(MIB));
        clock.advance(ms(124));
        assert!(!limit.try_take(MIB));
        clock.advance(ms(1));
        assert!(limit.try_take(MIB));
        assert!(!limit.try_take(MIB));
    }

    #[test]
    fn an_unlimited_rate_always_passes() {
        for limit in [RateLimit::new(None), RateLimit::default()] {
            for _ in 0..1000 {
                assert!(limit.try_take(usize::MAX));
                assert!(limit.try_take(MIB));
            }
            assert_eq!(limit.consume(usize::MAX).now_or_never(), Some(()));
        }
    }

    #[test]
    fn zero_bytes_pass_and_cost_nothing() {
        let (limit, clock) = fake(ONE_PER_MS);
        assert!(limit.try_take(MIB + 64 * KIB));
        assert!(!limit.try_take(1));
        // The bucket is empty, yet zero bytes pass, now and without waiting.
        assert!(limit.try_take(0));
        assert_eq!(time_to_consume(&limit, &clock, 0), Duration::ZERO);
        // And they took nothing: the one KiB that comes back is still there.
        clock.advance(ms(1));
        assert!(limit.try_take(0));
        assert!(limit.try_take(KIB));
    }

    #[test]
    fn bytes_are_counted_in_whole_kib() {
        let (limit, clock) = fake(ONE_PER_MS);
        assert!(limit.try_take(MIB + 64 * KIB - 1));
        assert!(!limit.try_take(1));
        clock.advance(ms(1));
        // One byte costs a whole KiB.
        assert!(limit.try_take(1));
        assert!(!limit.try_take(1));
    }

    #[test]
    fn more_than_the_bucket_passes_only_when_it_is_full() {
        let (limit, clock) = fake(ONE_PER_MS);
        assert!(limit.try_take(KIB));
        assert!(!limit.try_take(4 * MIB));
        clock.advance(ms(1));
        // Full again: the large request passes and empties the bucket.
        assert!(limit.try_take(4 * MIB));
        assert!(!limit.try_take(1));
        clock.advance(ms(1087));
        assert!(!limit.try_take(4 * MIB));
        clock.advance(ms(1));
        assert!(limit.try_take(4 * MIB));
    }

    #[test]
    fn consuming_more_than_the_bucket_takes_all_of_it() {
        let (limit, clock) = fake(ONE_PER_MS);
        // 3 MiB from a full 1088 KiB bucket: the other 1984 KiB come at one per ms.
        assert_eq!(time_to_consume(&limit, &clock, 3 * MIB), ms(1984));
        assert!(!limit.try_take(1));
    }

    #[test]
    fn consuming_waits_for_the_budget() {
        let (limit, clock) = fake(ONE_PER_MS);
        // What the bucket holds passes at once; each KiB beyond it waits a millisecond.
        assert_eq!(time_to_consume(&limit, &clock, MIB), Duration::ZERO);
        assert_eq!(time_to_consume(&limit, &clock, 64 * KIB), Duration::ZERO);
        assert_eq!(time_to_consume(&limit, &clock, 100 * KIB), ms(100));
        assert_eq!(time_to_consume(&limit, &clock, 1), ms(1));
        // While nothing is consumed the bucket fills again, up to its size.
        clock.advance(ms(5000));
        assert_eq!(
            time_to_consume(&limit, &clock, MIB + 64 * KIB),
            Duration::ZERO
        );
        assert_eq!(time_to_consume(&limit, &clock, KIB), ms(1));
    }

    #[test]
    fn a_limit_spaces_out_bytes() {
        // 8 MiB/s with a 2 MiB bucket: 4 MiB take a quarter of a second, to within the
        // limiter's nanosecond rounding.
        let (limit, clock) = fake(Rate(8 << 20));
        let mut spent = Duration::ZERO;
        for _ in 0..4 {
            spent += time_to_consume(&limit, &clock, MIB);
        }
        assert!(spent > ms(249) && spent <= ms(250), "{spent:?}");
    }
}
