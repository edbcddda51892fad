//! A TCP port that a running node listens on is refused to a second node: it exits at
//! once, non-zero, naming the address and saying it is in use, instead of sharing the
//! port and taking part of the first node's connections.

use std::time::Duration;

use anyhow::{ensure, Context};
use ostrom_testnet::{Bootstrap, NodeOptions};
use ostrom_tests::testnet;

#[test]
fn a_second_node_on_the_same_tcp_port_is_refused() -> anyhow::Result<()> {
    let mut net = testnet(1).start()?;
    let taken = net[0]
        .addrs()?
        .bind_addrs()
        .into_iter()
        .find(|a| a.contains("/tcp/"))
        .context("the first node listens on no TCP address")?;
    let second = net.add_stopped_node(NodeOptions::new().bootstrap(Bootstrap::None))?;
    let result = net[second].ostrom_with_timeout(
        &["node", "run", "--listen", &taken, "--api", "127.0.0.1:0"],
        Duration::from_secs(30),
    )?;
    eprintln!("second node: {}", result.stderr.trim());
    ensure!(!result.success(), "the second node ran: {}", result.stdout);
    ensure!(
        !result.stdout.contains("ready"),
        "the second node said it was ready: {}",
        result.stdout
    );
    ensure!(
        result.stderr.contains(&taken) && result.stderr.contains("in use"),
        "the error should name {taken} and say it is in use: {}",
        result.stderr
    );
    // The first node still serves its port.
    ensure!(net[0]
        .identity()?
        .addrs
        .iter()
        .any(|a| a.starts_with(&taken)));
    Ok(())
}
