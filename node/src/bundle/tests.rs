//! A bundle written from a real store, read back, imported into another home; every
//! length checked against its limit before anything is reserved; trust and retractions
//! applied with nothing imported when they refuse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ostrom_protocol::{Id, SignedManifest};

use super::format::{self, MAX_TOC_SIZE, PREAMBLE_LEN};
use super::reader;
use super::*;
use crate::publish::{publish, PublishRequest};
use crate::store::Store;

/// A home with a store holding a published checkpoint of two files (one over 1 MiB).
struct Source {
    _dir: tempfile::TempDir,
    store: Store,
    key: SigningKey,
    manifest: SignedManifest,
    files: PathBuf,
}

fn source() -> Source {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("ckpt");
    std::fs::create_dir(&files).expect("mkdir");
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(files.join("weights.bin"), &big).expect("write");
    std::fs::write(files.join("config.json"), b"{}").expect("write");
    let store = Store::open(&dir.path().join("store")).expect("store");
    let key = SigningKey::from_bytes(&[3; 32]);
    let request = PublishRequest {
        path: files.clone(),
        name: "lab/m".to_owned(),
        tag: Some("t".to_owned()),
        parent: None,
        metadata: BTreeMap::new(),
        follow_symlinks: false,
        force_tag: false,
    };
    let manifest = publish(&store, &key, &request).expect("publish").manifest;
    Source {
        _dir: dir,
        store,
        key,
        manifest,
        files,
    }
}

fn bundle_of(source: &Source, dir: &Path) -> PathBuf {
    let out = dir.join("b.ostrom");
    let request = ExportRequest {
        ids: vec![source.manifest.id()],
        out: out.clone(),
        exclude_held_by: Vec::new(),
    };
    export(&source.store, &request, &|_| Some("lab-x".to_owned())).expect("export");
    out
}

/// A fresh node home and its store.
fn home(dir: &Path) -> (Home, Store) {
    let home = Home::new(dir.join("home"));
    home.init().expect("init");
    let store = Store::open(&home.store_dir()).expect("store");
    (home, store)
}

fn request(bundle: &Path, out: &Path) -> ImportRequest {
    ImportRequest {
        bundle: bundle.to_path_buf(),
        out: out.to_path_buf(),
        allow_untrusted: false,
        allow_retracted: false,
        force: false,
    }
}

#[test]
fn a_bundle_reads_back_with_every_part_checked() {
    let source = source();
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_of(&source, dir.path());
    let (head, mut chunks) =
        reader::open(std::fs::File::open(&bundle).expect("open")).expect("a valid bundle");
    assert_eq!(head.manifests, vec![source.manifest.clone()]);
    assert_eq!(
        head.toc.alias_of(&source.manifest.manifest().publisher),
        Some("lab-x")
    );
    assert!(head
        .records
        .iter()
        .any(|r| matches!(r, format::Record::Name(_))));
    let mut buffer = Vec::new();
    let mut ids = Vec::new();
    while let Some(id) = chunks.next_chunk(&mut buffer).expect("chunk") {
        ids.push(id);
    }
    chunks.finish().expect("trailer");
    let listed: Vec<Id> = source
        .manifest
        .manifest()
        .files
        .iter()
        .flat_map(|f| f.chunks.iter().map(|c| c.id))
        .collect();
    assert_eq!(ids, listed);
}

#[test]
fn lengths_over_their_limits_are_refused_before_anything_is_read() {
    let source = source();
    let dir = tempfile::tempdir().expect("tempdir");
    let genuine = std::fs::read(bundle_of(&source, dir.path())).expect("read");
    let open = |bytes: &[u8]| reader::open(bytes).map(|_| ()).expect_err("refused");

    let mut big_toc = genuine.clone();
    big_toc[8..12].copy_from_slice(&(MAX_TOC_SIZE + 1).to_le_bytes());
    assert!(open(&big_toc).to_string().contains("table of contents of"));
    let mut magic = genuine.clone();
    magic[0] = b'X';
    assert!(open(&magic).to_string().contains("wrong magic"));
    let mut version = genuine.clone();
    version[4] = 2;
    assert!(open(&version)
        .to_string()
        .contains("unsupported format version 2"));

    // A manifest whose length is over what the TOC declares, TOC check made to match.
    let toc_len = u32::from_le_bytes(genuine[8..12].try_into().expect("4")) as usize;
    let at = PREAMBLE_LEN + toc_len + 32;
    let mut long = genuine.clone();
    long[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(open(&long).to_string().contains("declares"));

    // A chunk declaring more than MAX_CHUNK_SIZE: refused before its bytes are read.
    let (head, _) = reader::open(genuine.as_slice()).expect("valid");
    let first_chunk = at
        + head
            .manifests
            .iter()
            .map(|m| 4 + m.bytes().len())
            .sum::<usize>()
        + head
            .records
            .iter()
            .map(|r| 4 + r.bytes().len())
            .sum::<usize>();
    let mut huge = genuine.clone();
    huge[first_chunk + 32..first_chunk + 36].copy_from_slice(&(64u32 << 20).to_le_bytes());
    let (_, mut chunks) = reader::open(huge.as_slice()).expect("the head is intact");
    let error = chunks.next_chunk(&mut Vec::new()).expect_err("refused");
    assert!(error.to_string().contains("declares"), "{error}");

    let mut trailing = genuine.clone();
    trailing.push(0);
    let (_, mut chunks) = reader::open(trailing.as_slice()).expect("the head is intact");
    while chunks.next_chunk(&mut Vec::new()).expect("chunk").is_some() {}
    assert!(chunks
        .finish()
        .expect_err("refused")
        .to_string()
        .contains("after the bundle"));
}

#[test]
fn import_applies_trust_and_retractions_and_imports_nothing_when_it_refuses() {
    let source = source();
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_of(&source, dir.path());
    let (home, store) = home(dir.path());
    let out = dir.path().join("imports");

    let refused = import(&store, &home, &request(&bundle, &out)).expect_err("untrusted");
    assert!(
        matches!(refused, BundleError::Untrusted { ref alias, .. } if alias.as_deref() == Some("lab-x"))
    );
    assert!(store.manifests().expect("manifests").is_empty());
    assert!(!out.exists(), "a refused import created its directory");

    // Retracted (the retraction travels in the bundle): refused unless allowed.
    crate::statements::retract(&source.store, &source.key, &source.manifest, "bad data")
        .expect("retract");
    std::fs::remove_file(&bundle).expect("rm");
    let bundle = bundle_of(&source, dir.path());
    let mut allowed = request(&bundle, &out);
    allowed.allow_untrusted = true;
    let refused = import(&store, &home, &allowed).expect_err("retracted");
    assert!(matches!(refused, BundleError::Retracted { ref reason, .. } if reason == "bad data"));
    assert!(store.manifests().expect("manifests").is_empty());

    allowed.allow_retracted = true;
    let outcome = import(&store, &home, &allowed).expect("imported");
    let imported = &outcome.checkpoints[0];
    assert_eq!(imported.retracted.as_deref(), Some("bad data"));
    assert_eq!(imported.publisher_alias, None);
    for name in ["weights.bin", "config.json"] {
        assert_eq!(
            std::fs::read(imported.root.join(name)).expect("imported file"),
            std::fs::read(source.files.join(name)).expect("original")
        );
    }
    let held = store
        .held(&source.manifest.id())
        .expect("held")
        .expect("some");
    assert!(held.complete);
    assert_eq!(store.chunks_held(&source.manifest).expect("count"), 3);
}
