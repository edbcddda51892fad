//! The control API's routes, served with axum on a loopback address.
//!
//! | call | what it does |
//! |---|---|
//! | `GET /v1/info` | peer id, listen addresses, publisher key |
//! | `GET /v1/checkpoints` | every stored checkpoint |
//! | `GET /v1/checkpoints/{id}` | one checkpoint (by checkpoint or file id) |
//! | `POST /v1/publish` | publish a path (token) |
//! | `POST /v1/retract` | retract a checkpoint this node published (token) |
//! | `POST /v1/resolve` | resolve `ALIAS/MODEL[@TAG]` to a checkpoint id |
//! | `POST /v1/log` | the lineage of `ALIAS/MODEL[@TAG]` |
//! | `POST /v1/fetch` | fetch an id into a directory (token); answers newline-delimited JSON [`FetchEvent`]s |

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ostrom_protocol::Id;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::types::{ErrorBody, FetchBody, FetchEvent, PublishBody, ResolveBody, RetractBody};
use crate::exchange::FetchRequest;
use crate::inventory;
use crate::names::NameRef;
use crate::node::{Node, NodeError};
use crate::publish::PublishRequest;

#[derive(Clone)]
struct ApiState {
    node: Node,
    token: String,
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

fn bad_request(message: impl ToString) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.to_string())
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        let status = match &error {
            NodeError::Publish(_) | NodeError::Statement(_) | NodeError::UnknownCheckpoint(_) => {
                StatusCode::BAD_REQUEST
            }
            NodeError::Fetch(_) | NodeError::Name(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, error.to_string())
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn check_token(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented == Some(state.token.as_str()) {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API token (it is in the node home's api.token)".into(),
        ))
    }
}

fn parse_id(text: &str) -> Result<Id, ApiError> {
    text.parse().map_err(bad_request)
}

/// Binds the control API on `addr`, writes the bound address into the home's `api.addr`,
/// and serves until the returned task is dropped or the runtime stops.
pub async fn serve(
    node: Node,
    addr: SocketAddr,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), NodeError> {
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
    let state = ApiState { node, token };
    let router = Router::new()
        .route("/v1/info", get(info))
        .route("/v1/checkpoints", get(list))
        .route("/v1/checkpoints/{id}", get(show))
        .route("/v1/publish", post(publish))
        .route("/v1/fetch", post(fetch))
        .route("/v1/resolve", post(resolve))
        .route("/v1/retract", post(retract))
        .route("/v1/log", post(log))
        .with_state(state);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "control API stopped");
        }
    });
    Ok((bound, task))
}

async fn info(State(state): State<ApiState>) -> Json<impl Serialize> {
    Json(state.node.info().await)
}

async fn list(State(state): State<ApiState>) -> ApiResult<impl Serialize> {
    inventory::list(state.node.store())
        .map(Json)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn show(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<impl Serialize> {
    let id = parse_id(&id)?;
    match inventory::show(state.node.store(), &id) {
        Ok(Some(summary)) => Ok(Json(summary)),
        Ok(None) => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("{id} is not a checkpoint or file this node knows; fetch it first"),
        )),
        Err(e) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

fn parse_reference(text: &str) -> Result<NameRef, ApiError> {
    text.parse().map_err(bad_request)
}

async fn resolve(
    State(state): State<ApiState>,
    Json(body): Json<ResolveBody>,
) -> ApiResult<impl Serialize> {
    let reference = parse_reference(&body.reference)?;
    Ok(Json(state.node.resolve(&reference).await?))
}

async fn log(
    State(state): State<ApiState>,
    Json(body): Json<ResolveBody>,
) -> ApiResult<impl Serialize> {
    let reference = parse_reference(&body.reference)?;
    Ok(Json(state.node.log(&reference).await?))
}

async fn retract(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(body): Json<RetractBody>,
) -> ApiResult<impl Serialize> {
    check_token(&state, &headers)?;
    let id = parse_id(&body.id)?;
    Ok(Json(state.node.retract(id, &body.reason).await?))
}

async fn publish(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(body): Json<PublishBody>,
) -> ApiResult<impl Serialize> {
    check_token(&state, &headers)?;
    let parent = body.parent.as_deref().map(parse_id).transpose()?;
    let request = PublishRequest {
        path: PathBuf::from(body.path),
        name: body.name,
        tag: body.tag,
        parent,
        metadata: body.metadata.into_iter().collect::<BTreeMap<_, _>>(),
    };
    Ok(Json(state.node.publish(request).await?))
}

async fn fetch(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(body): Json<FetchBody>,
) -> Result<Response, ApiError> {
    check_token(&state, &headers)?;
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let request = FetchRequest {
        id: parse_id(&body.id)?,
        out: PathBuf::from(body.out),
        timeout: Duration::from_millis(body.timeout_ms),
        progress: Some(progress_tx),
        allow_untrusted: body.allow_untrusted,
        allow_retracted: body.allow_retracted,
    };
    let (lines_tx, lines) = mpsc::unbounded_channel::<FetchEvent>();
    let node = state.node.clone();
    let fetch_task = tokio::spawn(async move { node.fetch(request).await });
    tokio::spawn(async move {
        // Forward progress until the fetch ends (its sender is dropped) or the client
        // goes away, which cancels the fetch; then send the result.
        while let Some(update) = progress.recv().await {
            if lines_tx.send(FetchEvent::Progress(update)).is_err() {
                fetch_task.abort();
                return;
            }
        }
        let last = match fetch_task.await {
            Ok(Ok(outcome)) => {
                tracing::info!(id = %outcome.id, bytes = outcome.bytes, seconds = outcome.seconds, "fetched");
                FetchEvent::Done(Box::new(outcome))
            }
            Ok(Err(error)) => FetchEvent::Error(error.to_string()),
            Err(error) => FetchEvent::Error(format!("fetch task failed: {error}")),
        };
        let _ = lines_tx.send(last);
    });
    let stream = futures::stream::unfold(lines, |mut lines| async move {
        let event = lines.recv().await?;
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, Infallible>(line), lines))
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
