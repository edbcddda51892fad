//! Byte-rate limits for uploads and downloads (`--upload-limit`, `--download-limit`), shared
//! by every stream of a node, built on the `governor` token bucket.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
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

/// A shared limit on bytes per second; unlimited when built from `None`. Cheap to clone.
#[derive(Clone, Default)]
pub struct RateLimit {
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl RateLimit {
    /// A limit of `rate`, or none.
    pub fn new(rate: Option<Rate>) -> Self {
        let Some(Rate(bytes_per_second)) = rate else {
            return Self::default();
        };
        let units = u32::try_from((bytes_per_second / UNIT).max(1)).unwrap_or(u32::MAX);
        let burst = (units / 4).max(MIN_BURST_UNITS);
        let quota = Quota::per_second(NonZeroU32::MIN.saturating_add(units - 1))
            .allow_burst(NonZeroU32::MIN.saturating_add(burst - 1));
        Self {
            limiter: Some(Arc::new(RateLimiter::direct(quota))),
        }
    }

    /// Waits until `bytes` may pass.
    pub async fn consume(&self, bytes: usize) {
        if let (Some(limiter), Some(units)) = (&self.limiter, units(bytes)) {
            // Cannot fail: `units` never exceeds the burst.
            let _ = limiter.until_n_ready(units).await;
        }
    }

    /// Takes `bytes` from the budget if they may pass now, without waiting.
    pub fn try_take(&self, bytes: usize) -> bool {
        match (&self.limiter, units(bytes)) {
            (Some(limiter), Some(units)) => matches!(limiter.check_n(units), Ok(Ok(()))),
            _ => true,
        }
    }
}

/// `bytes` in the limiter's units, capped at its smallest burst.
fn units(bytes: usize) -> Option<NonZeroU32> {
    let units = (bytes as u64).div_ceil(UNIT).max(1);
    NonZeroU32::new(
        u32::try_from(units)
            .unwrap_or(u32::MAX)
            .min(MIN_BURST_UNITS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_common_units() {
        assert_eq!("50MiB".parse::<Rate>(), Ok(Rate(50 << 20)));
        assert_eq!("50MiB/s".parse::<Rate>(), Ok(Rate(50 << 20)));
        assert_eq!("1GB".parse::<Rate>(), Ok(Rate(1_000_000_000)));
        assert!("fast".parse::<Rate>().is_err());
        assert!("10".parse::<Rate>().is_err());
    }

    #[test]
    fn taking_without_waiting_stops_at_the_budget() {
        let limit = RateLimit::new(Some(Rate(8 << 20)));
        // The bucket holds 2 MiB: two 1 MiB takes pass at once, a third does not.
        assert!(limit.try_take(1 << 20));
        assert!(limit.try_take(1 << 20));
        assert!(!limit.try_take(1 << 20));
        assert!(RateLimit::new(None).try_take(usize::MAX));
    }

    #[tokio::test]
    async fn a_limit_spaces_out_bytes() {
        // 8 MiB/s with a 2 MiB bucket: 4 MiB take at least 0.25 s.
        let limit = RateLimit::new(Some(Rate(8 << 20)));
        let started = std::time::Instant::now();
        for _ in 0..4 {
            limit.consume(1 << 20).await;
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed >= std::time::Duration::from_millis(200),
            "{elapsed:?}"
        );
    }
}
