//! The control API's routes, served with axum on a loopback address.
//!
//! | call | what it does |
//! |---|---|
//! | `GET /v1/info` | peer id, listen addresses, publisher key, version (no token) |
//! | `GET /v1/traffic` | block bytes exchanged with each peer |
//! | `GET /v1/status` | peers by lab, DHT health, store, fetches under way ([`StatusReport`](crate::status::StatusReport)) |
//! | `GET /v1/config` | every setting in force and where it came from ([`Setting`](crate::config::layers::Setting)) |
//! | `GET /v1/checkpoints` | every stored checkpoint |
//! | `GET /v1/checkpoints/{id}` | one checkpoint (by checkpoint or file id) |
//! | `POST /v1/publish` | publish a path; with `"progress": true`, answers newline-delimited JSON [`PublishEvent`]s |
//! | `POST /v1/retract` | retract a checkpoint this node published |
//! | `POST /v1/resolve` | resolve `ALIAS/MODEL[@TAG]` to a checkpoint id |
//! | `POST /v1/log` | the lineage of `ALIAS/MODEL[@TAG]` |
//! | `POST /v1/fetch` | fetch an id into a directory; answers newline-delimited JSON [`FetchEvent`]s |
//! | `POST /v1/export` | write an offline bundle of checkpoints |
//! | `POST /v1/import` | import an offline bundle, then announce it |
//!
//! Every call but `GET /v1/info` needs the token; every call must come from a local
//! program (see [`guard`](super::guard)).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ostrom_protocol::Id;
use serde::Serialize;
use tokio::net::TcpListener;

use super::bundle::{ExportBody, ExportReport, ImportBody, ImportReport};
use super::guard;
pub use super::guard::check_api_addr;
use super::types::{
    CheckpointSummary, ErrorBody, FetchBody, FetchEvent, LogEntry, NodeInfo, PublishBody,
    PublishEvent, PublishOutcome, ResolveBody, Resolved, RetractBody, Retracted, TrafficInfo,
};
use crate::error_kind::ErrorKind;
use crate::exchange::FetchRequest;
use crate::inventory;
use crate::names::NameRef;
use crate::node::{FetchUpdate, Node, NodeError};
use crate::publish::PublishRequest;
use crate::store::StoreError;
use crate::subset::TensorSelection;

#[derive(Clone)]
struct ApiState {
    node: Node,
}

struct ApiError(StatusCode, ErrorBody);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn bad_request(message: impl ToString) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        ErrorBody::new(ErrorKind::BadRequest, message.to_string()),
    )
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        let status = match &error {
            NodeError::Publish(_) | NodeError::Statement(_) | NodeError::UnknownCheckpoint(_) => {
                StatusCode::BAD_REQUEST
            }
            NodeError::Fetch(_) | NodeError::Name(_) | NodeError::Bundle(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            NodeError::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, ErrorBody::from(&error))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorBody::new(ErrorKind::Store, error.to_string()),
        )
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn parse_id(text: &str) -> Result<Id, ApiError> {
    text.parse().map_err(bad_request)
}

/// Binds the control API on `addr`, writes the bound address into the home's `api.addr`,
/// and serves as a task of the node until the node shuts down; requests under way then
/// finish (a running fetch ends with a `cancelled` error line).
/// An address that is not loopback is refused before anything is bound.
pub async fn serve(node: Node, addr: SocketAddr) -> Result<SocketAddr, NodeError> {
    guard::check_api_addr(addr)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Api { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| NodeError::Api { addr, source })?;
    let token = node.home().api_token()?;
    let addr_file = node.home().api_addr_path();
    std::fs::write(&addr_file, format!("{bound}\n"))
        .map_err(|source| NodeError::Api { addr, source })?;
    let shutdown = node.shutdown_token();
    let state = ApiState { node: node.clone() };
    let token: Arc<str> = Arc::from(token);
    let router = Router::new()
        .route("/v1/traffic", get(traffic))
        .route("/v1/status", get(status))
        .route("/v1/config", get(config))
        .route("/v1/checkpoints", get(list))
        .route("/v1/checkpoints/{id}", get(show))
        .route("/v1/publish", post(publish))
        .route("/v1/fetch", post(fetch))
        .route("/v1/resolve", post(resolve))
        .route("/v1/retract", post(retract))
        .route("/v1/log", post(log))
        .route("/v1/export", post(export))
        .route("/v1/import", post(import))
        .route_layer(middleware::from_fn_with_state(token, guard::require_token))
        .route("/v1/info", get(info))
        .layer(middleware::from_fn_with_state(
            bound.port(),
            guard::local_only,
        ))
        .with_state(state);
    node.spawn(async move {
        let server =
            axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(error) = server.await {
            tracing::error!(%error, "control API stopped");
        }
    });
    Ok(bound)
}

async fn info(State(state): State<ApiState>) -> Json<NodeInfo> {
    Json(NodeInfo::from(&state.node.info().await))
}

async fn traffic(State(state): State<ApiState>) -> ApiResult<TrafficInfo> {
    let mut traffic = TrafficInfo::from(&state.node.traffic());
    traffic.streams = state.node.network().exchange_stream_counts();
    Ok(Json(traffic))
}

async fn status(State(state): State<ApiState>) -> Json<crate::status::StatusReport> {
    Json(crate::status::report(&state.node).await)
}

async fn config(State(state): State<ApiState>) -> Json<Vec<crate::config::layers::Setting>> {
    Json(state.node.settings().to_vec())
}

async fn list(State(state): State<ApiState>) -> ApiResult<Vec<CheckpointSummary>> {
    let all = inventory::list(state.node.store())?;
    Ok(Json(all.iter().map(CheckpointSummary::from).collect()))
}

async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<CheckpointSummary> {
    let id = parse_id(&id)?;
    match inventory::show(state.node.store(), &id)? {
        Some(checkpoint) => Ok(Json(CheckpointSummary::from(&checkpoint))),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            ErrorBody::new(
                ErrorKind::NotFound,
                format!("{id} is not a checkpoint or file this node knows; fetch it first"),
            ),
        )),
    }
}

fn parse_reference(text: &str) -> Result<NameRef, ApiError> {
    text.parse().map_err(bad_request)
}

async fn resolve(
    State(state): State<ApiState>,
    Json(body): Json<ResolveBody>,
) -> ApiResult<Resolved> {
    let reference = parse_reference(&body.reference)?;
    Ok(Json(Resolved::from(&state.node.resolve(&reference).await?)))
}

async fn log(
    State(state): State<ApiState>,
    Json(body): Json<ResolveBody>,
) -> ApiResult<Vec<LogEntry>> {
    let reference = parse_reference(&body.reference)?;
    let entries = state.node.log(&reference).await?;
    Ok(Json(entries.iter().map(LogEntry::from).collect()))
}

async fn retract(
    State(state): State<ApiState>,
    Json(body): Json<RetractBody>,
) -> ApiResult<Retracted> {
    let id = parse_id(&body.id)?;
    Ok(Json(state.node.retract(id, &body.reason).await?.into()))
}

async fn publish(
    State(state): State<ApiState>,
    Json(body): Json<PublishBody>,
) -> Result<Response, ApiError> {
    let parent = body.parent.as_deref().map(parse_id).transpose()?;
    let request = PublishRequest {
        path: PathBuf::from(body.path),
        name: body.name,
        tag: body.tag,
        parent,
        metadata: body.metadata.into_iter().collect::<BTreeMap<_, _>>(),
        follow_symlinks: body.follow_symlinks,
        force_tag: body.force_tag,
    };
    if !body.progress {
        let publication = state.node.publish(request).await?;
        return Ok(Json(PublishOutcome::from(&publication)).into_response());
    }
    let (progress_tx, progress) = tokio::sync::mpsc::unbounded_channel();
    let node = state.node.clone();
    let publishing = node.spawn(async move {
        state
            .node
            .publish_with_progress(request, Some(progress_tx))
            .await
    });
    let updates = futures::stream::unfold(
        (progress, Some(publishing)),
        |(mut progress, publishing)| async move {
            let publishing = publishing?;
            if let Some(progress_report) = progress.recv().await {
                let event = PublishEvent::Progress {
                    progress: progress_report,
                };
                return Some((event, (progress, Some(publishing))));
            }
            let event = match publishing.await {
                Ok(Ok(publication)) => PublishEvent::Done {
                    done: Box::new(PublishOutcome::from(&publication)),
                },
                Ok(Err(error)) => PublishEvent::Error(ErrorBody::from(&error)),
                Err(error) => {
                    PublishEvent::Error(ErrorBody::new(ErrorKind::Internal, error.to_string()))
                }
            };
            Some((event, (progress, None)))
        },
    );
    let lines = futures::StreamExt::map(updates, |event| {
        let mut line = json_line(&event);
        line.push(b'\n');
        Ok::<_, Infallible>(line)
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(lines))
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorBody::new(ErrorKind::Internal, e.to_string()),
            )
        })
}

async fn export(
    State(state): State<ApiState>,
    Json(body): Json<ExportBody>,
) -> ApiResult<ExportReport> {
    let request = body.request().map_err(bad_request)?;
    Ok(Json(ExportReport::from(&state.node.export(request).await?)))
}

async fn import(
    State(state): State<ApiState>,
    Json(body): Json<ImportBody>,
) -> ApiResult<ImportReport> {
    let (outcome, announced) = state.node.import((&body).into()).await?;
    Ok(Json(ImportReport::new(&outcome, announced)))
}

/// Streams the fetch's [`FetchEvent`]s as newline-delimited JSON. A client that goes
/// away drops the stream, which stops the fetch.
async fn fetch(
    State(state): State<ApiState>,
    Json(body): Json<FetchBody>,
) -> Result<Response, ApiError> {
    let tensors = if body.tensors.is_empty() {
        None
    } else {
        Some(TensorSelection::new(&body.tensors, body.other_files).map_err(bad_request)?)
    };
    let request = FetchRequest {
        tensors,
        id: parse_id(&body.id)?,
        out: PathBuf::from(body.out),
        name_dir: body.name_dir,
        force: body.force,
        timeout: Duration::from_millis(body.timeout_ms),
        progress: None,
        allow_untrusted: body.allow_untrusted,
        allow_retracted: body.allow_retracted,
    };
    let running = state.node.fetch_with_progress(request);
    let stream = futures::stream::unfold(running, |mut running| async move {
        let update = running.next().await?;
        if let FetchUpdate::Finished(result) = &update {
            if let Ok(outcome) = result.as_ref() {
                tracing::info!(id = %outcome.id, bytes = outcome.bytes, seconds = outcome.elapsed.as_secs_f64(), "fetched");
            }
        }
        let mut line = json_line(&FetchEvent::from(update));
        line.push(b'\n');
        Some((Ok::<_, Infallible>(line), running))
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(stream))
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorBody::new(ErrorKind::Internal, e.to_string()),
            )
        })
}

/// One event as JSON; these types always serialize, but a line is never left empty.
fn json_line<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|error| {
        serde_json::to_vec(&ErrorBody::new(ErrorKind::Internal, error.to_string()))
            .unwrap_or_default()
    })
}
