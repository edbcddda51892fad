//! The control API: HTTP on a loopback address, used by the `ostrom` command to drive a
//! running node. Every call but `GET /v1/info` (the liveness check) needs
//! `Authorization: Bearer <token>` with the token from the node home's `api.token`, and
//! only local programs are answered: a loopback address only, the API's own address in
//! `Host`, no browser `Origin`.
//! Every error answer is an [`ErrorBody`](types::ErrorBody): a message and a stable kind.
//!
//! - [`types`]: the JSON bodies of every call.
//! - [`convert`]: those bodies made from the node's typed results.
//! - [`guard`]: the loopback, Host, Origin and token checks.
//! - [`server`]: the axum routes.
//! - [`bundle`]: the bodies of the bundle calls (export, import).

pub mod bundle;
pub mod convert;
pub mod guard;
pub mod server;
pub mod types;
