//! Streams of the exchange protocol (`/ostrom/exchange/1.0.0`), negotiated by a network
//! behaviour and connection handler of the node's own, with caps on what a peer can make
//! the node hold.
//!
//! - [`behaviour`]: the network behaviour. It knows each connected peer's connections,
//!   routes requests to open a stream to one of them, dials a peer that is not connected
//!   and fails the requests waiting on a dial that fails.
//! - [`handler`]: one per connection. It offers the exchange protocol to the remote only
//!   while that peer is under its cap, hands every negotiated inbound stream to the
//!   acceptor, and negotiates the outbound streams it is asked for.
//! - [`slots`]: the per-peer and total counts of inbound streams, reserved before a
//!   stream is negotiated and released when the acceptor drops the stream.
//! - [`control`]: what the rest of the node holds: [`Control::open`] and
//!   [`Control::accept`], and the [`ExchangeStreamCounts`].
//!
//! Lifecycle of an inbound stream: the remote opens a substream; the handler reserves a
//! slot for the peer and in total ([`StreamCaps`]) and offers the protocol only if both are free, so a stream
//! over a cap fails negotiation and its opener is told the protocol is not supported (a
//! refusal, never a reset after the fact). A negotiated stream goes, with its slot, into
//! a channel with a place for every slot, which can therefore never be full; the
//! acceptor takes it from there and the slot is freed when it drops the stream.

pub mod behaviour;
pub mod control;
pub mod handler;
pub mod slots;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use behaviour::Behaviour;
pub use control::{Control, InboundStream, IncomingExchangeStreams, OpenError};
pub use slots::InboundPermit;

/// The caps on inbound exchange streams (`exchange_streams_per_peer` and
/// `exchange_streams` of the node's limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCaps {
    /// Most inbound streams one peer may hold open at once, over all its connections. A
    /// fetch uses a few streams per holder, so an honest peer stays far below this.
    pub per_peer: usize,
    /// Most inbound streams all peers together may hold open at once; also the size of the
    /// channel that carries negotiated streams to the acceptor.
    pub total: usize,
}

impl From<&crate::limits::Limits> for StreamCaps {
    fn from(limits: &crate::limits::Limits) -> Self {
        Self {
            per_peer: limits.exchange_streams_per_peer,
            total: limits.exchange_streams,
        }
    }
}

impl Default for StreamCaps {
    fn default() -> Self {
        (&crate::limits::Limits::default()).into()
    }
}

/// Requests to open a stream that may wait for the network's behaviour to take them.
pub const OPEN_QUEUE: usize = 256;

/// Requests to open a stream that may wait for a connection to their peer, all peers
/// together; beyond that a request fails at once.
pub const MAX_WAITING_OPENS: usize = 1024;

/// Requests to open a stream that one connection may hold before it negotiates them.
pub const MAX_QUEUED_OPENS_PER_CONNECTION: usize = 256;

/// Most connections to one peer that [`Control::open_spread`] spreads streams over (within
/// the node's per-peer connection limit).
pub const MAX_SPREAD_CONNECTIONS: usize = 4;

/// How long opening a stream may take in all: dialing, then negotiating.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the negotiation of one stream may take, either way.
pub const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How many exchange streams the node has accepted, opened and failed since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExchangeStreamCounts {
    /// Inbound streams handed to the acceptor.
    pub inbound_accepted: u64,
    /// Times an accepted stream took a peer's last free slot, after which the exchange
    /// protocol is not offered to that peer until one of its streams closes.
    pub inbound_peer_cap_reached: u64,
    /// Inbound streams negotiated but not handed over, because no acceptor was listening.
    /// Zero on a running node.
    pub inbound_dropped: u64,
    /// Outbound streams opened.
    pub outbound_opened: u64,
    /// Outbound streams that could not be opened, for any reason.
    pub outbound_failed: u64,
    /// Of those, streams the peer refused at negotiation (at its cap, or not serving).
    pub outbound_refused: u64,
}

/// The counters behind [`ExchangeStreamCounts`], shared by the handlers and controls.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    inbound_accepted: AtomicU64,
    inbound_peer_cap_reached: AtomicU64,
    inbound_dropped: AtomicU64,
    outbound_opened: AtomicU64,
    outbound_failed: AtomicU64,
    outbound_refused: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ExchangeStreamCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ExchangeStreamCounts {
            inbound_accepted: get(&self.inbound_accepted),
            inbound_peer_cap_reached: get(&self.inbound_peer_cap_reached),
            inbound_dropped: get(&self.inbound_dropped),
            outbound_opened: get(&self.outbound_opened),
            outbound_failed: get(&self.outbound_failed),
            outbound_refused: get(&self.outbound_refused),
        }
    }
}
