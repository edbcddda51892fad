//! The trust store: the publisher keys this node accepts manifests from, each under an
//! alias, kept in `HOME/trust.toml`:
//!
//! ```toml
//! [publishers]
//! lab-a = "<publisher public key, 64 hex digits>"
//! ```
//!
//! The file is small and read whenever it is needed, so `ostrom trust add` takes effect on a
//! running node at once; it is replaced atomically when written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ostrom_protocol::trust::{format_public_key, parse_public_key};
use serde::{Deserialize, Serialize};

use crate::home::Home;

/// Why the trust store could not be read, written or changed.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid trust store.
    #[error("{path} is not a valid trust store: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An alias breaks the naming rule.
    #[error("alias {0:?} must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'")]
    BadAlias(String),
    /// The alias is taken by another key.
    #[error(
        "alias {alias:?} already names key {key}; remove it first with `ostrom trust rm {alias}`"
    )]
    AliasTaken {
        /// The alias.
        alias: String,
        /// The key it names.
        key: String,
    },
    /// No such alias.
    #[error("no trusted publisher is called {0:?} (see `ostrom trust ls`)")]
    UnknownAlias(String),
    /// A key is not a valid ed25519 public key.
    #[error("{0}")]
    BadKey(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    publishers: BTreeMap<String, String>,
}

/// The trusted publishers of one node home.
#[derive(Debug, Clone)]
pub struct TrustStore {
    path: PathBuf,
    publishers: BTreeMap<String, [u8; 32]>,
}

fn check_alias(alias: &str) -> Result<(), TrustError> {
    let ok = !alias.is_empty()
        && alias.len() <= 64
        && alias
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(TrustError::BadAlias(alias.to_owned()))
    }
}

impl TrustStore {
    /// Reads the trust store of `home` (empty when the file does not exist).
    pub fn load(home: &Home) -> Result<Self, TrustError> {
        Self::load_from(&home.root().join("trust.toml"))
    }

    /// Reads the trust store at `path`.
    pub fn load_from(path: &Path) -> Result<Self, TrustError> {
        let display = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(TrustError::Io {
                    path: display,
                    source,
                })
            }
        };
        let file: TrustFile = toml::from_str(&text).map_err(|e| TrustError::Parse {
            path: display.clone(),
            reason: e.to_string(),
        })?;
        let mut publishers = BTreeMap::new();
        for (alias, key) in file.publishers {
            check_alias(&alias).map_err(|e| TrustError::Parse {
                path: display.clone(),
                reason: e.to_string(),
            })?;
            let key = parse_public_key(&key).map_err(|e| TrustError::Parse {
                path: display.clone(),
                reason: format!("{alias}: {e}"),
            })?;
            publishers.insert(alias, key);
        }
        Ok(Self {
            path: path.to_path_buf(),
            publishers,
        })
    }

    /// Writes the store back, replacing the file atomically.
    pub fn save(&self) -> Result<(), TrustError> {
        let file = TrustFile {
            publishers: self
                .publishers
                .iter()
                .map(|(alias, key)| (alias.clone(), format_public_key(key)))
                .collect(),
        };
        let text = format!(
            "# Publishers whose manifests this node accepts: alias = \"public key\".\n\
             # Edit with `ostrom trust add|rm`.\n{}",
            toml::to_string(&file).unwrap_or_default()
        );
        let io = |source| TrustError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let temporary = self.path.with_extension("toml.new");
        std::fs::write(&temporary, text).map_err(io)?;
        std::fs::rename(&temporary, &self.path).map_err(io)
    }

    /// Trusts `key` under `alias`. Adding the same pair again changes nothing.
    pub fn add(&mut self, alias: &str, key: &str) -> Result<[u8; 32], TrustError> {
        check_alias(alias)?;
        let key = parse_public_key(key).map_err(|e| TrustError::BadKey(e.to_string()))?;
        match self.publishers.get(alias) {
            Some(existing) if *existing != key => Err(TrustError::AliasTaken {
                alias: alias.to_owned(),
                key: format_public_key(existing),
            }),
            _ => {
                self.publishers.insert(alias.to_owned(), key);
                Ok(key)
            }
        }
    }

    /// Stops trusting the key under `alias`.
    pub fn remove(&mut self, alias: &str) -> Result<[u8; 32], TrustError> {
        self.publishers
            .remove(alias)
            .ok_or_else(|| TrustError::UnknownAlias(alias.to_owned()))
    }

    /// The key trusted under `alias`.
    pub fn key_of(&self, alias: &str) -> Option<[u8; 32]> {
        self.publishers.get(alias).copied()
    }

    /// The alias of a trusted key.
    pub fn alias_of(&self, key: &[u8; 32]) -> Option<&str> {
        self.publishers
            .iter()
            .find(|(_, k)| *k == key)
            .map(|(alias, _)| alias.as_str())
    }

    /// Every trusted publisher, by alias.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[u8; 32])> {
        self.publishers.iter().map(|(a, k)| (a.as_str(), k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key_text(seed: u8) -> String {
        format_public_key(
            &SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .to_bytes(),
        )
    }

    #[test]
    fn add_save_load_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("trust.toml");
        let mut store = TrustStore::load_from(&path).expect("empty");
        let key = store.add("lab-a", &key_text(1)).expect("add");
        store.add("lab-a", &key_text(1)).expect("same pair again");
        store.save().expect("save");
        let mut reread = TrustStore::load_from(&path).expect("load");
        assert_eq!(reread.key_of("lab-a"), Some(key));
        assert_eq!(reread.alias_of(&key), Some("lab-a"));
        assert_eq!(reread.remove("lab-a").expect("remove"), key);
        assert!(matches!(
            reread.remove("lab-a"),
            Err(TrustError::UnknownAlias(_))
        ));
    }

    #[test]
    fn bad_input_is_refused_clearly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = TrustStore::load_from(&dir.path().join("t.toml")).expect("empty");
        assert!(matches!(
            store.add("Lab A", &key_text(1)),
            Err(TrustError::BadAlias(_))
        ));
        assert!(matches!(store.add("lab", "zz"), Err(TrustError::BadKey(_))));
        store.add("lab", &key_text(1)).expect("add");
        assert!(matches!(
            store.add("lab", &key_text(2)),
            Err(TrustError::AliasTaken { .. })
        ));
        std::fs::write(
            dir.path().join("bad.toml"),
            "[publishers]\nlab = \"nothex\"\n",
        )
        .expect("write");
        assert!(matches!(
            TrustStore::load_from(&dir.path().join("bad.toml")),
            Err(TrustError::Parse { .. })
        ));
    }
}
