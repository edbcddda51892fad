use std::time::Duration;

use bytes::Bytes;
use ostrom_protocol::limits::{
    MAX_CHUNK_SIZE, MAX_IDS_PER_MESSAGE, MAX_MANIFEST_SIZE, MAX_REASON_LEN, MAX_RECORD_SIZE,
    MAX_VOUCHES_PER_MESSAGE,
};
use ostrom_protocol::wire::BlockEncoding;
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::*;

/// A reader for `side` whose peer is the raw end returned with it.
fn raw_peer(side: Side) -> (DuplexStream, MessageWriter, MessageReader) {
    let (raw, end) = tokio::io::duplex(1 << 16);
    let (writer, reader) = split_io(end, side, Timeouts::default());
    (raw, writer, reader)
}

fn frame_header(len: usize) -> [u8; 4] {
    u32::try_from(len).expect("fits").to_be_bytes()
}

fn io_kind(error: &CodecError) -> Option<io::ErrorKind> {
    match error {
        CodecError::Io(error) => Some(error.kind()),
        CodecError::Wire(_) => None,
    }
}

#[tokio::test(start_paused = true)]
async fn an_over_limit_length_is_refused_at_once_without_reserving_it() {
    for (side, declared) in [
        (Side::Server, MAX_REQUEST_FRAME + 1),
        (Side::Server, MAX_FRAME_SIZE),
        (Side::Requester, MAX_REPLY_FRAME + 1),
        (Side::Requester, MAX_FRAME_SIZE),
        (Side::Requester, u32::MAX as usize),
    ] {
        let (mut raw, _writer, mut reader) = raw_peer(side);
        raw.write_all(&frame_header(declared)).await.expect("write");
        let started = Instant::now();
        let error = reader
            .next()
            .await
            .expect("an answer")
            .expect_err("refused");
        // Refused on reading the length: no time passed waiting for a payload.
        assert_eq!(started.elapsed(), Duration::ZERO, "{side:?} {declared}");
        assert_eq!(io_kind(&error), Some(io::ErrorKind::InvalidData), "{error}");
        assert_eq!(reader.reserved(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn a_large_frame_is_reserved_as_it_arrives() {
    let (mut raw, mut writer, mut reader) = raw_peer(Side::Requester);
    let id = Id::of(b"checkpoint");
    writer
        .send(&Message::WantManifest { id })
        .await
        .expect("ask");
    raw.write_all(&frame_header(MAX_MANIFEST_FRAME))
        .await
        .expect("write");
    raw.write_all(&[7; 1000]).await.expect("write");
    // The reader takes what arrived and waits for more; its read is cancelled here.
    assert!(tokio::time::timeout(Duration::from_secs(1), reader.next())
        .await
        .is_err());
    assert!(reader.reserved() <= REQUESTER_READ_STEP);
    assert!(reader.reserved() < MAX_MANIFEST_FRAME / 32);
}

#[tokio::test(start_paused = true)]
async fn a_frame_that_stops_arriving_times_out() {
    let payload = Message::WantHave {
        ids: vec![Id::of(b"x"); 100],
    }
    .encode()
    .expect("encode");
    for side in [Side::Server, Side::Requester] {
        // A header cut short, and a payload cut short.
        for cut in [2, 4 + payload.len() / 2] {
            let (mut raw, _writer, mut reader) = raw_peer(side);
            let mut frame = frame_header(payload.len()).to_vec();
            frame.extend_from_slice(&payload);
            raw.write_all(&frame[..cut]).await.expect("write");
            let started = Instant::now();
            let error = reader
                .next()
                .await
                .expect("an answer")
                .expect_err("times out");
            assert_eq!(io_kind(&error), Some(io::ErrorKind::TimedOut), "{error}");
            let waited = started.elapsed();
            assert!(waited >= Timeouts::default().frame, "{waited:?}");
            assert!(
                waited <= Timeouts::default().frame + Duration::from_secs(1),
                "{waited:?}"
            );
            drop(raw);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn trickled_bytes_do_not_extend_the_frame_deadline() {
    let (mut raw, _writer, mut reader) = raw_peer(Side::Server);
    raw.write_all(&frame_header(1000)).await.expect("write");
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if raw.write_all(&[0]).await.is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let error = reader
        .next()
        .await
        .expect("an answer")
        .expect_err("times out");
    assert_eq!(io_kind(&error), Some(io::ErrorKind::TimedOut), "{error}");
    assert!(started.elapsed() <= Timeouts::default().frame + Duration::from_secs(1));
    trickle.abort();
}

#[tokio::test(start_paused = true)]
async fn a_server_closes_an_idle_stream_and_a_requester_waits() {
    let (_raw, _writer, mut server) = raw_peer(Side::Server);
    let started = Instant::now();
    let error = server.next().await.expect("an answer").expect_err("idle");
    assert_eq!(io_kind(&error), Some(io::ErrorKind::TimedOut), "{error}");
    assert_eq!(started.elapsed(), Timeouts::default().idle);

    let (_raw, _writer, mut requester) = raw_peer(Side::Requester);
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), requester.next())
            .await
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn a_closed_stream_between_frames_ends_cleanly() {
    let (raw, _writer, mut reader) = raw_peer(Side::Server);
    drop(raw);
    assert!(reader.next().await.is_none());
}

/// Every kind of message at its largest passes each way; a manifest-sized frame reaches a
/// requester only while it has a manifest request outstanding.
#[tokio::test(start_paused = true)]
async fn legitimate_messages_of_every_kind_pass() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let (mut requester_out, mut requester_in) = split_io(a, Side::Requester, Timeouts::default());
    let (mut server_out, mut server_in) = split_io(b, Side::Server, Timeouts::default());
    let ids = vec![Id::of(b"chunk"); MAX_IDS_PER_MESSAGE];
    let requests = vec![
        Message::Present {
            vouches: vec![Bytes::from(vec![3; MAX_RECORD_SIZE]); MAX_VOUCHES_PER_MESSAGE],
        },
        Message::WantHave { ids: ids.clone() },
        Message::WantBlock { ids: ids.clone() },
        Message::Cancel { ids: ids.clone() },
        Message::WantManifest {
            id: Id::of(b"checkpoint"),
        },
    ];
    let replies = vec![
        Message::Have { ids: ids.clone() },
        Message::DontHave { ids: ids.clone() },
        Message::Block {
            id: Id::of(b"chunk"),
            encoding: BlockEncoding::Raw,
            data: Bytes::from(vec![5; MAX_CHUNK_SIZE as usize]),
        },
        Message::Refused {
            id: Id::of(b"chunk"),
            reason: "r".repeat(MAX_REASON_LEN),
        },
        Message::Manifest {
            id: Id::of(b"checkpoint"),
            bytes: Bytes::from(vec![9; MAX_MANIFEST_SIZE]),
        },
    ];
    let send_requests = async {
        for message in &requests {
            requester_out.send(message).await.expect("request sent");
        }
    };
    let read_requests = async {
        for message in &requests {
            let got = server_in.next().await.expect("open").expect("request read");
            assert_eq!(&got, message);
        }
    };
    tokio::join!(send_requests, read_requests);
    let send_replies = async {
        for message in &replies {
            server_out.send(message).await.expect("reply sent");
        }
    };
    let read_replies = async {
        for message in &replies {
            let got = requester_in
                .next()
                .await
                .expect("open")
                .expect("reply read");
            assert_eq!(&got, message);
        }
    };
    tokio::join!(send_replies, read_replies);

    // The manifest request was answered: another manifest-sized frame is refused.
    let sending = server_out.send(&replies[4]);
    tokio::pin!(sending);
    let error = tokio::select! {
        got = requester_in.next() => got.expect("an answer").expect_err("refused"),
        _ = &mut sending => panic!("the whole frame went through unread"),
    };
    assert_eq!(io_kind(&error), Some(io::ErrorKind::InvalidData), "{error}");
}
