//! What Ostrom puts in its Kademlia DHT: the protocol name and the record keys.
//!
//! The DHT runs under its own protocol name, so Ostrom nodes never join another network's
//! DHT. It carries provider records only: "peer P holds checkpoint or file X", under the key
//! [`holders_key`]. Chunks are never announced one by one; peers fetching a checkpoint learn
//! what each other hold through the exchange protocol.

use crate::id::Id;

/// The Kademlia protocol name of the Ostrom DHT.
pub const KAD_PROTOCOL: &str = "/ostrom/kad/1.0.0";

/// The identify protocol version string Ostrom nodes announce.
pub const IDENTIFY_PROTOCOL: &str = "/ostrom/1.0.0";

const HOLDERS_PREFIX: &[u8] = b"/ostrom/holders/1/";

/// The DHT key under which holders of checkpoint or file `id` are announced: the bytes of
/// `/ostrom/holders/1/` followed by the 32 raw bytes of the id.
pub fn holders_key(id: &Id) -> Vec<u8> {
    let mut key = Vec::with_capacity(HOLDERS_PREFIX.len() + 32);
    key.extend_from_slice(HOLDERS_PREFIX);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The id a holders key names, if `key` is one.
pub fn id_of_holders_key(key: &[u8]) -> Option<Id> {
    let raw = key.strip_prefix(HOLDERS_PREFIX)?;
    let bytes: [u8; 32] = raw.try_into().ok()?;
    Some(Id(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_key_round_trips() {
        let id = Id::of(b"x");
        assert_eq!(id_of_holders_key(&holders_key(&id)), Some(id));
        assert_eq!(id_of_holders_key(b"/other/key"), None);
        assert_eq!(id_of_holders_key(&holders_key(&id)[..40]), None);
    }
}
