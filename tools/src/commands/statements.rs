//! `ostrom retract`, `ostrom key rotate` and `ostrom key revoke`: signed statements about a
//! publisher's own checkpoints and keys.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use ostrom_node::api::types::{RetractBody, Retracted};
use ostrom_node::statements;
use ostrom_node::store::Store;
use ostrom_node::Home;
use ostrom_protocol::trust::{format_public_key, parse_public_key};
use ostrom_protocol::Id;

use crate::cli::{RetractArgs, RevokeArgs};
use crate::client::ApiClient;

pub async fn retract(home: &Home, args: RetractArgs) -> Result<()> {
    let id: Id = args.id.parse()?;
    let retracted: Retracted = match ApiClient::connect(home).await {
        Some(client) => {
            client
                .post(
                    "/v1/retract",
                    &RetractBody {
                        id: id.to_string(),
                        reason: args.reason,
                    },
                )
                .await?
        }
        None => {
            let store = Store::open(&home.store_dir())?;
            let manifest = store
                .manifest(&id)?
                .with_context(|| format!("{id} is not a checkpoint this node knows"))?;
            statements::retract(&store, &home.publisher_key()?, &manifest, &args.reason)?;
            eprintln!("note: no node is running; the retraction is stored and goes to the DHT when the node starts");
            Retracted {
                id: id.to_string(),
                stored_in_dht: false,
            }
        }
    };
    println!("retracted {}", retracted.id);
    Ok(())
}

pub async fn rotate(home: &Home) -> Result<()> {
    if ApiClient::connect(home).await.is_some() {
        bail!("stop the node on {} before rotating its key; it publishes the rotation when it starts again", home.root().display());
    }
    let old = home.publisher_key()?;
    let new = SigningKey::generate(&mut rand::rngs::OsRng);
    let store = Store::open(&home.store_dir())?;
    statements::rotate(&store, &old, &new)?;
    let key_path = home.root().join("publisher.key");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let retired = home.root().join(format!("publisher.key.retired-{stamp}"));
    std::fs::rename(&key_path, &retired)
        .with_context(|| format!("moving the old key to {}", retired.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("writing {}", key_path.display()))?;
    file.write_all(&new.to_bytes())?;
    file.sync_all()?;
    println!(
        "rotated publisher key {} -> {}; the old key is kept in {}",
        format_public_key(&old.verifying_key().to_bytes()),
        format_public_key(&new.verifying_key().to_bytes()),
        retired.display()
    );
    Ok(())
}

pub async fn revoke(home: &Home, args: RevokeArgs) -> Result<()> {
    if ApiClient::connect(home).await.is_some() {
        bail!("stop the node on {} before revoking a key; it publishes the revocation when it starts again", home.root().display());
    }
    let recovery = super::recovery::load(&args.recovery)?;
    let revoked = parse_public_key(&args.key).context("the key to revoke")?;
    let successor = args
        .successor
        .as_deref()
        .map(parse_public_key)
        .transpose()
        .context("--successor")?;
    let store = Store::open(&home.store_dir())?;
    let revocation = statements::revoke(&store, &recovery, revoked, successor, args.at)?;
    let body = revocation.body();
    println!(
        "revoked publisher key {} from {} ms{}; signed by recovery key {}",
        format_public_key(&body.revoked_key),
        body.revoked_ms,
        body.successor
            .map(|s| format!(", successor {}", format_public_key(&s)))
            .unwrap_or_default(),
        format_public_key(&body.recovery_key)
    );
    Ok(())
}
