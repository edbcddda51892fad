//! The control API: HTTP on a loopback address, used by the `ostrom` command to drive a
//! running node. Reading calls are open to local processes; calls that change state
//! (publish, fetch) need `Authorization: Bearer <token>` with the token from the node home.
//!
//! - [`types`]: the JSON bodies of every call.
//! - [`server`]: the axum routes.

pub mod server;
pub mod types;
