//! Signed statements about checkpoints and keys: a retracted checkpoint is refused unless
//! allowed (and then flagged), a publisher's key rotation is followed by nodes that trust
//! the old key, for names and for trust, and a lab's recovery key revokes a stolen key.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use ostrom_testnet::checkpoint::{generate, CheckpointSpec};
use ostrom_testnet::{CmdOutput, Testnet};
use ostrom_tests::testnet;

#[test]
fn retracted_checkpoints_are_refused_unless_allowed() -> anyhow::Result<()> {
    let net = testnet(3).start()?;
    let dir = net.scratch_dir("ckpt")?;
    generate(&dir, &CheckpointSpec::new(1 << 20))?;
    let published = net[0].publish(&dir, "gpt")?;
    net[1].fetch(&published.id, &net.scratch_dir("before")?)?;

    net[0]
        .ostrom(&[
            "retract",
            &published.id,
            "--reason",
            "trained on the test set",
        ])?
        .ok()?;
    let out = net.scratch_dir("after")?;
    let out = out.display().to_string();
    let refused = net[2].ostrom(&["fetch", &published.id, "-o", &out])?;
    ensure!(
        !refused.success()
            && refused.stderr_contains("retracted by its publisher (trained on the test set)"),
        "retracted checkpoint fetched, or unclear: {}",
        refused.stderr
    );
    let allowed: serde_json::Value =
        net[2].ostrom_json(&["fetch", &published.id, "-o", &out, "--allow-retracted"])?;
    ensure!(
        allowed["retracted"] == "trained on the test set",
        "{allowed}"
    );

    let stranger = net[1].ostrom(&["retract", &published.id])?;
    ensure!(
        !stranger.success() && stranger.stderr_contains("only its publisher can retract it"),
        "{}",
        stranger.stderr
    );
    Ok(())
}

#[test]
fn a_rotated_key_is_followed_by_nodes_that_trust_the_old_one() -> anyhow::Result<()> {
    let mut net = testnet(2).start()?;
    let dir = net.scratch_dir("ckpt")?;
    generate(&dir, &CheckpointSpec::new(1 << 20).seed(1))?;
    let old_key = net[0].publisher_key()?;
    net[0]
        .ostrom(&[
            "publish",
            &dir.display().to_string(),
            "--name",
            "gpt",
            "--tag",
            "v1",
        ])?
        .ok()?;

    let running = net[0].ostrom(&["key", "rotate"])?;
    ensure!(
        !running.success() && running.stderr_contains("stop the node"),
        "{}",
        running.stderr
    );
    net[0].stop()?;
    net[0].ostrom(&["key", "rotate"])?.ok()?;
    let new_key = net[0].publisher_key()?;
    ensure!(new_key != old_key, "the key did not change");
    net[0].restart()?;

    // The next checkpoint in a directory of its own: v1's files stay as they were published.
    let dir = net.scratch_dir("ckpt-v2")?;
    generate(&dir, &CheckpointSpec::new(1 << 20).seed(2))?;
    let v2: serde_json::Value = net[0].ostrom_json(&[
        "publish",
        &dir.display().to_string(),
        "--name",
        "gpt",
        "--tag",
        "v2",
    ])?;
    let v2 = v2["id"].as_str().context("id")?.to_owned();

    // Node 1 trusts only the old key (the testnet wrote it as node-0 before the rotation).
    // Until the rotation the restarted node 0 stores in the DHT reaches it, the name still
    // resolves under the old key, to v1.
    let deadline = Instant::now() + REVOCATION_SPREADS;
    let mut attempt = 0;
    let fetched: serde_json::Value = loop {
        attempt += 1;
        let out = net.scratch_dir(&format!("out-{attempt}"))?;
        let fetched: serde_json::Value = net[1].ostrom_json(&[
            "fetch",
            "node-0/gpt@latest",
            "-o",
            &out.display().to_string(),
        ])?;
        if fetched["checkpoint"] == v2.as_str() || Instant::now() >= deadline {
            break fetched;
        }
        eprintln!("attempt {attempt}: resolved before the rotation reached node 1");
    };
    ensure!(
        fetched["checkpoint"] == v2.as_str(),
        "resolved to {fetched}"
    );
    ensure!(fetched["publisher"] == new_key.as_str(), "{fetched}");
    ensure!(
        fetched["publisher_alias"] == "node-0",
        "not trusted through the rotation: {fetched}"
    );
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A new checkpoint of seed `seed` in its own directory (published files are served in
/// place, so each checkpoint keeps its own).
fn checkpoint(net: &Testnet, seed: u64) -> anyhow::Result<std::path::PathBuf> {
    let dir = net.scratch_dir(&format!("ckpt-{seed}"))?;
    generate(&dir, &CheckpointSpec::new(1 << 20).seed(seed))?;
    Ok(dir)
}

/// `ostrom fetch ID --json` on node `node` into a new scratch directory `out`.
fn fetch(net: &Testnet, node: usize, id: &str, out: &str) -> anyhow::Result<CmdOutput> {
    let out = net.scratch_dir(out)?.display().to_string();
    Ok(net[node].ostrom(&["fetch", id, "-o", &out, "--json"])?)
}

/// How long a rotation or revocation stored by a node as it starts may take to reach
/// another node.
const REVOCATION_SPREADS: Duration = Duration::from_secs(30);

/// Fetches `id` on `node` until the fetch is refused, or [`REVOCATION_SPREADS`] has passed;
/// the last attempt's output.
fn refused_once_revocation_spreads(
    net: &Testnet,
    node: usize,
    id: &str,
    out: &str,
) -> anyhow::Result<CmdOutput> {
    let deadline = Instant::now() + REVOCATION_SPREADS;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = fetch(net, node, id, &format!("{out}-{attempt}"))?;
        if !result.success() || Instant::now() >= deadline {
            return Ok(result);
        }
        eprintln!("attempt {attempt}: accepted before the revocation reached the fetcher");
    }
}

/// A lab rotates its key; a thief who stole the old key publishes with it and rotates it to
/// a key of its own; the lab revokes the old key with its offline recovery key, naming the
/// key it rotated to. A node whose trust entry names the recovery key then refuses the
/// thief's checkpoints and accepts the lab's; a node trusting the bare key cannot tell.
#[test]
fn a_lab_takes_its_name_back_from_a_key_thief() -> anyhow::Result<()> {
    let mut net = testnet(4).start()?;
    let (lab, fetcher, thief, naive) = (0, 1, 2, 3);
    let old_key = net[lab].publisher_key()?;
    let seed_file = net.scratch_dir("offline")?.join("recovery.seed");
    let seed_path = seed_file.display().to_string();
    let made = net[lab]
        .ostrom(&["key", "recovery", "new", &seed_path])?
        .ok()?;
    let recovery = made
        .last_line()
        .context("no recovery key printed")?
        .to_owned();
    let shown = net[lab].ostrom(&["key", "recovery"])?.ok()?;
    ensure!(
        shown.last_line() == Some(recovery.as_str()),
        "{}",
        shown.stdout
    );
    let again = net[lab].ostrom(&["key", "recovery", "new", &seed_path])?;
    ensure!(!again.success(), "an existing recovery key was overwritten");

    net[fetcher].ostrom(&["trust", "rm", "node-0"])?.ok()?;
    net[fetcher]
        .ostrom(&["trust", "add", "lab", &old_key, "--recovery", &recovery])?
        .ok()?;
    let listed: serde_json::Value = net[fetcher].ostrom_json(&["trust", "ls"])?;
    ensure!(
        listed
            .as_array()
            .is_some_and(|all| all.iter().any(|e| e["recovery"] == recovery.as_str())),
        "{listed}"
    );

    // The lab rotates normally.
    let rotated_at = now_ms();
    net[lab].stop()?;
    net[lab].ostrom(&["key", "rotate"])?.ok()?;
    let new_key = net[lab].publisher_key()?;
    net[lab].restart()?;
    let retired = std::fs::read_dir(net[lab].home())?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("publisher.key.retired-"))
        })
        .context("no retired key")?;

    // The thief publishes with the stolen key, then rotates it to its own and publishes.
    net[thief].stop()?;
    std::fs::copy(&retired, net[thief].home().join("publisher.key"))?;
    net[thief].restart()?;
    ensure!(
        net[thief].publisher_key()? == old_key,
        "the thief holds the old key"
    );
    let stolen = net[thief].publish(&checkpoint(&net, 10)?, "gpt")?;
    net[thief].stop()?;
    net[thief].ostrom(&["key", "rotate"])?.ok()?;
    let thief_key = net[thief].publisher_key()?;
    net[thief].restart()?;
    let thiefs_own = net[thief].publish(&checkpoint(&net, 11)?, "gpt")?;

    let before = fetch(&net, fetcher, &stolen.id, "before")?;
    ensure!(
        before.success(),
        "the stolen key is trusted until revoked: {}",
        before.stderr
    );

    // The lab revokes the old key from its rotation, naming its real key.
    net[lab].stop()?;
    net[lab]
        .ostrom(&[
            "key",
            "revoke",
            "--recovery",
            &seed_path,
            &old_key,
            "--successor",
            &new_key,
            "--at",
            &rotated_at.to_string(),
        ])?
        .ok()?;
    net[lab].restart()?;
    let real = net[lab].publish(&checkpoint(&net, 12)?, "gpt")?;

    for (what, id, out) in [
        ("signed by the stolen key", &stolen.id, "stolen"),
        ("signed by the thief's own key", &thiefs_own.id, "thiefs"),
    ] {
        // The restarted lab node stores its revocation in the DHT as it starts; the fetcher
        // sees it once that is done.
        let refused = refused_once_revocation_spreads(&net, fetcher, id, out)?;
        ensure!(
            !refused.success() && refused.stderr_contains("does not trust"),
            "the thief's checkpoint {what} was accepted, or unclear: {}",
            refused.stderr
        );
    }
    let accepted = fetch(&net, fetcher, &real.id, "real")?.ok()?;
    let accepted: serde_json::Value = accepted.json()?;
    ensure!(accepted["publisher"] == new_key.as_str(), "{accepted}");
    ensure!(accepted["publisher_alias"] == "lab", "{accepted}");
    ensure!(thief_key != new_key && thief_key != old_key, "three keys");

    // A node trusting the bare old key, with no recovery key, cannot tell.
    let naive_fetch = fetch(&net, naive, &stolen.id, "naive")?;
    ensure!(
        naive_fetch.success(),
        "an entry without recovery key cannot recover: {}",
        naive_fetch.stderr
    );
    Ok(())
}
