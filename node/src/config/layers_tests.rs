use std::time::Duration;

use super::*;
use crate::rate::Rate;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn path() -> &'static Path {
    Path::new("/h/config.toml")
}

fn origin_of(layered: &Layered, key: &str) -> Vec<Origin> {
    layered
        .settings
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no setting {key}"))
        .origins
        .clone()
}

fn error(text: &str, env: &[(&str, &str)], flags: &Flags) -> String {
    layer(path(), text, vars(env), flags)
        .expect_err("refused")
        .to_string()
}

#[test]
fn the_written_default_file_is_the_defaults_with_every_key_from_its_line() {
    let text = Config::default_file_text();
    let layered = layer(path(), &text, vec![], &Flags::default()).expect("loads");
    assert_eq!(layered.config, Config::default());
    let api_line = text
        .lines()
        .position(|l| l.starts_with("api ="))
        .expect("api is written")
        + 1;
    assert_eq!(
        origin_of(&layered, "api"),
        [Origin::File {
            path: path().to_owned(),
            line: Some(api_line)
        }]
    );
    assert_eq!(origin_of(&layered, "upload_limit"), [Origin::Default]);
    assert_eq!(origin_of(&layered, "limits.connections"), [Origin::Default]);
    // Every field of the configuration is listed, a table's as `table.key`.
    let keys: Vec<&str> = layered.settings.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys[0], "listen");
    assert!(keys.contains(&"limits.frame_timeout"), "{keys:?}");
    assert!(keys.contains(&"log_format") && keys.contains(&"metrics"));
}

#[test]
fn environment_overrides_the_file_and_flags_override_both() {
    let text = "fetch_timeout = \"10s\"\nupload_limit = \"1MiB\"\n[limits]\nconnections = 9\n";
    let env = vars(&[
        ("OSTROM_FETCH_TIMEOUT", "20s"),
        ("OSTROM_UPLOAD_LIMIT", "2MiB"),
        ("OSTROM_LIMITS__CONNECTIONS", "11"),
        ("OSTROM_HOME", "/elsewhere"),
        ("OSTROM_BIN", "/usr/bin/ostrom"),
        ("PATH", "/bin"),
    ]);
    let flags = Flags::default().set("upload_limit", "--upload-limit", Some("3MiB".into()));
    let layered = layer(path(), text, env, &flags).expect("loads");
    assert_eq!(layered.config.fetch_timeout, Duration::from_secs(20));
    assert_eq!(layered.config.upload_limit, Some(Rate(3 << 20)));
    assert_eq!(layered.config.limits.connections, 11);
    assert_eq!(
        origin_of(&layered, "fetch_timeout"),
        [Origin::Env {
            var: "OSTROM_FETCH_TIMEOUT".into()
        }]
    );
    assert_eq!(
        origin_of(&layered, "limits.connections"),
        [Origin::Env {
            var: "OSTROM_LIMITS__CONNECTIONS".into()
        }]
    );
    assert_eq!(
        origin_of(&layered, "upload_limit"),
        [Origin::Flag {
            flag: "--upload-limit".into()
        }]
    );
}

#[test]
fn bootstrap_flags_add_to_the_file_and_listen_flags_replace_it() {
    let peer = libp2p::PeerId::random();
    let in_file = format!("/ip4/10.0.0.1/tcp/4001/p2p/{peer}");
    let given = format!("/ip4/10.0.0.2/tcp/4001/p2p/{peer}");
    let text = format!("bootstrap = [\"{in_file}\"]\nlisten = [\"/ip4/0.0.0.0/tcp/4001\"]\n");
    let flags = Flags::default()
        .append_list("bootstrap", "--bootstrap", std::slice::from_ref(&given))
        .replace_list("listen", "--listen", &["/ip4/127.0.0.1/tcp/0".to_owned()]);
    let layered = layer(path(), &text, vec![], &flags).expect("loads");
    let bootstrap: Vec<String> = layered
        .config
        .bootstrap
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(bootstrap, [in_file, given]);
    assert_eq!(
        origin_of(&layered, "bootstrap"),
        [
            Origin::File {
                path: path().to_owned(),
                line: Some(1)
            },
            Origin::Flag {
                flag: "--bootstrap".into()
            }
        ]
    );
    assert_eq!(layered.config.listen.len(), 1);
    assert_eq!(
        origin_of(&layered, "listen"),
        [Origin::Flag {
            flag: "--listen".into()
        }]
    );
}

#[test]
fn a_list_can_be_given_in_the_environment() {
    let env = vars(&[(
        "OSTROM_LISTEN",
        "[/ip4/127.0.0.1/tcp/0, /ip4/127.0.0.1/udp/0/quic-v1]",
    )]);
    let layered = layer(path(), "", env, &Flags::default()).expect("loads");
    assert_eq!(
        layered.config.listen.len(),
        2,
        "{:?}",
        layered.config.listen
    );
}

#[test]
fn unknown_keys_name_the_key_and_where_it_was_set() {
    let message = error(
        "api = \"127.0.0.1:4101\"\n\nlistne = []\n",
        &[],
        &Flags::default(),
    );
    assert!(message.contains("/h/config.toml line 3"), "{message}");
    assert!(message.contains("unknown key `listne`"), "{message}");
    let message = error("[limits]\nconections = 3\n", &[], &Flags::default());
    assert!(message.contains("line 2: limits.conections"), "{message}");
    let message = error("", &[("OSTROM_FETCH_TIMOUT", "3s")], &Flags::default());
    assert!(
        message.starts_with("OSTROM_FETCH_TIMOUT: fetch_timout"),
        "{message}"
    );
}

#[test]
fn bad_values_name_the_key_and_where_it_was_set() {
    let message = error("\nfetch_timeout = \"soon\"\n", &[], &Flags::default());
    assert!(message.contains("line 2: fetch_timeout"), "{message}");
    assert!(message.contains("\"soon\" is not a duration"), "{message}");
    let message = error("", &[("OSTROM_UPLOAD_LIMIT", "lots")], &Flags::default());
    assert!(
        message.starts_with("OSTROM_UPLOAD_LIMIT: upload_limit"),
        "{message}"
    );
    let flags = Flags::default().set("metrics", "--metrics", Some("nowhere".into()));
    let message = error("", &[], &flags);
    assert!(message.starts_with("--metrics: metrics"), "{message}");
    let flags = Flags::default().set("log_format", "--log-format", Some("xml".into()));
    assert!(error("", &[], &flags).contains("--log-format: log_format"));
    let message = error("[limits]\nconnections = 0\n", &[], &Flags::default());
    assert!(
        message.contains("limits.connections must be at least 1"),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
    let message = error("api = [", &[], &Flags::default());
    assert!(message.contains("line 1"), "{message}");
}
