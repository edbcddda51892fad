//! The node home: the directory holding a node's keys, configuration, store and the
//! address and token of its control API while it runs.
//!
//! ```text
//! HOME/node.key        libp2p identity (ed25519, protobuf encoding), mode 0600
//! HOME/publisher.key   publisher signing key (32-byte ed25519 seed), mode 0600
//! HOME/config.toml     configuration, see `Config`
//! HOME/api.token       bearer token for mutating control API calls, mode 0600
//! HOME/api.addr        control API address, written while the node runs
//! HOME/store/          sled database (metadata only; bulk bytes stay in plain files)
//! ```

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use libp2p::identity::Keypair;
use rand::RngCore;

use crate::config::layers::{self, Flags, Layered};
use crate::config::{Config, ConfigError};

/// Why the home could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// The home was never initialized.
    #[error("{0} is not an Ostrom node home (no {1}); run `ostrom --home {0} init` first")]
    NotInitialized(String, &'static str),
    /// A file of the home could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file is damaged.
    #[error("{0} is damaged: {1}")]
    BadKey(String, String),
    /// The configuration is unreadable.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What `init` did.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// Whether the home already existed (and was left as it was).
    pub already_initialized: bool,
}

/// A node home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `bytes` to a new file at `path` readable by its owner alone.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

impl Home {
    /// The home at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The home directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The sled database directory.
    pub fn store_dir(&self) -> PathBuf {
        self.path("store")
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    /// The file holding the running node's control API address.
    pub fn api_addr_path(&self) -> PathBuf {
        self.path("api.addr")
    }

    /// Creates the home: keys, token and default configuration. Existing files are kept.
    pub fn init(&self) -> Result<InitReport, HomeError> {
        fs::create_dir_all(&self.root).map_err(io_error(&self.root))?;
        let already_initialized = self.path("node.key").exists();
        if !self.path("node.key").exists() {
            let keypair = Keypair::generate_ed25519();
            let encoded = keypair
                .to_protobuf_encoding()
                .map_err(|e| HomeError::BadKey("node.key".into(), e.to_string()))?;
            write_private(&self.path("node.key"), &encoded)?;
        }
        if !self.path("publisher.key").exists() {
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            write_private(&self.path("publisher.key"), &seed)?;
        }
        if !self.path("api.token").exists() {
            let mut token = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut token);
            write_private(&self.path("api.token"), hex::encode(token).as_bytes())?;
        }
        if !self.config_path().exists() {
            let path = self.config_path();
            fs::write(&path, Config::default_file_text()).map_err(io_error(&path))?;
        }
        Ok(InitReport {
            already_initialized,
        })
    }

    fn read(&self, name: &'static str) -> Result<Vec<u8>, HomeError> {
        let path = self.path(name);
        fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                HomeError::NotInitialized(self.root.display().to_string(), name)
            } else {
                HomeError::Io {
                    path: path.display().to_string(),
                    source,
                }
            }
        })
    }

    /// The node's libp2p identity.
    pub fn node_keypair(&self) -> Result<Keypair, HomeError> {
        let bytes = self.read("node.key")?;
        Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| HomeError::BadKey("node.key".into(), e.to_string()))
    }

    /// The publisher key that signs this node's manifests.
    pub fn publisher_key(&self) -> Result<SigningKey, HomeError> {
        let bytes = self.read("publisher.key")?;
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            HomeError::BadKey(
                "publisher.key".into(),
                format!("expected 32 bytes, found {}", bytes.len()),
            )
        })?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// The bearer token of the control API.
    pub fn api_token(&self) -> Result<String, HomeError> {
        let bytes = self.read("api.token")?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    }

    /// The configuration in force: `config.toml` with the process's `OSTROM_*`
    /// environment variables over it.
    pub fn config(&self) -> Result<Config, HomeError> {
        Ok(self.layered_config(&Flags::default())?.config)
    }

    /// The configuration in force with `flags` over `config.toml` and the environment,
    /// and where each value came from.
    pub fn layered_config(&self, flags: &Flags) -> Result<Layered, HomeError> {
        if !self.config_path().exists() {
            return Err(HomeError::NotInitialized(
                self.root.display().to_string(),
                "config.toml",
            ));
        }
        Ok(layers::load(&self.config_path(), std::env::vars(), flags)?)
    }

    /// The control API address a running node wrote, if any.
    pub fn running_api_addr(&self) -> Option<String> {
        let text = fs::read_to_string(self.api_addr_path()).ok()?;
        let addr = text.trim();
        (!addr.is_empty()).then(|| addr.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_creates_private_keys_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path().join("h"));
        assert!(!home.init().expect("init").already_initialized);
        let key = home.publisher_key().expect("key");
        let mode = fs::metadata(dir.path().join("h/publisher.key"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(home.init().expect("again").already_initialized);
        assert_eq!(
            home.publisher_key().expect("key").to_bytes(),
            key.to_bytes()
        );
        assert_eq!(home.config().expect("config"), Config::default());
        home.node_keypair().expect("identity");
    }

    #[test]
    fn missing_home_says_how_to_create_it() {
        let home = Home::new("/nonexistent/ostrom-home");
        let err = home.publisher_key().expect_err("missing");
        assert!(err.to_string().contains("ostrom --home"), "{err}");
    }
}
