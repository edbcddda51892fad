//! The connection handler: one per connection. Inbound, it offers the exchange protocol
//! only while the peer has a free slot (see [`super::slots`]) and an acceptor listens, and
//! hands each negotiated stream with its slot to the acceptor's channel. Outbound, it
//! negotiates a stream for each request the behaviour routes to this connection and
//! answers the request with the stream or the reason it failed.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::core::{InboundUpgrade, UpgradeInfo};
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
};
use libp2p::swarm::{
    ConnectionHandler, ConnectionHandlerEvent, ConnectionId, StreamUpgradeError, SubstreamProtocol,
};
use libp2p::{PeerId, Stream, StreamProtocol};
use ostrom_protocol::wire::EXCHANGE_PROTOCOL;
use std::sync::Arc;
use tokio::sync::mpsc;

use super::control::{InboundStream, OpenError, OpenReply, OpenRequest};
use super::slots::{InboundPermit, Slots};
use super::NEGOTIATION_TIMEOUT;
use super::{bump, Counters, MAX_QUEUED_OPENS_PER_CONNECTION};

/// The inbound upgrade: the exchange protocol, or nothing at all while it is withheld.
#[derive(Debug)]
pub struct InboundExchange {
    offered: bool,
}

impl UpgradeInfo for InboundExchange {
    type Info = StreamProtocol;
    type InfoIter = std::option::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.offered
            .then(|| StreamProtocol::new(EXCHANGE_PROTOCOL))
            .into_iter()
    }
}

impl InboundUpgrade<Stream> for InboundExchange {
    type Output = Stream;
    type Error = Infallible;
    type Future = Ready<Result<Stream, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, _: StreamProtocol) -> Self::Future {
        ready(Ok(stream))
    }
}

/// One connection's exchange streams.
pub struct Handler {
    peer: PeerId,
    connection: ConnectionId,
    slots: Slots,
    acceptor: mpsc::Sender<InboundStream>,
    counters: Arc<Counters>,
    /// Requests to open a stream, not yet negotiating.
    queued: VecDeque<OpenReply>,
}

impl Handler {
    pub(crate) fn new(
        peer: PeerId,
        connection: ConnectionId,
        slots: Slots,
        acceptor: mpsc::Sender<InboundStream>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            peer,
            connection,
            slots,
            acceptor,
            counters,
            queued: VecDeque::new(),
        }
    }

    fn on_inbound(&mut self, stream: Stream, permit: Option<InboundPermit>) {
        let peer = self.peer;
        let Some(permit) = permit else {
            // Not reachable: without a slot the protocol is not offered.
            tracing::warn!(%peer, "exchange stream negotiated without a slot; dropping it");
            bump(&self.counters.inbound_dropped);
            return;
        };
        let inbound = InboundStream {
            peer,
            connection: self.connection,
            stream,
            permit,
        };
        // The channel has room for every slot, so it is never full while the caps hold.
        match self.acceptor.try_send(inbound) {
            Ok(()) => {
                bump(&self.counters.inbound_accepted);
                let held = self.slots.peer_count();
                if held >= self.slots.caps().per_peer {
                    bump(&self.counters.inbound_peer_cap_reached);
                    tracing::info!(
                        %peer,
                        held,
                        "peer reached its limit of concurrent exchange streams; \
                         refusing more until one closes"
                    );
                } else {
                    tracing::trace!(%peer, held, "accepted an exchange stream");
                }
            }
            Err(error) => {
                bump(&self.counters.inbound_dropped);
                tracing::warn!(%peer, %error, "no acceptor for an inbound exchange stream; dropped it");
            }
        }
    }
}

/// Why an outbound negotiation failed, as the opener is told.
fn open_error(error: StreamUpgradeError<Infallible>) -> OpenError {
    match error {
        StreamUpgradeError::NegotiationFailed => OpenError::Refused,
        StreamUpgradeError::Timeout => OpenError::NegotiationTimeout,
        StreamUpgradeError::Io(error) => OpenError::Negotiation(error.to_string()),
        StreamUpgradeError::Apply(never) => match never {},
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = OpenRequest;
    type ToBehaviour = Infallible;
    type InboundProtocol = InboundExchange;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = Option<InboundPermit>;
    type OutboundOpenInfo = OpenReply;

    fn listen_protocol(&self) -> SubstreamProtocol<InboundExchange, Option<InboundPermit>> {
        // Also called to learn which protocols the connection supports; that permit is
        // dropped again at once.
        let permit = if self.acceptor.is_closed() {
            None
        } else {
            self.slots.try_reserve()
        };
        let upgrade = InboundExchange {
            offered: permit.is_some(),
        };
        SubstreamProtocol::new(upgrade, permit).with_timeout(NEGOTIATION_TIMEOUT)
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<ReadyUpgrade<StreamProtocol>, OpenReply, Infallible>> {
        while let Some(reply) = self.queued.pop_front() {
            if reply.is_closed() {
                continue; // The opener gave up (and counted the failure).
            }
            let upgrade = ReadyUpgrade::new(StreamProtocol::new(EXCHANGE_PROTOCOL));
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(upgrade, reply).with_timeout(NEGOTIATION_TIMEOUT),
            });
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, request: OpenRequest) {
        if self.queued.len() >= MAX_QUEUED_OPENS_PER_CONNECTION {
            let _ = request.reply.send(Err(OpenError::Busy));
        } else {
            self.queued.push_back(request.reply);
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            InboundExchange,
            ReadyUpgrade<StreamProtocol>,
            Option<InboundPermit>,
            OpenReply,
        >,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                info: permit,
            }) => self.on_inbound(stream, permit),
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info: reply,
            }) => {
                // An opener that gave up meanwhile drops the stream with the answer.
                let _ = reply.send(Ok(stream));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: reply, error }) => {
                let _ = reply.send(Err(open_error(error)));
            }
            _ => {}
        }
    }
}
