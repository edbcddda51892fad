//! `one-source`: a checkpoint published on node A is fetched by node B over loopback, to
//! disk. The baseline, in the same run and on the same files: nginx serving them with
//! `sendfile on`, fetched by `curl -o`, and the same over HTTPS (TLS 1.3, AES-128-GCM) where
//! `openssl` can make a certificate. All are timed the same way, as the wall-clock time of
//! the fetching command. Rounds alternate which goes first; each Ostrom round uses two fresh
//! nodes, so nothing is already held.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context};
use ostrom_testnet::checkpoint::GeneratedCheckpoint;
use ostrom_testnet::NodeOptions;
use serde::Serialize;

use super::fetches::publish_then_fetch;
use super::nginx::Nginx;
use super::procfs::peak_rss;
use super::programs::{self, INSTALL_HINT};
use super::report::{
    median, rate_opt, ratio, ratio_text, rounds_text, samples, seconds, secs, secs_opt, size,
    size_opt, BenchReport, Bound, Goal, Table,
};
use super::{discard, progress, start_testnet, Settings, Workdir};

/// The design's goal: Ostrom's fetch within this factor of nginx → curl.
const GOAL_RATIO: f64 = 1.25;
/// Against nginx over HTTPS → curl (encrypted, as Ostrom's transfers are): no slower.
const GOAL_RATIO_HTTPS: f64 = 1.0;

#[derive(Debug, Default, Serialize)]
struct Figures {
    bytes: u64,
    files: usize,
    rounds: usize,
    /// Wall-clock seconds of `ostrom fetch`, per round.
    ostrom_seconds: Vec<f64>,
    /// The fetch's own `seconds`, per round.
    ostrom_reported_seconds: Vec<f64>,
    ostrom_median: Option<f64>,
    /// Wall-clock seconds of `curl`, per round.
    nginx_curl_seconds: Vec<f64>,
    nginx_curl_median: Option<f64>,
    /// `curl`, then `sync -d` of the files it wrote, per round.
    nginx_curl_fsync_seconds: Vec<f64>,
    nginx_curl_fsync_median: Option<f64>,
    /// Wall-clock seconds of `curl` from nginx over HTTPS, per round.
    nginx_https_curl_seconds: Vec<f64>,
    nginx_https_curl_median: Option<f64>,
    /// Ostrom's median over nginx → curl's.
    ratio: Option<f64>,
    /// Ostrom's median over nginx over HTTPS → curl's.
    ratio_https: Option<f64>,
    /// Ostrom's median over nginx → curl + fsync's.
    ratio_with_fsync: Option<f64>,
    /// The highest peak RSS of the seeding node over the rounds, bytes.
    seeder_peak_rss: Option<u64>,
    /// The highest peak RSS of the fetching node over the rounds, bytes.
    fetcher_peak_rss: Option<u64>,
    /// What the baseline was, or why it was unavailable.
    baseline: String,
}

/// What one Ostrom round measured.
struct OstromRound {
    wall: f64,
    reported: f64,
    seeder_rss: Option<u64>,
    fetcher_rss: Option<u64>,
}

/// The baseline's programs, when installed.
struct Baseline {
    nginx: Nginx,
    curl: PathBuf,
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
    let mut figures = Figures {
        bytes: total,
        files: ckpt.files.len(),
        rounds,
        ..Figures::default()
    };
    report.setup.push(format!(
        "checkpoint: {} in {} files; {} (median shown); fresh nodes each round",
        size(total),
        ckpt.files.len(),
        rounds_text(rounds)
    ));

    let baseline = match start_baseline(&ckpt, work.path()) {
        Ok((baseline, description)) => {
            figures.baseline = description;
            Some(baseline)
        }
        Err(reason) => {
            figures.baseline = format!("unavailable: {reason}");
            report.notes.push(format!(
                "baseline unavailable: {reason}; install it with {INSTALL_HINT}"
            ));
            None
        }
    };
    report.setup.push(format!("baseline: {}", figures.baseline));

    for round in 0..rounds {
        let ostrom_first = round % 2 == 0;
        if !ostrom_first {
            if let Some(baseline) = &baseline {
                curl_round(baseline, &ckpt, work, round, &mut figures)?;
            }
        }
        let measured = ostrom_round(work, &ckpt, round)?;
        figures.ostrom_seconds.push(measured.wall);
        figures.ostrom_reported_seconds.push(measured.reported);
        figures.seeder_peak_rss = figures.seeder_peak_rss.max(measured.seeder_rss);
        figures.fetcher_peak_rss = figures.fetcher_peak_rss.max(measured.fetcher_rss);
        if ostrom_first {
            if let Some(baseline) = &baseline {
                curl_round(baseline, &ckpt, work, round, &mut figures)?;
            }
        }
    }
    drop(baseline);

    figures.ostrom_median = median(&figures.ostrom_seconds);
    figures.nginx_curl_median = median(&figures.nginx_curl_seconds);
    figures.nginx_curl_fsync_median = median(&figures.nginx_curl_fsync_seconds);
    figures.ratio = ratio(figures.ostrom_median, figures.nginx_curl_median);
    figures.ratio_with_fsync = ratio(figures.ostrom_median, figures.nginx_curl_fsync_median);
    figures.nginx_https_curl_median = median(&figures.nginx_https_curl_seconds);
    figures.ratio_https = ratio(figures.ostrom_median, figures.nginx_https_curl_median);

    let mut table = Table::new(["", "ostrom", "nginx → curl", "ostrom / baseline"]);
    table.row([
        "fetch time (median)".to_owned(),
        secs_opt(figures.ostrom_median),
        secs_opt(figures.nginx_curl_median),
        ratio_text(figures.ratio),
    ]);
    table.row([
        "throughput".to_owned(),
        rate_opt(total, figures.ostrom_median),
        rate_opt(total, figures.nginx_curl_median),
        String::new(),
    ]);
    table.row([
        "every round".to_owned(),
        samples(&figures.ostrom_seconds),
        samples(&figures.nginx_curl_seconds),
        String::new(),
    ]);
    table.row([
        "baseline + fsync of its files".to_owned(),
        String::new(),
        secs_opt(figures.nginx_curl_fsync_median),
        ratio_text(figures.ratio_with_fsync),
    ]);
    table.row([
        "baseline over HTTPS (TLS 1.3, AES-128-GCM)".to_owned(),
        String::new(),
        secs_opt(figures.nginx_https_curl_median),
        ratio_text(figures.ratio_https),
    ]);
    table.row([
        "peak RSS, seeder (A)".to_owned(),
        size_opt(figures.seeder_peak_rss),
        String::new(),
        String::new(),
    ]);
    table.row([
        "peak RSS, fetcher (B)".to_owned(),
        size_opt(figures.fetcher_peak_rss),
        String::new(),
        String::new(),
    ]);
    report.table = Some(table);
    report.goals.push(Goal::new(
        "fetch time, ostrom / nginx→curl",
        figures.ratio,
        Bound::AtMost,
        GOAL_RATIO,
        "",
    ));
    report.goals.push(Goal::new(
        "fetch time, ostrom / nginx over HTTPS→curl",
        figures.ratio_https,
        Bound::AtMost,
        GOAL_RATIO_HTTPS,
        "",
    ));
    report.notes.push(
        "times are the wall clock of the fetching command (`ostrom fetch`, `curl`), files \
         written to the same disk; ostrom syncs what it writes (64 MiB batches) before \
         recording it, curl does not, hence the row with fsync"
            .to_owned(),
    );
    report.set_figures(&figures);
    Ok(())
}

/// Starts nginx on the checkpoint's directory; the baseline's description, or why there
/// is none.
fn start_baseline(ckpt: &GeneratedCheckpoint, work: &Path) -> Result<(Baseline, String), String> {
    let nginx_bin = programs::find("nginx").ok_or("nginx is not installed")?;
    let curl = programs::find("curl").ok_or("curl is not installed")?;
    let nginx = Nginx::start(&nginx_bin, &ckpt.dir, work)
        .map_err(|e| format!("nginx did not start: {e:#}"))?;
    let https = if nginx.https_url(Path::new("")).is_some() {
        ", and over HTTPS (TLS 1.3, AES-128-GCM)"
    } else {
        "; HTTPS unavailable (no openssl to make a certificate)"
    };
    let description = format!(
        "{} (sendfile on) → {} -o, over loopback{https}",
        version_of(&nginx_bin, "-v").unwrap_or_else(|| "nginx".to_owned()),
        version_of(&curl, "--version").unwrap_or_else(|| "curl".to_owned()),
    );
    Ok((Baseline { nginx, curl }, description))
}

/// The first line a program prints for its version flag (stdout or stderr), shortened to
/// its first three words.
fn version_of(bin: &Path, flag: &str) -> Option<String> {
    let output = Command::new(bin).arg(flag).output().ok()?;
    let text = if output.stdout.is_empty() {
        output.stderr
    } else {
        output.stdout
    };
    let line = String::from_utf8_lossy(&text).lines().next()?.to_owned();
    let words: Vec<&str> = line.split_whitespace().collect();
    let keep = if line.starts_with("nginx version:") {
        &words[2..]
    } else {
        &words[..words.len().min(2)]
    };
    Some(keep.join(" "))
}

/// One Ostrom round: two fresh nodes, publish on A, fetch on B.
fn ostrom_round(
    work: &Workdir,
    ckpt: &GeneratedCheckpoint,
    round: usize,
) -> anyhow::Result<OstromRound> {
    let dir = work.fresh(&format!("one-source-{round}"))?;
    let testnet = start_testnet(&dir, 2, |_| NodeOptions::new(), None)?;
    let (fetched, elapsed) =
        publish_then_fetch(&testnet, &ckpt.dir, ckpt.total_bytes(), "bench/one-source")?;
    let measured = OstromRound {
        wall: seconds(elapsed),
        reported: fetched.seconds,
        seeder_rss: testnet[0].pid().and_then(peak_rss),
        fetcher_rss: testnet[1].pid().and_then(peak_rss),
    };
    progress(format!(
        "one-source round {}: ostrom fetch {}",
        round + 1,
        secs(measured.wall)
    ));
    discard(testnet);
    programs::sync_disks();
    Ok(measured)
}

/// One baseline round: curl every file from nginx into a fresh directory, then fsync them.
fn curl_round(
    baseline: &Baseline,
    ckpt: &GeneratedCheckpoint,
    work: &Workdir,
    round: usize,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let out = work.fresh("one-source-curl")?;
    let Some((took, written)) = timed_curl(baseline, ckpt, &out, false)? else {
        return Ok(());
    };
    let mut fsync = Command::new("sync");
    fsync.arg("-d").args(written.iter().map(|(path, _)| path));
    let (_, synced) = programs::run_timed(&mut fsync).context("syncing curl's files")?;
    figures.nginx_curl_seconds.push(seconds(took));
    figures
        .nginx_curl_fsync_seconds
        .push(seconds(took + synced));
    progress(format!(
        "one-source round {}: nginx → curl {} (+ fsync {})",
        round + 1,
        secs(seconds(took)),
        secs(seconds(synced))
    ));
    let _ = std::fs::remove_dir_all(&out);
    programs::sync_disks();
    https_round(baseline, ckpt, work, round, figures)
}

/// One HTTPS baseline round, where nginx serves HTTPS: curl every file into a fresh
/// directory, trusting the run's certificate.
fn https_round(
    baseline: &Baseline,
    ckpt: &GeneratedCheckpoint,
    work: &Workdir,
    round: usize,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let out = work.fresh("one-source-curl-https")?;
    let Some((took, _)) = timed_curl(baseline, ckpt, &out, true)? else {
        return Ok(());
    };
    figures.nginx_https_curl_seconds.push(seconds(took));
    progress(format!(
        "one-source round {}: nginx over HTTPS → curl {}",
        round + 1,
        secs(seconds(took)),
    ));
    let _ = std::fs::remove_dir_all(&out);
    programs::sync_disks();
    Ok(())
}

/// Files curl wrote, with the size each must have.
type Written = Vec<(PathBuf, u64)>;

/// Fetches every file of `ckpt` from nginx into `out` with curl (over HTTPS when `https`)
/// and checks their sizes: how long it took and the files written, or `None` when HTTPS is
/// asked for and nginx does not serve it.
fn timed_curl(
    baseline: &Baseline,
    ckpt: &GeneratedCheckpoint,
    out: &Path,
    https: bool,
) -> anyhow::Result<Option<(std::time::Duration, Written)>> {
    let Some((mut curl, written)) = curl_every_file(baseline, ckpt, out, https) else {
        return Ok(None);
    };
    let (_, took) = programs::run_timed(&mut curl).context("fetching from nginx with curl")?;
    check_sizes(&written)?;
    Ok(Some((took, written)))
}

/// A curl command that fetches every file of `ckpt` from nginx into `out`, over HTTPS
/// (trusting the run's certificate) when `https`, and the files it writes with their sizes;
/// `None` when HTTPS is asked for and nginx does not serve it.
fn curl_every_file(
    baseline: &Baseline,
    ckpt: &GeneratedCheckpoint,
    out: &Path,
    https: bool,
) -> Option<(Command, Written)> {
    let mut curl = Command::new(&baseline.curl);
    curl.args(["-sS", "--fail", "--create-dirs"]);
    let mut written = Vec::new();
    for file in &ckpt.files {
        let target = out.join(&file.path);
        if https {
            let (url, cert) = baseline.nginx.https_url(&file.path)?;
            curl.arg("--cacert")
                .arg(cert)
                .arg("-o")
                .arg(&target)
                .arg(url);
        } else {
            curl.arg("-o")
                .arg(&target)
                .arg(baseline.nginx.url(&file.path));
        }
        written.push((target, file.size));
    }
    Some((curl, written))
}

/// Checks that curl wrote each file at its full size.
fn check_sizes(written: &[(PathBuf, u64)]) -> anyhow::Result<()> {
    for (path, expected) in written {
        let got = std::fs::metadata(path)
            .with_context(|| format!("curl wrote no {}", path.display()))?
            .len();
        ensure!(
            got == *expected,
            "curl wrote {got} bytes to {}, expected {expected}",
            path.display()
        );
    }
    Ok(())
}
