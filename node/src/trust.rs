//! The trust store: the publisher keys this node accepts manifests from, each under an
//! alias, kept in `HOME/trust.toml`:
//!
//! ```toml
//! [publishers]
//! lab-a = "<publisher public key, 64 hex digits>"
//! lab-b = { key = "<publisher public key>", recovery = "<the lab's recovery key>" }
//! ```
//!
//! An entry with a recovery key trusts its key only as far as the lab's revocations allow
//! ([`ostrom_protocol::chain`]); an entry without one is written as a plain key, the form
//! older nodes read.
//!
//! The file is small and read whenever it is needed, so `ostrom trust add` takes effect on a
//! running node at once; it is replaced atomically when written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ostrom_protocol::chain::TrustRoot;
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
    /// The alias is taken by another key, or by the same key with another recovery key.
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
    /// The recovery key is the publisher key itself.
    #[error("the recovery key must not be the publisher key")]
    RecoveryIsKey,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    publishers: BTreeMap<String, FileEntry>,
}

/// One entry of `trust.toml`: a plain key, or a key with its recovery key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum FileEntry {
    Key(String),
    WithRecovery(KeyWithRecovery),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyWithRecovery {
    key: String,
    recovery: String,
}

impl FileEntry {
    fn from_root(root: &TrustRoot) -> Self {
        match &root.recovery {
            None => Self::Key(format_public_key(&root.key)),
            Some(recovery) => Self::WithRecovery(KeyWithRecovery {
                key: format_public_key(&root.key),
                recovery: format_public_key(recovery),
            }),
        }
    }

    fn parse(&self) -> Result<TrustRoot, TrustError> {
        let parse =
            |text: &str| parse_public_key(text).map_err(|e| TrustError::BadKey(e.to_string()));
        match self {
            Self::Key(key) => Ok(TrustRoot::from(parse(key)?)),
            Self::WithRecovery(entry) => root(parse(&entry.key)?, Some(parse(&entry.recovery)?)),
        }
    }
}

fn root(key: [u8; 32], recovery: Option<[u8; 32]>) -> Result<TrustRoot, TrustError> {
    if recovery == Some(key) {
        return Err(TrustError::RecoveryIsKey);
    }
    Ok(TrustRoot { key, recovery })
}

/// The trusted publishers of one node home.
#[derive(Debug, Clone)]
pub struct TrustStore {
    path: PathBuf,
    publishers: BTreeMap<String, TrustRoot>,
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
        for (alias, entry) in file.publishers {
            check_alias(&alias).map_err(|e| TrustError::Parse {
                path: display.clone(),
                reason: e.to_string(),
            })?;
            let root = entry.parse().map_err(|e| TrustError::Parse {
                path: display.clone(),
                reason: format!("{alias}: {e}"),
            })?;
            publishers.insert(alias, root);
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
                .map(|(alias, root)| (alias.clone(), FileEntry::from_root(root)))
                .collect(),
        };
        let text = format!(
            "# Publishers whose manifests this node accepts: alias = \"public key\", or\n\
             # alias = {{ key = \"public key\", recovery = \"recovery key\" }}.\n\
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

    /// Trusts `key` under `alias`, with the lab's `recovery` key if given. Adding the same
    /// entry again changes nothing; changing an entry (its key or recovery key) means
    /// removing it first.
    pub fn add(
        &mut self,
        alias: &str,
        key: &str,
        recovery: Option<&str>,
    ) -> Result<TrustRoot, TrustError> {
        check_alias(alias)?;
        let parse =
            |text: &str| parse_public_key(text).map_err(|e| TrustError::BadKey(e.to_string()));
        let new = root(parse(key)?, recovery.map(parse).transpose()?)?;
        match self.publishers.get(alias) {
            Some(existing) if *existing != new => Err(TrustError::AliasTaken {
                alias: alias.to_owned(),
                key: describe(existing),
            }),
            _ => {
                self.publishers.insert(alias.to_owned(), new);
                Ok(new)
            }
        }
    }

    /// Stops trusting the entry under `alias`.
    pub fn remove(&mut self, alias: &str) -> Result<TrustRoot, TrustError> {
        self.publishers
            .remove(alias)
            .ok_or_else(|| TrustError::UnknownAlias(alias.to_owned()))
    }

    /// The publisher key the entry `alias` was made with.
    pub fn key_of(&self, alias: &str) -> Option<[u8; 32]> {
        self.publishers.get(alias).map(|root| root.key)
    }

    /// The whole entry `alias`: its key and recovery key.
    pub fn root_of(&self, alias: &str) -> Option<TrustRoot> {
        self.publishers.get(alias).copied()
    }

    /// The alias of an entry whose own key is `key` and that names no recovery key: such a
    /// key is trusted whatever statements say. A key with a recovery key may have been
    /// revoked, so it is trusted only through its entry's chain (every entry is in
    /// [`entries`](Self::entries), for [`ostrom_protocol::chain::is_trusted`]).
    pub fn alias_of(&self, key: &[u8; 32]) -> Option<&str> {
        self.publishers
            .iter()
            .find(|(_, root)| root.key == *key && root.recovery.is_none())
            .map(|(alias, _)| alias.as_str())
    }

    /// Every trusted entry, by alias.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &TrustRoot)> {
        self.publishers.iter().map(|(a, root)| (a.as_str(), root))
    }
}

/// An entry in text: its key, and its recovery key if any.
fn describe(root: &TrustRoot) -> String {
    match &root.recovery {
        None => format_public_key(&root.key),
        Some(recovery) => format!(
            "{} (recovery key {})",
            format_public_key(&root.key),
            format_public_key(recovery)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn public(seed: u8) -> [u8; 32] {
        SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes()
    }

    fn key_text(seed: u8) -> String {
        format_public_key(&public(seed))
    }

    #[test]
    fn add_save_load_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("trust.toml");
        let mut store = TrustStore::load_from(&path).expect("empty");
        let key = store.add("lab-a", &key_text(1), None).expect("add");
        store
            .add("lab-a", &key_text(1), None)
            .expect("same pair again");
        store.save().expect("save");
        let mut reread = TrustStore::load_from(&path).expect("load");
        assert_eq!(reread.root_of("lab-a"), Some(key));
        assert_eq!(reread.alias_of(&key.key), Some("lab-a"));
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
            store.add("Lab A", &key_text(1), None),
            Err(TrustError::BadAlias(_))
        ));
        assert!(matches!(
            store.add("lab", "zz", None),
            Err(TrustError::BadKey(_))
        ));
        assert!(matches!(
            store.add("lab", &key_text(1), Some("zz")),
            Err(TrustError::BadKey(_))
        ));
        assert!(matches!(
            store.add("lab", &key_text(1), Some(&key_text(1))),
            Err(TrustError::RecoveryIsKey)
        ));
        store.add("lab", &key_text(1), None).expect("add");
        for (what, key, recovery) in [
            ("another key", key_text(2), None),
            ("a recovery key added", key_text(1), Some(key_text(9))),
        ] {
            assert!(
                matches!(
                    store.add("lab", &key, recovery.as_deref()),
                    Err(TrustError::AliasTaken { .. })
                ),
                "{what}"
            );
        }
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

    #[test]
    fn recovery_keys_are_kept_and_old_files_still_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("trust.toml");
        std::fs::write(&path, format!("[publishers]\nold = \"{}\"\n", key_text(1))).expect("write");
        let mut store = TrustStore::load_from(&path).expect("an older file loads");
        assert_eq!(store.root_of("old"), Some(TrustRoot::from(public(1))));
        let lab = store
            .add("lab", &key_text(2), Some(&key_text(9)))
            .expect("add with recovery");
        assert_eq!(lab.recovery, Some(public(9)));
        store
            .add("lab", &key_text(2), Some(&key_text(9)))
            .expect("same entry again");
        store.save().expect("save");

        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains(&format!("old = \"{}\"", key_text(1))),
            "an entry without recovery key is written as before:\n{text}"
        );
        let reread = TrustStore::load_from(&path).expect("load");
        assert_eq!(reread.root_of("lab"), Some(lab));
        assert_eq!(reread.alias_of(&public(1)), Some("old"));
        assert_eq!(
            reread.alias_of(&public(2)),
            None,
            "a revocable key is trusted only through its chain"
        );
        assert_eq!(reread.entries().count(), 2);

        for (what, entry) in [
            (
                "unknown field",
                format!("{{ key = \"{}\", colour = \"red\" }}", key_text(1)),
            ),
            (
                "recovery is the key",
                format!("{{ key = \"{0}\", recovery = \"{0}\" }}", key_text(1)),
            ),
            (
                "missing recovery",
                format!("{{ key = \"{}\" }}", key_text(1)),
            ),
            (
                "bad recovery",
                format!("{{ key = \"{}\", recovery = \"zz\" }}", key_text(1)),
            ),
        ] {
            std::fs::write(&path, format!("[publishers]\nlab = {entry}\n")).expect("write");
            assert!(
                matches!(TrustStore::load_from(&path), Err(TrustError::Parse { .. })),
                "{what} accepted"
            );
        }
    }
}
