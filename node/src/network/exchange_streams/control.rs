//! The node's side of exchange streams: [`Control::open`] asks the behaviour for a new
//! outbound stream and waits for it under a deadline; [`Control::accept`] hands out, once,
//! the receiver of every inbound stream; [`Control::counts`] reads the counters.

use std::sync::{Arc, Mutex};

use libp2p::swarm::ConnectionId;
use libp2p::{PeerId, Stream};
use tokio::sync::{mpsc, oneshot};

use super::slots::InboundPermit;
use super::{bump, Counters, ExchangeStreamCounts, OPEN_TIMEOUT};

/// Why an exchange stream could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The peer did not offer the exchange protocol: it is at its limit of concurrent
    /// exchange streams from this node, or it does not serve the exchange.
    #[error(
        "the peer refused the exchange protocol (at its limit of concurrent exchange \
         streams, or not serving)"
    )]
    Refused,
    /// No connection to the peer could be made.
    #[error("cannot connect to the peer: {0}")]
    Unreachable(String),
    /// The peer did not finish negotiating the stream in time.
    #[error("the peer did not negotiate the stream in time")]
    NegotiationTimeout,
    /// Negotiating the stream failed on the connection.
    #[error("negotiating the stream failed: {0}")]
    Negotiation(String),
    /// The connection closed before the stream was open.
    #[error("the connection closed before the stream was open")]
    ConnectionClosed,
    /// Too many streams are being opened at once.
    #[error("too many exchange streams are being opened at once")]
    Busy,
    /// Opening took longer than [`OPEN_TIMEOUT`].
    #[error("no stream within {0:?}")]
    Timeout(std::time::Duration),
    /// The network has shut down.
    #[error("the network has shut down")]
    Shutdown,
}

/// Where the outcome of opening a stream goes.
pub(crate) type OpenReply = oneshot::Sender<Result<Stream, OpenError>>;

/// A request to open an exchange stream to a peer, on its way to a connection handler.
#[derive(Debug)]
pub struct OpenRequest {
    pub(crate) peer: PeerId,
    /// Whether to open it on a connection of its own (see [`Control::open_spread`]).
    pub(crate) spread: bool,
    pub(crate) reply: OpenReply,
}

/// A negotiated inbound exchange stream, holding its peer's slot until it is dropped.
#[derive(Debug)]
pub struct InboundStream {
    /// The peer that opened it.
    pub peer: PeerId,
    /// The connection it came on.
    pub connection: ConnectionId,
    /// The stream.
    pub stream: Stream,
    /// The slot it holds; keep it as long as the stream is served.
    pub permit: InboundPermit,
}

/// Every inbound exchange stream, in the order negotiated.
#[derive(Debug)]
pub struct IncomingExchangeStreams {
    receiver: mpsc::Receiver<InboundStream>,
}

impl IncomingExchangeStreams {
    /// The next inbound stream; `None` once the network has stopped.
    pub async fn next(&mut self) -> Option<InboundStream> {
        self.receiver.recv().await
    }
}

/// A cloneable handle on the exchange-stream behaviour.
#[derive(Debug, Clone)]
pub struct Control {
    requests: mpsc::Sender<OpenRequest>,
    incoming: Arc<Mutex<Option<mpsc::Receiver<InboundStream>>>>,
    counters: Arc<Counters>,
}

impl Control {
    pub(crate) fn new(
        requests: mpsc::Sender<OpenRequest>,
        incoming: mpsc::Receiver<InboundStream>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            requests,
            incoming: Arc::new(Mutex::new(Some(incoming))),
            counters,
        }
    }

    /// Opens a new exchange stream to `peer`, dialing it if it is not connected, on its
    /// connection with the fewest streams opened so far; fails after [`OPEN_TIMEOUT`] at
    /// most.
    pub async fn open(&self, peer: PeerId) -> Result<Stream, OpenError> {
        self.open_with(peer, false).await
    }

    /// Like [`Control::open`], but on a new connection to a connected peer while it has
    /// fewer than [`super::MAX_SPREAD_CONNECTIONS`] (on an existing one when the peer has that
    /// many, or the new one cannot be made). Streams opened so run on separate
    /// connections, each encrypted and multiplexed by a task of its own.
    pub async fn open_spread(&self, peer: PeerId) -> Result<Stream, OpenError> {
        self.open_with(peer, true).await
    }

    async fn open_with(&self, peer: PeerId, spread: bool) -> Result<Stream, OpenError> {
        let opening = async {
            let (reply, answer) = oneshot::channel();
            self.requests
                .send(OpenRequest {
                    peer,
                    spread,
                    reply,
                })
                .await
                .map_err(|_| OpenError::Shutdown)?;
            answer.await.map_err(|_| OpenError::ConnectionClosed)?
        };
        let result = tokio::time::timeout(OPEN_TIMEOUT, opening)
            .await
            .unwrap_or(Err(OpenError::Timeout(OPEN_TIMEOUT)));
        match &result {
            Ok(_) => bump(&self.counters.outbound_opened),
            Err(error) => {
                bump(&self.counters.outbound_failed);
                if *error == OpenError::Refused {
                    bump(&self.counters.outbound_refused);
                }
                tracing::debug!(%peer, %error, "cannot open an exchange stream");
            }
        }
        result
    }

    /// The receiver of every inbound exchange stream; `None` if it was taken before.
    pub fn accept(&self) -> Option<IncomingExchangeStreams> {
        let receiver = self.incoming.lock().ok()?.take()?;
        Some(IncomingExchangeStreams { receiver })
    }

    /// The counters as they are now.
    pub fn counts(&self) -> ExchangeStreamCounts {
        self.counters.snapshot()
    }
}
