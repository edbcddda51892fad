//! Private networks: a consortium shares one pre-shared key (the libp2p `swarm.key`
//! format), and its nodes accept connections only from nodes that prove they know it.

use std::path::Path;
use std::str::FromStr;

use libp2p::pnet::PreSharedKey;
use rand::RngCore;

/// Why a network key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NetworkKeyError {
    /// The file could not be read.
    #[error("cannot read network key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a key.
    #[error("{path} is not a network key (expected the /key/swarm/psk/1.0.0/ format that `ostrom network-key new` writes): {reason}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Reads the network key at `path`.
pub fn load(path: &Path) -> Result<PreSharedKey, NetworkKeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| NetworkKeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    PreSharedKey::from_str(&text).map_err(|e| NetworkKeyError::Parse {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A new random network key, as the text of a key file.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    PreSharedKey::new(bytes).to_key_file()
}

/// The key's public fingerprint, to compare keys without showing them.
pub fn fingerprint(key: &PreSharedKey) -> String {
    key.fingerprint().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_and_differ() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.key"), dir.path().join("b.key"));
        std::fs::write(&a, generate()).expect("write");
        std::fs::write(&b, generate()).expect("write");
        let (ka, kb) = (load(&a).expect("a"), load(&b).expect("b"));
        assert_ne!(fingerprint(&ka), fingerprint(&kb));
        std::fs::write(&a, "not a key").expect("write");
        assert!(matches!(load(&a), Err(NetworkKeyError::Parse { .. })));
    }
}
