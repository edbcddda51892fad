//! Exchange streams between real swarms in one process, over libp2p's in-memory transport
//! with noise and yamux: bursts of streams from one peer and from several, the per-peer
//! cap refusing explicitly, and an unreachable peer.

use std::time::Duration;

use futures::future::join_all;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, yamux, Multiaddr, PeerId, Stream, Swarm, Transport};

use super::*;

/// How long any one step of a test may take.
const STEP: Duration = Duration::from_secs(30);

fn swarm() -> Swarm<Behaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            let noise = noise::Config::new(key)?;
            Ok(MemoryTransport::default()
                .upgrade(upgrade::Version::V1)
                .authenticate(noise)
                .multiplex(yamux::Config::default()))
        })
        .expect("memory transport")
        .with_behaviour(|_| Behaviour::new(StreamCaps::default()))
        .expect("behaviour")
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(60))
                .with_max_negotiating_inbound_streams(1024)
        })
        .build()
}

/// Drives `swarm` in a task of its own.
fn drive(mut swarm: Swarm<Behaviour>) {
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
}

/// A listening swarm, running: its peer id, address, control.
async fn listener() -> (PeerId, Multiaddr, Control) {
    let mut swarm = swarm();
    swarm
        .listen_on("/memory/0".parse().expect("multiaddr"))
        .expect("listen");
    let addr = tokio::time::timeout(STEP, async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                return address;
            }
        }
    })
    .await
    .expect("a listen address");
    let (peer, control) = (*swarm.local_peer_id(), swarm.behaviour().control());
    drive(swarm);
    (peer, addr, control)
}

/// A swarm dialing `peer` at `addr`, running; streams opened on it wait for that dial.
fn opener(peer: PeerId, addr: &Multiaddr) -> Control {
    let mut swarm = swarm();
    swarm
        .dial(
            DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .build(),
        )
        .expect("dial");
    let control = swarm.behaviour().control();
    drive(swarm);
    control
}

/// Opens `n` streams to `peer` at once.
async fn open_burst(control: &Control, peer: PeerId, n: usize) -> Vec<Result<Stream, OpenError>> {
    join_all((0..n).map(|_| control.open(peer))).await
}

/// Takes `n` inbound streams, each within the step time.
async fn take(incoming: &mut IncomingExchangeStreams, n: usize) -> Vec<InboundStream> {
    let mut taken = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = tokio::time::timeout(STEP, incoming.next())
            .await
            .expect("an inbound stream in time")
            .expect("the network runs");
        taken.push(stream);
    }
    taken
}

/// Sends one byte on every opened stream and reads one from every accepted one.
async fn exchange_a_byte(opened: &mut [Stream], accepted: &mut [InboundStream]) {
    for stream in opened.iter_mut() {
        stream.write_all(b"x").await.expect("write");
        stream.flush().await.expect("flush");
    }
    for inbound in accepted.iter_mut() {
        let mut byte = [0u8; 1];
        tokio::time::timeout(STEP, inbound.stream.read_exact(&mut byte))
            .await
            .expect("a byte in time")
            .expect("read");
        assert_eq!(&byte, b"x");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_peer_is_delivered_up_to_its_cap_and_the_rest_refused() {
    let (server, addr, server_control) = listener().await;
    let mut incoming = server_control.accept().expect("the acceptor");
    assert!(server_control.accept().is_none(), "only one acceptor");
    let client = opener(server, &addr);

    let over = 16;
    let results = open_burst(&client, server, StreamCaps::default().per_peer + over).await;
    let (mut opened, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    let mut opened: Vec<Stream> = opened.drain(..).filter_map(Result::ok).collect();
    assert_eq!(opened.len(), StreamCaps::default().per_peer);
    for error in &refused {
        assert_eq!(error.as_ref().err(), Some(&OpenError::Refused), "{error:?}");
    }
    assert_eq!(refused.len(), over);

    let mut accepted = take(&mut incoming, StreamCaps::default().per_peer).await;
    assert!(accepted.iter().all(|s| s.peer != server));
    exchange_a_byte(&mut opened, &mut accepted).await;

    // One stream closes on the server's side: its slot is free for a new stream.
    drop(accepted.pop());
    let mut again = client.open(server).await.expect("a slot was freed");
    let mut one_more = take(&mut incoming, 1).await;
    exchange_a_byte(std::slice::from_mut(&mut again), &mut one_more).await;

    let server_counts = server_control.counts();
    assert_eq!(
        server_counts.inbound_accepted,
        StreamCaps::default().per_peer as u64 + 1
    );
    assert_eq!(server_counts.inbound_peer_cap_reached, 2);
    assert_eq!(server_counts.inbound_dropped, 0);
    let client_counts = client.counts();
    assert_eq!(
        client_counts.outbound_opened,
        StreamCaps::default().per_peer as u64 + 1
    );
    assert_eq!(client_counts.outbound_failed, over as u64);
    assert_eq!(client_counts.outbound_refused, over as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_from_several_peers_are_all_delivered() {
    let (server, addr, server_control) = listener().await;
    let mut incoming = server_control.accept().expect("the acceptor");
    let (peers, per_peer) = (4, 32);
    let clients: Vec<Control> = (0..peers).map(|_| opener(server, &addr)).collect();

    let bursts = join_all(clients.iter().map(|c| open_burst(c, server, per_peer))).await;
    let mut opened: Vec<Stream> = Vec::new();
    for burst in bursts {
        for result in burst {
            opened.push(result.expect("every stream opens"));
        }
    }
    let mut accepted = take(&mut incoming, peers * per_peer).await;
    let mut by_peer = std::collections::HashMap::<PeerId, usize>::new();
    for inbound in &accepted {
        *by_peer.entry(inbound.peer).or_default() += 1;
    }
    assert_eq!(by_peer.len(), peers);
    assert!(by_peer.values().all(|n| *n == per_peer), "{by_peer:?}");
    exchange_a_byte(&mut opened, &mut accepted).await;

    let counts = server_control.counts();
    assert_eq!(counts.inbound_accepted, (peers * per_peer) as u64);
    assert_eq!(counts.inbound_peer_cap_reached, 0);
    assert_eq!(counts.inbound_dropped, 0);
    for client in &clients {
        assert_eq!(client.counts().outbound_opened, per_peer as u64);
        assert_eq!(client.counts().outbound_failed, 0);
    }
}

#[tokio::test]
async fn a_peer_with_no_address_is_unreachable() {
    let (_, _, control) = listener().await;
    let stranger = PeerId::random();
    let error = tokio::time::timeout(STEP, control.open(stranger))
        .await
        .expect("an answer before the deadline")
        .expect_err("no address is known");
    assert!(matches!(error, OpenError::Unreachable(_)), "{error}");
    assert_eq!(control.counts().outbound_failed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spread_streams_go_over_new_connections_up_to_the_limit() {
    let (server, addr, server_control) = listener().await;
    let mut incoming = server_control.accept().expect("the acceptor");
    let client = opener(server, &addr);
    let mut opened = vec![client.open(server).await.expect("the first stream")];

    // Each spread stream beyond the first connection gets a connection of its own...
    let spread = join_all((1..MAX_SPREAD_CONNECTIONS).map(|_| client.open_spread(server))).await;
    opened.extend(spread.into_iter().map(|r| r.expect("a spread stream")));
    // ...and once the peer has that many, they share the existing ones.
    let shared = join_all((0..MAX_SPREAD_CONNECTIONS).map(|_| client.open_spread(server))).await;
    opened.extend(
        shared
            .into_iter()
            .map(|r| r.expect("a stream on a shared connection")),
    );

    let mut accepted = take(&mut incoming, opened.len()).await;
    let mut per_connection = std::collections::HashMap::new();
    for inbound in &accepted {
        *per_connection.entry(inbound.connection).or_insert(0usize) += 1;
    }
    assert_eq!(
        per_connection.len(),
        MAX_SPREAD_CONNECTIONS,
        "{per_connection:?}"
    );
    assert!(
        per_connection.values().all(|n| *n == 2),
        "{per_connection:?}"
    );
    exchange_a_byte(&mut opened, &mut accepted).await;
}
