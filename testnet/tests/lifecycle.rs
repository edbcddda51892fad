//! The testnet's process handling, checked against a stand-in `ostrom` (a shell script
//! that speaks the readiness protocol), so it does not depend on the real node: start-up
//! and bootstrap wiring, stop, kill, restart on the same ports, nodes that die or hang
//! while starting, commands that run too long, and teardown without orphans.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use ostrom_testnet::{Bootstrap, Error, NodeOptions, Testnet, TestnetBuilder, Timeouts};

/// A stand-in `ostrom`: `init`, `key`, `node run` (with `--misbehave exit-early|hang`), `hang`.
const FAKE: &str = r#"#!/bin/bash
home=$2; shift 2
case "$1" in
  init) mkdir -p "$home" && echo "fake" > "$home/config.toml" ;;
  key) echo '{"publisher_key": "0000000000000000000000000000000000000000000000000000000000000000", "recovery_key": null}' ;;
  node)
    shift 2
    echo "args: $*" >&2
    listen=""; mode=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --listen) listen=$2; shift 2 ;;
        --misbehave) mode=$2; shift 2 ;;
        *) shift ;;
      esac
    done
    [ "$mode" = exit-early ] && { echo "failing on purpose" >&2; exit 5; }
    port=${listen##*/}
    [ "$port" = 0 ] && port=$((20000 + RANDOM % 20000))
    echo "api http://127.0.0.1:$((port + 1))"
    [ "$mode" = hang ] && exec sleep 1000
    echo "listen /ip4/127.0.0.1/tcp/$port/p2p/12D3KooWfake$port"
    echo "ready"
    trap 'exit 0' TERM
    while true; do sleep 1 & wait $!; done ;;
  hang) exec sleep 1000 ;;
  *) echo "unsupported: $*" >&2; exit 3 ;;
esac
"#;

struct Fake {
    _dir: tempfile::TempDir,
    bin: PathBuf,
}

fn fake() -> Fake {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("ostrom");
    std::fs::write(&bin, FAKE).expect("write the fake");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    Fake { _dir: dir, bin }
}

fn builder(fake: &Fake, nodes: usize) -> TestnetBuilder {
    Testnet::builder()
        .nodes(nodes)
        .binary(&fake.bin)
        .timeouts(Timeouts {
            ready: Duration::from_secs(2),
            command: Duration::from_secs(2),
            stop: Duration::from_secs(5),
        })
}

fn alive(pid: u32) -> bool {
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits"));
    kill(pid, None) != Err(Errno::ESRCH)
}

fn log(home: &Path) -> String {
    std::fs::read_to_string(home.join("node.log")).expect("node log")
}

#[test]
fn nodes_start_wired_to_node_zero_and_stop_without_orphans() {
    let fake = fake();
    let net = builder(&fake, 3)
        .node(
            2,
            NodeOptions::new()
                .bootstrap(Bootstrap::Nodes(vec![1]))
                .arg("--x"),
        )
        .start()
        .expect("testnet starts");
    let addr = |i: usize| net[i].multiaddr().expect("running").to_owned();
    assert!(net[0].bootstrap_addrs().is_empty());
    assert_eq!(net[1].bootstrap_addrs(), [addr(0)]);
    assert_eq!(net[2].bootstrap_addrs(), [addr(1)]);
    assert!(log(net[2].home()).contains(&format!("--bootstrap {} --x", addr(1))));
    assert!(net[1]
        .peer_id()
        .expect("peer id")
        .starts_with("12D3KooWfake"));
    assert!(net[1]
        .api_url()
        .expect("api")
        .starts_with("http://127.0.0.1:"));
    let pids: Vec<u32> = net.nodes().iter().filter_map(|n| n.pid()).collect();
    assert_eq!(pids.len(), 3);
    let dir = net.dir().to_owned();
    drop(net);
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "a node outlived the testnet"
    );
    assert!(!dir.exists(), "the temporary directory was not removed");
}

#[test]
fn stop_kill_and_restart_keep_the_home_and_ports() {
    let fake = fake();
    let mut net = builder(&fake, 2).start().expect("testnet starts");
    let before = net[1].multiaddr().expect("running").to_owned();
    let status = net[1].stop().expect("stops");
    assert!(status.success(), "SIGTERM exit: {status}");
    assert!(matches!(net[1].multiaddr(), Err(Error::NotRunning(1))));
    net[1].start().expect("starts again");
    assert_eq!(net[1].multiaddr().expect("running"), before);
    let pid = net[1].pid().expect("pid");
    net[1].kill().expect("kills");
    assert!(!alive(pid));
    net[1].restart().expect("restarts");
    assert_eq!(net[1].multiaddr().expect("running"), before);
    assert_eq!(log(net[1].home()).matches("==== start").count(), 3);
}

#[test]
fn a_node_that_dies_while_starting_is_reported_with_its_log() {
    let fake = fake();
    let err = builder(&fake, 2)
        .misbehave(1, "exit-early")
        .start()
        .expect_err("node 1 cannot start");
    match err {
        Error::NodeExited {
            index, log_tail, ..
        } => {
            assert_eq!(index, 1);
            assert!(log_tail.contains("failing on purpose"), "{log_tail}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_node_that_never_gets_ready_times_out_and_is_killed() {
    let fake = fake();
    let mut net = builder(&fake, 1).start().expect("testnet starts");
    let index = net
        .add_stopped_node(NodeOptions::new().misbehave("hang"))
        .expect("adds");
    let err = net.start_node(index).expect_err("never ready");
    assert!(matches!(err, Error::NotReady { index: 1, .. }), "{err}");
    assert!(!net[index].is_running());
}

#[test]
fn commands_past_their_time_limit_are_killed() {
    let fake = fake();
    let net = builder(&fake, 1).start().expect("testnet starts");
    let err = net[0]
        .ostrom_with_timeout(&["hang"], Duration::from_millis(300))
        .expect_err("times out");
    assert!(matches!(err, Error::CommandTimeout { .. }), "{err}");
    let out = net[0].ostrom(&["nonsense"]).expect("runs");
    assert!(!out.success() && out.stderr_contains("UNSUPPORTED"));
    assert!(matches!(out.ok(), Err(Error::CommandFailed { .. })));
}
