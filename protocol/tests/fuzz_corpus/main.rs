//! The fuzz targets' corpora replayed in the regular test suite: every seed and every
//! input that once made a target fail (`fuzz/seeds/TARGET/`, `fuzz/regressions/TARGET/`)
//! goes through the same check the target runs ([`ostrom_protocol::fuzz_checks`]). Also
//! keeps the committed seeds equal to those [`seeds::all`] builds, and the fuzz project's
//! targets equal to [`TARGETS`].
//!
//! To write the seeds again after a format change:
//! `OSTROM_WRITE_FUZZ_SEEDS=1 cargo test -p ostrom-protocol --test fuzz_corpus`.

mod seeds;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ostrom_protocol::fuzz_checks::{check, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of every directory under `dir`, by directory name; none if `dir` is absent.
fn corpus(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(targets) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for target in targets {
        let target = target.expect("a directory entry");
        let name = target.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(target.path()).expect("a corpus directory") {
            files.push((name.clone(), file.expect("a corpus file").path()));
        }
    }
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_passes_its_check() {
    let mut failures = Vec::new();
    let mut replayed = BTreeSet::new();
    for kind in ["seeds", "regressions"] {
        for (target, path) in corpus(&fuzz_dir().join(kind)) {
            let check = check(&target)
                .unwrap_or_else(|| panic!("{}: no fuzz target {target:?}", path.display()));
            let bytes = std::fs::read(&path).expect("a corpus file");
            if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
                failures.push(path.display().to_string());
            }
            replayed.insert(target);
        }
    }
    assert!(failures.is_empty(), "checks failed on: {failures:#?}");
    let targets: BTreeSet<String> = TARGETS.iter().map(|t| t.name.to_owned()).collect();
    assert_eq!(replayed, targets, "targets without seeds");
}

#[test]
fn the_committed_seeds_are_those_the_generator_builds() {
    let dir = fuzz_dir().join("seeds");
    let seeds = seeds::all();
    if std::env::var_os("OSTROM_WRITE_FUZZ_SEEDS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        for seed in &seeds {
            let target = dir.join(seed.target);
            std::fs::create_dir_all(&target).expect("create a seed directory");
            std::fs::write(target.join(&seed.name), &seed.bytes).expect("write a seed");
        }
    }
    let built: BTreeSet<(String, String)> = seeds
        .iter()
        .map(|s| (s.target.to_owned(), s.name.clone()))
        .collect();
    assert_eq!(built.len(), seeds.len(), "two seeds of one name");
    let committed: BTreeSet<(String, String)> = corpus(&dir)
        .into_iter()
        .map(|(target, path)| {
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (target, name)
        })
        .collect();
    let rewrite = "run OSTROM_WRITE_FUZZ_SEEDS=1 cargo test -p ostrom-protocol --test fuzz_corpus";
    assert_eq!(committed, built, "fuzz/seeds is out of date: {rewrite}");
    for seed in &seeds {
        let path = dir.join(seed.target).join(&seed.name);
        let bytes = std::fs::read(&path).expect("a seed");
        assert!(
            bytes == seed.bytes,
            "{} is out of date: {rewrite}",
            path.display()
        );
    }
}

#[test]
fn the_fuzz_project_has_one_target_per_check() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for target in TARGETS {
        let source = fuzz_dir().join(format!("fuzz_targets/{}.rs", target.name));
        let source = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            source.contains(&format!("fuzz_checks::{}(", target.name)),
            "fuzz target {} does not run its check",
            target.name
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", target.name)),
            "fuzz/Cargo.toml has no target {}",
            target.name
        );
    }
    let files = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz targets")
        .count();
    assert_eq!(
        files,
        TARGETS.len(),
        "fuzz targets that run no check of TARGETS"
    );
}
