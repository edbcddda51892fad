//! Node log files: each node's stderr is appended to `node.log` in its home, and error
//! messages quote the end of it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// How much of the end of a log [`tail`] reads at most.
const TAIL_BYTES: u64 = 16 * 1024;

/// Opens `path` for appending (creating it), after writing a marker line saying a node
/// process starts here.
pub(crate) fn open_for_node(path: &Path, marker: &str) -> std::io::Result<File> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "==== {marker} ====")?;
    Ok(file)
}

/// The last `lines` lines of the file at `path`, or a note saying why there are none.
pub fn tail(path: &Path, lines: usize) -> String {
    match read_end(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn read_end(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
