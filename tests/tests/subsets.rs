//! `ostrom fetch ID --tensors PATTERN`: only the header chunks and the selected tensors'
//! chunks move (counted by the fetch and by the publisher's traffic counters), and the file
//! written is a valid safetensors file with exactly those tensors, their bytes and the
//! original metadata, as the Rust `safetensors` crate and the Python `safetensors` library
//! load it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;

use anyhow::{ensure, Context};
use ostrom_testnet::hash;
use ostrom_tests::{python, testnet};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde_json::Value;

/// Writes `model.safetensors` (F32, F16 and I64 tensors, several over 1 MiB, metadata
/// `format: pt`) and `config.json` into `dir`.
fn write_checkpoint(dir: &Path) -> anyhow::Result<()> {
    let mut tensors: Vec<(String, Dtype, Vec<usize>)> =
        vec![("model.embed.weight".into(), Dtype::F32, vec![300, 1000])];
    for layer in 0..4 {
        let p = format!("model.layers.{layer}");
        tensors.push((format!("{p}.attn.weight"), Dtype::F32, vec![256, 512]));
        tensors.push((format!("{p}.mlp.weight"), Dtype::F16, vec![700, 1000]));
        tensors.push((format!("{p}.norm"), Dtype::I64, vec![64]));
    }
    tensors.push(("lm_head.weight".into(), Dtype::F32, vec![1000, 300]));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dtype, shape)| {
            let len = shape.iter().product::<usize>() * dtype.bitsize() / 8;
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        })
        .collect();
    let views = tensors
        .iter()
        .zip(&data)
        .map(|((name, dtype, shape), bytes)| {
            Ok((
                name.as_str(),
                TensorView::new(*dtype, shape.clone(), bytes)?,
            ))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let bytes = safetensors::serialize(views, Some(metadata))?;
    std::fs::write(dir.join("model.safetensors"), bytes)?;
    std::fs::write(dir.join("config.json"), br#"{"hidden_size": 512}"#)?;
    Ok(())
}

fn fetch_json(net: &ostrom_testnet::Testnet, args: &[&OsStr]) -> anyhow::Result<Value> {
    let mut all: Vec<&OsStr> = vec![OsStr::new("fetch")];
    all.extend_from_slice(args);
    all.push(OsStr::new("--json"));
    Ok(net[1].ostrom(&all)?.ok()?.json()?)
}

/// The Python check: the subset loads with `safetensors.numpy.load_file`, holds exactly
/// `names`, each equal to the original's, and keeps the metadata.
const LOAD_CHECK: &str = r#"
import sys
from safetensors import safe_open
from safetensors.numpy import load_file
subset, original = load_file(sys.argv[1]), load_file(sys.argv[2])
names = set(sys.argv[3].split(","))
assert set(subset) == names, (sorted(subset), sorted(names))
for name in names:
    a, b = subset[name], original[name]
    assert a.dtype == b.dtype and a.shape == b.shape, name
    assert a.tobytes() == b.tobytes(), name
with safe_open(sys.argv[1], framework="numpy") as f:
    assert f.metadata() == {"format": "pt"}, f.metadata()
print("loaded", len(subset))
"#;

#[test]
fn fetch_tensors_moves_only_the_selected_tensors() -> anyhow::Result<()> {
    let net = testnet(2).start()?;
    let src = net.scratch_dir("src")?;
    write_checkpoint(&src)?;
    let published = net[0].publish(&src, "lab/layers")?;
    let original = std::fs::read(src.join("model.safetensors"))?;
    let header_len = 8 + u64::from_le_bytes(original[..8].try_into()?);
    let loaded = SafeTensors::deserialize(&original)?;
    let selected =
        |name: &str| name.starts_with("model.layers.1.") || name.starts_with("model.layers.3.mlp");
    let names: Vec<String> = loaded
        .names()
        .into_iter()
        .filter(|n| selected(n))
        .map(str::to_owned)
        .collect();
    let tensor_bytes: u64 = names
        .iter()
        .map(|n| loaded.tensor(n).map(|t| t.data().len() as u64))
        .sum::<Result<u64, _>>()?;
    ensure!(names.len() == 4 && tensor_bytes > 2 << 20, "{names:?}");

    let out = net.scratch_dir("out")?;
    let args: Vec<&OsStr> = vec![
        OsStr::new(&published.id),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("--tensors"),
        OsStr::new("model.layers.1.*"),
        OsStr::new("--tensors"),
        OsStr::new("model.layers.3.mlp.*"),
    ];
    let fetched = fetch_json(&net, &args)?;
    let expected = header_len + tensor_bytes;
    ensure!(
        fetched["bytes_from_network"].as_u64() == Some(expected),
        "the header ({header_len}) and the selected tensors ({tensor_bytes}) should be all that moved: {fetched}"
    );
    let traffic: Value = net[0].ostrom_json(&["traffic"])?;
    ensure!(
        traffic["uploaded"].as_u64() == Some(expected),
        "the publisher sent other blocks: {traffic}"
    );
    let files = fetched["files"].as_array().context("files")?;
    ensure!(files.len() == 1, "{fetched}");
    let file = &files[0];
    let written = out.join("model.safetensors");
    ensure!(
        file["path"] == "model.safetensors"
            && file["id"].as_str() == Some(hash::file_id(&written)?.as_str())
            && file["size"].as_u64() == Some(std::fs::metadata(&written)?.len())
            && file["subset"]["of"].as_str()
                == Some(hash::file_id(&src.join("model.safetensors"))?.as_str())
            && file["subset"]["tensors"] == 4
            && file["subset"]["of_tensors"] == 14
            && file["subset"]["verification"].is_string(),
        "{file}"
    );
    ensure!(
        fetched["skipped"]
            == serde_json::json!([{"path": "config.json", "reason": "not_safetensors"}]),
        "{fetched}"
    );
    ensure!(!out.join("config.json").exists() && !out.join(".ostrom-partial").exists());

    // The subset loads, with the tensors' bytes and the metadata of the original.
    let subset = std::fs::read(&written)?;
    ensure!(subset.len() as u64 == expected, "{} bytes", subset.len());
    let parsed = SafeTensors::deserialize(&subset)?;
    let mut got: Vec<&str> = parsed.names();
    got.sort();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort();
    ensure!(got == want, "{got:?}");
    for name in &names {
        ensure!(
            parsed.tensor(name)?.data() == loaded.tensor(name)?.data(),
            "{name}"
        );
    }
    match python::venv(&["safetensors", "numpy"])? {
        Some(python) => {
            let list = names.join(",");
            let printed = python::run(
                &python,
                LOAD_CHECK,
                &[
                    written.as_os_str(),
                    src.join("model.safetensors").as_os_str(),
                    OsStr::new(&list),
                ],
            )?;
            ensure!(printed.trim() == "loaded 4", "{printed}");
        }
        None => eprintln!("skipped: the subset was not loaded with Python's safetensors"),
    }

    // The same subset again: the file in place is recognised and kept.
    let again = fetch_json(&net, &args)?;
    ensure!(
        again["bytes_from_network"] == 0 && again["bytes_resumed"].as_u64() == Some(expected),
        "{again}"
    );
    ensure!(std::fs::read(&written)? == subset, "the kept file changed");

    // Into another directory, with the other files: the tensors come from this node's
    // store, the header chunks (not kept: the subset's header replaced them) and
    // config.json from the network.
    let other = net.scratch_dir("other")?;
    let mut with_others = args.clone();
    with_others[2] = other.as_os_str();
    with_others.push(OsStr::new("--other-files"));
    let third = fetch_json(&net, &with_others)?;
    let config = std::fs::metadata(src.join("config.json"))?.len();
    ensure!(
        third["bytes_from_network"].as_u64() == Some(header_len + config)
            && third["bytes_from_store"].as_u64() == Some(tensor_bytes),
        "{third}"
    );
    ensure!(std::fs::read(other.join("model.safetensors"))? == subset);
    ensure!(std::fs::read(other.join("config.json"))? == std::fs::read(src.join("config.json"))?);

    // Patterns that match nothing: refused, nothing created.
    let none = net.scratch_dir("none")?.join("out");
    let refused = net[1].ostrom(&[
        OsStr::new("fetch"),
        OsStr::new(&published.id),
        OsStr::new("-o"),
        none.as_os_str(),
        OsStr::new("--tensors"),
        OsStr::new("decoder.*"),
        OsStr::new("--json"),
    ])?;
    ensure!(!refused.success(), "{refused:?}");
    let failure: Value = refused.json()?;
    ensure!(failure["kind"] == "no_matching_tensors", "{failure}");
    ensure!(
        !none.exists(),
        "a refused subset fetch created its directory"
    );
    Ok(())
}
