//! `ostrom config show`: every setting in force and where it came from.

use anyhow::Result;
use ostrom_node::config::layers::{Flags, Origin, Setting};
use ostrom_node::Home;

use crate::client::ApiClient;

pub async fn show(home: &Home, json: bool) -> Result<()> {
    let (settings, running) = match ApiClient::connect(home).await {
        Some(client) => (client.get::<Vec<Setting>>("/v1/config").await?, true),
        None => (home.layered_config(&Flags::default())?.settings, false),
    };
    if json {
        return super::print_json(&settings);
    }
    if running {
        println!(
            "# in force on the node running on {}",
            home.root().display()
        );
    } else {
        println!(
            "# no node is running on {}; what `ostrom node run` would use in this environment, \
             without flags",
            home.root().display()
        );
    }
    print!("{}", text(&settings));
    Ok(())
}

/// `key = value  # origin` lines, a table's keys under its `[table]` header.
fn text(settings: &[Setting]) -> String {
    let mut out = String::new();
    let mut table = "";
    let width = settings
        .iter()
        .map(|s| line(s, s.key.split_once('.').map_or(s.key.as_str(), |(_, k)| k)).len())
        .max()
        .unwrap_or(0);
    for setting in settings {
        let key = match setting.key.split_once('.') {
            Some((name, key)) => {
                if name != table {
                    out += &format!("\n[{name}]\n");
                    table = &setting.key[..name.len()];
                }
                key
            }
            None => setting.key.as_str(),
        };
        let origins: Vec<String> = setting.origins.iter().map(Origin::to_string).collect();
        out += &format!(
            "{:<width$}  # {}\n",
            line(setting, key),
            origins.join(" + ")
        );
    }
    out
}

/// `key = value`, or `# key (not set)` for an absent optional setting.
fn line(setting: &Setting, key: &str) -> String {
    match &setting.value {
        serde_json::Value::Null => format!("# {key} (not set)"),
        value => format!("{key} = {value}"),
    }
}
