//! `GET /metrics`: the registry in Prometheus text format, on the address `metrics` in
//! config.toml (or `--metrics`) names. The gauges of the store and the DHT are read at
//! each scrape. A port already taken stops the node at start, saying so.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use super::collect::{Gauges, StoreStats};
use crate::node::Node;

/// The content type of the Prometheus text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("cannot serve metrics on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// Binds the metrics address now, so that a port already taken stops the node before it
/// starts.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| MetricsError::Bind {
            addr,
            reason: if error.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "the port is already in use ({error}); give another with --metrics HOST:PORT \
                 or `metrics` in config.toml"
                )
            } else {
                crate::error_chain::describe(&error)
            },
        })
}

#[derive(Clone)]
struct MetricsState {
    node: Node,
    registry: Arc<Registry>,
}

/// Serves `GET /metrics` on `listener` as a task of `node` until it shuts down; returns
/// the bound address.
pub fn serve(
    node: &Node,
    listener: TcpListener,
    registry: Arc<Registry>,
) -> std::io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    let state = MetricsState {
        node: node.clone(),
        registry,
    };
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state(state);
    let shutdown = node.shutdown_token();
    node.spawn(async move {
        let server =
            axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(error) = server.await {
            tracing::error!(%error, "metrics endpoint stopped");
        }
    });
    Ok(bound)
}

/// Reads the gauges of the store and the network now.
pub async fn read_gauges(node: &Node) -> Gauges {
    let network = node.network();
    let store = node.store().clone();
    let store = tokio::task::spawn_blocking(move || store_stats(&store))
        .await
        .unwrap_or_default();
    Gauges {
        connected_peers: network
            .connected_peers()
            .await
            .map_or(0, |p| p.len() as u64),
        dht: network.dht_stats().await.unwrap_or_default(),
        store,
    }
}

/// What the store holds: checkpoints held complete (and their bytes), and those held
/// in part.
pub fn store_stats(store: &crate::store::Store) -> StoreStats {
    let mut stats = StoreStats::default();
    for checkpoint in crate::inventory::list(store).unwrap_or_default() {
        if checkpoint.complete {
            stats.complete += 1;
            stats.bytes += checkpoint.bytes;
        } else if checkpoint.chunks_held > 0 {
            stats.partial += 1;
        }
    }
    stats
}

async fn scrape(State(state): State<MetricsState>) -> Response {
    state
        .node
        .metrics()
        .set_gauges(read_gauges(&state.node).await);
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
