//! The configuration in force is config.toml under OSTROM_* environment variables under
//! flags: `ostrom config show` says which layer gave each value, on a running node and
//! without one; a bad key or value stops the node at start, naming the key and the line.

use anyhow::ensure;
use ostrom_testnet::locate::ostrom_binary;
use ostrom_testnet::{Bootstrap, NodeOptions};
use ostrom_tests::{set_config, testnet};

/// The setting `key` in `config show --json` output.
fn setting<'a>(settings: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    settings
        .as_array()
        .and_then(|all| all.iter().find(|s| s["key"] == key))
        .unwrap_or(&serde_json::Value::Null)
}

#[test]
fn config_show_names_the_layer_of_each_value() -> anyhow::Result<()> {
    let mut net = testnet(0).start()?;
    let node = net.add_stopped_node(
        NodeOptions::new()
            .bootstrap(Bootstrap::None)
            .arg("--log-format")
            .arg("json"),
    )?;
    set_config(net[node].home(), "fetch_timeout", "\"42s\"")?;
    net.start_node(node)?;
    let running: serde_json::Value = net[node].ostrom_json(&["config", "show"])?;
    let timeout = setting(&running, "fetch_timeout");
    ensure!(timeout["value"] == "42s", "{timeout}");
    ensure!(timeout["origins"][0]["layer"] == "file", "{timeout}");
    ensure!(
        timeout["origins"][0]["line"].as_u64() > Some(1),
        "{timeout}"
    );
    let format = setting(&running, "log_format");
    ensure!(format["value"] == "json", "{format}");
    ensure!(format["origins"][0]["flag"] == "--log-format", "{format}");
    // Its log lines are JSON objects.
    let log = net[node].log_tail(50);
    ensure!(
        log.lines()
            .any(|l| serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["fields"]["message"] == "node running")),
        "no JSON log line says the node runs: {log}"
    );
    net[node].stop()?;

    // Without a running node, the environment of the command is shown.
    let output = std::process::Command::new(ostrom_binary()?)
        .arg("--home")
        .arg(net[node].home())
        .args(["config", "show"])
        .env("OSTROM_LIMITS__CONNECTIONS", "77")
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(text.contains("no node is running"), "{text}");
    ensure!(
        text.lines()
            .any(|l| l.starts_with("connections = 77")
                && l.ends_with("# OSTROM_LIMITS__CONNECTIONS")),
        "{text}"
    );
    Ok(())
}

#[test]
fn an_unknown_key_stops_the_node_naming_it_and_its_line() -> anyhow::Result<()> {
    let mut net = testnet(0).start()?;
    let node = net.add_stopped_node(NodeOptions::new().bootstrap(Bootstrap::None))?;
    let config = net[node].home().join("config.toml");
    let text = std::fs::read_to_string(&config)?;
    let line = text
        .lines()
        .position(|l| l.starts_with("api ="))
        .unwrap_or(0)
        + 1;
    std::fs::write(&config, text.replacen("api =", "apy =", 1))?;
    let error = net
        .start_node(node)
        .expect_err("a node with an unknown key started");
    let message = format!("{error:#}");
    ensure!(
        message.contains(&format!("config.toml line {line}: apy")),
        "{message}"
    );
    ensure!(message.contains("unknown key `apy`"), "{message}");
    Ok(())
}
