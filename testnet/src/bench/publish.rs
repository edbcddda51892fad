//! `publish`: how fast `ostrom publish` chunks, hashes and signs a checkpoint (the
//! outcome's `seconds`, measured by the node around that work), against `b3sum` hashing
//! the same files in the same run (its wall-clock time). Rounds alternate which goes
//! first; each Ostrom round publishes on a fresh node, so nothing is already stored.

use std::process::Command;

use anyhow::{ensure, Context};
use ostrom_testnet::checkpoint::GeneratedCheckpoint;
use ostrom_testnet::{Bootstrap, NodeOptions, Published, Testnet};
use serde::Serialize;

use super::programs::{self, INSTALL_HINT};
use super::report::{
    median, rate_opt, ratio, ratio_text, rounds_text, samples, seconds, secs, secs_opt, size,
    BenchReport, Bound, Goal, Table,
};
use super::{discard, progress, start_testnet, Settings, Workdir};

/// b3sum's time over publish's: the goal for publish's speed relative to b3sum's.
const GOAL_SPEED_RATIO: f64 = 0.8;

#[derive(Debug, Default, Serialize)]
struct Figures {
    bytes: u64,
    rounds: usize,
    /// The outcome's `seconds`, per round.
    publish_seconds: Vec<f64>,
    publish_median: Option<f64>,
    /// Wall-clock seconds of the whole `ostrom publish` command, per round.
    publish_command_seconds: Vec<f64>,
    /// Wall-clock seconds of `b3sum FILES`, per round.
    b3sum_seconds: Vec<f64>,
    b3sum_median: Option<f64>,
    /// Publish's speed over b3sum's (b3sum's time over publish's).
    speed_ratio: Option<f64>,
    /// What the baseline was, or why it was unavailable.
    baseline: String,
}

/// Runs the bench into `report`.
pub fn run(
    settings: &Settings,
    work: &mut Workdir,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let ckpt = work.checkpoint(settings.size)?;
    let total = ckpt.total_bytes();
    let rounds = settings.rounds.max(1);
    let b3sum = programs::find("b3sum");
    let mut figures = Figures {
        bytes: total,
        rounds,
        baseline: match &b3sum {
            Some(path) => format!("{} FILES (wall clock)", path.display()),
            None => "unavailable: b3sum is not installed".to_owned(),
        },
        ..Figures::default()
    };
    report.setup.push(format!(
        "checkpoint: {} in {} files (in the page cache); {} (median shown)",
        size(total),
        ckpt.files.len(),
        rounds_text(rounds)
    ));
    report.setup.push(format!("baseline: {}", figures.baseline));
    if b3sum.is_none() {
        report.notes.push(format!(
            "b3sum is not installed: no baseline; install it with {INSTALL_HINT} \
             (or scripts/install-test-deps)"
        ));
    }

    let dir = work.fresh("publish")?;
    let mut testnet = start_testnet(&dir, 0, |_| NodeOptions::new(), None)?;
    for round in 0..rounds {
        let b3sum_first = round % 2 == 1;
        if b3sum_first {
            if let Some(bin) = &b3sum {
                figures.b3sum_seconds.push(b3sum_round(bin, &ckpt, round)?);
            }
        }
        let (reported, command) = publish_round(&mut testnet, &ckpt, round)?;
        figures.publish_seconds.push(reported);
        figures.publish_command_seconds.push(command);
        if !b3sum_first {
            if let Some(bin) = &b3sum {
                figures.b3sum_seconds.push(b3sum_round(bin, &ckpt, round)?);
            }
        }
    }
    discard(testnet);

    figures.publish_median = median(&figures.publish_seconds);
    figures.b3sum_median = median(&figures.b3sum_seconds);
    figures.speed_ratio = ratio(figures.b3sum_median, figures.publish_median);

    let mut table = Table::new(["", "ostrom publish", "b3sum", "ostrom / b3sum (speed)"]);
    table.row([
        "time (median)".to_owned(),
        secs_opt(figures.publish_median),
        secs_opt(figures.b3sum_median),
        ratio_text(figures.speed_ratio),
    ]);
    table.row([
        "speed".to_owned(),
        rate_opt(total, figures.publish_median),
        rate_opt(total, figures.b3sum_median),
        String::new(),
    ]);
    table.row([
        "every round".to_owned(),
        samples(&figures.publish_seconds),
        samples(&figures.b3sum_seconds),
        String::new(),
    ]);
    table.row([
        "whole command, every round".to_owned(),
        samples(&figures.publish_command_seconds),
        String::new(),
        String::new(),
    ]);
    report.table = Some(table);
    report.goals.push(Goal::new(
        "publish speed / b3sum speed",
        figures.speed_ratio,
        Bound::AtLeast,
        GOAL_SPEED_RATIO,
        "",
    ));
    report.notes.push(
        "ostrom's time is the outcome's `seconds` (chunk, hash, sign and store, measured \
         inside the node); the whole command adds process start, the API call and the \
         DHT announcement"
            .to_owned(),
    );
    report.set_figures(&figures);
    Ok(())
}

/// Publishes on a fresh node; the outcome's seconds and the command's wall clock.
fn publish_round(
    testnet: &mut Testnet,
    ckpt: &GeneratedCheckpoint,
    round: usize,
) -> anyhow::Result<(f64, f64)> {
    // A node on its own: the next round's node must not bootstrap to this stopped one.
    let index = testnet.add_node(NodeOptions::new().bootstrap(Bootstrap::None))?;
    let node = testnet.node(index)?;
    let output = node
        .ostrom(&[
            "publish".as_ref(),
            ckpt.dir.as_os_str(),
            "--name".as_ref(),
            std::ffi::OsStr::new("bench/publish"),
            "--json".as_ref(),
        ])?
        .ok()?;
    let published: Published = output.json()?;
    let reported: PublishSeconds = output.json()?;
    ensure!(
        published.bytes == ckpt.total_bytes(),
        "publish reported {} bytes, the checkpoint has {}",
        published.bytes,
        ckpt.total_bytes()
    );
    progress(format!(
        "publish round {}: ostrom publish {} (command {})",
        round + 1,
        secs(reported.seconds),
        secs(seconds(output.elapsed))
    ));
    testnet.node_mut(index)?.stop()?;
    Ok((reported.seconds, seconds(output.elapsed)))
}

/// The `seconds` field of `ostrom publish --json`.
#[derive(serde::Deserialize)]
struct PublishSeconds {
    seconds: f64,
}

/// Hashes the checkpoint's files with b3sum; its wall-clock seconds.
fn b3sum_round(
    bin: &std::path::Path,
    ckpt: &GeneratedCheckpoint,
    round: usize,
) -> anyhow::Result<f64> {
    let mut cmd = Command::new(bin);
    cmd.args(ckpt.files.iter().map(|f| ckpt.dir.join(&f.path)));
    let (_, took) = programs::run_timed(&mut cmd).context("running b3sum")?;
    progress(format!(
        "publish round {}: b3sum {}",
        round + 1,
        secs(seconds(took))
    ));
    Ok(seconds(took))
}
