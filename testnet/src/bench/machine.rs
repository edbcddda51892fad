//! The machine a bench ran on (cores, CPU model, memory, kernel), and free disk space.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use super::report::size;

/// What a bench ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may run on (as `nproc` counts them).
    pub cores: usize,
    /// The CPU's model name from `/proc/cpuinfo`.
    pub cpu: String,
    /// Total memory from `/proc/meminfo`, in bytes.
    pub memory_bytes: u64,
    /// The kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads this machine's description; what cannot be read is `unknown` or 0.
    pub fn detect() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| cpu_model(&text))
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| meminfo_field(&text, "MemTotal"))
            .unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        Self {
            cores,
            cpu,
            memory_bytes,
            kernel,
        }
    }

    /// One line, e.g. `2 cores, AMD EPYC, 23.4 GiB memory, Linux 6.1.0`.
    pub fn describe(&self) -> String {
        format!(
            "{} cores, {}, {} memory, Linux {}",
            self.cores,
            self.cpu,
            size(self.memory_bytes),
            self.kernel
        )
    }
}

/// The first `model name` in `/proc/cpuinfo` text.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// A `kB` field of `/proc/meminfo` (or `/proc/PID/status`) text, in bytes.
pub fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim() != name {
            return None;
        }
        let kb: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Bytes free for an unprivileged user on the file system holding `dir`, from `df -Pk`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let output = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    if !output.status.success() {
        return None;
    }
    df_available(&String::from_utf8_lossy(&output.stdout))
}

/// The `Available` column (1024-byte blocks) of `df -Pk` output for one file system.
fn df_available(text: &str) -> Option<u64> {
    let line = text.lines().nth(1)?;
    let kb: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_files() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        let meminfo = "MemTotal:       24576000 kB\nMemFree:  100 kB\n";
        assert_eq!(meminfo_field(meminfo, "MemTotal"), Some(24_576_000 * 1024));
        assert_eq!(
            meminfo_field("VmHWM:\t  51200 kB\n", "VmHWM"),
            Some(50 << 20)
        );
        assert_eq!(meminfo_field(meminfo, "VmHWM"), None);
    }

    #[test]
    fn reads_df_output() {
        let df = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                  /dev/vda         264055236  29123456  65432100      31% /\n";
        assert_eq!(df_available(df), Some(65_432_100 * 1024));
        assert_eq!(df_available("header only\n"), None);
    }
}
