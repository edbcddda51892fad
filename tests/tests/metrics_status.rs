//! A node's metrics, scraped over HTTP and parsed as Prometheus text, count a real
//! transfer on both sides (blocks served and verified, bytes by peer and by lab, fetches),
//! beside libp2p's own; `ostrom status --json` says the same. A metrics port already
//! taken stops a node at start, naming it.

use anyhow::{ensure, Context};
use ostrom_testnet::{Bootstrap, NodeOptions};
use ostrom_tests::scrape::{number, scrape, value};
use ostrom_tests::{checkpoint_of_size, count, testnet};

fn with_metrics() -> NodeOptions {
    NodeOptions::new().arg("--metrics").arg("127.0.0.1:0")
}

#[test]
fn metrics_and_status_count_a_transfer() -> anyhow::Result<()> {
    let net = testnet(2)
        .node(0, with_metrics())
        .node(1, with_metrics())
        .start()?;
    let fx = checkpoint_of_size(&net.scratch_dir("src")?, 3 << 20)?;
    let published = net[0].publish(&fx.dir, "lab/metered")?;
    let chunks = count(&net[0].show(&published.id)?["chunks"]).context("chunk count")? as f64;
    let out = net.scratch_dir("out")?;
    net[1].fetch(&published.id, &out)?;
    let bytes = published.bytes as f64;

    let holder_url = net[0]
        .addrs()?
        .metrics_url
        .clone()
        .context("no metrics line")?;
    let fetcher_url = net[1]
        .addrs()?
        .metrics_url
        .clone()
        .context("no metrics line")?;
    let holder = scrape(&holder_url)?;
    let fetcher = scrape(&fetcher_url)?;
    let (holder_id, fetcher_id) = (net[0].peer_id()?.to_owned(), net[1].peer_id()?.to_owned());

    let served = value(&holder, "ostrom_chunks_served_total", &[]);
    ensure!(
        served >= Some(chunks),
        "served {served:?} of {chunks} chunks"
    );
    let verified = value(&fetcher, "ostrom_chunks_verified_total", &[]);
    ensure!(
        verified == Some(chunks),
        "verified {verified:?} of {chunks} chunks"
    );
    let sent = value(
        &holder,
        "ostrom_peer_sent_bytes_total",
        &[("peer", &fetcher_id)],
    );
    ensure!(sent >= Some(bytes), "sent {sent:?} of {bytes} bytes");
    let received = value(
        &fetcher,
        "ostrom_peer_received_bytes_total",
        &[("peer", &holder_id)],
    );
    ensure!(
        received >= Some(bytes),
        "received {received:?} of {bytes} bytes"
    );
    // The fetcher proved its lab with the vouch it presents; the holder trusts it as node-1.
    let lab = value(&holder, "ostrom_lab_sent_bytes_total", &[("lab", "node-1")]);
    ensure!(
        lab == sent,
        "bytes to lab node-1: {lab:?}, to its one node: {sent:?}"
    );
    ensure!(value(&fetcher, "ostrom_fetches_completed_total", &[]) == Some(1.0));
    ensure!(value(&fetcher, "ostrom_fetches_active", &[]) == Some(0.0));
    ensure!(
        value(
            &fetcher,
            "ostrom_store_checkpoints",
            &[("state", "complete")]
        ) == Some(1.0)
    );
    ensure!(value(&holder, "ostrom_store_bytes", &[]) == Some(bytes));
    ensure!(value(&holder, "ostrom_connected_peers", &[]) >= Some(1.0));
    ensure!(value(&holder, "ostrom_dht_routing_table_peers", &[]) >= Some(1.0));
    let own = value(&holder, "ostrom_dht_provider_records", &[("owner", "self")]);
    ensure!(own >= Some(1.0), "the holder provides nothing: {own:?}");
    let names = value(&holder, "ostrom_dht_signed_records", &[("kind", "name")]);
    ensure!(names >= Some(1.0), "no name record held: {names:?}");
    // libp2p's own metrics are there too, and saw traffic.
    let libp2p_bytes: f64 = holder
        .iter()
        .filter(|s| s.metric.starts_with("libp2p_bandwidth_bytes"))
        .filter_map(number)
        .sum();
    ensure!(libp2p_bytes >= bytes, "libp2p counted {libp2p_bytes} bytes");
    ensure!(holder
        .iter()
        .any(|s| s.metric.starts_with("libp2p_identify_")));

    let status: serde_json::Value = net[0].ostrom_json(&["status"])?;
    ensure!(status["peers"]["connected"].as_u64() >= Some(1), "{status}");
    ensure!(
        status["peers"]["by_lab"]["node-1"].as_u64() == Some(1),
        "{status}"
    );
    ensure!(status["dht"]["health"] == "ok", "{status}");
    ensure!(status["store"]["complete"].as_u64() == Some(1), "{status}");
    ensure!(
        status["traffic"]["chunks_served"].as_f64() == served,
        "{status}"
    );
    let status: serde_json::Value = net[1].ostrom_json(&["status"])?;
    ensure!(
        status["transfers"]["completed"].as_u64() == Some(1),
        "{status}"
    );
    ensure!(
        status["transfers"]["active"].as_array().map(Vec::len) == Some(0),
        "{status}"
    );
    let text = net[1].ostrom(&["status"])?;
    ensure!(text.stdout.contains("1 completed"), "{}", text.stdout);
    Ok(())
}

#[test]
fn a_metrics_port_already_taken_stops_the_node_at_start() -> anyhow::Result<()> {
    let mut net = testnet(0).start()?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let node = net.add_stopped_node(NodeOptions::new().bootstrap(Bootstrap::None))?;
    let result = net[node].ostrom_with_timeout(
        &[
            "node",
            "run",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--metrics",
            &addr,
        ],
        std::time::Duration::from_secs(30),
    )?;
    ensure!(!result.success(), "the node ran: {}", result.stdout);
    ensure!(!result.stdout.contains("ready"), "{}", result.stdout);
    ensure!(
        result.stderr.contains(&addr) && result.stderr.contains("in use"),
        "the error should name {addr} and say it is in use: {}",
        result.stderr
    );
    Ok(())
}
