//! Who may talk to the control API: only local programs that hold the node home's token.
//!
//! - [`check_api_addr`]: the API binds loopback addresses only.
//! - [`local_only`]: every request must name the API's own loopback address in `Host`
//!   (a web page that rebinds a DNS name to 127.0.0.1 sends its own name) and carry no
//!   `Origin` (browsers send one; the `ostrom` command does not). Refused with 403.
//! - [`require_token`]: `Authorization: Bearer <token>`, compared in constant time
//!   (BLAKE3 hashes of both, whose equality check is constant-time). Refused with 401.

use std::io;
use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::types::ErrorBody;
use crate::error_kind::ErrorKind;
use crate::node::NodeError;

/// Refuses an API address that is not loopback: the API is for programs on this machine.
pub fn check_api_addr(addr: SocketAddr) -> Result<(), NodeError> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    Err(NodeError::Api {
        addr,
        source: io::Error::new(
            io::ErrorKind::InvalidInput,
            "the control API is local-only and binds loopback addresses only \
             (e.g. 127.0.0.1:4101); set `api` in config.toml or --api to one",
        ),
    })
}

/// Whether `host` (a `Host` header's value) names the API's loopback address on `port`.
pub fn is_local_host(host: &str, port: u16) -> bool {
    let Some((name, given_port)) = host.rsplit_once(':') else {
        return false;
    };
    if given_port.parse::<u16>().ok() != Some(port) {
        return false;
    }
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]"
}

fn refuse(status: StatusCode, kind: ErrorKind, message: &str) -> Response {
    (status, Json(ErrorBody::new(kind, message))).into_response()
}

/// Middleware: refuses requests whose `Host` is not the API's loopback address on `port`,
/// and every request with an `Origin`.
pub async fn local_only(State(port): State<u16>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if headers.contains_key(header::ORIGIN) {
        return refuse(
            StatusCode::FORBIDDEN,
            ErrorKind::Forbidden,
            "the control API does not answer requests from web pages (Origin header)",
        );
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !host.is_some_and(|h| is_local_host(h, port)) {
        return refuse(
            StatusCode::FORBIDDEN,
            ErrorKind::Forbidden,
            &format!(
                "the control API answers only requests for 127.0.0.1:{port}, \
                 localhost:{port} or [::1]:{port} (Host header)"
            ),
        );
    }
    next.run(request).await
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in constant time.
pub fn has_token(headers: &HeaderMap, token: &str) -> bool {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // blake3::Hash's equality is constant-time; hashing first also hides the length.
    !token.is_empty() && blake3::hash(presented.as_bytes()) == blake3::hash(token.as_bytes())
}

/// Middleware: refuses requests without the node home's API token.
pub async fn require_token(
    State(token): State<std::sync::Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    if !has_token(request.headers(), &token) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Unauthorized,
            "missing or wrong API token (it is in the node home's api.token)",
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_with_the_bound_port_only() {
        for host in [
            "127.0.0.1:4101",
            "localhost:4101",
            "LocalHost:4101",
            "[::1]:4101",
        ] {
            assert!(is_local_host(host, 4101), "{host}");
        }
        for host in [
            "127.0.0.1:4102",
            "127.0.0.1",
            "localhost",
            "evil.example:4101",
            "127.0.0.1.evil.example:4101",
            "localhost.:4101",
            "[::1]",
            "",
        ] {
            assert!(!is_local_host(host, 4101), "{host}");
        }
    }

    #[test]
    fn only_the_exact_token_passes() {
        let mut headers = HeaderMap::new();
        assert!(!has_token(&headers, "secret"));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer secre".parse().expect("header"),
        );
        assert!(!has_token(&headers, "secret"));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer secret".parse().expect("header"),
        );
        assert!(has_token(&headers, "secret"));
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().expect("header"));
        assert!(!has_token(&headers, ""));
    }

    #[test]
    fn only_loopback_api_addresses() {
        assert!(check_api_addr("127.0.0.1:4101".parse().expect("addr")).is_ok());
        assert!(check_api_addr("[::1]:0".parse().expect("addr")).is_ok());
        for addr in ["0.0.0.0:4101", "10.0.0.5:4101", "[::]:4101"] {
            let error = check_api_addr(addr.parse().expect("addr")).expect_err(addr);
            assert!(error.to_string().contains(addr), "{error}");
        }
    }
}
