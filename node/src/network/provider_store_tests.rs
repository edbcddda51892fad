use std::time::{Duration, Instant};

use libp2p::kad::store::RecordStore;
use libp2p::kad::{ProviderRecord, RecordKey};
use libp2p::{Multiaddr, PeerId};
use ostrom_protocol::dht::holders_key;
use ostrom_protocol::Id;

use super::*;

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
    let mut store = ProviderStore::new(local, ProviderCaps::default());
    let own = key(u64::MAX);
    store
        .add_provider(record(own.clone(), local, Vec::new()))
        .expect("own record");

    let flooder = PeerId::random();
    let many_addresses: Vec<Multiaddr> = (0..100).map(addr).collect();
    for n in 0..(MAX_PROVIDER_RECORDS_PER_PEER as u64 + 1000) {
        let _ = store.add_provider(record(key(n), flooder, many_addresses.clone()));
    }
    assert_eq!(store.records_of(&flooder), MAX_PROVIDER_RECORDS_PER_PEER);
    let kept = store.providers(&key(0));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].addresses.len(), MAX_PROVIDER_ADDRESSES);

    // Many peers, each under its own quota, together over the total.
    let mut n = 1_000_000u64;
    for _ in 0..(MAX_PEER_PROVIDER_RECORDS / 1000 + 10) {
        let peer = PeerId::random();
        for _ in 0..1000 {
            let _ = store.add_provider(record(key(n), peer, vec![addr(1)]));
            n += 1;
        }
    }
    assert_eq!(store.peer_record_count(), MAX_PEER_PROVIDER_RECORDS);

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
    let mut store = ProviderStore::new(local, ProviderCaps::default());
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
        ProviderCaps {
            total: 10,
            per_peer: 2,
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
        ProviderCaps {
            total: 4,
            per_peer: 4,
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
