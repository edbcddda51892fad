//! The fetches a node runs: which are under way, how far each has come and how fast, and
//! how many completed or failed (by kind) since the node started. `ostrom status` and the
//! metrics read it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ostrom_protocol::Id;

use crate::exchange::fetch::FetchProgress;

/// One fetch under way.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFetch {
    /// The id asked for.
    pub id: Id,
    /// How long it has run.
    pub elapsed: Duration,
    /// Its latest progress, if any came yet.
    pub progress: Option<FetchProgress>,
    /// Bytes received from peers per second since it started.
    pub rate: f64,
}

/// What [`Transfers::snapshot`] reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransfersSnapshot {
    /// Fetches under way, oldest first.
    pub active: Vec<ActiveFetch>,
    /// Fetches that completed, every file verified.
    pub completed: u64,
    /// Fetches that failed, by the kind of failure.
    pub failed: BTreeMap<String, u64>,
}

struct Running {
    id: Id,
    started: Instant,
    progress: Option<FetchProgress>,
}

#[derive(Default)]
struct State {
    next: u64,
    running: HashMap<u64, Running>,
    completed: u64,
    failed: BTreeMap<String, u64>,
}

/// The node's fetches. Cheap to clone; every clone sees the same fetches.
#[derive(Clone, Default)]
pub struct Transfers {
    state: Arc<Mutex<State>>,
}

/// One fetch as [`Transfers`] tracks it; dropping it without [`Transfer::finish`] counts it
/// as failed with kind `cancelled`.
pub struct Transfer {
    transfers: Transfers,
    key: u64,
    finished: bool,
}

impl Transfers {
    /// Starts tracking a fetch of `id`.
    pub fn start(&self, id: Id) -> Transfer {
        let mut key = 0;
        if let Ok(mut state) = self.state.lock() {
            key = state.next;
            state.next += 1;
            state.running.insert(
                key,
                Running {
                    id,
                    started: Instant::now(),
                    progress: None,
                },
            );
        }
        Transfer {
            transfers: self.clone(),
            key,
            finished: false,
        }
    }

    /// The fetches now and the counts so far.
    pub fn snapshot(&self) -> TransfersSnapshot {
        let Ok(state) = self.state.lock() else {
            return TransfersSnapshot::default();
        };
        let mut active: Vec<(Instant, ActiveFetch)> = state
            .running
            .values()
            .map(|r| {
                let elapsed = r.started.elapsed();
                let received = r.progress.as_ref().map_or(0, |p| p.bytes_from_network);
                let rate = if elapsed.is_zero() {
                    0.0
                } else {
                    received as f64 / elapsed.as_secs_f64()
                };
                let fetch = ActiveFetch {
                    id: r.id,
                    elapsed,
                    progress: r.progress.clone(),
                    rate,
                };
                (r.started, fetch)
            })
            .collect();
        active.sort_by_key(|(started, _)| *started);
        TransfersSnapshot {
            active: active.into_iter().map(|(_, fetch)| fetch).collect(),
            completed: state.completed,
            failed: state.failed.clone(),
        }
    }

    fn end(&self, key: u64, failure: Option<&str>) {
        if let Ok(mut state) = self.state.lock() {
            state.running.remove(&key);
            match failure {
                None => state.completed += 1,
                Some(kind) => *state.failed.entry(kind.to_owned()).or_default() += 1,
            }
        }
    }
}

impl Transfer {
    /// Records the fetch's latest progress.
    pub fn progress(&self, progress: &FetchProgress) {
        if let Ok(mut state) = self.transfers.state.lock() {
            if let Some(running) = state.running.get_mut(&self.key) {
                running.progress = Some(progress.clone());
            }
        }
    }

    /// The fetch ended: completed (`None`) or failed with this kind.
    pub fn finish(mut self, failure: Option<&str>) {
        self.finished = true;
        self.transfers.end(self.key, failure);
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        if !self.finished {
            self.transfers.end(self.key, Some("cancelled"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(from_network: u64) -> FetchProgress {
        FetchProgress {
            bytes_total: 100,
            bytes_done: from_network,
            bytes_from_network: from_network,
            holders: 2,
            done: false,
            file: None,
        }
    }

    #[test]
    fn fetches_are_active_until_they_end_and_then_counted() {
        let transfers = Transfers::default();
        let (a, b, c) = (Id::of(b"a"), Id::of(b"b"), Id::of(b"c"));
        let first = transfers.start(a);
        let second = transfers.start(b);
        let third = transfers.start(c);
        first.progress(&progress(40));
        let now = transfers.snapshot();
        assert_eq!(now.active.len(), 3);
        assert_eq!(now.active[0].id, a);
        assert_eq!(now.active[0].progress, Some(progress(40)));
        assert!(now.active[0].rate > 0.0);
        assert_eq!(now.active[1].progress, None);
        first.finish(None);
        second.finish(Some("no_holders"));
        drop(third);
        let after = transfers.snapshot();
        assert!(after.active.is_empty());
        assert_eq!(after.completed, 1);
        assert_eq!(after.failed["no_holders"], 1);
        assert_eq!(after.failed["cancelled"], 1);
    }
}
