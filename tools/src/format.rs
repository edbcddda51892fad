//! Human-readable output: sizes, rates and tables.

use bytesize::ByteSize;

/// A byte count for people, e.g. `1.2 GiB`.
pub fn bytes(n: u64) -> String {
    ByteSize(n).display().iec().to_string()
}

/// A rate for people, e.g. `812.4 MiB/s`.
pub fn rate(bytes: u64, seconds: f64) -> String {
    if seconds <= 0.0 {
        return "-".to_owned();
    }
    format!("{}/s", self::bytes((bytes as f64 / seconds) as u64))
}

/// A time in milliseconds since the Unix epoch, as RFC 3339 UTC to the second.
pub fn time(ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(at).to_string()
}
