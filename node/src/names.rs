//! Names on the node: after a publish, the next signed name record (publisher key, model)
//! → latest checkpoint and tags, stored locally and in the DHT; and resolving
//! `ALIAS/MODEL[@TAG]` through the DHT to a checkpoint id.
//!
//! Resolving collects every copy of the record the DHT returns, keeps those that verify and
//! belong to that name, picks the highest sequence number, and sends it to the peers that
//! returned an older copy.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ostrom_protocol::name_record::{name_key, NameRecord, SignedNameRecord};
use ostrom_protocol::signed::RecordError;
use ostrom_protocol::trust::{format_public_key, parse_public_key};
use ostrom_protocol::{Id, SignedManifest};

use crate::network::NetworkHandle;
use crate::store::{Store, StoreError};
use crate::trust::TrustStore;

/// Why a name could not be published or resolved.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    /// The reference is not `ALIAS/MODEL[@TAG]`.
    #[error("{0:?} is not a name: expected ALIAS/MODEL, ALIAS/MODEL@latest or ALIAS/MODEL@TAG")]
    BadReference(String),
    /// The alias is not in the trust store.
    #[error("no trusted publisher is called {0:?}; add it with `ostrom trust add {0} PUBKEY`")]
    UnknownAlias(String),
    /// No valid record was found.
    #[error("no name record for {model:?} by {publisher} was found in the DHT")]
    NotFound {
        /// The publisher key (hex).
        publisher: String,
        /// The model name.
        model: String,
    },
    /// The record exists but has no such tag.
    #[error("{model:?} has no tag {tag:?} (its tags: {known})")]
    UnknownTag {
        /// The model name.
        model: String,
        /// The tag asked for.
        tag: String,
        /// The tags it has.
        known: String,
    },
    /// The tag already names another checkpoint and moving it was not asked for.
    #[error("tag {tag:?} of {model:?} already names checkpoint {current}; publish with --force-tag to move it")]
    TagTaken {
        /// The model name.
        model: String,
        /// The tag.
        tag: String,
        /// The checkpoint it names now.
        current: Id,
    },
    /// The record could not be made.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trust store failed.
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),
}

/// `ALIAS/MODEL`, `ALIAS/MODEL@latest` or `ALIAS/MODEL@TAG`. The alias may also be a
/// publisher key in hex, or `self` for this node's own key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRef {
    /// The publisher's alias in the trust store.
    pub alias: String,
    /// The model name.
    pub model: String,
    /// The tag; `None` for the latest checkpoint.
    pub tag: Option<String>,
}

impl FromStr for NameRef {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || NameError::BadReference(text.to_owned());
        let (alias, rest) = text.split_once('/').ok_or_else(bad)?;
        let (model, tag) = match rest.rsplit_once('@') {
            Some((model, "latest")) => (model, None),
            Some((model, tag)) => (model, Some(tag.to_owned())),
            None => (rest, None),
        };
        if alias.is_empty() || model.is_empty() || tag.as_deref() == Some("") {
            return Err(bad());
        }
        Ok(Self {
            alias: alias.to_owned(),
            model: model.to_owned(),
            tag,
        })
    }
}

impl fmt::Display for NameRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}@{}",
            self.alias,
            self.model,
            self.tag.as_deref().unwrap_or("latest")
        )
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The publisher key a reference's alias names.
pub fn publisher_of(
    reference: &NameRef,
    trust: &TrustStore,
    own: &[u8; 32],
) -> Result<[u8; 32], NameError> {
    if reference.alias == "self" {
        return Ok(*own);
    }
    if let Some(key) = trust.key_of(&reference.alias) {
        return Ok(key);
    }
    parse_public_key(&reference.alias).map_err(|_| NameError::UnknownAlias(reference.alias.clone()))
}

/// Checks, before publishing, that `tag` of `model` does not already name a checkpoint in
/// this node's copy of the publisher's name record: a tag moves only when `force` is set,
/// and then with a warning.
pub fn check_tag(
    store: &Store,
    publisher: &[u8; 32],
    model: &str,
    tag: Option<&str>,
    force: bool,
) -> Result<(), NameError> {
    let Some(tag) = tag else {
        return Ok(());
    };
    let Some(record) = store.name_record(&name_key(publisher, model))? else {
        return Ok(());
    };
    let Some(current) = record.body().tags.get(tag).copied() else {
        return Ok(());
    };
    if !force {
        return Err(NameError::TagTaken {
            model: model.to_owned(),
            tag: tag.to_owned(),
            current,
        });
    }
    tracing::warn!(model, tag, from = %current, "moving a tag to a new checkpoint (--force-tag)");
    Ok(())
}

/// Makes and stores the name record that follows a publish of `manifest`.
pub fn next_record(
    store: &Store,
    key: &SigningKey,
    manifest: &SignedManifest,
) -> Result<SignedNameRecord, NameError> {
    let body = manifest.manifest();
    let publisher = key.verifying_key().to_bytes();
    let previous = store.name_record(&name_key(&publisher, &body.name))?;
    let record = match previous {
        Some(previous) => previous
            .body()
            .next(manifest.id(), body.tag.as_deref(), now_ms())?,
        None => NameRecord::first(
            publisher,
            body.name.clone(),
            manifest.id(),
            body.tag.as_deref(),
            now_ms(),
        ),
    };
    let signed = SignedNameRecord::sign(record, key)?;
    store.put_name_record(&signed)?;
    Ok(signed)
}

/// Finds the newest valid name record of (`publisher`, `model`): this node's copy and
/// every copy the DHT returns. Peers that returned an older copy are sent the newest.
pub async fn resolve_record(
    store: &Store,
    network: &NetworkHandle,
    publisher: [u8; 32],
    model: &str,
) -> Result<SignedNameRecord, NameError> {
    let key = name_key(&publisher, model);
    let copies = network.get_records(key.clone()).await.unwrap_or_default();
    let mut valid: Vec<(Option<libp2p::PeerId>, SignedNameRecord)> = copies
        .into_iter()
        .filter_map(|(peer, bytes)| SignedNameRecord::from_bytes(bytes).ok().map(|r| (peer, r)))
        .filter(|(_, r)| r.body().publisher == publisher && r.body().model == model)
        .collect();
    if let Some(local) = store.name_record(&key)? {
        valid.push((None, local));
    }
    let newest = valid
        .iter()
        .map(|(_, r)| r)
        .max_by_key(|r| r.body().seq)
        .cloned()
        .ok_or_else(|| NameError::NotFound {
            publisher: format_public_key(&publisher),
            model: model.to_owned(),
        })?;
    let stale: Vec<libp2p::PeerId> = valid
        .iter()
        .filter(|(_, r)| r.body().seq < newest.body().seq)
        .filter_map(|(peer, _)| *peer)
        .collect();
    if !stale.is_empty() {
        tracing::info!(
            count = stale.len(),
            seq = newest.body().seq,
            "refreshing stale name records"
        );
        network
            .put_record_to(key, newest.bytes().to_vec(), stale)
            .await;
    }
    store.put_name_record(&newest)?;
    Ok(newest)
}

/// The checkpoint a record names for `tag` (`None`: the latest).
pub fn pick(record: &SignedNameRecord, tag: Option<&str>) -> Result<Id, NameError> {
    let body = record.body();
    match tag {
        None => Ok(body.latest),
        Some(tag) => body
            .tags
            .get(tag)
            .copied()
            .ok_or_else(|| NameError::UnknownTag {
                model: body.model.clone(),
                tag: tag.to_owned(),
                known: body.tags.keys().cloned().collect::<Vec<_>>().join(", "),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let r: NameRef = "lab-a/gpt-small@step-100".parse().expect("parses");
        assert_eq!(
            (r.alias.as_str(), r.model.as_str(), r.tag.as_deref()),
            ("lab-a", "gpt-small", Some("step-100"))
        );
        let r: NameRef = "lab-a/gpt-small@latest".parse().expect("parses");
        assert_eq!(r.tag, None);
        let r: NameRef = "lab-a/gpt-small".parse().expect("parses");
        assert_eq!(r.tag, None);
        for bad in ["gpt", "/gpt", "lab/", "lab/gpt@"] {
            assert!(bad.parse::<NameRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn publishing_twice_grows_the_sequence_and_keeps_tags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let key = SigningKey::from_bytes(&[3; 32]);
        let ckpt = dir.path().join("c");
        std::fs::create_dir(&ckpt).expect("mkdir");
        std::fs::write(ckpt.join("a"), b"one").expect("write");
        let request = |tag: &str| crate::publish::PublishRequest {
            path: ckpt.clone(),
            name: "gpt".into(),
            tag: Some(tag.into()),
            parent: None,
            metadata: Default::default(),
            follow_symlinks: false,
            force_tag: false,
        };
        let first = crate::publish::publish(&store, &key, &request("v1")).expect("publish");
        std::fs::write(ckpt.join("a"), b"two").expect("write");
        let second = crate::publish::publish(&store, &key, &request("v2")).expect("publish");
        let (r1, r2) = (first.name_record, second.name_record);
        let (first, second) = (first.manifest, second.manifest);
        assert_eq!((r1.body().seq, r2.body().seq), (1, 2));
        assert_eq!(pick(&r2, None).expect("latest"), second.id());
        assert_eq!(pick(&r2, Some("v1")).expect("v1"), first.id());
        assert!(matches!(
            pick(&r2, Some("v3")),
            Err(NameError::UnknownTag { .. })
        ));
    }

    #[test]
    fn a_tag_moves_only_when_forced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let key = SigningKey::from_bytes(&[4; 32]);
        let ckpt = dir.path().join("c");
        std::fs::create_dir(&ckpt).expect("mkdir");
        std::fs::write(ckpt.join("a"), b"one").expect("write");
        let request = |tag: &str, force_tag: bool| crate::publish::PublishRequest {
            path: ckpt.clone(),
            name: "gpt".into(),
            tag: Some(tag.into()),
            parent: None,
            metadata: Default::default(),
            follow_symlinks: false,
            force_tag,
        };
        let first = crate::publish::publish(&store, &key, &request("v1", false)).expect("first");
        let first_id = first.manifest.id();
        std::fs::write(ckpt.join("a"), b"two").expect("write");

        let refused = crate::publish::publish(&store, &key, &request("v1", false))
            .expect_err("the tag names another checkpoint");
        assert!(
            matches!(
                &refused,
                crate::publish::PublishError::Name(NameError::TagTaken { tag, current, .. })
                    if tag == "v1" && *current == first_id
            ),
            "{refused}"
        );
        assert!(refused.to_string().contains("--force-tag"), "{refused}");
        let publisher = key.verifying_key().to_bytes();
        let record = store
            .name_record(&name_key(&publisher, "gpt"))
            .expect("store")
            .expect("record");
        assert_eq!(
            record.body().seq,
            1,
            "a refused publish leaves the record alone"
        );
        assert_eq!(pick(&record, Some("v1")).expect("v1"), first_id);
        assert_eq!(
            store.manifests().expect("store").len(),
            1,
            "a refused publish stores no manifest"
        );

        let other = crate::publish::publish(&store, &key, &request("v2", false)).expect("v2");
        let moved = crate::publish::publish(&store, &key, &request("v1", true)).expect("forced");
        let record = moved.name_record;
        assert_eq!(pick(&record, Some("v1")).expect("v1"), moved.manifest.id());
        assert_eq!(pick(&record, Some("v2")).expect("v2"), other.manifest.id());
    }
}
