//! The DHT store: libp2p's in-memory store, with what peers ask this node to keep held to
//! the caps of [`Limits`] (SPEC §6.1, §6.2, §10). A peer's provider record is kept only
//! under an Ostrom holders key, with at most `provider_addresses` addresses of at most
//! [`MAX_PROVIDER_ADDRESS_LEN`] bytes each (the rest are dropped), at most
//! `provider_records_per_peer` from one peer and `provider_records` from all peers
//! together. Peers' signed records are held to the caps of [`RecordQuota`]. This node's own
//! announcements and records are kept apart from those caps (up to
//! [`MAX_OWN_PROVIDED_KEYS`] and [`MAX_OWN_RECORDS`]), so a flood of peers' records can
//! never crowd them out.
//!
//! libp2p drops an expired provider record only when its key is looked up, so records that
//! nobody asks for again would stay; when a cap is reached the store first sweeps out
//! expired peers' records, at most once every [`SWEEP_INTERVAL`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::kad::store::{Error, MemoryStore, MemoryStoreConfig, RecordStore, Result};
use libp2p::kad::{ProviderRecord, Record, RecordKey};
use libp2p::PeerId;
use ostrom_protocol::dht::id_of_holders_key;

use super::record_quota::RecordQuota;
use crate::limits::Limits;

/// Longest address, in bytes, kept with a peer's provider record; longer ones are dropped.
pub const MAX_PROVIDER_ADDRESS_LEN: usize = 128;

/// Most keys this node announces itself as provider of (its checkpoints and their files).
pub const MAX_OWN_PROVIDED_KEYS: usize = 1_000_000;

/// Most signed records this node keeps of its own (names, retractions, rotations,
/// revocations it published), apart from the caps on peers' records.
pub const MAX_OWN_RECORDS: usize = 65_536;

/// Shortest time between two sweeps for expired peers' provider records, and for expired
/// peers' signed records.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// libp2p's memory store with peers' provider records capped.
pub struct ProviderStore {
    inner: MemoryStore,
    local: PeerId,
    limits: Limits,
    /// Peers' signed records kept, against their caps.
    records: RecordQuota,
    /// Every peer's record kept, by key and provider, with its expiry.
    peer_records: HashMap<(RecordKey, PeerId), Option<Instant>>,
    /// How many records each peer has kept here.
    per_peer: HashMap<PeerId, usize>,
    next_sweep: Instant,
}

impl ProviderStore {
    /// A store for the node `local`, holding peers to `limits`.
    pub fn new(local: PeerId, limits: &Limits) -> Self {
        let config = MemoryStoreConfig {
            // Peers' records, plus this node's own.
            max_records: limits.records + MAX_OWN_RECORDS,
            // Keys with a peer's record, plus keys with only this node's own.
            max_provided_keys: limits.provider_records + MAX_OWN_PROVIDED_KEYS,
            max_providers_per_key: limits.providers_per_key,
            ..Default::default()
        };
        Self {
            inner: MemoryStore::with_config(local, config),
            local,
            records: RecordQuota::new(limits),
            limits: limits.clone(),
            peer_records: HashMap::new(),
            per_peer: HashMap::new(),
            next_sweep: Instant::now(),
        }
    }

    /// Keeps a signed record a peer sent (already checked as valid for its key), if its
    /// signer and all peers together are under their caps.
    pub fn put_from_peer(&mut self, record: Record) -> Result<()> {
        if !self.records.admit(&record) {
            for expired in self.records.sweep(Instant::now()) {
                self.inner.remove(&expired);
            }
            if !self.records.admit(&record) {
                return Err(Error::MaxRecords);
            }
        }
        let key = record.key.clone();
        self.inner
            .put(record)
            .inspect_err(|_| self.records.forget(&key))
    }

    /// How many signed records peers have kept here.
    pub fn peer_signed_record_count(&self) -> usize {
        self.records.count()
    }

    /// How many peers' provider records are kept.
    pub fn peer_record_count(&self) -> usize {
        self.peer_records.len()
    }

    /// How many provider records `peer` has kept here.
    pub fn records_of(&self, peer: &PeerId) -> usize {
        self.per_peer.get(peer).copied().unwrap_or(0)
    }

    fn over_caps(&self, peer: &PeerId) -> bool {
        self.peer_records.len() >= self.limits.provider_records
            || self.records_of(peer) >= self.limits.provider_records_per_peer
    }

    /// Drops peers' records that expired, at most once every [`SWEEP_INTERVAL`].
    fn sweep(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_INTERVAL;
        let expired: Vec<(RecordKey, PeerId)> = self
            .peer_records
            .iter()
            .filter(|(_, expires)| expires.is_some_and(|at| at <= now))
            .map(|(entry, _)| entry.clone())
            .collect();
        for (key, peer) in expired {
            self.remove_provider(&key, &peer);
        }
    }

    fn add_peer_provider(&mut self, mut record: ProviderRecord) -> Result<()> {
        if id_of_holders_key(record.key.as_ref()).is_none() {
            return Err(Error::MaxProvidedKeys);
        }
        record
            .addresses
            .retain(|addr| addr.as_ref().len() <= MAX_PROVIDER_ADDRESS_LEN);
        record.addresses.truncate(self.limits.provider_addresses);
        let entry = (record.key.clone(), record.provider);
        if let Some(expires) = self.peer_records.get_mut(&entry) {
            // A peer announcing again: the record is updated in place.
            *expires = record.expires;
            return self.inner.add_provider(record);
        }
        if self.over_caps(&record.provider) {
            self.sweep(Instant::now());
            if self.over_caps(&record.provider) {
                return Err(Error::MaxProvidedKeys);
            }
        }
        let expires = record.expires;
        self.inner.add_provider(record)?;
        // The memory store ignores a provider past its per-key cap without an error.
        let kept = self
            .inner
            .providers(&entry.0)
            .iter()
            .any(|p| p.provider == entry.1);
        if kept {
            *self.per_peer.entry(entry.1).or_default() += 1;
            self.peer_records.insert(entry, expires);
        }
        Ok(())
    }
}

impl RecordStore for ProviderStore {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, k: &RecordKey) -> Option<Cow<'_, Record>> {
        self.inner.get(k)
    }

    /// A record of this node's own (libp2p stores what the node puts before sending it):
    /// not counted against peers' caps, even where it replaces a peer's copy.
    fn put(&mut self, r: Record) -> Result<()> {
        self.records.forget(&r.key);
        self.inner.put(r)
    }

    fn remove(&mut self, k: &RecordKey) {
        self.records.forget(k);
        self.inner.remove(k);
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.inner.records()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> Result<()> {
        if record.provider == self.local {
            if self.inner.provided().len() >= MAX_OWN_PROVIDED_KEYS
                && !self.inner.provided().any(|p| p.key == record.key)
            {
                return Err(Error::MaxProvidedKeys);
            }
            return self.inner.add_provider(record);
        }
        self.add_peer_provider(record)
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        self.inner.providers(key)
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.inner.provided()
    }

    fn remove_provider(&mut self, k: &RecordKey, p: &PeerId) {
        self.inner.remove_provider(k, p);
        if self.peer_records.remove(&(k.clone(), *p)).is_some() {
            if let Some(count) = self.per_peer.get_mut(p) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_peer.remove(p);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "provider_store_tests.rs"]
mod tests;
