//! The client side of a running node's control API. An error answer becomes a
//! [`Failure`] that keeps the node's error kind.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use ostrom_node::api::types::ErrorBody;
use ostrom_node::{ErrorKind, Home};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A connection to the node running on a home.
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// Connects to the node running on `home`, or `None` when none answers there.
    pub async fn connect(home: &Home) -> Option<Self> {
        let addr = home.running_api_addr()?;
        let base = format!("http://{addr}");
        let http = reqwest::Client::new();
        let alive = http
            .get(format!("{base}/v1/info"))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if !alive {
            return None;
        }
        Some(Self {
            base,
            token: home.api_token().unwrap_or_default(),
            http,
        })
    }

    async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .await
                .context("unreadable answer from the node");
        }
        let body: Option<ErrorBody> = response.json().await.ok();
        Err(Failure(body.unwrap_or_else(|| {
            ErrorBody::new(ErrorKind::Other, format!("the node answered {status}"))
        }))
        .into())
    }

    /// `GET path`, with the API token.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unreachable)?;
        Self::answer(response).await
    }

    /// `POST path` with a JSON body and the API token, reading an answer of
    /// newline-delimited JSON values onto `lines` until it ends.
    pub async fn post_lines<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        lines: &tokio::sync::mpsc::UnboundedSender<T>,
    ) -> Result<()> {
        let response = self.send_post(path, body).await?;
        if !response.status().is_success() {
            return Self::answer::<serde_json::Value>(response)
                .await
                .map(|_| ());
        }
        let mut body = response.bytes_stream();
        let mut buffer = Vec::new();
        while let Some(piece) = body.next().await {
            buffer.extend_from_slice(&piece.map_err(unreachable)?);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let value =
                    serde_json::from_slice(&line).context("unreadable answer from the node")?;
                if lines.send(value).is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// `POST path` with a JSON body and the API token.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        Self::answer(self.send_post(path, body).await?).await
    }

    async fn send_post<B: Serialize>(&self, path: &str, body: &B) -> Result<reqwest::Response> {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| unreachable(e).into())
    }
}

/// A failure with a stable kind: the node's error answer, or a node that stopped
/// answering.
#[derive(Debug, Clone)]
pub struct Failure(pub ErrorBody);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.error)
    }
}

impl std::error::Error for Failure {}

/// The node stopped answering (it stopped, crashed or closed the connection).
fn unreachable(error: reqwest::Error) -> Failure {
    Failure(ErrorBody::new(
        ErrorKind::NodeUnreachable,
        format!("the node stopped answering: {error}"),
    ))
}
