//! The control API: HTTP on a loopback address, used by the `ostrom` command to drive a
//! running node. Reading calls are open to local processes; calls that change state
//! (publish, fetch) need `Authorization: Bearer <token>` with the token from the node home.
//! Every error answer is an [`ErrorBody`](types::ErrorBody): a message and a stable kind.
//!
//! - [`types`]: the JSON bodies of every call.
//! - [`convert`]: those bodies made from the node's typed results.
//! - [`server`]: the axum routes.

pub mod convert;
pub mod server;
pub mod types;
