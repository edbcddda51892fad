//! Starting the listeners, and saying clearly why one failed.
//!
//! libp2p's TCP transport sets `SO_REUSEPORT` on every listening socket (libp2p-tcp 0.45
//! has no setting to turn that off), so on its own a second node given the same TCP port
//! would share it with the first, each taking part of the other's incoming connections.
//! Before listening on a fixed TCP port the node therefore binds it once without
//! `SO_REUSEPORT`: if a socket listens there already, the port is refused as in use. A
//! fixed UDP (QUIC) port is probed the same way, so both say why in the same words (the
//! QUIC transport's own error hides the cause's kind).

use std::collections::HashMap;
use std::error::Error;
use std::net::{IpAddr, SocketAddr};

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, Swarm};

use super::behaviour::Behaviour;
use super::handle::NetworkError;
use crate::error_chain::describe;

/// A fixed port a listen address asks for.
#[derive(Debug, PartialEq, Eq)]
enum FixedPort {
    Tcp(SocketAddr),
    Udp(SocketAddr),
}

/// The fixed TCP or UDP port of a listen address (`None` for port 0, DNS names and other
/// transports).
fn fixed_port(addr: &Multiaddr) -> Option<FixedPort> {
    let mut parts = addr.iter();
    let ip: IpAddr = match parts.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    match parts.next()? {
        Protocol::Tcp(port) if port != 0 => Some(FixedPort::Tcp(SocketAddr::new(ip, port))),
        Protocol::Udp(port) if port != 0 => Some(FixedPort::Udp(SocketAddr::new(ip, port))),
        _ => None,
    }
}

/// The reason given for a socket error on a listen address: the in-use hint, or the
/// error with its causes.
pub(crate) fn reason(error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "the port is already in use ({error}): another node or program listens there; \
             give each node on this host its own --home and port (--listen, or `listen` in \
             config.toml), or port 0 for any free one"
        )
    } else {
        describe(error)
    }
}

/// Refuses `addr` when it names a fixed TCP or UDP port that a socket already holds.
fn ensure_port_free(addr: &Multiaddr) -> Result<(), NetworkError> {
    // std's TCP listener sets SO_REUSEADDR but not SO_REUSEPORT: the bind fails while any
    // other socket listens on the port, yet succeeds past connections in TIME_WAIT. Its
    // UDP socket sets neither. Each probe is closed at once.
    let probe = match fixed_port(addr) {
        None => return Ok(()),
        Some(FixedPort::Tcp(socket)) => std::net::TcpListener::bind(socket).map(drop),
        Some(FixedPort::Udp(socket)) => std::net::UdpSocket::bind(socket).map(drop),
    };
    probe.map_err(|error| NetworkError::Listen {
        addr: addr.clone(),
        reason: reason(&error),
    })
}

/// Starts a listener on each of `addrs`; returns each listener's address.
pub(crate) fn listen_all(
    swarm: &mut Swarm<Behaviour>,
    addrs: &[Multiaddr],
) -> Result<HashMap<ListenerId, Multiaddr>, NetworkError> {
    let mut listeners = HashMap::new();
    for addr in addrs {
        ensure_port_free(addr)?;
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|error| NetworkError::Listen {
                addr: addr.clone(),
                reason: io_reason(&error).unwrap_or_else(|| describe(&error)),
            })?;
        listeners.insert(id, addr.clone());
    }
    Ok(listeners)
}

/// The in-use hint when some cause of `error` is an io error saying the address is in use.
fn io_reason(error: &(dyn Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::AddrInUse {
                return Some(reason(io));
            }
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fixed_ports_are_probed() {
        let socket: SocketAddr = "127.0.0.1:4001".parse().expect("socket address");
        let tcp: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().expect("multiaddr");
        assert_eq!(fixed_port(&tcp), Some(FixedPort::Tcp(socket)));
        let quic: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1"
            .parse()
            .expect("multiaddr");
        assert_eq!(fixed_port(&quic), Some(FixedPort::Udp(socket)));
        for other in [
            "/ip4/127.0.0.1/tcp/0",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "/dns4/example.org/tcp/4001",
        ] {
            let addr: Multiaddr = other.parse().expect("multiaddr");
            assert_eq!(fixed_port(&addr), None, "{other}");
        }
    }

    #[test]
    fn a_udp_port_in_use_is_refused_as_in_use() {
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("local address").port();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/udp/{port}/quic-v1")
            .parse()
            .expect("multiaddr");
        let message = ensure_port_free(&addr)
            .expect_err("port is taken")
            .to_string();
        assert!(message.contains(&addr.to_string()), "{message}");
        assert!(message.contains("in use"), "{message}");
    }

    #[test]
    fn a_tcp_port_with_a_listener_is_refused_as_in_use() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("local address").port();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}")
            .parse()
            .expect("multiaddr");
        let error = ensure_port_free(&addr).expect_err("port is taken");
        let message = error.to_string();
        assert!(message.contains(&addr.to_string()), "{message}");
        assert!(message.contains("in use"), "{message}");
        drop(taken);
        ensure_port_free(&addr).expect("port is free again");
    }
}
