//! Offline bundles: `ostrom export` on one node, `ostrom import` on another (running, and
//! stopped), which then serves a third node's fetch; bundles with a flipped bit, cut short
//! or with a swapped manifest are refused with nothing imported; a fine-tune's bundle
//! without its parent's chunks imports only where the parent is held.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};
use ostrom_protocol::chunking::chunk_file;
use ostrom_testnet::checkpoint::{generate, CheckpointSpec, FineTune};
use ostrom_testnet::{hash, CmdOutput, Node};
use ostrom_tests::{assert_same_files, checkpoint_with_seed, small_checkpoint, testnet};
use serde_json::Value;

/// `ostrom export IDS -o FILE [EXTRA] --json`, requiring success.
fn export(node: &Node, ids: &[&str], file: &Path, extra: &[&str]) -> anyhow::Result<Value> {
    let mut args: Vec<&OsStr> = vec![OsStr::new("export")];
    args.extend(ids.iter().map(OsStr::new));
    args.extend([OsStr::new("-o"), file.as_os_str()]);
    args.extend(extra.iter().map(OsStr::new));
    args.push(OsStr::new("--json"));
    Ok(node.ostrom(&args)?.ok()?.json()?)
}

/// `ostrom import FILE --json`, whatever its exit status.
fn import(node: &Node, file: &Path) -> anyhow::Result<CmdOutput> {
    Ok(node.ostrom(&[OsStr::new("import"), file.as_os_str(), OsStr::new("--json")])?)
}

/// What a node's home says it holds (`ostrom ls --json`), and every file under its
/// imports directory.
fn holdings(node: &Node) -> anyhow::Result<(Value, Vec<PathBuf>)> {
    let listed: Value = node.ostrom_json(&["ls"])?;
    let imports = node.home().join("imports");
    let files = if imports.exists() {
        hash::files_under(&imports)?
    } else {
        Vec::new()
    };
    Ok((listed, files))
}

/// `bundle` with its bytes changed by `change`, written beside it as `name`.
fn altered(
    bundle: &Path,
    name: &str,
    change: impl FnOnce(&mut Vec<u8>),
) -> anyhow::Result<PathBuf> {
    let mut bytes = std::fs::read(bundle)?;
    change(&mut bytes);
    let path = bundle.with_file_name(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// The bundle's layout: where its TOC, manifests and chunks lie (SPEC.md §14).
struct Layout {
    toc: std::ops::Range<usize>,
    /// The first manifest's bytes (after its length).
    manifest: std::ops::Range<usize>,
}

fn layout(bytes: &[u8]) -> anyhow::Result<Layout> {
    ensure!(&bytes[..4] == b"OSTB" && bytes[4] == 1, "not a bundle");
    let toc_len = u32::from_le_bytes(bytes[8..12].try_into()?) as usize;
    let toc = 12..12 + toc_len;
    let at = toc.end + 32;
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into()?) as usize;
    Ok(Layout {
        toc,
        manifest: at + 4..at + 4 + len,
    })
}

/// Recomputes the TOC check and the trailer of an altered bundle, so that only the
/// signatures and ids inside can tell it from a genuine one.
fn reseal(bytes: &mut [u8], layout: &Layout) {
    let check = blake3::hash(&bytes[..layout.toc.end]);
    bytes[layout.toc.end..layout.toc.end + 32].copy_from_slice(check.as_bytes());
    let end = bytes.len() - 32;
    let trailer = blake3::hash(&bytes[..end]);
    bytes[end..].copy_from_slice(trailer.as_bytes());
}

fn first_file_id(report: &Value) -> Option<&str> {
    report["checkpoints"][0]["id"].as_str()
}

#[test]
fn exported_bundle_imports_on_another_node_which_then_serves_it() -> anyhow::Result<()> {
    let mut net = testnet(3).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[1].publish(&fx.dir, "lab/offline")?;
    let bundle = net.scratch_dir("disk")?.join("weights.ostrom");
    let exported = export(&net[1], &[&published.id], &bundle, &[])?;
    let size = std::fs::metadata(&bundle)?.len();
    ensure!(
        exported["bytes"].as_u64() == Some(size)
            && exported["chunk_bytes"].as_u64() == Some(fx.total_bytes())
            && exported["checkpoints"] == serde_json::json!([published.id]),
        "{exported}"
    );
    // An existing file is never replaced.
    let again = net[1].ostrom(&[
        OsStr::new("export"),
        OsStr::new(&published.id),
        OsStr::new("-o"),
        bundle.as_os_str(),
    ])?;
    ensure!(!again.success() && std::fs::metadata(&bundle)?.len() == size);

    let imported: Value = import(&net[2], &bundle)?.ok()?.json()?;
    let root = PathBuf::from(
        imported["checkpoints"][0]["root"]
            .as_str()
            .context("root")?,
    );
    ensure!(
        first_file_id(&imported) == Some(published.id.as_str())
            && imported["announced"] == true
            && imported["bytes_from_bundle"].as_u64() == Some(fx.total_bytes())
            && imported["checkpoints"][0]["publisher_alias"].is_string(),
        "{imported}"
    );
    assert_same_files(&fx, &root)?;
    let shown = net[2].show(&published.id)?;
    ensure!(shown["complete"] == true, "{shown}");

    // The publisher goes away; a third node fetches from the importer alone.
    net.node_mut(1)?.stop()?;
    let out = net.scratch_dir("fetched")?;
    let fetched = net[0].fetch(&published.id, &out)?;
    ensure!(
        fetched.peers == [net[2].peer_id()?.to_owned()]
            && fetched.bytes_from_network == fx.total_bytes(),
        "{fetched:?}"
    );
    assert_same_files(&fx, &out)?;
    Ok(())
}

#[test]
fn bad_bundles_are_refused_with_nothing_imported() -> anyhow::Result<()> {
    let mut net = testnet(2).start()?;
    let a = checkpoint_with_seed(&net.scratch_dir("a")?, 3_000_000, 1)?;
    let b = checkpoint_with_seed(&net.scratch_dir("b")?, 3_000_000, 2)?;
    let id_a = net[1].publish(&a.dir, "lab/aaaa")?.id;
    let id_b = net[1].publish(&b.dir, "lab/bbbb")?.id;
    let disk = net.scratch_dir("disk")?;
    let bundle = disk.join("a.ostrom");
    let bundle_b = disk.join("b.ostrom");
    export(&net[1], &[&id_a], &bundle, &[])?;
    export(&net[1], &[&id_b], &bundle_b, &[])?;
    // The importer runs no node: import works on its home directly.
    net.node_mut(0)?.stop()?;
    let importer = &net[0];
    let before = holdings(importer)?;

    let genuine = std::fs::read(&bundle)?;
    let at = layout(&genuine)?;
    let manifest_b = {
        let bytes = std::fs::read(&bundle_b)?;
        let at = layout(&bytes)?;
        bytes[at.manifest].to_vec()
    };
    ensure!(
        manifest_b.len() == at.manifest.len(),
        "the two manifests should be the same length"
    );
    let (raw_a, raw_b) = (hex_bytes(&id_a)?, hex_bytes(&id_b)?);
    let cases: Vec<(&str, PathBuf)> = vec![
        (
            "a bit flipped in a chunk",
            altered(&bundle, "chunk-bit.ostrom", |b| {
                let middle = b.len() / 2;
                b[middle] ^= 0x10;
            })?,
        ),
        (
            "a bit flipped in the table of contents",
            altered(&bundle, "toc-bit.ostrom", |b| b[at.toc.start + 2] ^= 1)?,
        ),
        (
            "a bit flipped in the trailer",
            altered(&bundle, "trailer-bit.ostrom", |b| {
                let last = b.len() - 1;
                b[last] ^= 0x80;
            })?,
        ),
        (
            "cut short in the chunks",
            altered(&bundle, "cut.ostrom", |b| b.truncate(b.len() - 5000))?,
        ),
        (
            "cut short before its trailer",
            altered(&bundle, "no-trailer.ostrom", |b| b.truncate(b.len() - 32))?,
        ),
        (
            "another checkpoint's manifest in place of its own",
            altered(&bundle, "swapped.ostrom", |b| {
                b[at.manifest.clone()].copy_from_slice(&manifest_b);
            })?,
        ),
        (
            "a swapped manifest, with the table of contents and checks made to match",
            altered(&bundle, "swapped-resealed.ostrom", |b| {
                b[at.manifest.clone()].copy_from_slice(&manifest_b);
                let toc = &mut b[at.toc.clone()];
                if let Some(i) = toc.windows(32).position(|w| w == raw_a) {
                    toc[i..i + 32].copy_from_slice(&raw_b);
                }
                reseal(b, &at);
            })?,
        ),
    ];
    for (what, path) in &cases {
        let refused = import(importer, path)?;
        ensure!(!refused.success(), "{what}: imported: {}", refused.stdout);
        ensure!(
            refused.stderr.contains("nothing was imported"),
            "{what}: {}",
            refused.stderr
        );
        ensure!(
            holdings(importer)? == before,
            "{what}: something was imported"
        );
    }

    // The genuine bundle imports.
    let imported: Value = import(importer, &bundle)?.ok()?.json()?;
    ensure!(
        first_file_id(&imported) == Some(id_a.as_str()),
        "{imported}"
    );
    let root = PathBuf::from(
        imported["checkpoints"][0]["root"]
            .as_str()
            .context("root")?,
    );
    assert_same_files(&a, &root)?;
    ensure!(importer.show(&id_a)?["complete"] == true);
    Ok(())
}

fn hex_bytes(id: &str) -> anyhow::Result<Vec<u8>> {
    (0..id.len())
        .step_by(2)
        .map(|i| Ok(u8::from_str_radix(&id[i..i + 2], 16)?))
        .collect()
}

#[test]
fn a_fine_tune_bundle_leaves_out_its_parents_chunks() -> anyhow::Result<()> {
    let net = testnet(2).start()?;
    let base = net.scratch_dir("base")?;
    let tuned = net.scratch_dir("tuned")?;
    let spec = CheckpointSpec::new(4 << 20).seed(5);
    generate(&base, &spec)?;
    generate(&tuned, &spec.clone().finetune(FineTune::last_layers(9, 1)))?;
    let base_id = net[1].publish(&base, "lab/base")?.id;
    let tuned_id = net[1].publish(&tuned, "lab/tuned")?.id;
    let disk = net.scratch_dir("disk")?;
    let (base_bundle, tuned_bundle) = (disk.join("base.ostrom"), disk.join("tuned.ostrom"));
    export(&net[1], &[&base_id], &base_bundle, &[])?;
    let exported = export(
        &net[1],
        &[&tuned_id],
        &tuned_bundle,
        &["--exclude-held-by", &base_id],
    )?;
    // Only the chunks the base lacks travel.
    let chunks_of = |dir: &Path| -> anyhow::Result<Vec<(ostrom_protocol::Id, u32)>> {
        let mut all = Vec::new();
        for file in hash::files_under(dir)? {
            let name = file.to_string_lossy().into_owned();
            let chunked = chunk_file(&dir.join(&file), &name)?;
            all.extend(chunked.chunks.iter().map(|c| (c.id, c.len)));
        }
        Ok(all)
    };
    let held: HashSet<_> = chunks_of(&base)?.into_iter().map(|(id, _)| id).collect();
    let mut unique = HashSet::new();
    let mut changed = 0u64;
    {
        for (id, len) in chunks_of(&tuned)? {
            let chunk = ostrom_protocol::manifest::ChunkRef { id, len };
            if !held.contains(&chunk.id) && unique.insert(chunk.id) {
                changed += u64::from(chunk.len);
            }
        }
    }
    ensure!(
        exported["chunk_bytes"].as_u64() == Some(changed)
            && exported["chunks_excluded"].as_u64() > Some(0),
        "{exported}, {changed} bytes changed"
    );

    // Without the parent, refused and nothing imported.
    let before = holdings(&net[0])?;
    let refused = import(&net[0], &tuned_bundle)?;
    ensure!(
        !refused.success() && refused.stderr.contains(&base_id),
        "{}",
        refused.stderr
    );
    ensure!(holdings(&net[0])? == before);

    // With the parent imported first, the fine-tune imports, its frozen tensors copied
    // from the parent's files.
    import(&net[0], &base_bundle)?.ok()?;
    let imported: Value = import(&net[0], &tuned_bundle)?.ok()?.json()?;
    ensure!(
        imported["bytes_from_bundle"].as_u64() == Some(changed)
            && imported["bytes_from_store"].as_u64() > Some(0),
        "{imported}"
    );
    let root = PathBuf::from(
        imported["checkpoints"][0]["root"]
            .as_str()
            .context("root")?,
    );
    for file in hash::files_under(&tuned)? {
        ensure!(
            std::fs::read(tuned.join(&file))? == std::fs::read(root.join(&file))?,
            "{} differs",
            file.display()
        );
    }
    Ok(())
}
