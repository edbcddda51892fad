//! `two-labs`: two groups of nodes (labs), the publisher in group 1, every other node
//! fetching at once. The link between the groups is slow, so a good swarm moves about one
//! copy across it per group and spreads the rest inside each group. As root, each group
//! runs in its own network namespace joined by a veth pair slowed with `tc`, and the pair's
//! counters give the bytes that crossed; otherwise both groups share plain loopback, the
//! link is not slowed and the crossing bytes are unavailable.

use ostrom_testnet::{locate, Bootstrap, NodeOptions};
use serde::Serialize;

use super::fetches::{fetch_all, FetchDone, FetchJob};
use super::netns::Link;
use super::report::{secs, size, size_opt, BenchReport, Bound, Goal, Table};
use super::swarm::span;
use super::{discard, progress, start_testnet, Settings, Workdir, TIMEOUTS};

/// Bytes into a group over the link, in copies of the checkpoint.
const GOAL_COPIES: f64 = 1.5;

#[derive(Debug, Serialize)]
struct Figures {
    bytes: u64,
    group_size: usize,
    /// How the link between the groups was slowed, or why it was not.
    link: String,
    /// Whether the groups ran in their own namespaces.
    namespaces: bool,
    /// From the common start until group 1's last fetcher finished.
    group1_last_seconds: Option<f64>,
    /// Until group 2's last fetcher finished.
    group2_last_seconds: Option<f64>,
    /// Bytes that crossed from group 1 into group 2.
    into_group2_bytes: Option<u64>,
    into_group2_copies: Option<f64>,
    /// Bytes that crossed from group 2 into group 1.
    into_group1_bytes: Option<u64>,
    into_group1_copies: Option<f64>,
    /// How many peers sent blocks to each fetcher, group 1's then group 2's.
    sources_per_fetcher: Vec<usize>,
}

/// Runs the bench into `report`.
pub fn run(
    settings: &Settings,
    work: &mut Workdir,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let ckpt = work.checkpoint(settings.swarm_size)?;
    let total = ckpt.total_bytes();
    let g = settings.group_size.max(2);
    let bin = locate::ostrom_binary()?;
    let link = match Link::create(&bin, work.path()) {
        Ok(link) => Some(link),
        Err(reason) => {
            report.notes.push(format!(
                "the link between the groups could not be slowed ({reason}): both groups ran \
                 on plain loopback, and the bytes crossing between them are unavailable"
            ));
            None
        }
    };
    let link_text = link.as_ref().map_or_else(
        || "none: plain loopback".to_owned(),
        |l| format!("network namespaces joined by a veth pair, {}", l.shaping),
    );
    report.setup.push(format!(
        "checkpoint: {} (--swarm-size); {g} + {g} nodes; publisher: group 1 node 0; the \
         other {} nodes fetch at once",
        size(total),
        2 * g - 1
    ));
    report
        .setup
        .push(format!("link between the groups: {link_text}"));

    let (bin1, bin2) = match &link {
        Some(link) => (Some(link.wrapper(0)), Some(link.wrapper(1))),
        None => (None, None),
    };
    let group1 = start_testnet(&work.fresh("two-labs-1")?, g, |_| NodeOptions::new(), bin1)?;
    // Group 2 knows group 1 through one bootstrap address across the link, as a lab would.
    let entry = group1[0].multiaddr()?.to_owned();
    let group2 = start_testnet(
        &work.fresh("two-labs-2")?,
        g,
        |i| {
            if i == 0 {
                NodeOptions::new().bootstrap(Bootstrap::Addrs(vec![entry.clone()]))
            } else {
                NodeOptions::new()
            }
        },
        bin2,
    )?;
    let published = group1[0].publish(&ckpt.dir, "bench/two-labs")?;
    // The second lab trusts the first lab's publisher, as consortium members do.
    let key = group1[0].publisher_key()?;
    for node in group2.nodes() {
        node.ostrom(&["trust", "add", "lab-1", &key])?.ok()?;
    }

    let mut jobs = Vec::new();
    for (number, group, first) in [(1, &group1, 1), (2, &group2, 0)] {
        for index in first..g {
            let out = group.scratch_dir(&format!("fetched-{index}"))?;
            let mut job = FetchJob::for_node(&group[index], group.binary().to_owned(), out);
            job.label = format!("group {number} node {index}");
            jobs.push(job);
        }
    }
    let counters = |link: &Link| (link.tx_bytes(0), link.tx_bytes(1));
    let before = link.as_ref().map(counters);
    let done = fetch_all(&published.id, &jobs, TIMEOUTS.command)?;
    let after = link.as_ref().map(counters);
    discard(group2);
    discard(group1);
    drop(link);

    let crossed = |side: usize| -> Option<u64> {
        let (before, after) = (before?, after?);
        let pick = |pair: (Option<u64>, Option<u64>)| if side == 0 { pair.0 } else { pair.1 };
        Some(pick(after)?.saturating_sub(pick(before)?))
    };
    let copies = |bytes: Option<u64>| bytes.map(|b| b as f64 / total as f64);
    let into2 = crossed(0);
    let into1 = crossed(1);
    let figures = Figures {
        bytes: total,
        group_size: g,
        link: link_text,
        namespaces: before.is_some(),
        group1_last_seconds: last_of(&done, "group 1"),
        group2_last_seconds: last_of(&done, "group 2"),
        into_group2_bytes: into2,
        into_group2_copies: copies(into2),
        into_group1_bytes: into1,
        into_group1_copies: copies(into1),
        sources_per_fetcher: done.iter().map(|d| d.outcome.peers.len()).collect(),
    };
    progress(format!(
        "two-labs: group 2 done in {}; {} crossed into group 2",
        figures.group2_last_seconds.map_or("-".to_owned(), secs),
        size_opt(into2)
    ));

    let crossing_text = |bytes: Option<u64>, copies: Option<f64>| match (bytes, copies) {
        (Some(bytes), Some(copies)) => format!("{} ({copies:.2} copies)", size(bytes)),
        _ => "unavailable".to_owned(),
    };
    let mut table = Table::new(["", "group 1 (publisher's)", "group 2"]);
    table.row(["fetchers".to_owned(), (g - 1).to_string(), g.to_string()]);
    table.row([
        "last fetcher done".to_owned(),
        figures.group1_last_seconds.map_or("-".to_owned(), secs),
        figures.group2_last_seconds.map_or("-".to_owned(), secs),
    ]);
    let sources = |group: &str| -> Vec<usize> {
        done.iter()
            .filter(|d| d.label.starts_with(group))
            .map(|d| d.outcome.peers.len())
            .collect()
    };
    table.row([
        "sources per fetcher".to_owned(),
        span(&sources("group 1")),
        span(&sources("group 2")),
    ]);
    table.row([
        "bytes in over the link".to_owned(),
        crossing_text(into1, figures.into_group1_copies),
        crossing_text(into2, figures.into_group2_copies),
    ]);
    report.table = Some(table);
    report.goals.push(Goal::new(
        "bytes into group 2 over the link, in copies",
        figures.into_group2_copies,
        Bound::AtMost,
        GOAL_COPIES,
        "",
    ));
    report.goals.push(Goal::new(
        "bytes into group 1 over the link, in copies",
        figures.into_group1_copies,
        Bound::AtMost,
        GOAL_COPIES,
        "",
    ));
    if figures.namespaces {
        report.notes.push(
            "crossing bytes are the veth pair's tx counters (Ethernet frames: TCP/IP headers \
             and DHT traffic included)"
                .to_owned(),
        );
    }
    report.set_figures(&figures);
    Ok(())
}

/// The latest finish among the fetches whose label starts with `group`.
fn last_of(done: &[FetchDone], group: &str) -> Option<f64> {
    done.iter()
        .filter(|d| d.label.starts_with(group))
        .map(|d| d.wall.as_secs_f64())
        .max_by(f64::total_cmp)
}
