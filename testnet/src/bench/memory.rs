//! `memory`: the peak resident memory (`VmHWM`) of a node fetching a large checkpoint
//! (`--memory-size`, 4 GiB by default) from another over loopback. The design wants memory
//! bounded whatever the checkpoint's size; the figure is set beside the checkpoint's size.
//! The bench first checks there is disk for the checkpoint and its copy, and skips with a
//! message when there is not.

use ostrom_testnet::NodeOptions;
use serde::Serialize;

use super::fetches::publish_then_fetch;
use super::machine::free_bytes;
use super::procfs::peak_rss;
use super::report::{
    rate, ratio, seconds, secs, size, size_opt, BenchReport, Bound, Goal, Status, Table,
};
use super::{discard, progress, start_testnet, Settings, Workdir};

/// The design's bound on a fetching node's memory, in MiB.
const GOAL_MIB: f64 = 300.0;
/// Disk kept free beyond the checkpoint and its copy (stores, logs).
const DISK_MARGIN: u64 = 512 << 20;

#[derive(Debug, Serialize)]
struct Figures {
    bytes: u64,
    fetch_seconds: f64,
    /// Peak RSS of the fetching node, bytes.
    fetcher_peak_rss: Option<u64>,
    /// Peak RSS of the seeding node (which also published), bytes.
    seeder_peak_rss: Option<u64>,
    /// The fetcher's peak RSS over the checkpoint's size.
    fetcher_rss_over_size: Option<f64>,
}

/// Runs the bench into `report`.
pub fn run(
    settings: &Settings,
    work: &mut Workdir,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let wanted = settings.memory_size;
    let already = work_has_checkpoint(work, wanted);
    let need = if already { wanted } else { 2 * wanted } + DISK_MARGIN;
    let free = free_bytes(work.path());
    report.setup.push(format!(
        "checkpoint: {} (--memory-size); needs about {} of disk, {} free in {}",
        size(wanted),
        size(need),
        size_opt(free),
        work.path().display()
    ));
    if let Some(free) = free {
        if free < need {
            report.status = Status::Skipped(format!(
                "not enough disk: {} needed, {} free; try a smaller --memory-size or --dir on a larger disk",
                size(need),
                size(free)
            ));
            return Ok(());
        }
    } else {
        report
            .notes
            .push("free disk space could not be read (`df`); running anyway".to_owned());
    }

    let ckpt = work.checkpoint(wanted)?;
    let total = ckpt.total_bytes();
    let dir = work.fresh("memory")?;
    let testnet = start_testnet(&dir, 2, |_| NodeOptions::new(), None)?;
    let (_, elapsed) = publish_then_fetch(&testnet, &ckpt.dir, total, "bench/memory")?;
    let figures = Figures {
        bytes: total,
        fetch_seconds: seconds(elapsed),
        fetcher_peak_rss: testnet[1].pid().and_then(peak_rss),
        seeder_peak_rss: testnet[0].pid().and_then(peak_rss),
        fetcher_rss_over_size: None,
    };
    let figures = Figures {
        fetcher_rss_over_size: ratio(
            figures.fetcher_peak_rss.map(|b| b as f64),
            Some(total as f64),
        ),
        ..figures
    };
    progress(format!(
        "memory: fetched {} in {}; fetcher peak RSS {}",
        size(total),
        secs(figures.fetch_seconds),
        size_opt(figures.fetcher_peak_rss)
    ));
    discard(testnet);
    // The largest checkpoint is not needed again.
    work.drop_checkpoint(wanted);

    let mut table = Table::new(["", "ostrom", "checkpoint", "ostrom / checkpoint"]);
    table.row([
        "peak RSS, fetcher".to_owned(),
        size_opt(figures.fetcher_peak_rss),
        size(total),
        figures
            .fetcher_rss_over_size
            .map_or("-".to_owned(), |r| format!("{:.2}%", r * 100.0)),
    ]);
    table.row([
        "peak RSS, seeder (published it too)".to_owned(),
        size_opt(figures.seeder_peak_rss),
        String::new(),
        String::new(),
    ]);
    table.row([
        "fetch time".to_owned(),
        format!(
            "{} ({})",
            secs(figures.fetch_seconds),
            rate(total, figures.fetch_seconds)
        ),
        String::new(),
        String::new(),
    ]);
    report.table = Some(table);
    report.goals.push(Goal::new(
        format!("peak RSS of the fetching node, {} checkpoint", size(total)),
        figures
            .fetcher_peak_rss
            .map(|b| b as f64 / f64::from(1u32 << 20)),
        Bound::AtMost,
        GOAL_MIB,
        " MiB",
    ));
    report.set_figures(&figures);
    Ok(())
}

/// Whether the work directory already holds a checkpoint of `bytes` (no new disk needed).
fn work_has_checkpoint(work: &Workdir, bytes: u64) -> bool {
    work.path().join(format!("checkpoint-{bytes}")).is_dir()
}
