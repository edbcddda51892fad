//! The test vectors of SPEC.md, rebuilt from their seeds by the reference code and compared
//! with the text of SPEC.md itself, so that the document and the code cannot disagree
//! without a test failing.
//!
//! A vector lies in SPEC.md between the lines `<!-- vector NAME -->` and `<!-- /vector -->`.
//! Inside it:
//!
//! - the first fenced block holds bytes: each line is hex (groups may be split by single
//!   spaces), then optionally two or more spaces and a comment;
//! - a value is written `LABEL: `HEX`` (the label, a colon, the value in backticks);
//! - a chunk table row is `| INDEX | OFFSET | LENGTH | REGION | CHUNK ID |`, and a tensor
//!   table row is `| `NAME` | DTYPE | SHAPE | FIRST_CHUNK | CHUNK_COUNT |`.

use ed25519_dalek::SigningKey;
use ostrom_protocol::chain::{is_trusted, KeyHistory, TrustRoot};
use ostrom_protocol::chunking::chunk_file;
use ostrom_protocol::dht::holders_key;
use ostrom_protocol::manifest::ChunkRef;
use ostrom_protocol::name_record::{NameRecord, SignedNameRecord};
use ostrom_protocol::retraction::{Retraction, SignedRetraction};
use ostrom_protocol::revocation::{Revocation, SignedRevocation};
use ostrom_protocol::rotation::{KeyRotation, SignedKeyRotation};
use ostrom_protocol::signed::Signed;
use ostrom_protocol::vouch::{SignedVouch, Vouch};
use ostrom_protocol::{FileEntry, Id, Manifest, SignedManifest};

const SPEC: &str = include_str!("../../SPEC.md");

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Fails the test with a message built like `format!`.
macro_rules! bail {
    ($($message:tt)+) => {
        return Err(format!($($message)+).into())
    };
}

/// Fails the test unless `condition` holds.
macro_rules! ensure {
    ($condition:expr) => {
        if !$condition {
            bail!("failed: {}", stringify!($condition));
        }
    };
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            bail!($($message)+);
        }
    };
}

/// 2023-11-14T22:13:20Z, the time every vector is made at.
const T0: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

// ---- Reading vectors out of SPEC.md ----

/// The text of vector `name`.
fn vector(name: &str) -> Result<&'static str> {
    let open = format!("<!-- vector {name} -->");
    let (_, rest) = SPEC
        .split_once(&open)
        .ok_or_else(|| format!("SPEC.md has no line {open}"))?;
    let (text, _) = rest
        .split_once("<!-- /vector -->")
        .ok_or_else(|| format!("vector {name} is not closed"))?;
    ensure!(
        !rest[1..].contains(&open),
        "SPEC.md has vector {name} twice"
    );
    Ok(text)
}

/// The bytes of the first fenced block of a vector.
fn block_bytes(text: &str) -> Result<Vec<u8>> {
    let mut parts = text.split("```");
    parts.next();
    let block = parts.next().ok_or("the vector has no fenced block")?;
    let mut hex_digits = String::new();
    // The first line is the rest of the opening fence.
    for line in block.lines().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bytes = line.split("  ").next().unwrap_or_default().replace(' ', "");
        ensure!(
            !bytes.is_empty() && bytes.chars().all(|c| c.is_ascii_hexdigit()),
            "not a line of hex bytes: {line:?}"
        );
        hex_digits.push_str(&bytes);
    }
    hex::decode(&hex_digits).map_err(|e| format!("bad hex in the block ({e}): {hex_digits}").into())
}

/// The value written `` LABEL: `VALUE` `` in a vector.
fn value(text: &str, label: &str) -> Result<String> {
    let marker = format!("{label}: `");
    let (_, rest) = text
        .split_once(&marker)
        .ok_or_else(|| format!("the vector has no {marker}…`"))?;
    let (value, _) = rest.split_once('`').ok_or("unclosed backtick")?;
    Ok(value.to_owned())
}

/// The cells of each table row of a vector whose first cell satisfies `first`.
fn rows(text: &str, first: impl Fn(&str) -> bool) -> Vec<Vec<String>> {
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|cells| cells.first().is_some_and(|c| first(c)))
        .collect()
}

/// Compares built bytes with a vector's, naming the first difference.
fn same_bytes(what: &str, built: &[u8], spec: &[u8]) -> Result<()> {
    if built == spec {
        return Ok(());
    }
    let at = built
        .iter()
        .zip(spec)
        .position(|(a, b)| a != b)
        .unwrap_or(built.len().min(spec.len()));
    bail!(
        "{what}: the code makes {} bytes, SPEC.md shows {}; first difference at byte {at}\n\
         code: {}\nspec: {}",
        built.len(),
        spec.len(),
        hex::encode(built),
        hex::encode(spec)
    )
}

// ---- Building the vectors from their seeds ----

/// The key of secret seed `seed` repeated 32 times.
fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The libp2p PeerId bytes of an ed25519 node key: the identity multihash (`00`, length
/// `24`) of the protobuf-encoded public key (`08 01` = Ed25519, `12 20` = 32 bytes).
fn peer_id_bytes(node_key: &SigningKey) -> Vec<u8> {
    let mut peer = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    peer.extend_from_slice(node_key.verifying_key().as_bytes());
    peer
}

/// The manifest of SPEC.md §5.5: one file `a.txt` holding `abc`.
fn manifest() -> Result<SignedManifest> {
    let publisher = key(0x2a);
    let abc = Id::of(b"abc");
    let manifest = Manifest {
        publisher: publisher.verifying_key().to_bytes(),
        name: "m".into(),
        tag: Some("t".into()),
        parent: None,
        created_ms: T0,
        metadata: [("k".to_owned(), "v".to_owned())].into(),
        files: vec![FileEntry {
            path: "a.txt".into(),
            size: 3,
            id: abc,
            chunks: vec![ChunkRef { id: abc, len: 3 }],
            tensors: vec![],
        }],
    };
    Ok(SignedManifest::sign(manifest, &publisher)?)
}

fn name_record() -> Result<SignedNameRecord> {
    let publisher = key(0x2a);
    let record = NameRecord::first(
        publisher.verifying_key().to_bytes(),
        "m",
        Id::of(b"abc"),
        Some("t"),
        T0,
    );
    Ok(Signed::sign(record, &publisher)?)
}

fn vouch() -> Result<SignedVouch> {
    let lab = key(0x2a);
    let vouch = Vouch {
        lab: lab.verifying_key().to_bytes(),
        peer: peer_id_bytes(&key(0x07)),
        issued_ms: T0,
        expires_ms: T0 + 90 * DAY_MS,
    };
    Ok(Signed::sign(vouch, &lab)?)
}

fn retraction() -> Result<SignedRetraction> {
    let publisher = key(0x2a);
    let retraction = Retraction {
        publisher: publisher.verifying_key().to_bytes(),
        checkpoint: manifest()?.id(),
        reason: "bad data".into(),
        retracted_ms: T0 + DAY_MS,
    };
    Ok(Signed::sign(retraction, &publisher)?)
}

fn rotation() -> Result<SignedKeyRotation> {
    let old = key(0x2a);
    let rotation = KeyRotation {
        old_key: old.verifying_key().to_bytes(),
        new_key: key(0x2b).verifying_key().to_bytes(),
        rotated_ms: T0 + 2 * DAY_MS,
    };
    Ok(Signed::sign(rotation, &old)?)
}

fn revocation() -> Result<SignedRevocation> {
    let recovery = key(0x2c);
    let revocation = Revocation {
        recovery_key: recovery.verifying_key().to_bytes(),
        revoked_key: key(0x2a).verifying_key().to_bytes(),
        revoked_ms: T0 + 2 * DAY_MS,
        successor: Some(key(0x2b).verifying_key().to_bytes()),
    };
    Ok(Signed::sign(revocation, &recovery)?)
}

// ---- The checks ----

#[test]
fn manifest_vector() -> Result<()> {
    let text = vector("manifest")?;
    let signed = manifest()?;
    same_bytes("manifest", signed.bytes(), &block_bytes(text)?)?;
    ensure!(signed.id().to_string() == value(text, "Checkpoint id")?);
    let read = SignedManifest::from_bytes(block_bytes(text)?)?;
    ensure!(read == signed);
    Ok(())
}

#[test]
fn name_record_vector() -> Result<()> {
    let text = vector("name-record")?;
    let signed = name_record()?;
    same_bytes("name record", signed.bytes(), &block_bytes(text)?)?;
    ensure!(signed.id().to_string() == value(text, "Record id")?);
    ensure!(hex::encode(signed.body().dht_key()) == value(text, "DHT key")?);
    ensure!(SignedNameRecord::from_bytes(block_bytes(text)?)? == signed);
    Ok(())
}

#[test]
fn vouch_vector() -> Result<()> {
    let text = vector("vouch")?;
    let signed = vouch()?;
    same_bytes("vouch", signed.bytes(), &block_bytes(text)?)?;
    ensure!(signed.id().to_string() == value(text, "Vouch id")?);
    ensure!(hex::encode(peer_id_bytes(&key(0x07))) == value(text, "Node PeerId")?);
    let read = SignedVouch::from_bytes(block_bytes(text)?)?;
    ensure!(read == signed);
    // Valid for that node from its issue time until just before it expires.
    let peer = peer_id_bytes(&key(0x07));
    ensure!(read.check(&peer, T0).is_ok());
    ensure!(read.check(&peer, T0 + 90 * DAY_MS - 1).is_ok());
    ensure!(read.check(&peer, T0 + 90 * DAY_MS).is_err());
    ensure!(read.check(&peer_id_bytes(&key(0x08)), T0).is_err());
    Ok(())
}

#[test]
fn retraction_vector() -> Result<()> {
    let text = vector("retraction")?;
    let signed = retraction()?;
    same_bytes("retraction", signed.bytes(), &block_bytes(text)?)?;
    ensure!(signed.id().to_string() == value(text, "Retraction id")?);
    ensure!(hex::encode(signed.body().dht_key()) == value(text, "DHT key")?);
    let read = SignedRetraction::from_bytes(block_bytes(text)?)?;
    ensure!(read == signed);
    ensure!(read.body().applies_to(&manifest()?));
    Ok(())
}

#[test]
fn rotation_vector() -> Result<()> {
    let text = vector("rotation")?;
    let signed = rotation()?;
    same_bytes("key rotation", signed.bytes(), &block_bytes(text)?)?;
    ensure!(signed.id().to_string() == value(text, "Rotation id")?);
    ensure!(hex::encode(signed.body().dht_key()) == value(text, "DHT key")?);
    ensure!(SignedKeyRotation::from_bytes(block_bytes(text)?)? == signed);
    Ok(())
}

#[test]
fn revocation_vector() -> Result<()> {
    let text = vector("revocation")?;
    let signed = revocation()?;
    same_bytes("key revocation", signed.bytes(), &block_bytes(text)?)?;
    ensure!(signed.id().to_string() == value(text, "Revocation id")?);
    ensure!(hex::encode(signed.body().dht_key()) == value(text, "DHT key")?);
    let read = SignedRevocation::from_bytes(block_bytes(text)?)?;
    ensure!(read == signed);

    // The trust rules of the example: a thief holding seed 2a rotates it to seed 2d, dated
    // a day before the revocation.
    let public = |seed: u8| key(seed).verifying_key().to_bytes();
    let thief = KeyRotation {
        old_key: public(0x2a),
        new_key: public(0x2d),
        rotated_ms: T0 + DAY_MS,
    };
    let history = KeyHistory {
        rotations: vec![Signed::sign(thief, &key(0x2a))?],
        revocations: vec![read],
    };
    let root = TrustRoot {
        key: public(0x2a),
        recovery: Some(public(0x2c)),
    };
    let trusted = |seed: u8, at: u64| is_trusted(root, &history, &public(seed), at);
    ensure!(trusted(0x2a, T0), "the revoked key before the revocation");
    ensure!(!trusted(0x2a, T0 + 2 * DAY_MS), "the revoked key from then");
    ensure!(!trusted(0x2d, T0 + 3 * DAY_MS), "the thief's rotation");
    ensure!(!trusted(0x2b, T0 + 2 * DAY_MS - 1), "the successor before");
    ensure!(trusted(0x2b, T0 + 2 * DAY_MS), "the successor from then");
    let no_recovery = TrustRoot::from(public(0x2a));
    ensure!(
        is_trusted(no_recovery, &history, &public(0x2d), T0 + 3 * DAY_MS),
        "without a recovery key the thief's rotation stands"
    );
    Ok(())
}

#[test]
fn safetensors_chunking_vector() -> Result<()> {
    let text = vector("safetensors")?;
    let file = block_bytes(text)?;
    let name = value(text, "File name")?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(&name);
    std::fs::write(&path, &file)?;
    let chunked = chunk_file(&path, &name)?;

    ensure!(chunked.size == file.len() as u64);
    ensure!(chunked.id == Id::of(&file));
    ensure!(chunked.id.to_string() == value(text, "File id")?);
    ensure!(hex::encode(holders_key(&chunked.id)) == value(text, "Holders key")?);

    let chunk_rows = rows(text, |first| first.parse::<usize>().is_ok());
    ensure!(
        chunk_rows.len() == chunked.chunks.len(),
        "SPEC.md lists {} chunks, the code cuts {}",
        chunk_rows.len(),
        chunked.chunks.len()
    );
    let mut offset = 0u64;
    for (index, (row, chunk)) in chunk_rows.iter().zip(&chunked.chunks).enumerate() {
        let [number, at, len, _region, id] = row.as_slice() else {
            bail!("chunk row {row:?} does not have five cells");
        };
        ensure!(number.parse::<usize>()? == index, "chunk row {row:?}");
        ensure!(
            at.parse::<u64>()? == offset,
            "chunk row {row:?}: offset {offset}"
        );
        ensure!(
            len.parse::<u32>()? == chunk.len,
            "chunk row {row:?}: {chunk:?}"
        );
        ensure!(
            id.trim_matches('`') == chunk.id.to_string(),
            "chunk row {row:?}"
        );
        let start = usize::try_from(offset)?;
        let bytes = file
            .get(start..start + chunk.len as usize)
            .ok_or("a chunk runs past the file")?;
        ensure!(Id::of(bytes) == chunk.id);
        offset += u64::from(chunk.len);
    }
    ensure!(offset == chunked.size);

    let tensor_rows = rows(text, |first| first.starts_with('`'));
    ensure!(
        tensor_rows.len() == chunked.tensors.len(),
        "SPEC.md lists {} tensors, the code finds {}",
        tensor_rows.len(),
        chunked.tensors.len()
    );
    for (row, tensor) in tensor_rows.iter().zip(&chunked.tensors) {
        let [name, dtype, shape, first_chunk, chunk_count] = row.as_slice() else {
            bail!("tensor row {row:?} does not have five cells");
        };
        let shape_text = format!(
            "[{}]",
            tensor
                .shape
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        ensure!(
            name.trim_matches('`') == tensor.name
                && *dtype == tensor.dtype
                && *shape == shape_text
                && first_chunk.parse::<u32>()? == tensor.first_chunk
                && chunk_count.parse::<u32>()? == tensor.chunk_count,
            "tensor row {row:?}, the code has {tensor:?}"
        );
    }
    Ok(())
}

/// Prints the vectors as the code makes them, for writing SPEC.md:
/// `cargo test -p ostrom-protocol --test spec_vectors -- --ignored --nocapture`.
#[test]
#[ignore = "prints the vectors; run by hand"]
fn print_vectors() -> Result<()> {
    let show = |name: &str, bytes: &[u8], id: Id| {
        println!(
            "{name} ({} bytes): {}\n  id {id}",
            bytes.len(),
            hex::encode(bytes)
        );
    };
    let m = manifest()?;
    show("manifest", m.bytes(), m.id());
    let n = name_record()?;
    show("name record", n.bytes(), n.id());
    println!("  dht key {}", hex::encode(n.body().dht_key()));
    let v = vouch()?;
    show("vouch", v.bytes(), v.id());
    println!("  peer {}", hex::encode(&v.body().peer));
    let r = retraction()?;
    show("retraction", r.bytes(), r.id());
    println!("  dht key {}", hex::encode(r.body().dht_key()));
    let k = rotation()?;
    show("rotation", k.bytes(), k.id());
    println!("  dht key {}", hex::encode(k.body().dht_key()));
    println!("  new key {}", hex::encode(k.body().new_key));
    let x = revocation()?;
    show("revocation", x.bytes(), x.id());
    println!("  dht key {}", hex::encode(x.body().dht_key()));
    println!("  recovery key {}", hex::encode(x.body().recovery_key));
    let text = vector("safetensors")?;
    let name = value(text, "File name")?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(&name);
    std::fs::write(&path, block_bytes(text)?)?;
    let chunked = chunk_file(&path, &name)?;
    println!("{name}: id {}", chunked.id);
    println!("  holders key {}", hex::encode(holders_key(&chunked.id)));
    let mut offset = 0;
    for (index, chunk) in chunked.chunks.iter().enumerate() {
        println!("| {index} | {offset} | {} | | `{}` |", chunk.len, chunk.id);
        offset += chunk.len;
    }
    for tensor in &chunked.tensors {
        println!("  {tensor:?}");
    }
    Ok(())
}
