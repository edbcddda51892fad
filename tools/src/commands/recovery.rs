//! `ostrom key recovery [new FILE]`: the lab's recovery key, which signs revocations of its
//! publisher keys. Its seed is written once, to a file the lab keeps offline; the node home
//! keeps only the public half (`recovery.pub`), to show it to labs that trust this one.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use ostrom_node::Home;
use ostrom_protocol::trust::{format_public_key, parse_public_key};

use crate::cli::{RecoveryAction, RecoveryArgs};

const PUBLIC_FILE: &str = "recovery.pub";

pub fn run(home: &Home, args: RecoveryArgs) -> Result<()> {
    match args.action {
        Some(RecoveryAction::New { file }) => new(home, &file),
        None => show(home),
    }
}

/// Writes a new recovery key seed to `file` (never overwriting) and records its public key
/// in the home.
fn new(home: &Home, file: &Path) -> Result<()> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let mut out = super::create_key_file(file)?;
    out.write_all(&key.to_bytes())?;
    out.sync_all()?;
    let public = format_public_key(&key.verifying_key().to_bytes());
    let recorded = home.root().join(PUBLIC_FILE);
    std::fs::write(&recorded, format!("{public}\n"))
        .with_context(|| format!("writing {}", recorded.display()))?;
    eprintln!(
        "wrote recovery key seed {}: keep it offline; labs trusting this one add the key below with `ostrom trust add ALIAS PUBKEY --recovery KEY`",
        file.display()
    );
    println!("{public}");
    Ok(())
}

/// Prints the recovery public key recorded in the home.
fn show(home: &Home) -> Result<()> {
    match recorded(home)? {
        Some(key) => println!("{}", format_public_key(&key)),
        None => bail!("no recovery key yet: `ostrom key recovery new FILE` makes one"),
    }
    Ok(())
}

/// The recovery public key recorded in the home, if one was made there.
pub fn recorded(home: &Home) -> Result<Option<[u8; 32]>> {
    let path = home.root().join(PUBLIC_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let key = parse_public_key(text.trim())
        .with_context(|| format!("{} does not hold a public key", path.display()))?;
    Ok(Some(key))
}

/// Reads a recovery key seed file: exactly 32 bytes.
pub fn load(file: &Path) -> Result<SigningKey> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!(
            "{} is not a recovery key seed: expected 32 bytes, found {}",
            file.display(),
            bytes.len()
        )
    })?;
    Ok(SigningKey::from_bytes(&seed))
}
