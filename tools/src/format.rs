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
