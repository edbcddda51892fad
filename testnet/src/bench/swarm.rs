//! `swarm`: one seeder and N fetchers, every node with the same `--upload-limit`, all
//! fetches started at once, for N = 1, 2, 4, 8, 16 up to `--max-fetchers`. A swarm that
//! works (fetchers serving each other what they already have) keeps the time until the
//! last fetcher is done nearly flat in N, and the seeder uploads not much more than one
//! copy. Each N runs on a fresh testnet. The baseline is N = 1 in the same run. The
//! seeder's upload is what the seeder itself counts (`ostrom traffic`).

use ostrom_testnet::NodeOptions;
use serde::Serialize;

use super::fetches::{fetch_all, FetchJob};
use super::procfs::peak_rss;
use super::report::{ratio, ratio_text, secs, size, size_opt, BenchReport, Bound, Goal, Table};
use super::{discard, progress, start_testnet, Settings, Workdir, TIMEOUTS};

/// Swarm sizes tried, up to `--max-fetchers`.
const FETCHER_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];
/// The N the design's goals are set for.
const GOAL_N: usize = 16;
/// time(N) / time(1) at N = 16.
const GOAL_TIME_RATIO: f64 = 1.5;
/// Seeder upload in copies of the checkpoint.
const GOAL_COPIES: f64 = 1.2;

/// One N's figures.
#[derive(Debug, Serialize)]
struct Step {
    fetchers: usize,
    /// From the common start until the last fetcher finished.
    last_seconds: f64,
    /// Until the first fetcher finished.
    first_seconds: f64,
    /// time(N) / time(1).
    ratio: Option<f64>,
    /// Bytes of blocks the seeder sent, as it counts them.
    seeder_upload_bytes: Option<u64>,
    /// That, in copies of the checkpoint.
    seeder_upload_copies: Option<f64>,
    /// Bytes all fetchers received from the network, in copies of the checkpoint.
    received_copies: f64,
    /// How many peers sent blocks to each fetcher (the seeder counts as one).
    sources_per_fetcher: Vec<usize>,
    /// Peak RSS of the seeder, bytes.
    seeder_peak_rss: Option<u64>,
    /// The highest peak RSS among the fetchers, bytes.
    fetcher_peak_rss: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Figures {
    bytes: u64,
    upload_limit: String,
    steps: Vec<Step>,
}

/// Runs the bench into `report`.
pub fn run(
    settings: &Settings,
    work: &mut Workdir,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let ckpt = work.checkpoint(settings.swarm_size)?;
    let total = ckpt.total_bytes();
    let counts: Vec<usize> = FETCHER_COUNTS
        .into_iter()
        .filter(|&n| n <= settings.max_fetchers.max(1))
        .collect();
    report.setup.push(format!(
        "checkpoint: {}; every node --upload-limit {}; N = {} (--max-fetchers {})",
        size(total),
        settings.upload_limit,
        counts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        settings.max_fetchers
    ));
    let mut figures = Figures {
        bytes: total,
        upload_limit: settings.upload_limit.clone(),
        steps: Vec::new(),
    };
    for &n in &counts {
        let step = match run_step(settings, work, &ckpt.dir, total, n) {
            Ok(step) => step,
            Err(error) => {
                progress(format!("swarm N={n}: failed"));
                report.errors.push(format!("N={n}: {error:#}"));
                continue;
            }
        };
        let base = figures
            .steps
            .iter()
            .find(|s| s.fetchers == 1)
            .map(|s| s.last_seconds)
            .or((n == 1).then_some(step.last_seconds));
        let step = Step {
            ratio: ratio(Some(step.last_seconds), base),
            ..step
        };
        progress(format!(
            "swarm N={n}: last fetcher done in {} ({}× N=1); seeder uploaded {}",
            secs(step.last_seconds),
            step.ratio.map_or("-".to_owned(), |r| format!("{r:.2}")),
            size_opt(step.seeder_upload_bytes)
        ));
        figures.steps.push(step);
    }

    let mut table = Table::new([
        "N",
        "last done",
        "first done",
        "time(N)/time(1)",
        "seeder upload",
        "received",
        "sources per fetcher",
        "peak RSS seeder",
        "peak RSS fetcher",
    ]);
    for s in &figures.steps {
        table.row([
            s.fetchers.to_string(),
            secs(s.last_seconds),
            secs(s.first_seconds),
            ratio_text(s.ratio),
            s.seeder_upload_copies
                .map_or("-".to_owned(), |c| format!("{c:.2} copies")),
            format!("{:.2} copies", s.received_copies),
            span(&s.sources_per_fetcher),
            size_opt(s.seeder_peak_rss),
            size_opt(s.fetcher_peak_rss),
        ]);
    }
    report.table = Some(table);
    if let Some(last) = figures.steps.last() {
        let at = if last.fetchers == GOAL_N {
            format!("N={GOAL_N}")
        } else {
            format!("N={} (the goal is set for N={GOAL_N})", last.fetchers)
        };
        report.goals.push(Goal::new(
            format!("time(N)/time(1) at {at}"),
            last.ratio,
            Bound::AtMost,
            GOAL_TIME_RATIO,
            "",
        ));
        report.goals.push(Goal::new(
            format!("seeder upload in copies at {at}"),
            last.seeder_upload_copies,
            Bound::AtMost,
            GOAL_COPIES,
            "",
        ));
    }
    report.notes.push(
        "sources per fetcher: the peers that sent it blocks, from its fetch outcome".to_owned(),
    );
    report.notes.push(
        "seeder upload: the bytes of blocks the seeder sent, as it counts them itself \
         (`ostrom traffic --json`, read after the last fetch); framing and DHT traffic are \
         not included"
            .to_owned(),
    );
    if settings.max_fetchers < GOAL_N {
        report.notes.push(format!(
            "N stopped at {}: raise it with --max-fetchers 16 (the default caps at 8 on \
             machines with fewer than 8 cores)",
            settings.max_fetchers
        ));
    }
    report.set_figures(&figures);
    Ok(())
}

/// One swarm of `n` fetchers on a fresh testnet; `ratio` is left for the caller.
fn run_step(
    settings: &Settings,
    work: &Workdir,
    ckpt_dir: &std::path::Path,
    total: u64,
    n: usize,
) -> anyhow::Result<Step> {
    let dir = work.fresh(&format!("swarm-{n}"))?;
    let limit = settings.upload_limit.clone();
    let testnet = start_testnet(
        &dir,
        n + 1,
        |_| NodeOptions::new().arg("--upload-limit").arg(limit.clone()),
        None,
    )?;
    let published = testnet[0].publish(ckpt_dir, "bench/swarm")?;
    let jobs = (1..=n)
        .map(|i| {
            let out = testnet.scratch_dir(&format!("fetched-{i}"))?;
            Ok(FetchJob::for_node(
                &testnet[i],
                testnet.binary().to_owned(),
                out,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let done = fetch_all(&published.id, &jobs, TIMEOUTS.command)
        .map_err(|e| anyhow::anyhow!(name_peers(&format!("{e:#}"), &testnet)))?;
    let traffic: serde_json::Value = testnet[0].ostrom_json(&["traffic"])?;
    let uploaded = traffic["uploaded"].as_u64();
    let last = done.iter().map(|d| d.wall).max().unwrap_or_default();
    let first = done.iter().map(|d| d.wall).min().unwrap_or_default();
    let received: u64 = done.iter().map(|d| d.outcome.bytes_from_network).sum();
    let step = Step {
        fetchers: n,
        last_seconds: last.as_secs_f64(),
        first_seconds: first.as_secs_f64(),
        ratio: None,
        seeder_upload_bytes: uploaded,
        seeder_upload_copies: uploaded.map(|b| b as f64 / total as f64),
        received_copies: received as f64 / total as f64,
        sources_per_fetcher: done.iter().map(|d| d.outcome.peers.len()).collect(),
        seeder_peak_rss: testnet[0].pid().and_then(peak_rss),
        fetcher_peak_rss: (1..=n)
            .filter_map(|i| testnet[i].pid().and_then(peak_rss))
            .max(),
    };
    discard(testnet);
    Ok(step)
}

/// The range of some counts, e.g. `1` or `1–3`.
pub(crate) fn span(counts: &[usize]) -> String {
    match (counts.iter().min(), counts.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "-".to_owned(),
    }
}

/// `text` with each node's peer id followed by which node it is, so that an error says
/// whether the seeder or a fetcher misbehaved.
pub(crate) fn name_peers(text: &str, testnet: &ostrom_testnet::Testnet) -> String {
    let mut text = text.to_owned();
    for node in testnet.nodes() {
        if let Ok(peer) = node.peer_id() {
            let role = if node.index() == 0 {
                "the seeder, "
            } else {
                ""
            };
            text = text.replace(peer, &format!("{peer} ({role}node {})", node.index()));
        }
    }
    text
}
