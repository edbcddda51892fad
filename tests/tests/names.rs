//! Names, lineage and trust: a publisher's model names resolve through the DHT on another
//! node, `ostrom log` follows parents, and fetching a fine-tune whose parent is held moves
//! only the chunks that changed.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{ensure, Context};
use ostrom_protocol::chunking::chunk_file;
use ostrom_testnet::checkpoint::{generate, CheckpointSpec, FineTune, WEIGHTS_FILE};
use ostrom_testnet::Fetched;
use ostrom_tests::testnet;

/// Every file of the (flat) checkpoint directory `src` has identical bytes in `out`.
fn assert_same_dirs(src: &Path, out: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let name = path.file_name().context("file name")?;
        let original = std::fs::read(&path)?;
        let fetched = std::fs::read(out.join(name))
            .with_context(|| format!("{} was not fetched", path.display()))?;
        ensure!(
            original == fetched,
            "{} differs after fetching",
            path.display()
        );
    }
    Ok(())
}

/// Bytes of the chunks of `new` (unique) that `old` does not have.
fn changed_chunk_bytes(old: &Path, new: &Path) -> anyhow::Result<u64> {
    let old = chunk_file(&old.join(WEIGHTS_FILE), WEIGHTS_FILE)?;
    let new = chunk_file(&new.join(WEIGHTS_FILE), WEIGHTS_FILE)?;
    let held: HashSet<_> = old.chunks.iter().map(|c| c.id).collect();
    let mut counted = HashSet::new();
    Ok(new
        .chunks
        .iter()
        .filter(|c| !held.contains(&c.id) && counted.insert(c.id))
        .map(|c| u64::from(c.len))
        .sum())
}

#[test]
fn names_resolve_and_a_fine_tune_moves_only_what_changed() -> anyhow::Result<()> {
    let net = testnet(3).start()?;
    let base = net.scratch_dir("base")?;
    let tuned = net.scratch_dir("tuned")?;
    let spec = CheckpointSpec::new(6 << 20).seed(7);
    generate(&base, &spec)?;
    let finetune = generate(&tuned, &spec.clone().finetune(FineTune::last_layers(8, 1)))?;
    ensure!(
        !finetune.changed_tensors.is_empty(),
        "the fine-tune changed nothing"
    );

    let publish = |dir: &Path, tag: &str, parent: Option<&str>| -> anyhow::Result<String> {
        let mut args = vec![
            "publish".to_owned(),
            dir.display().to_string(),
            "--name".into(),
            "gpt".into(),
            "--tag".into(),
            tag.into(),
        ];
        if let Some(parent) = parent {
            args.extend(["--parent".to_owned(), parent.to_owned()]);
        }
        let value: serde_json::Value = net[1].ostrom_json(&args)?;
        value["id"]
            .as_str()
            .map(str::to_owned)
            .context("publish printed no id")
    };
    let step1 = publish(&base, "step-1", None)?;
    let step2 = publish(&tuned, "step-2", Some(&step1))?;

    let key = net[1].publisher_key()?;
    net[2].ostrom(&["trust", "add", "lab1", &key])?.ok()?;

    let out1 = net.scratch_dir("out1")?;
    let first: Fetched = net[2].ostrom_json(&[
        "fetch",
        "lab1/gpt@step-1",
        "-o",
        &out1.display().to_string(),
    ])?;
    ensure!(
        first.id == step1,
        "lab1/gpt@step-1 resolved to {} not {step1}",
        first.id
    );
    assert_same_dirs(&base, &out1)?;

    let out2 = net.scratch_dir("out2")?;
    let second: Fetched = net[2].ostrom_json(&[
        "fetch",
        "lab1/gpt@latest",
        "-o",
        &out2.display().to_string(),
    ])?;
    ensure!(
        second.id == step2,
        "lab1/gpt@latest resolved to {} not {step2}",
        second.id
    );
    assert_same_dirs(&tuned, &out2)?;
    let expected = changed_chunk_bytes(&base, &tuned)?;
    ensure!(
        second.bytes_from_network == expected,
        "moved {} bytes over the network; only the {expected} bytes of changed chunks should move",
        second.bytes_from_network
    );
    ensure!(
        second.bytes_from_network + second.bytes_from_store + second.bytes_resumed == second.bytes,
        "byte counts do not add up: {second:?}"
    );
    ensure!(
        second.bytes_from_store > 0,
        "nothing was reused from the parent"
    );

    let log: serde_json::Value = net[2].ostrom_json(&["log", "lab1/gpt"])?;
    let ids: Vec<&str> = log
        .as_array()
        .context("log is not a list")?
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    ensure!(ids == [step2.as_str(), step1.as_str()], "log lists {ids:?}");
    Ok(())
}

#[test]
fn unknown_aliases_and_tags_are_clear_errors() -> anyhow::Result<()> {
    let net = testnet(2).start()?;
    let dir = net.scratch_dir("ckpt")?;
    generate(&dir, &CheckpointSpec::new(1 << 20))?;
    net[0]
        .ostrom(&[
            "publish",
            &dir.display().to_string(),
            "--name",
            "gpt",
            "--tag",
            "v1",
        ])?
        .ok()?;
    let out = net.scratch_dir("out")?;
    let out = out.display().to_string();

    let unknown = net[1].ostrom(&["fetch", "nobody/gpt@latest", "-o", &out])?;
    ensure!(
        !unknown.success() && unknown.stderr_contains("no trusted publisher is called"),
        "{}",
        unknown.stderr
    );

    let key = net[0].publisher_key()?;
    net[1].ostrom(&["trust", "add", "lab0", &key])?.ok()?;
    let no_tag = net[1].ostrom(&["fetch", "lab0/gpt@v9", "-o", &out])?;
    ensure!(
        !no_tag.success() && no_tag.stderr_contains("has no tag"),
        "{}",
        no_tag.stderr
    );
    let no_model = net[1].ostrom(&["fetch", "lab0/bert@latest", "-o", &out])?;
    ensure!(
        !no_model.success() && no_model.stderr_contains("no name record"),
        "{}",
        no_model.stderr
    );
    Ok(())
}

#[test]
fn untrusted_publishers_are_refused_unless_allowed() -> anyhow::Result<()> {
    let net = testnet(2).start()?;
    let dir = net.scratch_dir("ckpt")?;
    generate(&dir, &CheckpointSpec::new(1 << 20))?;
    let published = net[0].publish(&dir, "gpt")?;
    net[1].ostrom(&["trust", "rm", "node-0"])?.ok()?;
    let out = net.scratch_dir("out")?;
    let out_text = out.display().to_string();

    let refused = net[1].ostrom(&["fetch", &published.id, "-o", &out_text])?;
    ensure!(
        !refused.success() && refused.stderr_contains("does not trust"),
        "untrusted manifest accepted or unclear: {}",
        refused.stderr
    );
    let shown = net[1].ostrom(&["show", &published.id])?;
    ensure!(
        !shown.success(),
        "the untrusted manifest was stored: {}",
        shown.stdout
    );

    let allowed: serde_json::Value =
        net[1].ostrom_json(&["fetch", &published.id, "-o", &out_text, "--allow-untrusted"])?;
    ensure!(allowed["publisher_alias"].is_null(), "{allowed}");
    ensure!(
        allowed["publisher"].as_str().is_some_and(|k| k.len() == 64),
        "{allowed}"
    );
    assert_same_dirs(&dir, &out)?;
    Ok(())
}

#[test]
fn a_tag_that_names_another_checkpoint_moves_only_with_force_tag() -> anyhow::Result<()> {
    let net = testnet(1).start()?;
    let dir = net.scratch_dir("ckpt")?;
    let path = dir.display().to_string();
    let publish_v1 = ["publish", path.as_str(), "--name", "gpt", "--tag", "v1"];
    generate(&dir, &CheckpointSpec::new(1 << 20).seed(1))?;
    let first: serde_json::Value = net[0].ostrom_json(&publish_v1)?;
    let first = first["id"].as_str().context("id")?.to_owned();

    generate(&dir, &CheckpointSpec::new(1 << 20).seed(2))?;
    let refused = net[0].ostrom(&publish_v1)?;
    ensure!(
        !refused.success()
            && refused.stderr_contains("already names checkpoint")
            && refused.stderr_contains(&first)
            && refused.stderr_contains("--force-tag"),
        "{}",
        refused.stderr
    );

    let mut forced_args = publish_v1.to_vec();
    forced_args.push("--force-tag");
    let forced: serde_json::Value = net[0].ostrom_json(&forced_args)?;
    let forced = forced["id"].as_str().context("id")?.to_owned();
    ensure!(forced != first, "the forced publish made no new checkpoint");
    let log: serde_json::Value = net[0].ostrom_json(&["log", "self/gpt@v1"])?;
    ensure!(
        log[0]["id"].as_str() == Some(forced.as_str()),
        "v1 does not name the forced publish: {log}"
    );
    Ok(())
}
