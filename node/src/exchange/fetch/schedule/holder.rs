//! What the scheduler knows about one holder: which missing chunks it has and lacks, what
//! was asked of it, how fast it delivers and how near it is.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ostrom_protocol::limits::MAX_CHUNK_SIZE;
use ostrom_protocol::Id;

/// Requests in flight to a holder whose rate is not measured yet.
pub(super) const INITIAL_WINDOW: usize = 4;
/// Fewest requests kept in flight to a holder.
pub(super) const MIN_WINDOW: usize = 2;
/// How much of a holder's delivery its window covers.
pub(super) const WINDOW_TIME: Duration = Duration::from_millis(300);

/// One holder during a transfer.
#[derive(Debug)]
pub(super) struct Holder {
    /// Missing chunks it said it has.
    pub has: HashSet<Id>,
    /// Missing chunks it said it lacks (or refused).
    pub lacks: HashSet<Id>,
    /// Chunks asked of it and not yet answered.
    pub in_flight: HashSet<Id>,
    /// Chunks asked of it and then cancelled; a late block for one is not a fault.
    pub cancelled: HashSet<Id>,
    /// Whether its round-trip time is close to the best holder's.
    pub near: bool,
    /// Its last measured round-trip time.
    pub rtt: Option<Duration>,
    /// Its delivery rate while busy, bytes per second (smoothed); `None` until measured.
    pub rate: Option<f64>,
    /// When its last block arrived, or when it became busy.
    pub last_delivery: Instant,
    /// When it last answered a request in flight (a block, a dont-have or a refusal of
    /// one), or when it became busy: what the stall check looks at.
    pub last_answer: Instant,
}

impl Holder {
    pub(super) fn new(now: Instant, rtt: Option<Duration>) -> Self {
        Self {
            has: HashSet::new(),
            lacks: HashSet::new(),
            in_flight: HashSet::new(),
            cancelled: HashSet::new(),
            near: true,
            rtt,
            rate: None,
            last_delivery: now,
            last_answer: now,
        }
    }

    /// How many requests to keep in flight: enough for about [`WINDOW_TIME`] of its
    /// measured delivery rate, so a slow (or upload-limited, widely shared) holder is not
    /// handed chunks that faster holders could deliver sooner; never more than `max`.
    pub(super) fn window(&self, max: usize) -> usize {
        let Some(rate) = self.rate else {
            return INITIAL_WINDOW.min(max);
        };
        let chunks = (rate * WINDOW_TIME.as_secs_f64() / f64::from(MAX_CHUNK_SIZE)).ceil() as usize;
        chunks.clamp(MIN_WINDOW, max.max(MIN_WINDOW))
    }

    /// Folds one delivered block into the rate estimate.
    pub(super) fn delivered(&mut self, now: Instant, bytes: u32) {
        let seconds = now
            .saturating_duration_since(self.last_delivery)
            .as_secs_f64()
            .max(1e-4);
        let sample = f64::from(bytes) / seconds;
        self.rate = Some(match self.rate {
            Some(rate) => rate * 0.8 + sample * 0.2,
            None => sample,
        });
        self.last_delivery = now;
    }

    /// Notes that requests go out to an idle holder: idle time is neither delivery time
    /// nor a stall.
    pub(super) fn becomes_busy(&mut self, now: Instant) {
        if self.in_flight.is_empty() {
            self.last_delivery = now;
            self.last_answer = now;
        }
    }

    /// Whether it could serve `chunk`.
    pub(super) fn offers(&self, chunk: &Id) -> bool {
        self.has.contains(chunk) && !self.lacks.contains(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_follows_the_measured_rate() {
        let start = Instant::now();
        let mut holder = Holder::new(start, None);
        assert_eq!(holder.window(32), INITIAL_WINDOW);
        assert_eq!(holder.window(2), 2);
        // 1 MiB every 10 ms is about 100 MiB/s: 300 ms of it is 30 chunks.
        for step in 1..=50u32 {
            holder.delivered(
                start + Duration::from_millis(10 * u64::from(step)),
                MAX_CHUNK_SIZE,
            );
        }
        assert_eq!(holder.window(64), 30);
        assert_eq!(holder.window(8), 8);
        // A slow holder keeps the smallest window.
        let mut slow = Holder::new(start, None);
        slow.delivered(start + Duration::from_secs(5), MAX_CHUNK_SIZE);
        assert_eq!(slow.window(32), MIN_WINDOW);
    }
}
