//! Name records: (publisher key, model name) → the latest checkpoint, plus tags.
//!
//! A publisher names its checkpoints by signing a [`NameRecord`]: for one model name, the id
//! of the latest checkpoint and a map of tags (`step-12000`, `stable`) to checkpoint ids. Each
//! new record carries a higher sequence number; a node keeps the record with the highest one
//! and never goes back to a lower or equal one, so an old record replayed into the DHT cannot
//! roll a name back ([`SignedNameRecord::supersedes`]).
//!
//! A record is a signed [statement](crate::signed) with magic `OSTN` and version 1, signed
//! by `publisher`, at most [`MAX_RECORD_SIZE`] bytes. It lives in the DHT under
//! [`name_key`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::limits::{MAX_NAME_LEN, MAX_NAME_TAGS, MAX_RECORD_SIZE, MAX_TAG_LEN};
use crate::manifest::check_text;
use crate::signed::{invalid, RecordError, Signed, Statement};

/// The magic of a signed name record.
pub const NAME_RECORD_MAGIC: [u8; 4] = *b"OSTN";
/// The name record format version this code reads and writes.
pub const NAME_RECORD_VERSION: u8 = 1;

const NAME_PREFIX: &[u8] = b"/ostrom/name/1/";

/// A name record (the signed body): where a publisher's model name points now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRecord {
    /// The publisher's ed25519 public key; the record is signed with its secret half.
    pub publisher: [u8; 32],
    /// The model name, with the same rules as a manifest's name.
    pub model: String,
    /// The sequence number; each new record of a name has a higher one.
    pub seq: u64,
    /// The checkpoint id the name points to now.
    pub latest: Id,
    /// Tags and the checkpoint id each names, sorted by tag.
    pub tags: BTreeMap<String, Id>,
    /// When the record was made, milliseconds since the Unix epoch.
    pub updated_ms: u64,
}

/// A name record with its signed bytes; only ever built from bytes that verified.
pub type SignedNameRecord = Signed<NameRecord>;

/// Two name records that cannot be ordered: they belong to different names.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "name records of different names cannot be ordered: {ours} and {theirs} \
     (only records of the same publisher and model are)"
)]
pub struct NameMismatch {
    ours: String,
    theirs: String,
}

impl Statement for NameRecord {
    const KIND: &'static str = "name record";
    const MAGIC: [u8; 4] = NAME_RECORD_MAGIC;
    const VERSION: u8 = NAME_RECORD_VERSION;
    const MAX_SIZE: usize = MAX_RECORD_SIZE;

    fn signer(&self) -> &[u8; 32] {
        &self.publisher
    }

    fn validate(&self) -> Result<(), RecordError> {
        check_text("model name", &self.model, MAX_NAME_LEN).map_err(invalid::<Self>)?;
        if self.tags.len() > MAX_NAME_TAGS {
            return Err(invalid::<Self>(format!(
                "{} tags, over the limit of {MAX_NAME_TAGS}",
                self.tags.len()
            )));
        }
        for tag in self.tags.keys() {
            check_text("tag", tag, MAX_TAG_LEN).map_err(invalid::<Self>)?;
        }
        Ok(())
    }
}

impl NameRecord {
    /// The first record of a name: sequence number 1, pointing at `latest`, with `tag` (if
    /// any) naming it too. Not validated until signed.
    pub fn first(
        publisher: [u8; 32],
        model: impl Into<String>,
        latest: Id,
        tag: Option<&str>,
        updated_ms: u64,
    ) -> Self {
        let mut tags = BTreeMap::new();
        if let Some(tag) = tag {
            tags.insert(tag.to_owned(), latest);
        }
        Self {
            publisher,
            model: model.into(),
            seq: 1,
            latest,
            tags,
            updated_ms,
        }
    }

    /// The record that follows this one: the sequence number one higher, pointing at
    /// `latest`, every tag kept and `tag` (if any) set to `latest`. Validated.
    pub fn next(
        &self,
        latest: Id,
        tag: Option<&str>,
        updated_ms: u64,
    ) -> Result<Self, RecordError> {
        let seq = self
            .seq
            .checked_add(1)
            .ok_or_else(|| invalid::<Self>("the sequence number cannot grow any further"))?;
        let mut tags = self.tags.clone();
        if let Some(tag) = tag {
            tags.insert(tag.to_owned(), latest);
        }
        let next = Self {
            publisher: self.publisher,
            model: self.model.clone(),
            seq,
            latest,
            tags,
            updated_ms,
        };
        next.validate()?;
        Ok(next)
    }

    /// Whether this record replaces `other`: both must name the same publisher and model,
    /// and this one must have a strictly higher sequence number.
    pub fn supersedes(&self, other: &NameRecord) -> Result<bool, NameMismatch> {
        if self.publisher != other.publisher || self.model != other.model {
            return Err(NameMismatch {
                ours: self.display_name(),
                theirs: other.display_name(),
            });
        }
        Ok(self.seq > other.seq)
    }

    /// The DHT key of this record: [`name_key`] of its publisher and model.
    pub fn dht_key(&self) -> Vec<u8> {
        name_key(&self.publisher, &self.model)
    }

    fn display_name(&self) -> String {
        format!("{}/{}", hex::encode(self.publisher), self.model)
    }
}

impl Signed<NameRecord> {
    /// Whether this record replaces `other` (see [`NameRecord::supersedes`]); a node stores
    /// a record only if it supersedes the one it holds.
    pub fn supersedes(&self, other: &SignedNameRecord) -> Result<bool, NameMismatch> {
        self.body().supersedes(other.body())
    }
}

/// The DHT key of the name record of `model` by `publisher`: the bytes of `/ostrom/name/1/`,
/// the 32 key bytes, `/`, then the model name's UTF-8 bytes.
pub fn name_key(publisher: &[u8; 32], model: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(NAME_PREFIX.len() + 33 + model.len());
    key.extend_from_slice(NAME_PREFIX);
    key.extend_from_slice(publisher);
    key.push(b'/');
    key.extend_from_slice(model.as_bytes());
    key
}

/// The publisher and model a name key names, if `key` is one and the model name follows
/// the rules.
pub fn parse_name_key(key: &[u8]) -> Option<([u8; 32], String)> {
    let rest = key.strip_prefix(NAME_PREFIX)?;
    if rest.len() < 33 || rest[32] != b'/' {
        return None;
    }
    let (publisher, model) = rest.split_at(32);
    let publisher: [u8; 32] = publisher.try_into().ok()?;
    let model = std::str::from_utf8(&model[1..]).ok()?;
    check_text("model name", model, MAX_NAME_LEN).ok()?;
    Some((publisher, model.to_owned()))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use super::*;
    use crate::signed::testing::{self, key, public, statement_properties};
    use crate::vouch::Vouch;

    fn sample() -> NameRecord {
        let first = NameRecord::first(
            public(1),
            "lab/gpt-small",
            Id::of(b"one"),
            Some("step-100"),
            1_700_000_000_000,
        );
        first
            .next(Id::of(b"two"), Some("step-200"), 1_700_000_100_000)
            .expect("next")
    }

    fn arb_text(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[a-zA-Z0-9._/-]{{1,{max}}}|\\PC{{1,20}}"))
            .expect("regex")
    }

    prop_compose! {
        fn arb_record()(
            seed in any::<u8>(),
            model in arb_text(40),
            seq in any::<u64>(),
            latest in any::<[u8; 32]>(),
            tags in proptest::collection::btree_map(arb_text(30), any::<[u8; 32]>(), 0..6),
            updated_ms in any::<u64>(),
        ) -> (NameRecord, u8) {
            let record = NameRecord {
                publisher: public(seed),
                model,
                seq,
                latest: Id(latest),
                tags: tags.into_iter().map(|(tag, id)| (tag, Id(id))).collect(),
                updated_ms,
            };
            (record, seed)
        }
    }

    statement_properties!(NameRecord, arb_record());

    #[test]
    fn next_grows_the_sequence_and_keeps_tags() {
        let record = sample();
        assert_eq!(record.seq, 2);
        assert_eq!(record.latest, Id::of(b"two"));
        assert_eq!(record.tags["step-100"], Id::of(b"one"));
        assert_eq!(record.tags["step-200"], Id::of(b"two"));
        let moved = record
            .next(Id::of(b"three"), Some("step-100"), 0)
            .expect("next");
        assert_eq!(moved.tags["step-100"], Id::of(b"three"));
        assert_eq!(moved.tags.len(), 2);
        let untagged = moved.next(Id::of(b"four"), None, 0).expect("next");
        assert_eq!((untagged.seq, untagged.tags.len()), (4, 2));

        let mut last = record.clone();
        last.seq = u64::MAX;
        assert!(last.next(Id::of(b"x"), None, 0).is_err());
        assert!(record.next(Id::of(b"x"), Some("bad\ntag"), 0).is_err());
    }

    #[test]
    fn a_replayed_older_record_does_not_supersede() {
        let older = Signed::sign(sample(), &key(1)).expect("signs");
        let newer_body = sample().next(Id::of(b"three"), None, 0).expect("next");
        let newer = Signed::sign(newer_body, &key(1)).expect("signs");
        assert_eq!(newer.supersedes(&older), Ok(true));
        assert_eq!(older.supersedes(&newer), Ok(false), "replay accepted");
        assert_eq!(older.supersedes(&older), Ok(false), "equal seq accepted");

        let mut other_model = sample();
        other_model.model = "other".into();
        other_model.seq = 100;
        let other_model = Signed::sign(other_model, &key(1)).expect("signs");
        assert!(other_model.supersedes(&older).is_err());

        let mut other_publisher = sample();
        other_publisher.publisher = public(2);
        other_publisher.seq = 100;
        let other_publisher = Signed::sign(other_publisher, &key(2)).expect("signs");
        let error = other_publisher.supersedes(&older).expect_err("compared");
        assert!(error.to_string().contains("lab/gpt-small"), "{error}");
    }

    #[test]
    fn every_rule_is_enforced() {
        type Mutation = Box<dyn Fn(&mut NameRecord)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("empty model", Box::new(|r| r.model.clear())),
            (
                "long model",
                Box::new(|r| r.model = "m".repeat(MAX_NAME_LEN + 1)),
            ),
            ("control in model", Box::new(|r| r.model = "a\u{7}b".into())),
            (
                "empty tag",
                Box::new(|r| {
                    r.tags.insert(String::new(), Id::of(b""));
                }),
            ),
            (
                "long tag",
                Box::new(|r| {
                    r.tags.insert("t".repeat(MAX_TAG_LEN + 1), Id::of(b""));
                }),
            ),
            (
                "too many tags",
                Box::new(|r| {
                    r.tags = (0..=MAX_NAME_TAGS)
                        .map(|i| (i.to_string(), Id::of(b"")))
                        .collect();
                }),
            ),
        ];
        for (what, mutate) in cases {
            let mut record = sample();
            mutate(&mut record);
            assert!(record.validate().is_err(), "{what} accepted");
            assert!(Signed::sign(record, &key(1)).is_err(), "{what} signed");
        }
    }

    #[test]
    fn attacks_are_refused() {
        testing::refuses_common_attacks(sample(), &key(1));
        testing::other_kind_is_wrong_magic::<Vouch, NameRecord>(
            Vouch {
                lab: public(1),
                peer: vec![1; 38],
                issued_ms: 0,
                expires_ms: 1,
            },
            &key(1),
        );
    }

    #[test]
    fn a_record_over_the_size_limit_is_refused_when_signing() {
        let mut record = sample();
        record.tags = (0..600)
            .map(|i| (format!("{i:0>100}"), Id::of(b"")))
            .collect();
        assert!(record.validate().is_ok());
        assert!(matches!(
            Signed::sign(record, &key(1)),
            Err(RecordError::TooLarge { .. })
        ));
    }

    #[test]
    fn matches_the_worked_example_of_the_spec() {
        let key = SigningKey::from_bytes(&[0x2a; 32]);
        let record = NameRecord::first(
            key.verifying_key().to_bytes(),
            "m",
            Id::of(b"abc"),
            Some("t"),
            1_700_000_000_000,
        );
        let signed = Signed::sign(record, &key).expect("signs");
        let abc = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";
        let expected = [
            "4f53544e016c000000",
            "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61",
            "016d",
            "01",
            abc,
            "01",
            "0174",
            abc,
            "80d095ffbc31",
            "048d8c823c703758f274c3ce303116c68b1ab7b70175c95296153df53f11b207",
            "ef1ef640469a9aa22ceb4220eb462ab8a4dd6bba04925ec8b2d9b42442891903",
        ]
        .concat();
        assert_eq!(hex::encode(signed.bytes()), expected);
        assert_eq!(
            signed.id().to_string(),
            "407a7bda9754c7702507f0ef0f4b5cf35ff44f40b94f9b274b1ec1864c2fa8b3"
        );
        assert_eq!(
            hex::encode(signed.body().dht_key()),
            "2f6f7374726f6d2f6e616d652f312f\
             197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61\
             2f6d"
        );
    }

    #[test]
    fn name_key_round_trips() {
        let key = name_key(&[7; 32], "lab/gpt-small");
        assert_eq!(key.len(), 15 + 32 + 1 + 13);
        assert!(key.starts_with(b"/ostrom/name/1/"));
        assert_eq!(
            parse_name_key(&key),
            Some(([7; 32], "lab/gpt-small".to_owned()))
        );
        assert_eq!(sample().dht_key(), name_key(&public(1), "lab/gpt-small"));
        assert_eq!(parse_name_key(&name_key(&[7; 32], "")), None);
        assert_eq!(parse_name_key(&key[..47]), None);
        assert_eq!(parse_name_key(b"/ostrom/holders/1/x"), None);
        let mut bad_separator = key.clone();
        bad_separator[47] = b'x';
        assert_eq!(parse_name_key(&bad_separator), None);
        let mut not_utf8 = name_key(&[7; 32], "m");
        not_utf8.push(0xff);
        assert_eq!(parse_name_key(&not_utf8), None);
    }
}
