//! The configuration in force, made of layers that figment merges, each overriding the
//! ones before it: the defaults, `config.toml`, `OSTROM_*` environment variables, then
//! command-line flags. figment remembers which layer gave each value, so
//! [`Layered::settings`] can say where every setting came from (`ostrom config show`),
//! and an error names the key and its origin: the line of `config.toml`, the environment
//! variable or the flag.
//!
//! Environment variables: `OSTROM_` and the key in capitals, a table's key after a double
//! underscore (`OSTROM_FETCH_TIMEOUT=30s`, `OSTROM_LIMITS__CONNECTIONS=64`); a list is
//! written `[a, b]`. `OSTROM_HOME` and `OSTROM_BIN` are not settings and are passed over.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// The prefix of the environment variables that set configuration values.
pub const ENV_PREFIX: &str = "OSTROM_";

/// `OSTROM_*` variables that are not configuration settings.
const NOT_SETTINGS: [&str; 2] = ["home", "bin"];

/// Metadata names of the layers, by which an origin is recognized.
const FILE: &str = "config.toml";

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The configuration file, at this line.
    File {
        /// The file.
        path: PathBuf,
        /// The line that sets it (1-based), when known.
        line: Option<usize>,
    },
    /// An environment variable.
    Env {
        /// The variable, e.g. `OSTROM_FETCH_TIMEOUT`.
        var: String,
    },
    /// A command-line flag.
    Flag {
        /// The flag, e.g. `--upload-limit`.
        flag: String,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => write!(f, "default"),
            Self::File {
                path,
                line: Some(line),
            } => write!(f, "{} line {line}", path.display()),
            Self::File { path, line: None } => write!(f, "{}", path.display()),
            Self::Env { var } => write!(f, "{var}"),
            Self::Flag { flag } => write!(f, "{flag}"),
        }
    }
}

/// One setting in force: its key (`limits.connections` for a table's), its value as JSON
/// (`null` when unset) and where it came from (several origins for a list that several
/// layers added to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// The key.
    pub key: String,
    /// The value.
    pub value: serde_json::Value,
    /// Where it came from.
    pub origins: Vec<Origin>,
}

/// The configuration in force, with where each value came from.
#[derive(Debug, Clone)]
pub struct Layered {
    /// The configuration.
    pub config: Config,
    /// Every setting, in the order of the configuration's fields.
    pub settings: Vec<Setting>,
}

/// Command-line flags that override (or, for lists such as `--bootstrap`, add to) the
/// configuration. Each value is the text given on the command line, parsed as the
/// setting's own type, so a bad one is an error naming the flag.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    flags: Vec<Flag>,
}

#[derive(Debug, Clone)]
struct Flag {
    key: &'static str,
    flag: &'static str,
    value: Value,
    append: bool,
}

impl Flags {
    /// `flag` sets `key` to `value` (nothing when `None`).
    pub fn set(mut self, key: &'static str, flag: &'static str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.flags.push(Flag {
                key,
                flag,
                value: Value::from(value),
                append: false,
            });
        }
        self
    }

    /// `flag` replaces the list `key` with `values` (nothing when empty).
    pub fn replace_list(self, key: &'static str, flag: &'static str, values: &[String]) -> Self {
        self.list(key, flag, values, false)
    }

    /// `flag` adds `values` to the list `key`.
    pub fn append_list(self, key: &'static str, flag: &'static str, values: &[String]) -> Self {
        self.list(key, flag, values, true)
    }

    fn list(
        mut self,
        key: &'static str,
        flag: &'static str,
        values: &[String],
        append: bool,
    ) -> Self {
        if !values.is_empty() {
            self.flags.push(Flag {
                key,
                flag,
                value: Value::from(values.to_vec()),
                append,
            });
        }
        self
    }
}

impl Provider for Flag {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.flag)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::default(self.key, &self.value).data()
    }
}

/// `config.toml`, already parsed, as a figment layer.
struct ConfigFile {
    path: PathBuf,
    table: toml::Table,
}

impl Provider for ConfigFile {
    fn metadata(&self) -> Metadata {
        Metadata::named(FILE).source(figment::Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.table).data()
    }
}

/// The line (1-based) of every key set in `text`, tables' keys as `table.key`.
fn key_lines(text: &str) -> HashMap<String, usize> {
    fn walk(
        text: &str,
        table: &toml::de::DeTable<'_>,
        prefix: &str,
        lines: &mut HashMap<String, usize>,
    ) {
        for (key, value) in table {
            let name = format!("{prefix}{}", key.get_ref());
            let start = key.span().start.min(text.len());
            lines.insert(name.clone(), text[..start].matches('\n').count() + 1);
            if let toml::de::DeValue::Table(inner) = value.get_ref() {
                walk(text, inner, &format!("{name}."), lines);
            }
        }
    }
    let mut lines = HashMap::new();
    if let Ok(table) = toml::de::DeTable::parse(text) {
        walk(text, table.get_ref(), "", &mut lines);
    }
    lines
}

/// One `OSTROM_*` environment variable as a figment layer: `OSTROM_KEY` sets `key`,
/// `OSTROM_TABLE__KEY` sets `table.key`; the value is read as figment reads an
/// environment variable's (a number, a boolean, a `[list]`, or else text).
#[derive(Debug, Clone)]
struct EnvVar {
    var: String,
    key: String,
    value: Value,
}

impl EnvVar {
    /// The setting `var` makes, if it is an `OSTROM_*` setting.
    fn of(var: &str, value: &str) -> Option<Self> {
        let key = var.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
        if key.is_empty() || NOT_SETTINGS.contains(&key.as_str()) {
            return None;
        }
        let value = match value.parse::<Value>() {
            Ok(value) => value,
            Err(never) => match never {},
        };
        Some(Self {
            var: var.to_owned(),
            key: key.replace("__", "."),
            value,
        })
    }
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.var.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::default(&self.key, &self.value).data()
    }
}

/// Loads the configuration in force: the defaults, then the file at `path`, then the
/// `OSTROM_*` variables among `env` (`std::env::vars()` for the process's), then
/// `flags`.
pub fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &Flags,
) -> Result<Layered, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    layer(path, &text, env.into_iter().collect(), flags)
}

/// Layers `text` (the file at `path`), the variables `vars` and `flags` over the
/// defaults.
fn layer(
    path: &Path,
    text: &str,
    vars: Vec<(String, String)>,
    flags: &Flags,
) -> Result<Layered, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|source| ConfigError::Parse {
        path: path.display().to_string(),
        source,
    })?;
    let mut figment = Figment::new()
        .merge(Serialized::defaults(Config::default()))
        .merge(ConfigFile {
            path: path.to_owned(),
            table,
        });
    let mut vars: Vec<EnvVar> = vars.iter().filter_map(|(k, v)| EnvVar::of(k, v)).collect();
    vars.sort_by(|a, b| a.var.cmp(&b.var));
    for var in vars {
        figment = figment.merge(var);
    }
    for flag in &flags.flags {
        figment = if flag.append {
            figment.admerge(flag.clone())
        } else {
            figment.merge(flag.clone())
        };
    }
    let lines = key_lines(text);
    let config: Config = figment
        .extract()
        .map_err(|error| setting_error(&error, &lines))?;
    let settings = settings(&figment, &config, &lines);
    if let Err(reason) = config.limits.check() {
        let key = reason.split_whitespace().next().unwrap_or_default();
        let origin = settings
            .iter()
            .find(|s| s.key == key)
            .and_then(|s| s.origins.last())
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        return Err(ConfigError::Invalid {
            path: path.display().to_string(),
            reason: format!("{reason}{origin}"),
        });
    }
    Ok(Layered { config, settings })
}

/// The origin that `metadata` names, for `key`.
fn origin(metadata: Option<&Metadata>, key: &str, lines: &HashMap<String, usize>) -> Origin {
    let Some(metadata) = metadata else {
        return Origin::Default;
    };
    if metadata.name == FILE {
        let path = metadata
            .source
            .as_ref()
            .and_then(|s| s.file_path())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(FILE));
        return Origin::File {
            path,
            line: lines.get(key).copied(),
        };
    }
    if metadata.name.starts_with("--") {
        return Origin::Flag {
            flag: metadata.name.to_string(),
        };
    }
    if metadata.name.starts_with(ENV_PREFIX) {
        return Origin::Env {
            var: metadata.name.to_string(),
        };
    }
    Origin::Default
}

/// A figment error as a [`ConfigError`] naming the key and where it was set.
fn setting_error(error: &figment::Error, lines: &HashMap<String, usize>) -> ConfigError {
    let key = error.path.join(".");
    let origin = origin(error.metadata.as_ref(), &key, lines);
    let reason = match &error.kind {
        figment::error::Kind::UnknownField(field, expected) => format!(
            "unknown key `{field}`; the keys here are {}",
            expected.join(", ")
        ),
        other => other.to_string(),
    };
    ConfigError::Setting {
        key,
        origin: origin.to_string(),
        reason,
    }
}

/// Every setting of `config`, with its origin.
fn settings(figment: &Figment, config: &Config, lines: &HashMap<String, usize>) -> Vec<Setting> {
    let mut out = Vec::new();
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(config) else {
        return out;
    };
    let mut leaves = Vec::new();
    for (key, value) in fields {
        match value {
            serde_json::Value::Object(table) => {
                for (inner, value) in table {
                    leaves.push((format!("{key}.{inner}"), value));
                }
            }
            value => leaves.push((key, value)),
        }
    }
    for (key, value) in leaves {
        let origins = match figment.find_value(&key) {
            Ok(Value::Array(_, items)) if !items.is_empty() => {
                let mut origins: Vec<Origin> = Vec::new();
                for item in &items {
                    let o = origin(figment.get_metadata(item.tag()), &key, lines);
                    if !origins.contains(&o) {
                        origins.push(o);
                    }
                }
                origins
            }
            Ok(found) => vec![origin(figment.get_metadata(found.tag()), &key, lines)],
            Err(_) => vec![Origin::Default],
        };
        out.push(Setting {
            key,
            value,
            origins,
        });
    }
    out
}

#[cfg(test)]
#[path = "layers_tests.rs"]
mod tests;
