//! Checks of the small parsers: publisher keys and ids in their text form, and DHT record
//! keys.

use std::str::FromStr;

use crate::dht::{holders_key, id_of_holders_key};
use crate::id::Id;
use crate::limits::MAX_NAME_LEN;
use crate::name_record::{name_key, parse_name_key};
use crate::retraction::{parse_retraction_key, retraction_key};
use crate::revocation::{parse_revocation_key, revocation_key};
use crate::rotation::{parse_rotation_key, rotation_key};
use crate::trust::{check_public_key, format_public_key, parse_public_key};

/// Reads the input as a publisher key and as an id: what either accepts prints back as the
/// same text, and an accepted key passes [`check_public_key`].
pub fn key_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = parse_public_key(text) {
        assert_eq!(format_public_key(&key), text);
        assert_eq!(check_public_key(&key), Ok(()));
        assert_eq!(Id::from_str(text).map(|id| id.0), Ok(key));
    }
    if let Ok(id) = Id::from_str(text) {
        assert_eq!(id.to_string(), text);
        assert_eq!(text.len(), 64);
    }
}

/// Reads the input as every kind of DHT record key: a key any parser accepts is rebuilt
/// byte for byte from what it names, and no key is of two kinds.
pub fn dht_keys(data: &[u8]) {
    let mut kinds = 0;
    if let Some((publisher, model)) = parse_name_key(data) {
        assert!(!model.is_empty() && model.len() <= MAX_NAME_LEN);
        assert_eq!(name_key(&publisher, &model), data);
        kinds += 1;
    }
    if let Some((checkpoint, publisher)) = parse_retraction_key(data) {
        assert_eq!(retraction_key(&checkpoint, &publisher), data);
        kinds += 1;
    }
    if let Some((revoked, recovery)) = parse_revocation_key(data) {
        assert_eq!(revocation_key(&revoked, &recovery), data);
        kinds += 1;
    }
    if let Some(old_key) = parse_rotation_key(data) {
        assert_eq!(rotation_key(&old_key), data);
        kinds += 1;
    }
    if let Some(id) = id_of_holders_key(data) {
        assert_eq!(holders_key(&id), data);
        kinds += 1;
    }
    assert!(kinds <= 1, "a DHT key of {kinds} kinds");
}
