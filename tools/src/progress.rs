//! Showing a fetch's progress: a bar with bytes, rate, holders and time left on a
//! terminal, JSON lines with `--json`, nothing otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use ostrom_node::api::types::{FetchEvent, ProgressReport};

/// Where progress goes.
pub enum ProgressView {
    /// A bar on stderr.
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
                let bar = bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(progress.bytes_total);
                    let style = ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    bar
                });
                bar.set_position(progress.bytes_done);
                bar.set_message(format!("{} peers", progress.holders));
            }
            Self::Quiet => {}
        }
    }

    /// Removes the bar, if any.
    pub fn finish(&mut self) {
        if let Self::Bar(Some(bar)) = self {
            bar.finish_and_clear();
        }
    }
}
