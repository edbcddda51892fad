//! Symbolic links under a published directory, in real temporary directories: a link whose
//! target lies outside is refused unless links are followed; links inside, and a Hugging
//! Face cache snapshot's links into its repository's blobs, publish under the links' names.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;

use ed25519_dalek::SigningKey;
use ostrom_protocol::Id;

use super::{publish, PublishError, PublishRequest, Published};
use crate::store::{read_chunk, Store};

fn publish_path(path: &Path, follow_symlinks: bool) -> Result<Published, PublishError> {
    let home = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&home.path().join("store")).expect("store");
    publish_in(&store, path, follow_symlinks)
}

fn publish_in(
    store: &Store,
    path: &Path,
    follow_symlinks: bool,
) -> Result<Published, PublishError> {
    let key = SigningKey::from_bytes(&[5; 32]);
    let request = PublishRequest {
        path: path.to_path_buf(),
        name: "linked".into(),
        tag: None,
        parent: None,
        metadata: BTreeMap::new(),
        follow_symlinks,
        force_tag: false,
    };
    publish(store, &key, &request)
}

fn paths(published: &Published) -> Vec<String> {
    let manifest = published.manifest.manifest();
    manifest.files.iter().map(|f| f.path.clone()).collect()
}

/// A checkpoint directory `ckpt` holding `config.json`, and a `secret` file beside it.
fn layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("ckpt")).expect("mkdir");
    std::fs::write(dir.path().join("ckpt/config.json"), b"{}").expect("write");
    std::fs::write(dir.path().join("secret"), b"id_rsa").expect("write");
    dir
}

#[test]
fn a_link_to_a_file_outside_is_refused_naming_it() {
    let dir = layout();
    let ckpt = dir.path().join("ckpt");
    std::fs::create_dir(ckpt.join("tok")).expect("mkdir");
    symlink("../../secret", ckpt.join("tok/tokenizer.json")).expect("link");
    let err = publish_path(&ckpt, false).expect_err("published a file outside");
    assert!(matches!(err, PublishError::LinkOutside { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("tok/tokenizer.json"), "{message}");
    assert!(message.contains("../../secret"), "{message}");
    assert!(message.contains("--follow-symlinks"), "{message}");
}

#[test]
fn a_link_to_a_directory_outside_is_refused() {
    let dir = layout();
    let ckpt = dir.path().join("ckpt");
    std::fs::create_dir(dir.path().join("elsewhere")).expect("mkdir");
    std::fs::write(dir.path().join("elsewhere/x.bin"), b"x").expect("write");
    symlink(dir.path().join("elsewhere"), ckpt.join("more")).expect("link");
    let err = publish_path(&ckpt, false).expect_err("published a directory outside");
    assert!(matches!(err, PublishError::LinkOutside { .. }), "{err}");
    assert!(err.to_string().contains("ckpt/more"), "{err}");
}

#[test]
fn links_inside_the_directory_publish_under_their_names() {
    let dir = layout();
    let ckpt = dir.path().join("ckpt");
    std::fs::create_dir(ckpt.join("real")).expect("mkdir");
    std::fs::write(ckpt.join("real/w.bin"), b"weights").expect("write");
    symlink("config.json", ckpt.join("alias.json")).expect("link");
    symlink("real", ckpt.join("view")).expect("link");
    let published = publish_path(&ckpt, false).expect("links inside publish");
    assert_eq!(
        paths(&published),
        ["alias.json", "config.json", "real/w.bin", "view/w.bin"]
    );
    let files = &published.manifest.manifest().files;
    assert_eq!(files[0].id, Id::of(b"{}"));
    assert_eq!(files[3].id, Id::of(b"weights"));
}

#[test]
fn follow_symlinks_publishes_links_outside() {
    let dir = layout();
    let ckpt = dir.path().join("ckpt");
    std::fs::create_dir(dir.path().join("elsewhere")).expect("mkdir");
    std::fs::write(dir.path().join("elsewhere/x.bin"), b"x").expect("write");
    symlink("../secret", ckpt.join("tokenizer.json")).expect("link");
    symlink(dir.path().join("elsewhere"), ckpt.join("more")).expect("link");
    let published = publish_path(&ckpt, true).expect("followed");
    assert_eq!(
        paths(&published),
        ["config.json", "more/x.bin", "tokenizer.json"]
    );
    assert_eq!(published.manifest.manifest().files[2].id, Id::of(b"id_rsa"));
}

#[test]
fn a_hugging_face_cache_snapshot_publishes_with_the_repository_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("hub/models--org--tiny");
    let snapshot = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(repo.join("blobs")).expect("mkdir");
    std::fs::create_dir_all(snapshot.join("tokenizer")).expect("mkdir");
    let header = br#"{"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}"#;
    let mut weights = (header.len() as u64).to_le_bytes().to_vec();
    weights.extend_from_slice(header);
    weights.extend_from_slice(&[1, 2, 3]);
    let blobs: [(&str, &[u8]); 3] = [
        ("5f0c", b"{\"layers\": 2}"),
        ("9a1e", &weights),
        ("c3d2", b"{\"vocab\": []}"),
    ];
    for (hash, bytes) in blobs {
        std::fs::write(repo.join("blobs").join(hash), bytes).expect("write");
    }
    symlink("../../blobs/5f0c", snapshot.join("config.json")).expect("link");
    symlink("../../blobs/9a1e", snapshot.join("model.safetensors")).expect("link");
    symlink(
        "../../../blobs/c3d2",
        snapshot.join("tokenizer/tokenizer.json"),
    )
    .expect("link");
    let home = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&home.path().join("store")).expect("store");
    let published = publish_in(&store, &snapshot, false).expect("snapshot publishes");
    assert_eq!(
        paths(&published),
        [
            "config.json",
            "model.safetensors",
            "tokenizer/tokenizer.json"
        ]
    );
    let manifest = published.manifest.manifest();
    for (file, (_, bytes)) in manifest.files.iter().zip(blobs) {
        assert_eq!(file.id, Id::of(bytes), "{}", file.path);
    }
    assert_eq!(manifest.files[1].tensors.len(), 1);
    // Chunks are served through the links, which keep the blobs' bytes.
    for file in &manifest.files {
        let chunk = &file.chunks[0];
        let location = store.chunk_location(&chunk.id).expect("get").expect("held");
        assert!(location.path.ends_with(&file.path), "{}", location.path);
        assert_eq!(
            read_chunk(&chunk.id, &location).expect("read").len(),
            chunk.len as usize
        );
    }

    // One file named by its link is published under the link's name.
    let single = publish_path(&snapshot.join("model.safetensors"), false).expect("one file");
    assert_eq!(paths(&single), ["model.safetensors"]);

    // A link to another repository's blobs is still outside.
    let other = dir.path().join("hub/models--org--other/blobs");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("beef"), b"other").expect("write");
    symlink(
        "../../../models--org--other/blobs/beef",
        snapshot.join("extra.bin"),
    )
    .expect("link");
    let err = publish_path(&snapshot, false).expect_err("another repository's blob");
    assert!(err.to_string().contains("extra.bin"), "{err}");
}

#[test]
fn dangling_links_and_loops_are_clear_errors() {
    let dir = layout();
    let ckpt = dir.path().join("ckpt");
    symlink("gone.bin", ckpt.join("weights.bin")).expect("link");
    let err = publish_path(&ckpt, true).expect_err("dangling");
    assert!(matches!(err, PublishError::DanglingLink { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("weights.bin"), "{message}");
    assert!(message.contains("gone.bin does not exist"), "{message}");

    std::fs::remove_file(ckpt.join("weights.bin")).expect("rm");
    symlink("b", ckpt.join("a")).expect("link");
    symlink("a", ckpt.join("b")).expect("link");
    let err = publish_path(&ckpt, true).expect_err("loop");
    assert!(matches!(err, PublishError::LinkLoop { .. }), "{err}");
    assert!(err.to_string().contains("in a loop"), "{err}");

    std::fs::remove_file(ckpt.join("a")).expect("rm");
    std::fs::remove_file(ckpt.join("b")).expect("rm");
    std::fs::create_dir(ckpt.join("sub")).expect("mkdir");
    symlink("..", ckpt.join("sub/up")).expect("link");
    for follow in [false, true] {
        let err = publish_path(&ckpt, follow).expect_err("directory loop");
        assert!(matches!(err, PublishError::LinkLoop { .. }), "{err}");
        assert!(err.to_string().contains("sub/up"), "{err}");
    }
}
