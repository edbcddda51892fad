//! Honest publish and fetch across real `ostrom` processes on loopback: a checkpoint by
//! its id, single files by their ids, an id nobody holds, and `ostrom verify`.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context};
use ostrom_testnet::cli;
use ostrom_tests::fixture::{EMPTY_FILE, ONE_BYTE_FILE};
use ostrom_tests::{
    assert_ids_are_blake3, assert_same_files, count, is_id, mentions_any, random_id,
    small_checkpoint, testnet,
};

#[test]
fn three_nodes_publish_fetch() -> anyhow::Result<()> {
    let net = testnet(3).start()?;
    for i in [1, 2] {
        ensure!(
            net[i].bootstrap_addrs() == [net[0].multiaddr()?.to_owned()],
            "node {i} must know node 0 only"
        );
    }
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;

    let published = net[1].publish(&fx.dir, "lab/tiny")?;
    ensure!(is_id(&published.id), "checkpoint id {:?}", published.id);
    ensure!(
        published.bytes == fx.total_bytes(),
        "publish bytes {}",
        published.bytes
    );
    ensure!(
        published.files.len() == fx.files.len(),
        "{:?}",
        published.files
    );
    for file in &fx.files {
        let reported = published
            .files
            .iter()
            .find(|f| f.path == file.path)
            .with_context(|| format!("publish did not list {}", file.path))?;
        ensure!(
            reported.id == file.id && reported.size == file.size,
            "{reported:?} vs {file:?}"
        );
    }

    let out = net.scratch_dir("out")?;
    let fetched = net[2].fetch(&published.id, &out)?;
    ensure!(
        fetched.id == published.id && fetched.kind == "checkpoint",
        "{fetched:?}"
    );
    ensure!(
        fetched.bytes == fx.total_bytes(),
        "fetch bytes {}",
        fetched.bytes
    );
    ensure!(
        fetched.bytes_from_network > 0
            && fetched.bytes_from_network + fetched.bytes_from_store == fetched.bytes,
        "{fetched:?}"
    );
    ensure!(
        fetched
            .peers
            .iter()
            .any(|p| p == net[1].peer_id().unwrap_or_default()),
        "the publisher should be among the peers: {:?}",
        fetched.peers
    );
    ensure!(fetched.files.len() == fx.files.len(), "{:?}", fetched.files);
    assert_same_files(&fx, &out)?;
    assert_ids_are_blake3(&fetched.files, &out)?;

    // Both nodes counted the blocks that moved between them, and nothing else.
    let sent: serde_json::Value = net[1].ostrom_json(&["traffic"])?;
    let received: serde_json::Value = net[2].ostrom_json(&["traffic"])?;
    let fetcher = net[2].peer_id()?;
    let publisher = net[1].peer_id()?;
    let sent_to_fetcher = sent["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["peer"] == fetcher))
        .and_then(|p| p["uploaded"].as_u64());
    ensure!(
        sent_to_fetcher == Some(fetched.bytes_from_network)
            && sent["uploaded"].as_u64() == sent_to_fetcher,
        "publisher's count of blocks sent: {sent}; fetched {fetched:?}"
    );
    let from_publisher = received["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["peer"] == publisher))
        .and_then(|p| p["downloaded"].as_u64());
    ensure!(
        from_publisher == Some(fetched.bytes_from_network),
        "fetcher's count of blocks received: {received}"
    );

    let shown = net[2].show(&published.id)?;
    ensure!(shown["id"] == published.id.as_str(), "{shown}");
    let (chunks, held) = (count(&shown["chunks"]), count(&shown["chunks_held"]));
    ensure!(
        chunks.is_some() && chunks == held,
        "not every chunk held: {shown}"
    );
    Ok(())
}

#[test]
fn fetch_single_files_by_file_id() -> anyhow::Result<()> {
    let net = testnet(3).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    net[1].publish(&fx.dir, "lab/files")?;

    for file in [fx.weights()?, fx.file(ONE_BYTE_FILE)?] {
        let out = net.scratch_dir(&format!("out-{}", file.path))?;
        let fetched = net[2].fetch(&file.id, &out)?;
        ensure!(
            fetched.kind == "file" && fetched.id == file.id,
            "{fetched:?}"
        );
        ensure!(fetched.files.len() == 1, "{:?}", fetched.files);
        let got = out.join(&fetched.files[0].path);
        let bytes = std::fs::read(&got).with_context(|| format!("reading {}", got.display()))?;
        ensure!(
            bytes == std::fs::read(fx.path_of(file))?,
            "{} differs from the original",
            got.display()
        );
        assert_ids_are_blake3(&fetched.files, &out)?;
    }
    Ok(())
}

#[test]
fn fetch_of_an_unknown_id_fails_quickly() -> anyhow::Result<()> {
    let net = testnet(2).start()?;
    let out = net.scratch_dir("out")?;
    let id = random_id();
    let result = net[1].ostrom_with_timeout(
        &[
            "fetch",
            &id,
            "-o",
            &out.to_string_lossy(),
            "--timeout",
            "5s",
        ],
        Duration::from_secs(60),
    )?;
    ensure!(
        !result.success(),
        "fetching {id} succeeded: {}",
        result.stdout
    );
    eprintln!("failed as expected: {}", result.stderr.trim());
    ensure!(
        mentions_any(
            &result.stderr,
            &["no holder", "not found", "timed out", "timeout"]
        ),
        "unclear message: {}",
        result.stderr
    );
    ensure!(
        result.elapsed < Duration::from_secs(30),
        "took {:?} with --timeout 5s",
        result.elapsed
    );
    Ok(())
}

#[test]
fn verify_prints_the_blake3_of_each_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fx = small_checkpoint(dir.path())?;
    for name in [fx.weights()?.path.as_str(), EMPTY_FILE, ONE_BYTE_FILE] {
        let file = fx.file(name)?;
        let path = fx.path_of(file);
        let out = cli::ostrom(&[Path::new("verify"), &path], Duration::from_secs(60))?.ok()?;
        let first = out
            .last_line()
            .and_then(|l| l.split_whitespace().next())
            .with_context(|| format!("verify printed nothing for {name}"))?;
        ensure!(
            first == file.id,
            "verify {name} printed {first}, BLAKE3 is {}",
            file.id
        );
    }
    Ok(())
}
