//! The network behaviour of exchange streams. It keeps, per connected peer, the count its
//! connections' inbound streams go against and the list of those connections; it routes
//! each request to open a stream to one of the peer's connections, or dials the peer and
//! keeps the request until a connection is up (or fails it when the dial fails).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::behaviour::ConnectionEstablished;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, DialError, DialFailure, FromSwarm,
    NetworkBehaviour, NotifyHandler, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::control::{Control, InboundStream, OpenError, OpenRequest};
use super::handler::Handler;
use super::slots::Slots;
use super::{Counters, MAX_INBOUND_STREAMS, MAX_WAITING_OPENS, OPEN_QUEUE};

/// Requests taken from the queue in one poll, so that one burst cannot starve the swarm.
const REQUESTS_PER_POLL: usize = 64;

/// What the behaviour knows of one connected peer.
#[derive(Debug, Default)]
struct Peer {
    /// Inbound streams the peer holds, over all its connections.
    inbound: Arc<AtomicUsize>,
    /// Its established connections, oldest first.
    connections: Vec<ConnectionId>,
}

/// The exchange-stream behaviour; see the [module docs](super).
pub struct Behaviour {
    peers: HashMap<PeerId, Peer>,
    inbound_total: Arc<AtomicUsize>,
    acceptor: mpsc::Sender<InboundStream>,
    counters: Arc<Counters>,
    requests: mpsc::Receiver<OpenRequest>,
    /// Requests waiting for a connection to their peer.
    waiting: HashMap<PeerId, Vec<OpenRequest>>,
    waiting_count: usize,
    events: VecDeque<ToSwarm<Infallible, OpenRequest>>,
    control: Control,
}

impl Behaviour {
    /// A behaviour with no peers yet, and the control the node uses.
    pub fn new() -> Self {
        let (acceptor, incoming) = mpsc::channel(MAX_INBOUND_STREAMS);
        let (requests_tx, requests) = mpsc::channel(OPEN_QUEUE);
        let counters = Arc::new(Counters::default());
        Self {
            peers: HashMap::new(),
            inbound_total: Arc::default(),
            acceptor,
            control: Control::new(requests_tx, incoming, counters.clone()),
            counters,
            requests,
            waiting: HashMap::new(),
            waiting_count: 0,
            events: VecDeque::new(),
        }
    }

    /// The node's handle on exchange streams.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    fn new_handler(&mut self, peer: PeerId) -> Handler {
        let inbound = self.peers.entry(peer).or_default().inbound.clone();
        Handler::new(
            peer,
            Slots::new(inbound, self.inbound_total.clone()),
            self.acceptor.clone(),
            self.counters.clone(),
        )
    }

    /// The connection a new stream to `peer` goes on, if it is connected.
    fn connection_for(&self, peer: &PeerId) -> Option<ConnectionId> {
        self.peers.get(peer)?.connections.first().copied()
    }

    fn on_request(&mut self, request: OpenRequest) {
        if request.reply.is_closed() {
            return;
        }
        let peer = request.peer;
        if let Some(connection) = self.connection_for(&peer) {
            self.events.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(connection),
                event: request,
            });
            return;
        }
        if self.waiting_count >= MAX_WAITING_OPENS {
            self.forget_abandoned();
        }
        if self.waiting_count >= MAX_WAITING_OPENS {
            let _ = request.reply.send(Err(OpenError::Busy));
            return;
        }
        self.waiting.entry(peer).or_default().push(request);
        self.waiting_count += 1;
        // A dial already under way makes this one fail with a condition error, which is
        // ignored: the requests wait for that dial's outcome instead.
        self.events.push_back(ToSwarm::Dial {
            opts: DialOpts::peer_id(peer)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build(),
        });
    }

    /// Drops waiting requests whose opener gave up.
    fn forget_abandoned(&mut self) {
        self.waiting.retain(|_, requests| {
            requests.retain(|r| !r.reply.is_closed());
            !requests.is_empty()
        });
        self.waiting_count = self.waiting.values().map(Vec::len).sum();
    }

    fn take_waiting(&mut self, peer: &PeerId) -> Vec<OpenRequest> {
        let requests = self.waiting.remove(peer).unwrap_or_default();
        self.waiting_count = self.waiting_count.saturating_sub(requests.len());
        requests
    }

    fn on_connection_established(&mut self, peer: PeerId, connection: ConnectionId) {
        self.peers
            .entry(peer)
            .or_default()
            .connections
            .push(connection);
        for request in self.take_waiting(&peer) {
            self.events.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(connection),
                event: request,
            });
        }
    }

    fn on_connection_closed(&mut self, peer: PeerId, connection: ConnectionId, remaining: usize) {
        if remaining == 0 {
            self.peers.remove(&peer);
        } else if let Some(state) = self.peers.get_mut(&peer) {
            state.connections.retain(|c| *c != connection);
        }
    }

    fn on_dial_failure(&mut self, peer: PeerId, error: &DialError) {
        if matches!(error, DialError::DialPeerConditionFalse(_))
            || self.connection_for(&peer).is_some()
        {
            return;
        }
        let reason = error.to_string();
        for request in self.take_waiting(&peer) {
            let _ = request
                .reply
                .send(Err(OpenError::Unreachable(reason.clone())));
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::new()
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.new_handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.new_handler(peer))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            }) => self.on_connection_established(peer_id, connection_id),
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id,
                connection_id,
                remaining_established,
                ..
            }) => self.on_connection_closed(peer_id, connection_id, remaining_established),
            FromSwarm::DialFailure(DialFailure {
                peer_id: Some(peer),
                error,
                ..
            }) => self.on_dial_failure(peer, error),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(event);
        }
        let mut taken = 0;
        while let Poll::Ready(Some(request)) = self.requests.poll_recv(cx) {
            self.on_request(request);
            taken += 1;
            if taken == REQUESTS_PER_POLL {
                // More may be queued: come back after the swarm has had its turn.
                cx.waker().wake_by_ref();
                break;
            }
        }
        match self.events.pop_front() {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }
}
