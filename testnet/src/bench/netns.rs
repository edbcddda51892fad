//! Two network namespaces joined by a veth pair whose two ends are slowed with `tc`, for
//! the two-labs bench: each group of nodes runs inside its own namespace, so everything
//! between the groups crosses the pair, and the pair's counters say how many bytes did.
//!
//! Nodes are started through a generated wrapper script per namespace that runs
//! `ip netns exec NS ostrom ...` and turns the testnet's loopback listen address into the
//! namespace's veth address (loopback is private to each namespace). CLI commands go
//! through the same wrapper, so they reach their node's API on the namespace's loopback.
//! Needs root; everything is removed when the [`Link`] is dropped.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::programs;

/// What the link between the groups is slowed to, as the design describes a link
/// between two labs.
const NETEM: [&str; 5] = ["netem", "delay", "20ms", "rate", "100mbit"];
/// The rate alone, for kernels without netem.
const TBF: [&str; 7] = [
    "tbf", "rate", "100mbit", "burst", "64kb", "latency", "100ms",
];
/// The listen address a testnet gives its nodes.
const LOOPBACK_LISTEN: &str = "/ip4/127.0.0.1/tcp/0";

/// Two namespaces and the veth pair between them.
#[derive(Debug)]
pub struct Link {
    ip: PathBuf,
    namespaces: Vec<String>,
    ifaces: [String; 2],
    /// How the link was slowed, or why it was not.
    pub shaping: String,
    /// Whether `tc` slowed it at all.
    pub slowed: bool,
    wrappers: [PathBuf; 2],
    _scripts: TempDir,
}

impl Link {
    /// Creates the namespaces, the pair and the wrapper scripts around `ostrom` (`bin`);
    /// an error says why it could not (not root, no `ip`, no namespaces allowed).
    pub fn create(bin: &Path, work: &Path) -> Result<Self, String> {
        if !programs::is_root() {
            return Err("network namespaces need root".to_owned());
        }
        let ip = programs::find("ip").ok_or("`ip` (iproute2) is not installed")?;
        let scripts = tempfile::Builder::new()
            .prefix("netns-")
            .tempdir_in(work)
            .map_err(|e| format!("creating a directory for wrapper scripts: {e}"))?;
        let pid = std::process::id();
        let names = [
            format!("ostrom-bench-{pid}-1"),
            format!("ostrom-bench-{pid}-2"),
        ];
        let ifaces = [format!("obv{pid}a"), format!("obv{pid}b")];
        let addrs = [Ipv4Addr::new(10, 213, 0, 1), Ipv4Addr::new(10, 213, 0, 2)];
        let wrappers = [
            scripts.path().join("ostrom-group-1"),
            scripts.path().join("ostrom-group-2"),
        ];
        let mut link = Self {
            ip,
            namespaces: Vec::new(),
            ifaces: ifaces.clone(),
            shaping: String::new(),
            slowed: false,
            wrappers: wrappers.clone(),
            _scripts: scripts,
        };
        for name in &names {
            link.ip(&["netns", "add", name])?;
            link.namespaces.push(name.clone());
        }
        link.ip(&[
            "link", "add", &ifaces[0], "type", "veth", "peer", "name", &ifaces[1],
        ])?;
        for side in 0..2 {
            let (ns, iface) = (&names[side], &ifaces[side]);
            let moved = link.ip(&["link", "set", iface, "netns", ns]);
            if let Err(e) = moved {
                // Not yet in a namespace, so removing the namespaces would not remove it.
                let _ = link.ip(&["link", "del", &ifaces[0]]);
                return Err(e);
            }
        }
        for side in 0..2 {
            let (ns, iface) = (&names[side], &ifaces[side]);
            let cidr = format!("{}/24", addrs[side]);
            link.ip(&["-n", ns, "addr", "add", &cidr, "dev", iface])?;
            link.ip(&["-n", ns, "link", "set", iface, "up"])?;
            link.ip(&["-n", ns, "link", "set", "lo", "up"])?;
            write_wrapper(&wrappers[side], &link.ip, ns, addrs[side], bin)?;
        }
        link.slow_down();
        Ok(link)
    }

    /// The wrapper that runs `ostrom` in group `side`'s namespace (0 or 1).
    pub fn wrapper(&self, side: usize) -> &Path {
        &self.wrappers[side]
    }

    /// Bytes sent so far by group `side`'s end of the pair (so received by the other).
    pub fn tx_bytes(&self, side: usize) -> Option<u64> {
        let output = Command::new(&self.ip)
            .args([
                "-n",
                &self.namespaces[side],
                "-s",
                "-j",
                "link",
                "show",
                "dev",
            ])
            .arg(&self.ifaces[side])
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        json.get(0)?
            .get("stats64")?
            .get("tx")?
            .get("bytes")?
            .as_u64()
    }

    /// Puts netem (delay and rate) on both ends, or tbf (rate only) where netem is
    /// missing; records what was done.
    fn slow_down(&mut self) {
        let Some(tc) = programs::find("tc") else {
            self.shaping = "not slowed: `tc` is not installed".to_owned();
            return;
        };
        for (qdisc, description) in [
            (&NETEM[..], "netem delay 20ms rate 100mbit on both ends"),
            (
                &TBF[..],
                "tbf rate 100mbit on both ends (the kernel has no netem: no added delay)",
            ),
        ] {
            let applied = (0..2).all(|side| {
                Command::new(&self.ip)
                    .args(["netns", "exec", &self.namespaces[side]])
                    .arg(&tc)
                    .args(["qdisc", "replace", "dev", &self.ifaces[side], "root"])
                    .args(qdisc)
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
            if applied {
                self.shaping = description.to_owned();
                self.slowed = true;
                return;
            }
        }
        self.shaping = "not slowed: `tc` could add neither netem nor tbf".to_owned();
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let output = Command::new(&self.ip)
            .args(args)
            .output()
            .map_err(|e| format!("running ip: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`ip {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Removing a namespace removes the veth end inside it, and with it the pair.
        for ns in &self.namespaces {
            let _ = self.ip(&["netns", "del", ns]);
        }
    }
}

/// Writes the script that runs `bin` with its arguments inside namespace `ns`, with the
/// loopback listen address replaced by `addr`.
fn write_wrapper(
    path: &Path,
    ip: &Path,
    ns: &str,
    addr: Ipv4Addr,
    bin: &Path,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        "#!/bin/sh\n\
         # Runs ostrom in network namespace {ns}, listening on {addr} instead of loopback.\n\
         for arg in \"$@\"; do\n\
         \x20 shift\n\
         \x20 if [ \"$arg\" = '{LOOPBACK_LISTEN}' ]; then arg='/ip4/{addr}/tcp/0'; fi\n\
         \x20 set -- \"$@\" \"$arg\"\n\
         done\n\
         exec '{ip}' netns exec '{ns}' '{bin}' \"$@\"\n",
        ip = ip.display(),
        bin = bin.display(),
    );
    std::fs::write(path, script).map_err(|e| format!("writing {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("making {} executable: {e}", path.display()))
}
