//! The seed corpus of every fuzz target, built from real encoded objects: signed manifests
//! and statements (signed with the fuzz key, so that their bodies pass the signature),
//! every exchange message, framed streams, a safetensors file, record keys.

use std::collections::BTreeMap;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use ostrom_protocol::chunking::chunk_file;
use ostrom_protocol::dht::holders_key;
use ostrom_protocol::envelope;
use ostrom_protocol::fuzz_checks::{fuzz_key, AS_BODY, AS_SIGNED_BYTES};
use ostrom_protocol::limits::MAX_REQUEST_FRAME;
use ostrom_protocol::manifest::READERS_KEY;
use ostrom_protocol::name_record::{name_key, NameRecord};
use ostrom_protocol::retraction::{retraction_key, Retraction};
use ostrom_protocol::revocation::{revocation_key, Revocation};
use ostrom_protocol::rotation::{rotation_key, KeyRotation};
use ostrom_protocol::signed::{Signed, Statement};
use ostrom_protocol::trust::format_public_key;
use ostrom_protocol::vouch::Vouch;
use ostrom_protocol::wire::{BlockEncoding, Message};
use ostrom_protocol::{FileEntry, Id, Manifest, SignedManifest};
use safetensors::tensor::{Dtype, TensorView};

/// One seed: the target it is for, its file name, its bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

fn public(key: &SigningKey) -> [u8; 32] {
    key.verifying_key().to_bytes()
}

fn other_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A small safetensors file: two tensors, an empty one and free-form metadata.
fn safetensors_file() -> Vec<u8> {
    let embed: Vec<u8> = (0..24).collect();
    let bias: Vec<u8> = (100..112).collect();
    let views = [
        (
            "embed.weight",
            TensorView::new(Dtype::BF16, vec![4, 3], &embed).expect("view"),
        ),
        (
            "norm.bias",
            TensorView::new(Dtype::F32, vec![3], &bias).expect("view"),
        ),
        (
            "empty",
            TensorView::new(Dtype::F32, vec![0, 2], &[]).expect("view"),
        ),
    ];
    let metadata = std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize(views, Some(metadata)).expect("serializes")
}

/// A file chunked by the crate's own chunking, as publishing does.
fn chunked(dir: &std::path::Path, path: &str, bytes: &[u8]) -> FileEntry {
    let on_disk = dir.join(path.replace('/', "_"));
    std::fs::write(&on_disk, bytes).expect("write");
    let file = chunk_file(&on_disk, path).expect("chunks");
    FileEntry {
        path: path.to_owned(),
        size: file.size,
        id: file.id,
        chunks: file.chunks,
        tensors: file.tensors,
    }
}

fn manifests() -> Vec<(&'static str, SignedManifest)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let lab = format_public_key(&public(&other_key(0x11)));
    let full = Manifest {
        publisher: public(fuzz_key()),
        name: "lab/gpt-small".to_owned(),
        tag: Some("step-1200".to_owned()),
        parent: Some(Id::of(b"parent")),
        created_ms: 1_700_000_000_000,
        metadata: BTreeMap::from([
            ("license".to_owned(), "apache-2.0".to_owned()),
            (READERS_KEY.to_owned(), lab),
        ]),
        files: vec![
            chunked(dir.path(), "model.safetensors", &safetensors_file()),
            chunked(dir.path(), "config/config.json", br#"{"layers": 2}"#),
            chunked(dir.path(), "empty.txt", b""),
        ],
    };
    let small = Manifest {
        publisher: public(fuzz_key()),
        name: "m".to_owned(),
        tag: None,
        parent: None,
        created_ms: 0,
        metadata: BTreeMap::new(),
        files: vec![chunked(dir.path(), "a", b"abc")],
    };
    [("full", full), ("small", small)]
        .into_iter()
        .map(|(name, manifest)| {
            (
                name,
                SignedManifest::sign(manifest, fuzz_key()).expect("signs"),
            )
        })
        .collect()
}

/// The two inputs of a signed object: its signed bytes, and its body for sealing.
fn signed_inputs(target: &'static str, name: &str, bytes: &[u8], seeds: &mut Vec<Seed>) {
    let body = envelope::open(bytes, bytes[..4].try_into().expect("magic"), bytes[4])
        .expect("opens")
        .body;
    seeds.push(Seed {
        target,
        name: format!("{name}-signed"),
        bytes: [&[AS_SIGNED_BYTES][..], bytes].concat(),
    });
    seeds.push(Seed {
        target,
        name: format!("{name}-body"),
        bytes: [&[AS_BODY][..], body].concat(),
    });
    seeds.push(Seed {
        target: "envelope",
        name: format!("{target}-{name}"),
        bytes: bytes.to_vec(),
    });
}

fn statement<T: Statement>(target: &'static str, name: &str, body: T, seeds: &mut Vec<Seed>) {
    let signed = Signed::sign(body, fuzz_key()).expect("signs");
    signed_inputs(target, name, signed.bytes(), seeds);
}

fn messages() -> Vec<(&'static str, Message)> {
    let ids = vec![Id::of(b"one"), Id::of(b"two"), Id::of(b"three")];
    let vouch = Signed::sign(
        Vouch {
            lab: public(fuzz_key()),
            peer: vec![0, 36, 8, 1, 18, 32, 7, 7],
            issued_ms: 1_700_000_000_000,
            expires_ms: 1_700_000_000_000 + 86_400_000,
        },
        fuzz_key(),
    )
    .expect("signs");
    vec![
        ("want-have", Message::WantHave { ids: ids.clone() }),
        ("want-block", Message::WantBlock { ids: ids.clone() }),
        ("have", Message::Have { ids: ids.clone() }),
        ("dont-have", Message::DontHave { ids: ids.clone() }),
        (
            "cancel",
            Message::Cancel {
                ids: vec![Id::of(b"one")],
            },
        ),
        (
            "block",
            Message::Block {
                id: Id::of(b"chunk bytes"),
                encoding: BlockEncoding::Raw,
                data: Bytes::from_static(b"chunk bytes"),
            },
        ),
        ("want-manifest", Message::WantManifest { id: Id::of(b"m") }),
        (
            "manifest",
            Message::Manifest {
                id: manifests()[1].1.id(),
                bytes: Bytes::from(manifests()[1].1.bytes().to_vec()),
            },
        ),
        (
            "present",
            Message::Present {
                vouches: vec![Bytes::from(vouch.into_bytes())],
            },
        ),
        (
            "refused",
            Message::Refused {
                id: Id::of(b"r"),
                reason: "restricted to its labs".to_owned(),
            },
        ),
    ]
}

fn framed(messages: &[Message]) -> Vec<u8> {
    let mut stream = Vec::new();
    for message in messages {
        let payload = message.encode().expect("encodes");
        stream.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        stream.extend_from_slice(&payload);
    }
    stream
}

/// Every seed, in a fixed order.
pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push(Seed {
            target,
            name: name.to_owned(),
            bytes,
        })
    };

    let fuzz = public(fuzz_key());
    let (revoked, successor) = (public(&other_key(0x11)), public(&other_key(0x22)));
    add(
        "key_text",
        "publisher-key",
        format_public_key(&fuzz).into_bytes(),
    );
    add("key_text", "id", Id::of(b"x").to_string().into_bytes());
    add("dht_keys", "name", name_key(&fuzz, "lab/gpt-small"));
    add(
        "dht_keys",
        "retraction",
        retraction_key(&Id::of(b"c"), &fuzz),
    );
    add("dht_keys", "revocation", revocation_key(&revoked, &fuzz));
    add("dht_keys", "rotation", rotation_key(&fuzz));
    add("dht_keys", "holders", holders_key(&Id::of(b"c")));
    add("safetensors_header", "model", safetensors_file());
    let messages = messages();
    for (name, message) in &messages {
        add("wire", name, message.encode().expect("encodes"));
    }
    let requests: Vec<Message> = messages[..]
        .iter()
        .filter(|(name, _)| {
            [
                "present",
                "want-have",
                "want-block",
                "cancel",
                "want-manifest",
            ]
            .contains(name)
        })
        .map(|(_, m)| m.clone())
        .collect();
    let replies: Vec<Message> = messages[..]
        .iter()
        .filter(|(name, _)| ["have", "dont-have", "block", "manifest", "refused"].contains(name))
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(requests.len() + replies.len(), messages.len());
    // Step 64 KiB, the server's limit, reads as large as the stream.
    add(
        "frames",
        "requests",
        [&[1, 1, 0][..], &framed(&requests)].concat(),
    );
    // Step 3 bytes, the manifest frame limit, reads of 1 to 7 bytes.
    add(
        "frames",
        "replies",
        [&[8, 3, 7][..], &framed(&replies)].concat(),
    );
    // A limit of 256 bytes, which the manifest frame is over.
    add(
        "frames",
        "over-limit",
        [&[2, 64, 13][..], &framed(&replies)].concat(),
    );
    assert!(framed(&requests).len() < MAX_REQUEST_FRAME);
    // Root key 0 with recovery key 1: 0 rotates to 2 at 100, 2 to 3 at 200, and 1 revokes 2
    // from 150 with 4 in its place.
    add(
        "chain",
        "rotations-and-revocation",
        vec![20, 0x20, 0, 100, 0, 0x34, 0, 200, 0, 0x23, 0x84, 150, 0],
    );
    // Root key 0, no recovery key: 0 rotates to 1 at 5, and 1 back to 0 at 9.
    add(
        "chain",
        "rotation-loop",
        vec![0, 0x10, 0, 5, 0, 0x02, 0, 9, 0],
    );

    for (name, manifest) in manifests() {
        signed_inputs("manifest", name, manifest.bytes(), &mut seeds);
    }
    let record = NameRecord::first(fuzz, "lab/gpt-small", Id::of(b"one"), Some("step-1"), 1);
    let next = record
        .next(Id::of(b"two"), Some("step-2"), 2)
        .expect("next");
    statement("name_record", "first", record, &mut seeds);
    statement("name_record", "second", next, &mut seeds);
    let vouch = Vouch {
        lab: fuzz,
        peer: vec![0, 36, 8, 1, 18, 32, 7, 7],
        issued_ms: 1_700_000_000_000,
        expires_ms: 1_700_000_000_000 + 86_400_000,
    };
    statement("vouch", "vouch", vouch, &mut seeds);
    let retraction = Retraction {
        publisher: fuzz,
        checkpoint: Id::of(b"c"),
        reason: "bad data in shard 3".to_owned(),
        retracted_ms: 1_700_000_000_000,
    };
    statement("retraction", "retraction", retraction, &mut seeds);
    let rotation = KeyRotation {
        old_key: fuzz,
        new_key: successor,
        rotated_ms: 1_700_000_000_000,
    };
    statement("rotation", "rotation", rotation, &mut seeds);
    for (name, successor) in [
        ("with-successor", Some(successor)),
        ("without-successor", None),
    ] {
        let revocation = Revocation {
            recovery_key: fuzz,
            revoked_key: revoked,
            revoked_ms: 1_700_000_000_000,
            successor,
        };
        statement("revocation", name, revocation, &mut seeds);
    }
    seeds
}
