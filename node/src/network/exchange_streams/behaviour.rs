//! The network behaviour of exchange streams. It keeps, per connected peer, the count its
//! connections' inbound streams go against and the list of those connections; it routes
//! each request to open a stream to the peer's connection with the fewest streams opened
//! on it, or dials the peer and keeps the request until a connection is up (or fails it
//! when the dial fails).
//!
//! A request to spread ([`Control::open_spread`]) dials one more connection to an
//! already connected peer, while it has fewer than [`MAX_SPREAD_CONNECTIONS`], and opens
//! its stream there (on an existing connection if that dial fails), so that streams to
//! one peer need not all share one connection's encryption and multiplexing task.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint};
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
use super::{Counters, StreamCaps, MAX_SPREAD_CONNECTIONS, MAX_WAITING_OPENS, OPEN_QUEUE};

/// Requests taken from the queue in one poll, so that one burst cannot starve the swarm.
const REQUESTS_PER_POLL: usize = 64;

/// What the behaviour knows of one connected peer.
#[derive(Debug, Default)]
struct Peer {
    /// Inbound streams the peer holds, over all its connections.
    inbound: Arc<AtomicUsize>,
    /// Its established connections, oldest first, each with the number of outbound
    /// streams routed to it so far.
    connections: Vec<(ConnectionId, usize)>,
    /// The addresses this node dialed it at, one per outbound connection that is up:
    /// known to work, so further connections (to spread streams) are dialed there too.
    dialed: Vec<(ConnectionId, Multiaddr)>,
}

/// The exchange-stream behaviour; see the [module docs](super).
pub struct Behaviour {
    caps: StreamCaps,
    peers: HashMap<PeerId, Peer>,
    inbound_total: Arc<AtomicUsize>,
    acceptor: mpsc::Sender<InboundStream>,
    counters: Arc<Counters>,
    requests: mpsc::Receiver<OpenRequest>,
    /// Requests waiting for a connection to their peer.
    waiting: HashMap<PeerId, Vec<OpenRequest>>,
    waiting_count: usize,
    /// Requests to spread, each waiting for the extra connection dialed for it.
    spread_dials: HashMap<ConnectionId, OpenRequest>,
    events: VecDeque<ToSwarm<Infallible, OpenRequest>>,
    control: Control,
}

impl Behaviour {
    /// A behaviour with no peers yet, holding inbound streams to `caps`, and the control
    /// the node uses.
    pub fn new(caps: StreamCaps) -> Self {
        let (acceptor, incoming) = mpsc::channel(caps.total);
        let (requests_tx, requests) = mpsc::channel(OPEN_QUEUE);
        let counters = Arc::new(Counters::default());
        Self {
            caps,
            peers: HashMap::new(),
            inbound_total: Arc::default(),
            acceptor,
            control: Control::new(requests_tx, incoming, counters.clone()),
            counters,
            requests,
            waiting: HashMap::new(),
            waiting_count: 0,
            spread_dials: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// The node's handle on exchange streams.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    fn new_handler(&mut self, peer: PeerId, connection: ConnectionId) -> Handler {
        let inbound = self.peers.entry(peer).or_default().inbound.clone();
        Handler::new(
            peer,
            connection,
            Slots::new(inbound, self.inbound_total.clone(), self.caps),
            self.acceptor.clone(),
            self.counters.clone(),
        )
    }

    fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|p| !p.connections.is_empty())
    }

    /// Sends `request` to its peer's connection with the fewest streams routed to it;
    /// gives it back if the peer is not connected.
    fn route(&mut self, request: OpenRequest) -> Result<(), OpenRequest> {
        let least_used = self
            .peers
            .get_mut(&request.peer)
            .and_then(|p| p.connections.iter_mut().min_by_key(|(_, routed)| *routed));
        let Some((connection, routed)) = least_used else {
            return Err(request);
        };
        *routed += 1;
        self.events.push_back(ToSwarm::NotifyHandler {
            peer_id: request.peer,
            handler: NotifyHandler::One(*connection),
            event: request,
        });
        Ok(())
    }

    /// Dials one more connection to the (connected) peer for `request`, if the peer has
    /// room for one; gives the request back otherwise.
    fn spread(&mut self, request: OpenRequest) -> Result<(), OpenRequest> {
        let peer = request.peer;
        let established = self.peers.get(&peer).map_or(0, |p| p.connections.len());
        let dialing = self
            .spread_dials
            .values()
            .filter(|r| r.peer == peer)
            .count();
        if established == 0
            || established + dialing >= MAX_SPREAD_CONNECTIONS
            || self.spread_dials.len() >= MAX_WAITING_OPENS
        {
            return Err(request);
        }
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::Always)
            .allocate_new_port()
            .build();
        self.spread_dials.insert(opts.connection_id(), request);
        self.events.push_back(ToSwarm::Dial { opts });
        Ok(())
    }

    fn on_request(&mut self, request: OpenRequest) {
        if request.reply.is_closed() {
            return;
        }
        let request = if request.spread {
            match self.spread(request) {
                Ok(()) => return,
                Err(request) => request,
            }
        } else {
            request
        };
        let Err(request) = self.route(request) else {
            return;
        };
        let peer = request.peer;
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
        let connections = &mut self.peers.entry(peer).or_default().connections;
        connections.push((connection, 0));
        if let Some(request) = self.spread_dials.remove(&connection) {
            if let Some((_, routed)) = connections.last_mut() {
                *routed += 1;
            }
            self.events.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(connection),
                event: request,
            });
        }
        for request in self.take_waiting(&peer) {
            if let Err(request) = self.route(request) {
                let _ = request.reply.send(Err(OpenError::ConnectionClosed));
            }
        }
    }

    fn on_connection_closed(&mut self, peer: PeerId, connection: ConnectionId, remaining: usize) {
        if remaining == 0 {
            self.peers.remove(&peer);
        } else if let Some(state) = self.peers.get_mut(&peer) {
            state.connections.retain(|(c, _)| *c != connection);
            state.dialed.retain(|(c, _)| *c != connection);
        }
    }

    fn on_dial_failure(&mut self, peer: PeerId, connection: ConnectionId, error: &DialError) {
        let reason = error.to_string();
        if let Some(request) = self.spread_dials.remove(&connection) {
            // No extra connection: the stream goes on one that exists, if any still does.
            tracing::debug!(%peer, %reason, "cannot add a connection to spread streams over");
            if let Err(request) = self.route(request) {
                let _ = request
                    .reply
                    .send(Err(OpenError::Unreachable(reason.clone())));
            }
        }
        if matches!(error, DialError::DialPeerConditionFalse(_)) || self.is_connected(&peer) {
            return;
        }
        for request in self.take_waiting(&peer) {
            let _ = request
                .reply
                .send(Err(OpenError::Unreachable(reason.clone())));
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::new(StreamCaps::default())
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.new_handler(peer, connection))
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.new_handler(peer, connection))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        let mut addrs: Vec<Multiaddr> = peer
            .and_then(|peer| self.peers.get(&peer))
            .map(|p| p.dialed.iter().map(|(_, addr)| addr.clone()).collect())
            .unwrap_or_default();
        addrs.dedup();
        Ok(addrs)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            }) => {
                if let ConnectedPoint::Dialer { address, .. } = endpoint {
                    let dialed = &mut self.peers.entry(peer_id).or_default().dialed;
                    dialed.push((connection_id, address.clone()));
                }
                self.on_connection_established(peer_id, connection_id)
            }
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id,
                connection_id,
                remaining_established,
                ..
            }) => self.on_connection_closed(peer_id, connection_id, remaining_established),
            FromSwarm::DialFailure(DialFailure {
                peer_id: Some(peer),
                error,
                connection_id,
            }) => self.on_dial_failure(peer, connection_id, error),
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
