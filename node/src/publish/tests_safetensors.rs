//! Which safetensors files publish: a table of small files written byte by byte (8-byte LE
//! header length, JSON header, data), each checked the way `ostrom verify` checks a file
//! (chunking it) and by publishing it; the two must agree, with the same message when they
//! refuse.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use ostrom_protocol::chunking::chunk_file;

use super::{publish, PublishRequest};
use crate::store::Store;

const FILE: &str = "model.safetensors";

/// A safetensors file: the header length, the header, the data.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// A file of one tensor `name` of `dtype` and `shape` whose data is `len` bytes.
fn one(name: &str, dtype: &str, shape: &[u64], len: usize) -> Vec<u8> {
    let header = serde_json::json!({
        name: {"dtype": dtype, "shape": shape, "data_offsets": [0, len]}
    });
    file(&header.to_string(), &vec![0x5a; len])
}

/// Every dtype the `safetensors` crate knows, with its bits per element.
const DTYPES: [(&str, usize); 22] = [
    ("BOOL", 8),
    ("F4", 4),
    ("F6_E2M3", 6),
    ("F6_E3M2", 6),
    ("U8", 8),
    ("I8", 8),
    ("F8_E5M2", 8),
    ("F8_E4M3", 8),
    ("F8_E8M0", 8),
    ("F8_E4M3FNUZ", 8),
    ("F8_E5M2FNUZ", 8),
    ("I16", 16),
    ("U16", 16),
    ("F16", 16),
    ("BF16", 16),
    ("I32", 32),
    ("U32", 32),
    ("F32", 32),
    ("C64", 64),
    ("F64", 64),
    ("I64", 64),
    ("U64", 64),
];

enum Expect {
    /// Published, with these tensors (name, dtype) in file order.
    Accepted(Vec<(String, String)>),
    /// Refused, with a message that holds this.
    Refused(&'static str),
}

fn accepted(tensors: &[(&str, &str)]) -> Expect {
    Expect::Accepted(
        tensors
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect(),
    )
}

fn cases() -> Vec<(String, Vec<u8>, Expect)> {
    let mut cases = Vec::new();
    for (dtype, bits) in DTYPES {
        // Eight elements: a whole number of bytes for every dtype.
        cases.push((
            format!("dtype {dtype}"),
            one("w", dtype, &[2, 4], bits),
            accepted(&[("w", dtype)]),
        ));
    }
    let rank = |n: usize| vec![1u64; n];
    let long = |n: usize| "n".repeat(n);
    let mut add = |what: &str, bytes: Vec<u8>, expect: Expect| {
        cases.push((what.to_owned(), bytes, expect));
    };
    add(
        "empty tensors",
        file(
            r#"{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"f":{"dtype":"BF16","shape":[3,0],"data_offsets":[0,0]},"u":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
            &[1, 2],
        ),
        accepted(&[("e", "F32"), ("f", "BF16"), ("u", "U8")]),
    );
    add("header only", file("{}", &[]), accepted(&[]));
    add(
        "header only, with metadata and padding",
        file(r#"{"__metadata__":{"format":"pt"}}    "#, &[]),
        accepted(&[]),
    );
    add(
        "header with leading whitespace",
        file(
            r#"  {"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            &[9],
        ),
        accepted(&[("a", "U8")]),
    );
    add(
        "rank 16",
        one("r", "U8", &rank(16), 1),
        accepted(&[("r", "U8")]),
    );
    add(
        "rank 17",
        one("r", "U8", &rank(17), 1),
        Expect::Refused(r#"model.safetensors: tensor "r" has rank 17, above Ostrom's limit of 16"#),
    );
    add(
        "empty name",
        one("", "U8", &[1], 1),
        Expect::Refused(r#"model.safetensors: tensor "" (data offsets [0, 1)) has an empty name"#),
    );
    cases.push((
        "name of 1024 bytes".to_owned(),
        one(&long(1024), "U8", &[1], 1),
        Expect::Accepted(vec![(long(1024), "U8".to_owned())]),
    ));
    let mut add = |what: &str, bytes: Vec<u8>, expect: Expect| {
        cases.push((what.to_owned(), bytes, expect));
    };
    add(
        "name of 1025 bytes",
        one(&long(1025), "U8", &[1], 1),
        Expect::Refused(
            "model.safetensors: tensor \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn…\" has a name of 1025 bytes, above Ostrom's limit of 1024",
        ),
    );
    add(
        "zero-length file",
        vec![],
        Expect::Refused("the file is 0 bytes, shorter than the 8-byte header length"),
    );
    add(
        "shorter than the length field",
        vec![2, 0, 0],
        Expect::Refused("shorter than the 8-byte header length"),
    );
    add(
        "header length past the end",
        {
            let mut b = 1000u64.to_le_bytes().to_vec();
            b.extend_from_slice(b"{}");
            b
        },
        Expect::Refused("header length 1000 runs past the end of the 10-byte file"),
    );
    add(
        "header length over the limit",
        u64::MAX.to_le_bytes().to_vec(),
        Expect::Refused("is over the limit of 100000000"),
    );
    add(
        "header not JSON",
        file("nope", &[]),
        Expect::Refused("not a valid safetensors file: header"),
    );
    add(
        "header not UTF-8",
        {
            let mut b = 2u64.to_le_bytes().to_vec();
            b.extend_from_slice(&[0xff, 0xfe]);
            b
        },
        Expect::Refused("the header is not UTF-8"),
    );
    add(
        "unknown dtype",
        one("w", "F7", &[1], 1),
        Expect::Refused("not a valid safetensors file"),
    );
    add(
        "overlapping offsets",
        file(
            r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#,
            &[0; 6],
        ),
        Expect::Refused("not a valid safetensors file"),
    );
    add(
        "a gap between tensors",
        file(
            r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[5,9]}}"#,
            &[0; 9],
        ),
        Expect::Refused("not a valid safetensors file"),
    );
    add(
        "data not starting at offset 0",
        file(
            r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[1,5]}}"#,
            &[0; 5],
        ),
        Expect::Refused("not a valid safetensors file"),
    );
    add(
        "sub-byte tensor not a whole number of bytes",
        one("w", "F4", &[3], 2),
        Expect::Refused("not a valid safetensors file"),
    );
    add(
        "size not matching shape and dtype",
        one("w", "F32", &[2], 4),
        Expect::Refused("not a valid safetensors file"),
    );
    add(
        "truncated data",
        {
            let mut b = one("w", "U8", &[4], 4);
            b.pop();
            b
        },
        Expect::Refused("the tensors cover 4 bytes after the header but the file has 3 there"),
    );
    add(
        "trailing data",
        {
            let mut b = one("w", "U8", &[4], 4);
            b.push(0);
            b
        },
        Expect::Refused("the tensors cover 4 bytes after the header but the file has 5 there"),
    );
    cases
}

#[test]
fn verify_and_publish_agree_on_every_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store")).expect("store");
    let key = SigningKey::from_bytes(&[5; 32]);
    for (i, (what, bytes, expect)) in cases().into_iter().enumerate() {
        let ckpt = dir.path().join(format!("case{i}"));
        std::fs::create_dir(&ckpt).expect("mkdir");
        let path = ckpt.join(FILE);
        std::fs::write(&path, &bytes).expect("write");
        let verified = chunk_file(&path, FILE);
        let request = PublishRequest {
            path: ckpt,
            name: format!("case{i}"),
            tag: None,
            parent: None,
            metadata: BTreeMap::new(),
            follow_symlinks: false,
            force_tag: false,
        };
        let published = publish(&store, &key, &request);
        match (expect, verified, published) {
            (Expect::Accepted(tensors), Ok(verified), Ok(published)) => {
                let entry = &published.manifest.manifest().files[0];
                let listed: Vec<(String, String)> = entry
                    .tensors
                    .iter()
                    .map(|t| (t.name.clone(), t.dtype.clone()))
                    .collect();
                assert_eq!(listed, tensors, "{what}");
                assert_eq!(entry.tensors, verified.tensors, "{what}");
                assert_eq!(entry.id, verified.id, "{what}");
                assert_eq!(entry.size, bytes.len() as u64, "{what}");
            }
            (Expect::Refused(reason), Err(verified), Err(published)) => {
                let message = verified.to_string();
                assert!(
                    message.contains(reason),
                    "{what}: {message:?} lacks {reason:?}"
                );
                assert!(
                    message.starts_with(FILE),
                    "{what}: {message:?} names no file"
                );
                assert_eq!(published.to_string(), message, "{what}");
            }
            (_, verified, published) => panic!(
                "{what}: verify gave {:?}, publish gave {:?}",
                verified.map(|c| c.tensors.len()),
                published.map(|p| p.manifest.id())
            ),
        }
    }
}
