//! Per-process figures a bench reads while nodes run: peak resident memory (`VmHWM` in
//! `/proc/PID/status`).

use super::machine::meminfo_field;

/// The peak resident set size of process `pid` in bytes (`VmHWM`), if it can be read.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    meminfo_field(&status, "VmHWM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_peak_rss() {
        let rss = peak_rss(std::process::id()).expect("VmHWM of this process");
        assert!(rss > 0);
    }
}
