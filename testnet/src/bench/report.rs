//! What a bench reports: its figures as a text table and as JSON, and its goals with
//! whether each was met. A goal is information, never a failure: the command's exit
//! status does not depend on it.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::machine::Machine;

/// One bench's report.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// The bench's name, as `--only` takes it.
    pub name: &'static str,
    /// What it measures, in one line.
    pub what: &'static str,
    /// The machine it ran on.
    pub machine: Machine,
    /// Whether it ran.
    pub status: Status,
    /// Set-up lines printed above the table (sizes, limits, what was used).
    pub setup: Vec<String>,
    /// The figures, for people.
    #[serde(skip)]
    pub table: Option<Table>,
    /// Goals and whether they were met.
    pub goals: Vec<Goal>,
    /// Caveats: what was unavailable, how a figure was measured.
    pub notes: Vec<String>,
    /// Parts that failed while the rest ran (one swarm size, for instance).
    pub errors: Vec<String>,
    /// The figures, for programs.
    pub figures: serde_json::Value,
}

/// Whether a bench ran.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Status {
    /// It ran to the end.
    Ran,
    /// It did not run, for this reason (not enough disk, for instance).
    Skipped(String),
    /// It stopped on an error.
    Failed(String),
}

impl BenchReport {
    /// An empty report of a bench that ran.
    pub fn new(name: &'static str, what: &'static str, machine: &Machine) -> Self {
        Self {
            name,
            what,
            machine: machine.clone(),
            status: Status::Ran,
            setup: Vec::new(),
            table: None,
            goals: Vec::new(),
            notes: Vec::new(),
            errors: Vec::new(),
            figures: serde_json::Value::Null,
        }
    }

    /// Sets the JSON figures from any serialisable value.
    pub fn set_figures<T: Serialize>(&mut self, figures: &T) {
        self.figures = serde_json::to_value(figures)
            .unwrap_or_else(|e| serde_json::Value::String(format!("unserialisable: {e}")));
    }

    /// The report as text: header, machine, set-up, table, goals, notes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== {}: {} ==", self.name, self.what);
        let _ = writeln!(out, "machine: {}", self.machine.describe());
        for line in &self.setup {
            let _ = writeln!(out, "{line}");
        }
        match &self.status {
            Status::Ran => {}
            Status::Skipped(reason) => {
                let _ = writeln!(out, "skipped: {reason}");
            }
            Status::Failed(error) => {
                let _ = writeln!(out, "failed: {error}");
            }
        }
        if let Some(table) = &self.table {
            out.push_str(&table.render("  "));
        }
        for goal in &self.goals {
            let _ = writeln!(out, "goal: {}", goal.describe());
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        for error in &self.errors {
            let _ = writeln!(out, "error: {error}");
        }
        out
    }
}

/// Which side of the target a goal wants the value on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The value should be at most the target.
    AtMost,
    /// The value should be at least the target.
    AtLeast,
}

/// A goal from the design, the value measured for it, and whether it was met.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What is compared, e.g. `fetch time, ostrom / nginx→curl`.
    pub measure: String,
    /// The measured value; `None` when it could not be measured.
    pub value: Option<f64>,
    /// Which side of the target is good.
    pub bound: Bound,
    /// The target.
    pub target: f64,
    /// The target's unit for display (empty for ratios).
    pub unit: &'static str,
    /// Whether the value is on the good side of the target; `None` when unmeasured.
    pub met: Option<bool>,
}

impl Goal {
    /// A goal and its measured value.
    pub fn new(
        measure: impl Into<String>,
        value: Option<f64>,
        bound: Bound,
        target: f64,
        unit: &'static str,
    ) -> Self {
        let met = value.map(|v| match bound {
            Bound::AtMost => v <= target,
            Bound::AtLeast => v >= target,
        });
        Self {
            measure: measure.into(),
            value,
            bound,
            target,
            unit,
            met,
        }
    }

    /// The goal's target, e.g. `≤ 1.25`.
    pub fn target_text(&self) -> String {
        let op = match self.bound {
            Bound::AtMost => "≤",
            Bound::AtLeast => "≥",
        };
        format!("{op} {}{}", number(self.target), self.unit)
    }

    /// The measured value, or `unavailable`.
    pub fn value_text(&self) -> String {
        self.value.map_or_else(
            || "unavailable".to_owned(),
            |v| format!("{}{}", number(v), self.unit),
        )
    }

    /// `met`, `not met` or `unknown`.
    pub fn met_text(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "not met",
            None => "unknown",
        }
    }

    /// One line: measure, value, target, verdict.
    pub fn describe(&self) -> String {
        format!(
            "{} = {} (goal {}): {}",
            self.measure,
            self.value_text(),
            self.target_text(),
            self.met_text()
        )
    }
}

/// A text table with a header row; columns are padded to their widest cell.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells are left blank).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as lines, each starting with `indent`.
    pub fn render(&self, indent: &str) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = indent.to_owned();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                let pad = width - cell.chars().count();
                line.push_str(cell);
                if i + 1 < columns {
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The summary of every goal of every bench, one row each.
pub fn summary(reports: &[BenchReport]) -> String {
    let mut table = Table::new(["bench", "goal", "value", "target", "verdict"]);
    for report in reports {
        match &report.status {
            Status::Ran => {}
            Status::Skipped(_) => table.row([report.name, "", "", "", "skipped"]),
            Status::Failed(_) => table.row([report.name, "", "", "", "failed"]),
        }
        if !report.errors.is_empty() {
            let count = report.errors.len();
            let errors = if count == 1 { "error" } else { "errors" };
            table.row([
                report.name.to_owned(),
                String::new(),
                String::new(),
                String::new(),
                format!("{count} {errors}"),
            ]);
        }
        for goal in &report.goals {
            table.row([
                report.name.to_owned(),
                goal.measure.clone(),
                goal.value_text(),
                goal.target_text(),
                goal.met_text().to_owned(),
            ]);
        }
    }
    format!("== summary ==\n{}", table.render("  "))
}

/// A number with two decimals below 10, one below 100, none above: `1.25`, `12.4`, `340`.
pub fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `numerator / denominator`, or `None` when either is missing or the denominator is zero.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

/// A ratio for a table cell.
pub fn ratio_text(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format!("{}×", number(r)))
}

/// Seconds for a table cell, e.g. `3.21 s`.
pub fn secs(s: f64) -> String {
    format!("{s:.2} s")
}

/// Optional seconds for a table cell.
pub fn secs_opt(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_owned(), secs)
}

/// `bytes` over `seconds` in MB/s (decimal), e.g. `334.1 MB/s`.
pub fn rate(bytes: u64, seconds: f64) -> String {
    if seconds <= 0.0 {
        return "-".to_owned();
    }
    format!("{:.1} MB/s", bytes as f64 / 1e6 / seconds)
}

/// Optional rate for a table cell.
pub fn rate_opt(bytes: u64, seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), |s| rate(bytes, s))
}

/// A byte count in binary units, e.g. `1.0 GiB`, `46.3 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Optional byte count for a table cell.
pub fn size_opt(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_owned(), size)
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// Samples for a table cell, e.g. `1.23 1.25 1.31 s`.
pub fn samples(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".to_owned();
    }
    let joined: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
    format!("{} s", joined.join(" "))
}

/// `1 round` or `N rounds`.
pub fn rounds_text(rounds: usize) -> String {
    if rounds == 1 {
        "1 round".to_owned()
    } else {
        format!("{rounds} rounds")
    }
}

/// Seconds of a duration, as a float.
pub fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_say_whether_they_were_met() {
        let g = Goal::new("time ratio", Some(1.1), Bound::AtMost, 1.25, "");
        assert_eq!(g.met, Some(true));
        assert_eq!(g.target_text(), "≤ 1.25");
        let g = Goal::new("speed ratio", Some(0.5), Bound::AtLeast, 0.8, "");
        assert_eq!(g.met, Some(false));
        let g = Goal::new("copies", None, Bound::AtMost, 2.0, "");
        assert_eq!(g.met, None);
        assert_eq!(g.value_text(), "unavailable");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(["a", "long heading"]);
        t.row(["wide cell", "x"]);
        assert_eq!(t.render(""), "a          long heading\nwide cell  x\n");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1 << 30), "1.0 GiB");
        assert_eq!(size(47 << 20), "47.0 MiB");
    }
}
