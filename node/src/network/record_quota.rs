//! The caps on signed records peers ask this node to keep in the DHT (SPEC §6.2, §10):
//! at most `records` of them, `record_bytes` in all, and `records_per_signer` signed by any
//! one key (a name record's or retraction's publisher, a rotation's old key, a
//! revocation's recovery key), so throwaway keys cannot fill the store and one key cannot
//! take all of it. A record that replaces a stored copy under the same key is counted
//! once. When a cap is reached, the store sweeps out expired records (at most once every
//! [`SWEEP_INTERVAL`]) before it refuses a record.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::kad::{Record, RecordKey};

use super::provider_store::SWEEP_INTERVAL;
use crate::limits::Limits;
use crate::records::signer_of_key;

/// One kept record's share of the caps.
#[derive(Debug, Clone, Copy)]
struct Kept {
    signer: [u8; 32],
    bytes: usize,
    expires: Option<Instant>,
}

/// Peers' signed records kept, counted against the caps.
#[derive(Debug)]
pub struct RecordQuota {
    max_records: usize,
    max_bytes: usize,
    max_per_signer: usize,
    kept: HashMap<RecordKey, Kept>,
    per_signer: HashMap<[u8; 32], usize>,
    bytes: usize,
    next_sweep: Option<Instant>,
}

impl RecordQuota {
    /// An empty quota with the caps of `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            max_records: limits.records,
            max_bytes: usize::try_from(limits.record_bytes.0).unwrap_or(usize::MAX),
            max_per_signer: limits.records_per_signer,
            kept: HashMap::new(),
            per_signer: HashMap::new(),
            bytes: 0,
            next_sweep: None,
        }
    }

    /// How many records are counted.
    pub fn count(&self) -> usize {
        self.kept.len()
    }

    /// How many bytes of records are counted.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Counts `record` if it fits under every cap; whether it was counted. A record under
    /// a key no signer can be read from is refused.
    pub fn admit(&mut self, record: &Record) -> bool {
        let Some(signer) = signer_of_key(record.key.as_ref()) else {
            return false;
        };
        let replaced = self.kept.get(&record.key).copied();
        if !self.fits(signer, record.value.len(), replaced) {
            return false;
        }
        self.forget(&record.key);
        self.bytes += record.value.len();
        *self.per_signer.entry(signer).or_default() += 1;
        self.kept.insert(
            record.key.clone(),
            Kept {
                signer,
                bytes: record.value.len(),
                expires: record.expires,
            },
        );
        true
    }

    /// Stops counting the record under `key`, if one is counted.
    pub fn forget(&mut self, key: &RecordKey) {
        let Some(kept) = self.kept.remove(key) else {
            return;
        };
        self.bytes -= kept.bytes;
        if let Some(count) = self.per_signer.get_mut(&kept.signer) {
            *count -= 1;
            if *count == 0 {
                self.per_signer.remove(&kept.signer);
            }
        }
    }

    /// Whether a record of `bytes` signed by `signer` fits, in place of `replaced`.
    fn fits(&self, signer: [u8; 32], bytes: usize, replaced: Option<Kept>) -> bool {
        let (records, freed, signer_freed) = match replaced {
            Some(old) => (
                self.kept.len() - 1,
                old.bytes,
                usize::from(old.signer == signer),
            ),
            None => (self.kept.len(), 0, 0),
        };
        let signed = self.per_signer.get(&signer).copied().unwrap_or(0) - signer_freed;
        records < self.max_records
            && self.bytes - freed + bytes <= self.max_bytes
            && signed < self.max_per_signer
    }

    /// Stops counting every record expired at `now` and returns their keys, for the store
    /// to drop; nothing if the last sweep was less than [`SWEEP_INTERVAL`] ago.
    pub fn sweep(&mut self, now: Instant) -> Vec<RecordKey> {
        if self.next_sweep.is_some_and(|next| now < next) {
            return Vec::new();
        }
        self.next_sweep = Some(now + SWEEP_INTERVAL);
        let expired: Vec<RecordKey> = self
            .kept
            .iter()
            .filter(|(_, kept)| kept.expires.is_some_and(|at| at <= now))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &expired {
            self.forget(key);
        }
        expired
    }
}
