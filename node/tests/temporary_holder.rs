//! A node started with `announce` off (as `ostrom fetch` starts one when no node runs)
//! fetches like any other, but never enters the DHT as a holder: after it leaves, a lookup
//! of the checkpoint finds the publisher only.

use std::collections::BTreeMap;
use std::time::Duration;

use ostrom_node::exchange::FetchRequest;
use ostrom_node::publish::PublishRequest;
use ostrom_node::{Home, Multiaddr, Node, NodeOptions};

async fn start(
    dir: &std::path::Path,
    name: &str,
    bootstrap: Vec<Multiaddr>,
    announce: bool,
) -> Node {
    let home = Home::new(dir.join(name));
    home.init().expect("init");
    let mut options = NodeOptions::temporary(bootstrap);
    options.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")];
    options.announce = announce;
    Node::start(home, options).await.expect("node starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_announce_is_never_listed_as_a_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let publisher = start(dir.path(), "publisher", vec![], true).await;
    let publisher_addr = publisher.network().listen_addrs()[0].clone();

    let data = dir.path().join("ckpt");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("weights.bin"), vec![7u8; 1 << 20]).expect("write");
    let temporary = start(dir.path(), "temporary", vec![publisher_addr.clone()], false).await;
    assert!(
        temporary
            .network()
            .wait_connected(Duration::from_secs(10))
            .await
    );
    let published = publisher
        .publish(PublishRequest {
            path: data,
            name: "weights".into(),
            tag: None,
            parent: None,
            metadata: BTreeMap::new(),
            follow_symlinks: false,
            force_tag: false,
        })
        .await
        .expect("publish");
    assert!(published.announced, "the publisher announces");
    let checkpoint = published.id();

    let fetched = temporary
        .fetch(FetchRequest {
            tensors: None,
            id: checkpoint,
            out: dir.path().join("out"),
            timeout: Duration::from_secs(30),
            progress: None,
            allow_untrusted: true,
            allow_retracted: false,
            name_dir: false,
            force: false,
        })
        .await
        .expect("the temporary node fetches");
    assert_eq!(fetched.bytes, 1 << 20);
    let temporary_peer = temporary.network().local_peer_id();
    temporary.shutdown().await;

    let fresh = start(dir.path(), "fresh", vec![publisher_addr], true).await;
    assert!(
        fresh
            .network()
            .wait_connected(Duration::from_secs(10))
            .await
    );
    let holders = fresh
        .network()
        .get_providers(checkpoint)
        .await
        .expect("lookup");
    assert!(
        holders.contains(&publisher.network().local_peer_id()),
        "{holders:?}"
    );
    assert!(!holders.contains(&temporary_peer), "{holders:?}");
    for file in &fetched.files {
        let holders = fresh
            .network()
            .get_providers(file.id)
            .await
            .expect("lookup");
        assert!(!holders.contains(&temporary_peer), "{holders:?}");
    }
    fresh.shutdown().await;
    publisher.shutdown().await;
}
