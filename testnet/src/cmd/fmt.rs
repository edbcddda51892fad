//! Human-readable sizes, durations and rates for the subcommands' reports.

use std::time::Duration;

/// Bytes in one megabyte (decimal, as throughput is usually quoted).
const MB: f64 = 1_000_000.0;

/// `bytes` as megabytes, e.g. `300.0 MB`.
pub(crate) fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB)
}

/// A duration in seconds, e.g. `1.23 s`.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `bytes` over `d` in MB/s, e.g. `512.3 MB/s`.
pub(crate) fn rate(bytes: u64, d: Duration) -> String {
    let s = d.as_secs_f64();
    if s <= 0.0 {
        return "-".to_owned();
    }
    format!("{:.1} MB/s", bytes as f64 / MB / s)
}
