//! Bootstrap peers: put in the routing table and dialed when the network starts, then,
//! while the node has no peer at all, dialed again after a growing delay
//! ([`retry_delay`]: 1 s, 2 s, 4 s … at most [`MAX_RETRY_DELAY`]), so a node whose
//! bootstrap peers were down when it started joins once one comes up.

use std::pin::Pin;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::time::{Instant, Sleep};

use super::behaviour::Behaviour;
use super::handle::NetworkError;

/// The delay before the first retry.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The longest delay between two retries.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// How long to wait before retry number `attempt` (0 for the first): the delay doubles
/// from [`FIRST_RETRY_DELAY`] up to [`MAX_RETRY_DELAY`].
pub fn retry_delay(attempt: u32) -> Duration {
    let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
    FIRST_RETRY_DELAY
        .saturating_mul(factor)
        .min(MAX_RETRY_DELAY)
}

/// Splits a full multiaddr into its peer id and the address before `/p2p/`.
fn peer_of(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut transport = addr.clone();
    match transport.pop() {
        Some(Protocol::P2p(peer)) => Some((peer, transport)),
        _ => None,
    }
}

/// The bootstrap peers and when to dial them again.
pub(crate) struct Bootstrap {
    peers: Vec<Multiaddr>,
    /// Retries made since the node was last connected.
    attempt: u32,
    next: Pin<Box<Sleep>>,
}

impl Bootstrap {
    /// Adds each of `peers` (which must end in `/p2p/PEER_ID`) to the routing table and
    /// dials them all.
    pub(crate) fn start(
        swarm: &mut Swarm<Behaviour>,
        peers: &[Multiaddr],
    ) -> Result<Self, NetworkError> {
        for addr in peers {
            let (peer, transport) =
                peer_of(addr).ok_or_else(|| NetworkError::BootstrapWithoutPeerId(addr.clone()))?;
            swarm.behaviour_mut().kad.add_address(&peer, transport);
        }
        let bootstrap = Self {
            peers: peers.to_vec(),
            attempt: 0,
            next: Box::pin(tokio::time::sleep(retry_delay(0))),
        };
        bootstrap.dial(swarm);
        Ok(bootstrap)
    }

    /// Dials every bootstrap peer and starts a DHT bootstrap.
    fn dial(&self, swarm: &mut Swarm<Behaviour>) {
        if self.peers.is_empty() {
            return;
        }
        for addr in &self.peers {
            if let Err(error) = swarm.dial(addr.clone()) {
                tracing::warn!(%addr, %error, "cannot dial bootstrap peer");
            }
        }
        if let Err(error) = swarm.behaviour_mut().kad.bootstrap() {
            tracing::debug!(%error, "DHT bootstrap did not start");
        }
    }

    /// Returns when the next check is due; never when there are no bootstrap peers.
    pub(crate) async fn due(&mut self) {
        if self.peers.is_empty() {
            std::future::pending::<()>().await;
        }
        self.next.as_mut().await;
    }

    /// A check is due: with no peer connected the bootstrap peers are dialed again and
    /// the next retry comes after a longer delay; with peers, the next check comes after
    /// [`MAX_RETRY_DELAY`].
    pub(crate) fn on_due(&mut self, swarm: &mut Swarm<Behaviour>) {
        if swarm.connected_peers().next().is_some() {
            self.attempt = 0;
            self.next.as_mut().reset(Instant::now() + MAX_RETRY_DELAY);
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        let delay = retry_delay(self.attempt);
        tracing::info!(
            attempt = self.attempt,
            next_in = ?delay,
            "no peers connected; dialing the bootstrap peers again"
        );
        self.dial(swarm);
        self.next.as_mut().reset(Instant::now() + delay);
    }

    /// The node's last connection closed: dial again soon, from the shortest delay.
    pub(crate) fn on_alone(&mut self) {
        self.attempt = 0;
        self.next.as_mut().reset(Instant::now() + retry_delay(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_from_one_second_up_to_a_minute() {
        let delays: Vec<u64> = (0..10).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(retry_delay(31), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(32), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }

    #[test]
    fn bootstrap_addresses_need_a_peer_id() {
        let peer = PeerId::random();
        let full: Multiaddr = format!("/ip4/10.0.0.5/tcp/4001/p2p/{peer}")
            .parse()
            .expect("multiaddr");
        let (got, transport) = peer_of(&full).expect("has a peer id");
        assert_eq!(got, peer);
        assert_eq!(transport.to_string(), "/ip4/10.0.0.5/tcp/4001");
        let bare: Multiaddr = "/ip4/10.0.0.5/tcp/4001".parse().expect("multiaddr");
        assert!(peer_of(&bare).is_none());
    }
}
