use std::time::{Duration, Instant};

use libp2p::kad::store::RecordStore;
use libp2p::kad::{ProviderRecord, Record, RecordKey};
use libp2p::{Multiaddr, PeerId};
use ostrom_protocol::dht::holders_key;
use ostrom_protocol::Id;

use super::*;
use crate::limits::Limits;

fn key(n: u64) -> RecordKey {
    RecordKey::new(&holders_key(&Id::of(&n.to_le_bytes())))
}

fn record(key: RecordKey, provider: PeerId, addresses: Vec<Multiaddr>) -> ProviderRecord {
    ProviderRecord {
        key,
        provider,
        expires: Some(Instant::now() + Duration::from_secs(24 * 3600)),
        addresses,
    }
}

fn addr(port: u16) -> Multiaddr {
    format!("/ip4/10.0.0.1/tcp/{port}")
        .parse()
        .expect("address")
}

/// A flood of ADD_PROVIDER records, from one peer and then from many, as the event loop
/// hands them to the store: what is kept stays under the caps, and this node's own
/// announcements are still stored and still fit.
#[test]
fn a_flood_of_provider_records_stays_under_the_caps() {
    let local = PeerId::random();
    let mut store = ProviderStore::new(local, &Limits::default());
    let own = key(u64::MAX);
    store
        .add_provider(record(own.clone(), local, Vec::new()))
        .expect("own record");

    let limits = Limits::default();
    let flooder = PeerId::random();
    let many_addresses: Vec<Multiaddr> = (0..100).map(addr).collect();
    for n in 0..(limits.provider_records_per_peer as u64 + 1000) {
        let _ = store.add_provider(record(key(n), flooder, many_addresses.clone()));
    }
    assert_eq!(store.records_of(&flooder), limits.provider_records_per_peer);
    let kept = store.providers(&key(0));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].addresses.len(), limits.provider_addresses);

    // Many peers, each under its own quota, together over the total.
    let mut n = 1_000_000u64;
    for _ in 0..(limits.provider_records / 1000 + 10) {
        let peer = PeerId::random();
        for _ in 0..1000 {
            let _ = store.add_provider(record(key(n), peer, vec![addr(1)]));
            n += 1;
        }
    }
    assert_eq!(store.peer_record_count(), limits.provider_records);

    // This node's own record is still there, and new announcements of its own still fit.
    assert!(store.providers(&own).iter().any(|p| p.provider == local));
    for n in 0..1000 {
        store
            .add_provider(record(key(u64::MAX - 1 - n), local, Vec::new()))
            .expect("own announcement after the flood");
    }
    assert_eq!(store.provided().count(), 1001);
}

#[test]
fn only_holders_keys_and_short_addresses_are_kept() {
    let local = PeerId::random();
    let mut store = ProviderStore::new(local, &Limits::default());
    let peer = PeerId::random();
    let other = RecordKey::new(&b"/not/a/holders/key".to_vec());
    assert!(store
        .add_provider(record(other.clone(), peer, vec![addr(1)]))
        .is_err());
    assert!(store.providers(&other).is_empty());

    let long: Multiaddr = format!("/dns4/{}/tcp/1", "a".repeat(200))
        .parse()
        .expect("address");
    store
        .add_provider(record(key(1), peer, vec![long, addr(2)]))
        .expect("kept");
    assert_eq!(store.providers(&key(1))[0].addresses, vec![addr(2)]);
}

#[test]
fn announcing_again_updates_without_counting_twice() {
    let mut store = ProviderStore::new(
        PeerId::random(),
        &Limits {
            provider_records: 10,
            provider_records_per_peer: 2,
            ..Limits::default()
        },
    );
    let peer = PeerId::random();
    for _ in 0..5 {
        store
            .add_provider(record(key(1), peer, vec![addr(1)]))
            .expect("again");
    }
    assert_eq!(store.records_of(&peer), 1);
    store.remove_provider(&key(1), &peer);
    assert_eq!(store.records_of(&peer), 0);
    assert_eq!(store.peer_record_count(), 0);
}

#[test]
fn expired_records_make_room_when_a_cap_is_reached() {
    let mut store = ProviderStore::new(
        PeerId::random(),
        &Limits {
            provider_records: 4,
            provider_records_per_peer: 4,
            ..Limits::default()
        },
    );
    let peer = PeerId::random();
    for n in 0..4 {
        let mut expired = record(key(n), peer, Vec::new());
        expired.expires = Some(Instant::now() - Duration::from_secs(1));
        store.add_provider(expired).expect("kept");
    }
    store
        .add_provider(record(key(10), peer, Vec::new()))
        .expect("room after a sweep");
    assert_eq!(store.records_of(&peer), 1);
    assert!(store.providers(&key(0)).is_empty());
}

fn name_record(publisher: u8, model: u32, bytes: usize) -> Record {
    let key = ostrom_protocol::name_record::name_key(&[publisher; 32], &format!("m{model}"));
    let mut record = Record::new(key, vec![0; bytes]);
    record.expires = Some(Instant::now() + Duration::from_secs(48 * 3600));
    record
}

/// Signed records from one key, then from throwaway keys: each key keeps at most its
/// share, all peers together at most the count and bytes caps, and this node's own
/// records still fit.
#[test]
fn a_flood_of_signed_records_stays_under_the_caps() {
    let limits = Limits {
        records: 100,
        record_bytes: bytesize::ByteSize::kib(64),
        records_per_signer: 10,
        ..Limits::default()
    };
    let mut store = ProviderStore::new(PeerId::random(), &limits);
    for model in 0..50 {
        let _ = store.put_from_peer(name_record(1, model, 100));
    }
    assert_eq!(store.peer_signed_record_count(), 10, "one key's share");
    // A newer copy under a kept key replaces it without counting twice.
    store
        .put_from_peer(name_record(1, 0, 200))
        .expect("replaces");
    assert_eq!(store.peer_signed_record_count(), 10);

    for publisher in 2..=255u8 {
        for model in 0..10 {
            let _ = store.put_from_peer(name_record(publisher, model, 100));
        }
    }
    assert_eq!(store.peer_signed_record_count(), 100, "the count cap");
    assert_eq!(store.records().count(), 100);

    let mut big = Limits {
        record_bytes: bytesize::ByteSize::kib(8),
        ..limits
    };
    big.records_per_signer = 1000;
    let mut store = ProviderStore::new(PeerId::random(), &big);
    for model in 0..100 {
        let _ = store.put_from_peer(name_record(1, model, 1000));
    }
    assert_eq!(store.peer_signed_record_count(), 8, "the bytes cap");

    // This node's own records are kept apart.
    for model in 0..20 {
        store.put(name_record(9, model, 1000)).expect("own record");
    }
    assert_eq!(store.records().count(), 28);
    assert_eq!(store.peer_signed_record_count(), 8);
}

#[test]
fn records_under_keys_ostrom_does_not_define_are_refused() {
    let mut store = ProviderStore::new(PeerId::random(), &Limits::default());
    let record = Record::new(b"/other/key".to_vec(), vec![1]);
    assert!(store.put_from_peer(record).is_err());
    assert_eq!(store.records().count(), 0);
}

#[test]
fn expired_signed_records_make_room() {
    let limits = Limits {
        records: 3,
        ..Limits::default()
    };
    let mut store = ProviderStore::new(PeerId::random(), &limits);
    for model in 0..3 {
        let mut expired = name_record(1, model, 10);
        expired.expires = Some(Instant::now() - Duration::from_secs(1));
        store.put_from_peer(expired).expect("kept");
    }
    store
        .put_from_peer(name_record(2, 0, 10))
        .expect("room after a sweep");
    assert_eq!(store.peer_signed_record_count(), 1);
    assert_eq!(store.records().count(), 1);
}
