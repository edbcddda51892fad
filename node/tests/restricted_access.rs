//! Who may read a restricted checkpoint, one row per presented vouch: two real nodes on
//! loopback; the outsider talks to the holder over a raw exchange stream and asks for the
//! manifest, a chunk, and whether the holder has that chunk.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use ostrom_node::exchange::codec;
use ostrom_node::membership::{now_ms, vouch_for};
use ostrom_node::publish::PublishRequest;
use ostrom_node::{Home, Node, NodeOptions, PeerId};
use ostrom_protocol::manifest::READERS_KEY;
use ostrom_protocol::trust::format_public_key;
use ostrom_protocol::vouch::{SignedVouch, Vouch};
use ostrom_protocol::wire::Message;
use ostrom_protocol::Id;

async fn start(dir: &std::path::Path, name: &str, bootstrap: Vec<ostrom_node::Multiaddr>) -> Node {
    let home = Home::new(dir.join(name));
    home.init().expect("init");
    let mut options = NodeOptions::temporary(bootstrap);
    options.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")];
    Node::start(home, options).await.expect("node starts")
}

fn expired_vouch(lab: &SigningKey, peer: &PeerId) -> Bytes {
    let now = now_ms();
    let vouch = Vouch {
        lab: lab.verifying_key().to_bytes(),
        peer: peer.to_bytes(),
        issued_ms: now - 120_000,
        expires_ms: now - 60_000,
    };
    Bytes::from(SignedVouch::sign(vouch, lab).expect("sign").into_bytes())
}

/// What the holder answered to want-manifest, want-block and want-have.
#[derive(Debug, PartialEq, Eq)]
struct Answers {
    manifest: &'static str,
    block: &'static str,
    have: &'static str,
}

async fn ask(
    outsider: &Node,
    holder: PeerId,
    vouches: Vec<Bytes>,
    checkpoint: Id,
    chunk: Id,
) -> Answers {
    let stream = outsider
        .network()
        .open_exchange_stream(holder)
        .await
        .expect("stream");
    let (mut writer, mut reader) = codec::split(stream);
    writer
        .send(&Message::Present { vouches })
        .await
        .expect("present");
    let mut kinds = Vec::new();
    for request in [
        Message::WantManifest { id: checkpoint },
        Message::WantBlock { ids: vec![chunk] },
        Message::WantHave { ids: vec![chunk] },
    ] {
        writer.send(&request).await.expect("send");
        let reply = tokio::time::timeout(Duration::from_secs(10), reader.next())
            .await
            .expect("an answer in time")
            .expect("stream open")
            .expect("well-formed");
        kinds.push(match reply {
            Message::Refused { reason, .. } => {
                assert!(reason.starts_with("not authorized"), "{reason}");
                "refused"
            }
            other => other.kind(),
        });
    }
    Answers {
        manifest: kinds[0],
        block: kinds[1],
        have: kinds[2],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_valid_vouch_from_a_reader_lab_opens_a_restricted_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = start(dir.path(), "holder", vec![]).await;
    let holder_addr = holder.network().listen_addrs()[0].clone();
    let outsider = start(dir.path(), "outsider", vec![holder_addr]).await;
    let outsider_peer = outsider.network().local_peer_id();

    let reader_lab = SigningKey::from_bytes(&[21; 32]);
    let other_lab = SigningKey::from_bytes(&[22; 32]);
    let data = dir.path().join("ckpt");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("weights.bin"), vec![7u8; 3 << 20]).expect("write");
    let published = holder
        .publish(PublishRequest {
            path: data,
            name: "secret".into(),
            tag: None,
            parent: None,
            metadata: BTreeMap::from([(
                READERS_KEY.to_owned(),
                format_public_key(&reader_lab.verifying_key().to_bytes()),
            )]),
            follow_symlinks: false,
            force_tag: false,
        })
        .await
        .expect("publish");
    let checkpoint: Id = published.id();
    let manifest = holder
        .store()
        .manifest(&checkpoint)
        .expect("store")
        .expect("held");
    let chunk = manifest.manifest().files[0].chunks[0].id;

    let valid = |lab: &SigningKey, peer: &PeerId| {
        Bytes::from(
            vouch_for(lab, peer, Duration::from_secs(600))
                .expect("vouch")
                .into_bytes(),
        )
    };
    let forged = {
        let mut bytes = valid(&reader_lab, &outsider_peer).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        Bytes::from(bytes)
    };
    // Only the manifest request is refused; chunks answer as if not held, so that a
    // restricted chunk's readers are not revealed.
    let refused = Answers {
        manifest: "refused",
        block: "dont-have",
        have: "dont-have",
    };
    let served = Answers {
        manifest: "manifest",
        block: "block",
        have: "have",
    };
    let cases: Vec<(&str, Vec<Bytes>, &Answers)> = vec![
        ("no vouch", vec![], &refused),
        (
            "vouch from a lab that is not a reader",
            vec![valid(&other_lab, &outsider_peer)],
            &refused,
        ),
        (
            "reader lab's vouch for another peer",
            vec![valid(&reader_lab, &PeerId::random())],
            &refused,
        ),
        (
            "reader lab's vouch, expired",
            vec![expired_vouch(&reader_lab, &outsider_peer)],
            &refused,
        ),
        (
            "reader lab's vouch, forged signature",
            vec![forged],
            &refused,
        ),
        (
            "reader lab's valid vouch",
            vec![valid(&reader_lab, &outsider_peer)],
            &served,
        ),
    ];
    let holder_peer = holder.network().local_peer_id();
    for (what, vouches, expected) in cases {
        let answers = ask(&outsider, holder_peer, vouches, checkpoint, chunk).await;
        assert_eq!(&answers, expected, "{what}");
    }
    outsider.shutdown().await;
    holder.shutdown().await;
}
