//! A command whose stdout is closed early (`ostrom verify DIR | head -1`) exits quietly:
//! no panic message, the status of a program stopped by SIGPIPE (or 0).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

/// Runs `ostrom ARGS`, reads one line of its stdout, closes the pipe, and returns the
/// exit status and stderr.
fn run_and_close_early(args: &[&str]) -> (Option<i32>, String) {
    let bin = ostrom_testnet::locate::ostrom_binary().expect("ostrom binary");
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ostrom");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    assert!(!first.is_empty(), "ostrom {args:?} printed nothing");
    // The reader is dropped here: the rest of the output goes to a closed pipe.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("wait");
    (status.code(), stderr)
}

#[test]
fn verify_into_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Far more output than a pipe buffers, so writes after the reader left must fail.
    for i in 0..3000 {
        std::fs::write(dir.path().join(format!("file-{i:05}.bin")), i.to_string())
            .expect("write file");
    }
    let path = dir.path().to_str().expect("utf-8 path");
    for args in [vec!["verify", path], vec!["verify", path, "--json"]] {
        let (status, stderr) = run_and_close_early(&args);
        assert!(!stderr.contains("panicked"), "ostrom {args:?}: {stderr}");
        assert!(stderr.trim().is_empty(), "ostrom {args:?}: {stderr}");
        assert!(
            matches!(status, Some(0) | Some(141)),
            "ostrom {args:?} exited {status:?}"
        );
    }
}
