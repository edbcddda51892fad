//! The event loop: the only owner of the swarm. It runs commands from
//! [`NetworkHandle`]s and turns swarm events into their answers, one small function per
//! behaviour.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use libp2p::kad::{self, GetProvidersOk, QueryId, QueryResult};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, ping, Multiaddr, PeerId, StreamProtocol, Swarm};
use ostrom_protocol::dht::{holders_key, KAD_PROTOCOL};
use tokio::sync::{mpsc, oneshot, watch};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::bootstrap::Bootstrap;
use super::handle::{Command, DhtStats, NetworkError, NetworkHandle, Rtts};
use super::{listen, NetworkConfig};
use crate::records::check_incoming;

struct PendingProviders {
    found: HashSet<PeerId>,
    reply: oneshot::Sender<Result<HashSet<PeerId>, NetworkError>>,
}

struct PendingRecords {
    found: Vec<(Option<PeerId>, Vec<u8>)>,
    reply: oneshot::Sender<Vec<(Option<PeerId>, Vec<u8>)>>,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    pending_providers: HashMap<QueryId, PendingProviders>,
    pending_announces: HashMap<QueryId, oneshot::Sender<Result<(), NetworkError>>>,
    pending_puts: HashMap<QueryId, oneshot::Sender<Result<(), NetworkError>>>,
    pending_gets: HashMap<QueryId, PendingRecords>,
    listen_addrs: watch::Sender<Vec<Multiaddr>>,
    connected: watch::Sender<usize>,
    rtts: Rtts,
    /// Bootstrap peers, dialed again while the node has no peer.
    bootstrap: Bootstrap,
    /// libp2p's own metrics, fed every swarm event.
    metrics: libp2p::metrics::Metrics,
}

/// Builds the event loop, starts listening (see [`listen`]) and bootstrapping (see
/// [`super::bootstrap`]), spawns the loop, and waits until every listener reports an
/// address.
pub(crate) async fn spawn(
    mut swarm: Swarm<Behaviour>,
    config: NetworkConfig,
    metrics: libp2p::metrics::Metrics,
) -> Result<NetworkHandle, NetworkError> {
    let mut listeners = listen::listen_all(&mut swarm, &config.listen)?;
    let local_peer_id = *swarm.local_peer_id();
    let exchange = swarm.behaviour().exchange.control();
    let (commands_tx, commands) = mpsc::channel(256);
    let (listen_addrs, listen_rx) = watch::channel(Vec::new());
    let (connected, connected_rx) = watch::channel(0usize);
    let rtts = Rtts::default();

    // Wait for each listener's first address before handing out the handle.
    while !listeners.is_empty() {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                listeners.remove(&listener_id);
                let full = address.with_p2p(local_peer_id).unwrap_or_else(|a| a);
                listen_addrs.send_modify(|addrs| addrs.push(full));
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                let addr = listeners
                    .remove(&listener_id)
                    .or_else(|| addresses.first().cloned())
                    .unwrap_or_else(Multiaddr::empty);
                return Err(NetworkError::Listen {
                    addr,
                    reason: match reason {
                        Ok(()) => "the listener closed".to_owned(),
                        Err(error) => listen::reason(&error),
                    },
                });
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                return Err(NetworkError::Listen {
                    addr: listeners
                        .remove(&listener_id)
                        .unwrap_or_else(Multiaddr::empty),
                    reason: listen::reason(&error),
                });
            }
            other => tracing::trace!(?other, "event before listening"),
        }
    }
    // Dialed only now, so that no connection is made while events are passed over above;
    // and a peer that dialed in meanwhile is counted.
    let bootstrap = Bootstrap::start(&mut swarm, &config.bootstrap)?;
    connected.send_replace(swarm.connected_peers().count());

    let event_loop = EventLoop {
        swarm,
        commands,
        pending_providers: HashMap::new(),
        pending_announces: HashMap::new(),
        pending_puts: HashMap::new(),
        pending_gets: HashMap::new(),
        listen_addrs,
        connected,
        rtts: rtts.clone(),
        bootstrap,
        metrics,
    };
    tokio::spawn(event_loop.run());
    Ok(NetworkHandle {
        commands: commands_tx,
        exchange,
        local_peer_id,
        listen_addrs: listen_rx,
        connected: connected_rx,
        rtts,
    })
}

impl EventLoop {
    async fn run(mut self) {
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                () = self.bootstrap.due() => self.bootstrap.on_due(&mut self.swarm),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
            }
        }
        tracing::debug!("network event loop stopped");
    }

    fn on_command(&mut self, command: Command) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        match command {
            Command::GetProviders { id, reply } => {
                let query = kad.get_providers(holders_key(&id).into());
                self.pending_providers.insert(
                    query,
                    PendingProviders {
                        found: HashSet::new(),
                        reply,
                    },
                );
            }
            Command::Announce { id, reply } => match kad.start_providing(holders_key(&id).into()) {
                Ok(query) => {
                    self.pending_announces.insert(query, reply);
                }
                Err(error) => {
                    let _ = reply.send(Err(NetworkError::Dht(error.to_string())));
                }
            },
            Command::PutRecord { key, value, reply } => {
                match kad.put_record(kad::Record::new(key, value), kad::Quorum::One) {
                    Ok(query) => {
                        self.pending_puts.insert(query, reply);
                    }
                    Err(error) => {
                        let _ = reply.send(Err(NetworkError::Dht(error.to_string())));
                    }
                }
            }
            Command::PutRecordTo { key, value, peers } => {
                kad.put_record_to(
                    kad::Record::new(key, value),
                    peers.into_iter(),
                    kad::Quorum::One,
                );
            }
            Command::GetRecords { key, reply } => {
                let query = kad.get_record(key.into());
                self.pending_gets.insert(
                    query,
                    PendingRecords {
                        found: Vec::new(),
                        reply,
                    },
                );
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::DhtStats { reply } => {
                let _ = reply.send(self.dht_stats());
            }
            Command::Shutdown => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record(&event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.on_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            })) => {
                if let Ok(mut rtts) = self.rtts.lock() {
                    rtts.insert(peer, rtt);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address
                    .with_p2p(*self.swarm.local_peer_id())
                    .unwrap_or_else(|a| a);
                self.listen_addrs.send_modify(|addrs| {
                    if !addrs.contains(&full) {
                        addrs.push(full);
                    }
                });
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let full = address
                    .with_p2p(*self.swarm.local_peer_id())
                    .unwrap_or_else(|a| a);
                self.listen_addrs
                    .send_modify(|addrs| addrs.retain(|a| *a != full));
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "outgoing connection failed");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "connected");
                self.connected
                    .send_replace(self.swarm.connected_peers().count());
            }
            SwarmEvent::ConnectionClosed { .. } => {
                let connected = self.swarm.connected_peers().count();
                self.connected.send_replace(connected);
                if connected == 0 {
                    self.bootstrap.on_alone();
                }
            }
            _ => {}
        }
    }

    /// Feeds `event` to libp2p's metrics.
    fn record(&self, event: &SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder;
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.metrics.record(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.metrics.record(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => self.metrics.record(event),
            _ => {}
        }
        self.metrics.record(event);
    }

    /// What the DHT holds now.
    fn dht_stats(&mut self) -> DhtStats {
        use libp2p::kad::store::RecordStore;
        let kad = &mut self.swarm.behaviour_mut().kad;
        let routing_table_peers = kad.kbuckets().map(|bucket| bucket.num_entries()).sum();
        let store = kad.store_mut();
        let mut signed_records = std::collections::BTreeMap::new();
        for record in store.records() {
            *signed_records
                .entry(record_kind(record.key.as_ref()).to_owned())
                .or_insert(0) += 1;
        }
        DhtStats {
            routing_table_peers,
            peer_provider_records: store.peer_record_count(),
            own_provider_records: store.provided().count(),
            signed_records,
        }
    }

    /// Peers that speak the Ostrom DHT go into the routing table with the listen
    /// addresses they report.
    fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if !info.protocols.contains(&StreamProtocol::new(KAD_PROTOCOL)) {
            return;
        }
        for addr in info.listen_addrs {
            self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        let (id, result, step) = match event {
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => (id, result, step),
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                self.on_inbound_record(source, record);
                return;
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::AddProvider {
                        record: Some(provider),
                    },
            } => {
                self.on_inbound_provider(provider);
                return;
            }
            _ => return,
        };
        match result {
            QueryResult::GetRecord(Ok(kad::GetRecordOk::FoundRecord(found))) => {
                if let Some(pending) = self.pending_gets.get_mut(&id) {
                    pending.found.push((found.peer, found.record.value));
                }
                if step.last {
                    self.finish_records(id);
                }
            }
            QueryResult::GetRecord(_) => self.finish_records(id),
            QueryResult::PutRecord(result) => {
                if let Some(reply) = self.pending_puts.remove(&id) {
                    let _ = reply.send(
                        result
                            .map(|_| ())
                            .map_err(|e| NetworkError::Dht(e.to_string())),
                    );
                }
            }
            QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })) => {
                let local = *self.swarm.local_peer_id();
                for peer in providers.iter().filter(|p| **p != local) {
                    // Dial now: the query still knows the holder's addresses.
                    let dial = DialOpts::peer_id(*peer)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    if let Err(error) = self.swarm.dial(dial) {
                        tracing::debug!(%peer, %error, "cannot dial holder yet");
                    }
                }
                if let Some(pending) = self.pending_providers.get_mut(&id) {
                    pending
                        .found
                        .extend(providers.into_iter().filter(|p| *p != local));
                }
                if step.last {
                    self.finish_providers(id, Ok(()));
                }
            }
            QueryResult::GetProviders(Ok(GetProvidersOk::FinishedWithNoAdditionalRecord {
                ..
            })) => self.finish_providers(id, Ok(())),
            QueryResult::GetProviders(Err(error)) => {
                self.finish_providers(id, Err(NetworkError::Dht(error.to_string())))
            }
            QueryResult::StartProviding(result) => {
                if let Some(reply) = self.pending_announces.remove(&id) {
                    let _ = reply.send(
                        result
                            .map(|_| ())
                            .map_err(|e| NetworkError::Dht(e.to_string())),
                    );
                }
            }
            QueryResult::Bootstrap(Err(error)) => tracing::debug!(%error, "DHT bootstrap"),
            _ => {}
        }
    }

    fn finish_records(&mut self, id: QueryId) {
        if let Some(pending) = self.pending_gets.remove(&id) {
            let _ = pending.reply.send(pending.found);
        }
    }

    /// A peer announces that it holds something: keep the provider record (record
    /// filtering is on for signed records, so libp2p leaves this to the node).
    fn on_inbound_provider(&mut self, provider: kad::ProviderRecord) {
        use libp2p::kad::store::RecordStore;
        let store = self.swarm.behaviour_mut().kad.store_mut();
        if let Err(error) = store.add_provider(provider) {
            tracing::debug!(%error, "cannot store provider record");
        }
    }

    /// A peer asks this node to store a record: it is stored only if it is a valid
    /// signed record for its key, does not replace a newer copy, and fits the limits on
    /// peers' records.
    fn on_inbound_record(&mut self, source: PeerId, record: kad::Record) {
        use libp2p::kad::store::RecordStore;
        let store = self.swarm.behaviour_mut().kad.store_mut();
        let existing = store.get(&record.key).map(|r| r.value.clone());
        match check_incoming(record.key.as_ref(), &record.value, existing.as_deref()) {
            Ok(()) => {
                if let Err(error) = store.put_from_peer(record) {
                    tracing::debug!(%source, %error, "record over the limits, not stored");
                }
            }
            Err(reason) => tracing::info!(%source, %reason, "refused a record"),
        }
    }

    fn finish_providers(&mut self, id: QueryId, outcome: Result<(), NetworkError>) {
        let Some(pending) = self.pending_providers.remove(&id) else {
            return;
        };
        // A timeout after finding holders still counts as finding them.
        let answer = match outcome {
            Err(error) if pending.found.is_empty() => Err(error),
            _ => Ok(pending.found),
        };
        let _ = pending.reply.send(answer);
    }
}

/// The kind of signed record a DHT key holds: the part after `/ostrom/` in its key
/// (`name`, `retraction`, `rotation`, `revocation`), or `other`.
fn record_kind(key: &[u8]) -> &'static str {
    const KINDS: [&str; 4] = ["name", "retraction", "rotation", "revocation"];
    KINDS
        .into_iter()
        .find(|kind| key.starts_with(format!("/ostrom/{kind}/").as_bytes()))
        .unwrap_or("other")
}
