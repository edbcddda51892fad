//! The control API answers only local programs that hold the token: a real node with its
//! API on an ephemeral loopback port, asked over HTTP with and without the token, with a
//! foreign `Host` and with a browser's `Origin`.

use std::net::SocketAddr;

use ostrom_node::api::server;
use ostrom_node::{Home, Node, NodeOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Api {
    _dir: tempfile::TempDir,
    node: Node,
    base: String,
    token: String,
    http: reqwest::Client,
}

async fn start() -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path().join("home"));
    home.init().expect("init");
    let token = home.api_token().expect("token");
    let mut options = NodeOptions::temporary(vec![]);
    options.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")];
    let node = Node::start(home, options).await.expect("node starts");
    let bound = server::serve(node.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("api serves");
    Api {
        _dir: dir,
        node,
        base: format!("http://{bound}"),
        token,
        http: reqwest::Client::new(),
    }
}

async fn kind_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("json error body");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    body["kind"].as_str().expect("kind").to_owned()
}

const READS: [&str; 3] = [
    "/v1/checkpoints",
    "/v1/checkpoints/0000000000000000000000000000000000000000000000000000000000000000",
    "/v1/traffic",
];

fn posts() -> Vec<(&'static str, Value)> {
    vec![
        ("/v1/log", json!({"reference": "lab-a/model"})),
        ("/v1/resolve", json!({"reference": "lab-a/model"})),
        ("/v1/publish", json!({"path": "/nonexistent", "name": "m"})),
        ("/v1/retract", json!({"id": "00", "reason": ""})),
        ("/v1/fetch", json!({"id": "00", "out": "/nonexistent"})),
    ]
}

#[tokio::test]
async fn every_call_but_info_needs_the_token() {
    let api = start().await;
    for path in READS {
        let response = api
            .http
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "GET {path}");
        assert_eq!(kind_of(response).await, "unauthorized");
        let wrong = api
            .http
            .get(format!("{}{path}", api.base))
            .bearer_auth(format!("{}x", api.token))
            .send()
            .await
            .expect("answer");
        assert_eq!(
            wrong.status(),
            StatusCode::UNAUTHORIZED,
            "GET {path}, wrong token"
        );
    }
    for (path, body) in posts() {
        let response = api
            .http
            .post(format!("{}{path}", api.base))
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "POST {path}");
        assert_eq!(kind_of(response).await, "unauthorized");
    }

    let info = api
        .http
        .get(format!("{}/v1/info", api.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.expect("json");
    assert_eq!(
        info["peer_id"].as_str(),
        Some(api.node.network().local_peer_id().to_string().as_str())
    );

    let list = api
        .http
        .get(format!("{}/v1/checkpoints", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("answer");
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.expect("json");
    assert_eq!(list, json!([]));
    api.node.shutdown().await;
}

#[tokio::test]
async fn requests_not_from_local_programs_are_refused() {
    let api = start().await;
    let port = api.base.rsplit(':').next().expect("port").to_owned();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        "127.0.0.1:1".to_owned(),
    ] {
        for path in ["/v1/info", "/v1/checkpoints"] {
            let response = api
                .http
                .get(format!("{}{path}", api.base))
                .header(reqwest::header::HOST, &host)
                .bearer_auth(&api.token)
                .send()
                .await
                .expect("answer");
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "Host {host}, {path}"
            );
            assert_eq!(kind_of(response).await, "forbidden");
        }
    }
    for origin in ["http://evil.example", "http://127.0.0.1:8000", "null"] {
        let response = api
            .http
            .post(format!("{}/v1/log", api.base))
            .header(reqwest::header::ORIGIN, origin)
            .bearer_auth(&api.token)
            .json(&json!({"reference": "lab-a/model"}))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "Origin {origin}");
        assert_eq!(kind_of(response).await, "forbidden");
    }
    let local = api
        .http
        .get(format!("http://localhost:{port}/v1/checkpoints"))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("answer");
    assert_eq!(local.status(), StatusCode::OK);
    api.node.shutdown().await;
}

#[tokio::test]
async fn a_non_loopback_api_address_is_refused() {
    let api = start().await;
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let error = server::serve(api.node.clone(), addr.parse().expect("addr"))
            .await
            .expect_err(addr);
        let message = error.to_string();
        assert!(message.contains(addr), "{message}");
        assert!(message.contains("loopback"), "{message}");
    }
    api.node.shutdown().await;
}
