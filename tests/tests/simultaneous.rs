//! Thirty-two fetches start at the same moment against one holder: four fetcher nodes,
//! each fetching eight different checkpoints at once, so the holder is asked for 32
//! exchange streams together. Every fetch must finish with the original bytes, without a
//! stream reset and without a retry round, and the holder must have turned no stream
//! away (it logs when a peer reaches its stream cap or a stream finds no acceptor).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use ostrom_testnet::Testnet;
use ostrom_tests::{assert_same_files, checkpoint_with_seed, testnet, Fixture};

/// Fetcher nodes, and checkpoints each of them fetches at once.
const FETCHERS: usize = 4;
const PER_FETCHER: usize = 8;

/// Bytes of each checkpoint's weights file.
const WEIGHTS_BYTES: u64 = 1_000_000;

/// How long all the fetches together may take.
const ALL_FETCHES: Duration = Duration::from_secs(240);

/// What the holder logs when it turns an exchange stream away; none may appear.
const HOLDER_REFUSALS: [&str; 2] = [
    "reached its limit of concurrent exchange streams",
    "no acceptor for an inbound exchange stream",
];

/// One `ostrom fetch --json` running in the background.
struct Fetch {
    label: String,
    fixture: Fixture,
    out: PathBuf,
    child: Child,
}

/// What a finished fetch printed.
struct Printed {
    index: usize,
    stdout: String,
    stderr: String,
}

/// Starts `ostrom fetch ID -o OUT --json` on node `node`.
fn start_fetch(
    net: &Testnet,
    node: usize,
    id: &str,
    fixture: Fixture,
    out: PathBuf,
) -> anyhow::Result<Fetch> {
    let child = Command::new(net.binary())
        .arg("--home")
        .arg(net.node(node)?.home())
        .args(["fetch", id, "-o"])
        .arg(&out)
        .arg("--json")
        .env_remove("OSTROM_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ostrom fetch")?;
    Ok(Fetch {
        label: format!("node {node} fetching {id}"),
        fixture,
        out,
        child,
    })
}

/// Reads every fetch's output to its end (each on threads of its own, so none blocks on
/// a full pipe) and waits for all to exit, for at most [`ALL_FETCHES`].
fn finish_all(fetches: &mut [Fetch]) -> anyhow::Result<Vec<(Printed, bool)>> {
    let (tx, rx) = mpsc::channel();
    for (index, fetch) in fetches.iter_mut().enumerate() {
        let mut stdout = fetch.child.stdout.take().context("no stdout pipe")?;
        let mut stderr = fetch.child.stderr.take().context("no stderr pipe")?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            let err = std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            });
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            let stderr = err.join().unwrap_or_default();
            let _ = tx.send(Printed {
                index,
                stdout: out,
                stderr,
            });
        });
    }
    drop(tx);
    let deadline = Instant::now() + ALL_FETCHES;
    let mut printed = Vec::new();
    while printed.len() < fetches.len() {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(p) => printed.push(p),
            Err(_) => {
                for fetch in fetches.iter_mut() {
                    let _ = fetch.child.kill();
                }
                bail!(
                    "only {} of {} fetches ended within {ALL_FETCHES:?}",
                    printed.len(),
                    fetches.len()
                );
            }
        }
    }
    printed
        .into_iter()
        .map(|p| {
            let status = fetches[p.index].child.wait()?;
            Ok((p, status.success()))
        })
        .collect()
}

/// The result line of `ostrom fetch --json` (the last line that is not progress).
fn result_line(stdout: &str) -> Option<serde_json::Value> {
    stdout
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())
        .find(|value| value.get("progress").is_none())
}

/// Checks that the result reports `field` as zero.
fn zero_field(result: &serde_json::Value, field: &str) -> Result<(), String> {
    match result.get(field).map(serde_json::Value::as_u64) {
        Some(Some(0)) => Ok(()),
        Some(Some(n)) => Err(format!("`{field}` is {n}, not 0")),
        Some(None) => Err(format!("`{field}` is not a count: {}", result[field])),
        None => Err(format!(
            "the fetch result has no `{field}` field (the fetch outcome must report it)"
        )),
    }
}

#[test]
fn thirty_two_fetches_at_once_from_one_holder() -> anyhow::Result<()> {
    let net = testnet(1 + FETCHERS).start()?;
    let mut fetches = Vec::new();
    let mut jobs = Vec::new();
    for node in 1..=FETCHERS {
        for k in 0..PER_FETCHER {
            let seed = (node * PER_FETCHER + k) as u64;
            let fixture = checkpoint_with_seed(
                &net.scratch_dir(&format!("src-{seed}"))?,
                WEIGHTS_BYTES,
                seed,
            )?;
            let published = net[0].publish(&fixture.dir, &format!("lab/rush-{seed}"))?;
            jobs.push((
                node,
                published.id,
                fixture,
                net.scratch_dir(&format!("out-{seed}"))?,
            ));
        }
    }
    eprintln!("published {} checkpoints", jobs.len());
    // Every fetch is started before any is waited for.
    let started = Instant::now();
    for (node, id, fixture, out) in jobs {
        fetches.push(start_fetch(&net, node, &id, fixture, out)?);
    }
    let ended = finish_all(&mut fetches)?;

    let mut failed = Vec::new();
    let mut unclean = Vec::new();
    for (printed, success) in &ended {
        let fetch = &fetches[printed.index];
        if !success {
            failed.push(format!("{}: {}", fetch.label, printed.stderr.trim()));
            continue;
        }
        if let Err(error) = assert_same_files(&fetch.fixture, &fetch.out) {
            failed.push(format!("{}: {error:#}", fetch.label));
            continue;
        }
        let Some(result) = result_line(&printed.stdout) else {
            failed.push(format!(
                "{}: no result line in {:?}",
                fetch.label, printed.stdout
            ));
            continue;
        };
        let problems: Vec<String> = ["stream_resets", "retry_rounds"]
            .into_iter()
            .filter_map(|field| zero_field(&result, field).err())
            .collect();
        if !problems.is_empty() {
            unclean.push(format!("{}: {}", fetch.label, problems.join("; ")));
        }
    }
    ensure!(
        failed.is_empty(),
        "{} of {} simultaneous fetches failed or wrote other bytes: {failed:#?}",
        failed.len(),
        fetches.len()
    );
    eprintln!(
        "{} fetches ended with the original bytes after {:.1}s",
        fetches.len(),
        started.elapsed().as_secs_f64()
    );

    let holder_log = std::fs::read_to_string(net[0].log_path())
        .with_context(|| format!("reading {}", net[0].log_path().display()))?;
    let refusals: Vec<&str> = holder_log
        .lines()
        .filter(|line| HOLDER_REFUSALS.iter().any(|r| line.contains(r)))
        .collect();
    ensure!(
        refusals.is_empty(),
        "the holder turned exchange streams away: {refusals:#?}"
    );
    ensure!(
        unclean.is_empty(),
        "every fetch ended with the original bytes, but not cleanly: {unclean:#?}"
    );
    Ok(())
}
