//! Showing a fetch's progress: on a terminal, a spinner while holders and the manifest are
//! looked up, then a bar with bytes, rate, holders and time left, then a spinner while the
//! files are checked, all within 80 columns; JSON lines with `--json`; nothing otherwise.
//! A publish shows a bar of the bytes hashed and the file being hashed, on a terminal.
//! Bytes already in place when the transfer starts (resumed, or copied from the store) are
//! not counted as speed.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use ostrom_node::api::types::{FetchEvent, ProgressReport};
use ostrom_node::publish::PublishProgress;

/// Where progress goes.
pub enum ProgressView {
    /// A spinner, then a bar, on stderr.
    Bar(Option<ProgressBar>),
    /// `{"progress": {...}}` lines on stdout.
    Json,
    /// Nothing (stderr is not a terminal).
    Quiet,
}

impl ProgressView {
    /// The view for these output settings.
    pub fn new(json: bool, terminal: bool) -> Self {
        match (json, terminal) {
            (true, _) => Self::Json,
            (false, true) => Self::Bar(None),
            (false, false) => Self::Quiet,
        }
    }

    /// Says what happens before the first update: looking up `what` and its holders.
    pub fn start(&mut self, what: &str) {
        if let Self::Bar(bar) = self {
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            spinner.set_message(format!("finding holders of {}", short(what)));
            spinner.enable_steady_tick(Duration::from_millis(120));
            *bar = Some(spinner);
        }
    }

    /// Shows one update.
    pub fn update(&mut self, progress: &ProgressReport) {
        match self {
            Self::Json => {
                let event = FetchEvent::Progress {
                    progress: progress.clone(),
                };
                if let Ok(line) = serde_json::to_string(&event) {
                    println!("{line}");
                }
            }
            Self::Bar(bar) => {
                let fetching = bar.as_ref().is_some_and(|b| b.length().is_some());
                if !fetching {
                    if let Some(spinner) = bar.take() {
                        spinner.finish_and_clear();
                    }
                    // Starting at what is already in place keeps it out of the speed.
                    let new = ProgressBar::new(progress.bytes_total)
                        .with_position(progress.bytes_done)
                        .with_style(
                            ProgressStyle::with_template(
                                "{bar:16} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta:<4} {msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                    new.reset_eta();
                    *bar = Some(new);
                }
                if let Some(bar) = bar {
                    bar.set_position(progress.bytes_done);
                    if progress.done {
                        bar.set_message("verifying");
                    } else {
                        bar.set_message(status(progress.holders, progress.file.as_deref()));
                    }
                }
            }
            Self::Quiet => {}
        }
    }

    /// Shows how far a publish's hashing has come (on a terminal only: `publish --json`
    /// prints its outcome alone).
    pub fn hashing(&mut self, progress: &PublishProgress) {
        let Self::Bar(bar) = self else {
            return;
        };
        let bar = bar.get_or_insert_with(|| {
            ProgressBar::new(progress.bytes_total).with_style(
                ProgressStyle::with_template(
                    "{bar:16} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta:<4} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        });
        bar.set_position(progress.bytes_done);
        bar.set_message(status_line("hashing", Some(&progress.file)));
    }

    /// Removes the bar, if any.
    pub fn finish(&mut self) {
        if let Self::Bar(Some(bar)) = self {
            bar.finish_and_clear();
        }
    }
}

/// Most characters of the message after the bar, so a line fits 80 columns.
const STATUS_WIDTH: usize = 19;

/// "3 peers", or with several files the one being written, shortened to fit:
/// "2 peers config.json", "3 peers …2-of-00004".
fn status(holders: usize, file: Option<&str>) -> String {
    status_line(&peers(holders), file)
}

/// `what`, then as much of the file's name as fits in [`STATUS_WIDTH`].
fn status_line(what: &str, file: Option<&str>) -> String {
    let peers = what.to_owned();
    let Some(file) = file else {
        return peers;
    };
    let room = STATUS_WIDTH.saturating_sub(peers.chars().count() + 1);
    let name = file.rsplit('/').next().unwrap_or(file);
    let shown = if name.chars().count() <= room {
        name.to_owned()
    } else {
        // Without its extension, and keeping the end, where a shard's number is.
        let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
        let count = stem.chars().count();
        let tail: String = stem
            .chars()
            .skip((count + 1).saturating_sub(room.max(1)))
            .collect();
        format!("…{tail}")
    };
    format!("{peers} {shown}")
}

/// "1 peer", "3 peers".
pub fn peers(count: usize) -> String {
    if count == 1 {
        "1 peer".to_owned()
    } else {
        format!("{count} peers")
    }
}

/// An id or name short enough for one line: a 64-digit id as its first 12 digits and "…".
fn short(what: &str) -> String {
    if what.len() > 24 && what.is_ascii() {
        format!("{}…", &what[..12])
    } else {
        what.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ids_read_as_people_write_them() {
        assert_eq!(peers(1), "1 peer");
        assert_eq!(peers(0), "0 peers");
        assert_eq!(peers(3), "3 peers");
        assert_eq!(short("lab/gpt@latest"), "lab/gpt@latest");
        assert_eq!(status(2, None), "2 peers");
        assert_eq!(status(1, Some("config.json")), "1 peer config.json");
        let long = status(3, Some("sub/model-00002-of-00004.safetensors"));
        assert_eq!(long, "3 peers …2-of-00004");
        assert!(long.chars().count() <= STATUS_WIDTH, "{long}");
        assert_eq!(short(&"ab".repeat(32)), format!("{}…", "ab".repeat(6)));
    }
}
