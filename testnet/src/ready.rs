//! The node's readiness protocol on stdout: `api http://HOST:PORT`, `metrics URL` when it
//! serves metrics, one `listen
//! MULTIADDR/p2p/PEER_ID` line per listen address, then `ready`. This module parses those
//! lines and waits for them on a watched node process.

use std::time::{Duration, Instant};

use crate::process::{Event, WatchedProcess};

/// Where a running node can be reached, as it announced on stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddrs {
    /// The control API's base URL, e.g. `http://127.0.0.1:40123`.
    pub api_url: String,
    /// Full listen multiaddrs, each ending in `/p2p/PEER_ID`.
    pub listen: Vec<String>,
    /// The metrics endpoint's URL, e.g. `http://127.0.0.1:40124/metrics`, when it serves
    /// metrics.
    pub metrics_url: Option<String>,
    /// The node's libp2p peer id.
    pub peer_id: String,
}

impl NodeAddrs {
    /// The first listen multiaddr (what other nodes bootstrap to).
    pub fn multiaddr(&self) -> &str {
        // `ReadyParser` never builds a `NodeAddrs` without a listen address.
        self.listen.first().map(String::as_str).unwrap_or_default()
    }

    /// The API's `HOST:PORT`, without the scheme.
    pub fn api_host_port(&self) -> &str {
        self.api_url
            .split_once("://")
            .map_or(self.api_url.as_str(), |(_, rest)| rest)
            .trim_end_matches('/')
    }

    /// The listen multiaddrs without their `/p2p/PEER_ID` suffix (what `--listen`
    /// takes to bind the same ports again).
    pub fn bind_addrs(&self) -> Vec<String> {
        self.listen
            .iter()
            .map(|a| strip_p2p(a).to_owned())
            .collect()
    }
}

/// `addr` without a trailing `/p2p/...` component.
fn strip_p2p(addr: &str) -> &str {
    addr.rfind("/p2p/").map_or(addr, |i| &addr[..i])
}

/// The peer id from a multiaddr's trailing `/p2p/PEER_ID`.
fn peer_id_of(addr: &str) -> Option<&str> {
    let i = addr.rfind("/p2p/")?;
    let id = &addr[i + "/p2p/".len()..];
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Accumulates readiness lines until `ready`.
#[derive(Debug, Default)]
pub(crate) struct ReadyParser {
    api_url: Option<String>,
    metrics_url: Option<String>,
    listen: Vec<String>,
}

impl ReadyParser {
    /// Takes one stdout line. Returns the addresses once `ready` arrives, or an error for
    /// a malformed readiness line. Lines that are not part of the protocol are ignored.
    pub(crate) fn push(&mut self, line: &str) -> Result<Option<NodeAddrs>, String> {
        let line = line.trim();
        if let Some(url) = line.strip_prefix("api ") {
            self.api_url = Some(url.trim().to_owned());
        } else if let Some(url) = line.strip_prefix("metrics ") {
            self.metrics_url = Some(url.trim().to_owned());
        } else if let Some(addr) = line.strip_prefix("listen ") {
            let addr = addr.trim();
            if peer_id_of(addr).is_none() {
                return Err(format!("listen address without /p2p/PEER_ID: {addr}"));
            }
            self.listen.push(addr.to_owned());
        } else if line == "ready" {
            return self.finish().map(Some);
        }
        Ok(None)
    }

    fn finish(&mut self) -> Result<NodeAddrs, String> {
        let api_url = self
            .api_url
            .take()
            .ok_or("`ready` came before any `api` line")?;
        let listen = std::mem::take(&mut self.listen);
        let first = listen
            .first()
            .ok_or("`ready` came before any `listen` line")?;
        let peer_id = peer_id_of(first)
            .ok_or_else(|| format!("no peer id in {first}"))?
            .to_owned();
        if let Some(other) = listen.iter().find(|a| peer_id_of(a) != Some(&peer_id)) {
            return Err(format!(
                "listen addresses name different peers: {first}, {other}"
            ));
        }
        Ok(NodeAddrs {
            api_url,
            metrics_url: self.metrics_url.take(),
            listen,
            peer_id,
        })
    }
}

/// Why a node did not become ready.
#[derive(Debug)]
pub(crate) enum NotReady {
    /// The deadline passed.
    Timeout,
    /// The process exited; its status as text.
    Exited(String),
    /// It printed a malformed readiness line.
    Bad(String),
}

/// Reads the process's stdout until `ready`, for at most `timeout`.
pub(crate) fn wait_ready(
    process: &mut WatchedProcess,
    timeout: Duration,
) -> Result<NodeAddrs, NotReady> {
    let deadline = Instant::now() + timeout;
    let mut parser = ReadyParser::default();
    loop {
        match process.next_event(deadline).ok_or(NotReady::Timeout)? {
            Event::Line(line) => {
                if let Some(addrs) = parser.push(&line).map_err(NotReady::Bad)? {
                    return Ok(addrs);
                }
            }
            Event::Exited(status) => return Err(NotReady::Exited(status.to_string())),
            Event::WaitFailed(e) => return Err(NotReady::Exited(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    #[test]
    fn parses_the_readiness_lines() {
        let mut p = ReadyParser::default();
        assert_eq!(p.push("api http://127.0.0.1:4001"), Ok(None));
        let addr = format!("/ip4/127.0.0.1/tcp/4002/p2p/{PEER}");
        assert_eq!(p.push(&format!("listen {addr}")), Ok(None));
        assert_eq!(p.push("some other line"), Ok(None));
        let addrs = p.push("ready").expect("valid lines").expect("ready");
        assert_eq!(addrs.peer_id, PEER);
        assert_eq!(addrs.multiaddr(), addr);
        assert_eq!(addrs.api_host_port(), "127.0.0.1:4001");
        assert_eq!(
            addrs.bind_addrs(),
            vec!["/ip4/127.0.0.1/tcp/4002".to_owned()]
        );
    }

    #[test]
    fn rejects_incomplete_readiness() {
        let mut p = ReadyParser::default();
        assert!(p.push("listen /ip4/127.0.0.1/tcp/1").is_err());
        let mut p = ReadyParser::default();
        assert!(p.push("ready").is_err());
        let mut p = ReadyParser::default();
        assert_eq!(p.push("api http://127.0.0.1:1"), Ok(None));
        assert!(p.push("ready").is_err());
    }
}
