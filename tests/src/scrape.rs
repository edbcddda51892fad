//! Reading a node's metrics endpoint: a plain HTTP GET on loopback, parsed with a
//! Prometheus text-format parser.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};
use prometheus_parse::{Sample, Scrape, Value};

/// The samples at `url` (`http://HOST:PORT/PATH`).
pub fn scrape(url: &str) -> anyhow::Result<Vec<Sample>> {
    let rest = url.strip_prefix("http://").context("not an http URL")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").context("no HTTP body")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("{url} answered {head}");
    }
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))?;
    Ok(scrape.samples)
}

/// The value of a counter, gauge or untyped sample.
pub fn number(sample: &Sample) -> Option<f64> {
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
        _ => None,
    }
}

/// The value of the sample `metric` whose labels include `labels`.
pub fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(number)
}
