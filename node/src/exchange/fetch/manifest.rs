//! Finding holders in the DHT and getting a manifest from them that verifies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libp2p::PeerId;
use ostrom_protocol::limits::MAX_MANIFEST_SIZE;
use ostrom_protocol::wire::Message;
use ostrom_protocol::{Id, SignedManifest};
use tokio::sync::mpsc;

use super::FetchError;
use crate::exchange::session::{Session, SessionEvent};
use crate::network::NetworkHandle;

/// How long a holder has to open a stream or answer a manifest request.
const HOLDER_ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause before asking holders again after transient failures.
const MANIFEST_RETRY: Duration = Duration::from_millis(250);
/// Most rounds of asking holders for a manifest when failures were transient (a dropped
/// stream, a holder that could not be reached).
const MANIFEST_ATTEMPTS: u32 = 8;
/// Holders asked for the manifest at once.
const MANIFEST_FANOUT: usize = 3;
/// Most distinct reasons kept for the error.
const MAX_REASONS: usize = 16;
/// Pause between DHT lookups while no holder is found.
const LOOKUP_RETRY: Duration = Duration::from_millis(500);

/// A verified manifest and the streams opened to holders on the way.
pub(super) struct Found {
    pub manifest: SignedManifest,
    pub sessions: Vec<Session>,
    /// Rounds of requests after the first.
    pub retry_rounds: u32,
    /// Holder streams that ended with an error on the way.
    pub stream_resets: u32,
}

/// Looks up holders of `id` until some are found or `deadline` passes.
pub(super) async fn find_holders(
    network: &NetworkHandle,
    id: Id,
    deadline: Instant,
) -> Result<Vec<PeerId>, FetchError> {
    let started = Instant::now();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, network.get_providers(id)).await {
            Ok(Ok(holders)) if !holders.is_empty() => return Ok(holders.into_iter().collect()),
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(error)) => tracing::debug!(%error, "holder lookup"),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(FetchError::NoHolders {
                id,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(LOOKUP_RETRY.min(deadline - now)).await;
    }
}

/// Opens an exchange stream to each holder at once; holders that cannot be reached are
/// left out.
pub(super) async fn open_sessions(
    network: &NetworkHandle,
    holders: &[PeerId],
    events: &mpsc::Sender<SessionEvent>,
    vouches: &[Bytes],
) -> Vec<Session> {
    let opening = holders.iter().map(|&peer| {
        let events = events.clone();
        async move {
            let opened = tokio::time::timeout(
                HOLDER_ANSWER_TIMEOUT,
                Session::open(network, peer, events, vouches),
            )
            .await;
            match opened {
                Ok(Ok(session)) => Some(session),
                Ok(Err(error)) => {
                    tracing::info!(%peer, %error, "cannot reach holder");
                    None
                }
                Err(_) => {
                    tracing::info!(%peer, "holder did not answer in time");
                    None
                }
            }
        }
    });
    futures::future::join_all(opening)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// What the id a manifest is asked for may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdNames {
    /// A checkpoint: its manifest must hash to the id.
    Checkpoint,
    /// A checkpoint or a file; which one is not known.
    CheckpointOrFile,
}

/// Accepts `bytes` as the manifest for `id`: either they hash to `id` (a checkpoint id) and
/// verify, or, when `id` may name a file, they verify and list a file whose id is `id`.
/// The size is checked first and the hash next: bytes that do not hash to a checkpoint id
/// are refused without being decoded. Asking by an id that may name a file is the only way
/// a manifest is decoded before it is known to be the one asked for.
fn accept(id: Id, bytes: &[u8], names: IdNames) -> Result<SignedManifest, String> {
    if bytes.len() > MAX_MANIFEST_SIZE {
        return Err(format!(
            "its manifest of {} bytes is over the limit of {MAX_MANIFEST_SIZE}",
            bytes.len()
        ));
    }
    let hashes_to_id = Id::of(bytes) == id;
    if !hashes_to_id && names == IdNames::Checkpoint {
        return Err(format!("its manifest does not hash to {id}"));
    }
    let signed = SignedManifest::from_bytes(bytes.to_vec()).map_err(|e| {
        if hashes_to_id {
            e.to_string()
        } else {
            format!("its manifest does not hash to {id}, and as a manifest of a file with that id it is refused: {e}")
        }
    })?;
    if hashes_to_id || signed.manifest().file_by_id(&id).is_some() {
        Ok(signed)
    } else {
        Err(format!(
            "its manifest does not hash to {id} and lists no file with that id"
        ))
    }
}

/// Why one holder gave no manifest: a definite answer (a bad manifest, a refusal, "I do
/// not have it") excludes it; a transient one (stream dropped, no answer in time) may be
/// retried while the fetch timeout lasts.
struct Failure {
    /// The holder.
    peer: PeerId,
    reason: String,
    transient: bool,
}

/// Finds holders of `id`, opens streams to them, and asks up to [`MANIFEST_FANOUT`] of
/// them at once for the manifest until one sends a manifest that verifies. Holders that
/// send a bad one are excluded; while only transient failures happened, it tries again, a
/// few rounds at most and never past `deadline`. The streams opened on the way, less those
/// that closed, are kept for the chunk transfer.
pub(super) async fn from_holders(
    network: &NetworkHandle,
    id: Id,
    names: IdNames,
    deadline: Instant,
    events_tx: &mpsc::Sender<SessionEvent>,
    events: &mut mpsc::Receiver<SessionEvent>,
    vouches: &[Bytes],
) -> Result<Found, FetchError> {
    let mut reasons = Vec::new();
    let mut excluded: HashSet<PeerId> = HashSet::new();
    let mut rounds = 0;
    let mut stream_resets = 0;
    loop {
        let holders: Vec<PeerId> = find_holders(network, id, deadline)
            .await?
            .into_iter()
            .filter(|p| !excluded.contains(p))
            .collect();
        let mut sessions = open_sessions(network, &holders, events_tx, vouches).await;
        let mut transient = sessions.len() < holders.len();
        if transient {
            reasons.push(format!(
                "{} of the {} holders found could not be reached",
                holders.len() - sessions.len(),
                holders.len()
            ));
        }
        let mut round = Round::new(id, names, deadline);
        let answer = round.run(&mut sessions, events).await;
        stream_resets += round.stream_resets;
        for failure in round.failures {
            tracing::warn!(reason = %failure.reason, "holder sent no valid manifest");
            transient |= failure.transient;
            if !failure.transient {
                excluded.insert(failure.peer);
            }
            if reasons.len() < MAX_REASONS && !reasons.contains(&failure.reason) {
                reasons.push(failure.reason);
            }
        }
        if let Some(manifest) = answer {
            return Ok(Found {
                manifest,
                sessions,
                retry_rounds: rounds,
                stream_resets,
            });
        }
        rounds += 1;
        if !transient || rounds >= MANIFEST_ATTEMPTS || Instant::now() + MANIFEST_RETRY >= deadline
        {
            return Err(FetchError::NoValidManifest { id, reasons });
        }
        tokio::time::sleep(MANIFEST_RETRY).await;
    }
}

/// One round of manifest requests over the sessions open to holders.
struct Round {
    id: Id,
    /// What `id` may name: whether an answer that does not hash to it may be decoded.
    names: IdNames,
    deadline: Instant,
    /// Holders asked and not yet answered.
    asked: HashSet<PeerId>,
    /// Holders asked in this round, answered or not.
    tried: HashSet<PeerId>,
    failures: Vec<Failure>,
    stream_resets: u32,
}

/// What one session event means to a manifest round.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    /// An asked holder sent the manifest's bytes.
    Manifest(PeerId, Bytes),
    /// An asked holder will not or cannot send it.
    Refusal(PeerId, String),
    /// A stream ended, an asked holder's or another's.
    Closed(PeerId, Option<String>),
    /// Nothing this round waits for.
    Unrelated,
}

impl Round {
    fn new(id: Id, names: IdNames, deadline: Instant) -> Self {
        Self {
            id,
            names,
            deadline,
            asked: HashSet::new(),
            tried: HashSet::new(),
            failures: Vec::new(),
            stream_resets: 0,
        }
    }

    /// Asks holders until one sends a manifest that verifies; `None` when every holder
    /// failed or time ran out. Sessions whose streams closed are removed from `sessions`.
    async fn run(
        &mut self,
        sessions: &mut Vec<Session>,
        events: &mut mpsc::Receiver<SessionEvent>,
    ) -> Option<SignedManifest> {
        let until = (Instant::now() + HOLDER_ANSWER_TIMEOUT).min(self.deadline);
        loop {
            self.ask_more(sessions).await;
            if self.asked.is_empty() {
                return None;
            }
            let Ok(Some(event)) = tokio::time::timeout_at(until.into(), events.recv()).await else {
                for peer in self.asked.drain() {
                    self.failures.push(Failure {
                        peer,
                        reason: format!("{peer}: did not answer the manifest request in time"),
                        transient: true,
                    });
                }
                return None;
            };
            match self.classify(event) {
                Reply::Manifest(peer, bytes) => {
                    self.asked.remove(&peer);
                    match accept(self.id, &bytes, self.names) {
                        Ok(manifest) => return Some(manifest),
                        Err(e) => self.failures.push(Failure {
                            peer,
                            reason: format!("{peer}: {e}"),
                            transient: false,
                        }),
                    }
                }
                Reply::Refusal(peer, reason) => {
                    self.asked.remove(&peer);
                    self.failures.push(Failure {
                        peer,
                        reason: format!("{peer}: {reason}"),
                        transient: false,
                    });
                }
                Reply::Closed(peer, error) => {
                    sessions.retain(|s| s.peer != peer);
                    self.stream_resets += u32::from(error.is_some());
                    if self.asked.remove(&peer) {
                        let how = error.unwrap_or_else(|| "by the peer".into());
                        self.failures.push(Failure {
                            peer,
                            reason: format!("{peer}: stream closed ({how})"),
                            transient: true,
                        });
                    }
                }
                Reply::Unrelated => {}
            }
        }
    }

    /// Sends the request to sessions not yet tried, until [`MANIFEST_FANOUT`] are waiting.
    async fn ask_more(&mut self, sessions: &mut Vec<Session>) {
        let mut failed = Vec::new();
        for session in sessions.iter_mut() {
            if self.asked.len() >= MANIFEST_FANOUT {
                break;
            }
            if !self.tried.insert(session.peer) {
                continue;
            }
            let peer = session.peer;
            match session.send(&Message::WantManifest { id: self.id }).await {
                Ok(()) => {
                    self.asked.insert(peer);
                }
                Err(error) => {
                    failed.push(peer);
                    self.failures.push(Failure {
                        peer,
                        reason: format!("{peer}: {error}"),
                        transient: true,
                    });
                }
            }
        }
        sessions.retain(|s| !failed.contains(&s.peer));
    }

    /// What `event` means to this round; messages from holders not asked, or about other
    /// ids, are unrelated.
    fn classify(&self, event: SessionEvent) -> Reply {
        let id = self.id;
        match event {
            SessionEvent::Closed(peer, error) => Reply::Closed(peer, error),
            SessionEvent::Message(peer, message) if self.asked.contains(&peer) => match message {
                Message::Manifest {
                    id: answered,
                    bytes,
                } if answered == id => Reply::Manifest(peer, bytes),
                Message::Refused {
                    id: refused,
                    reason,
                } if refused == id => Reply::Refusal(peer, reason),
                Message::DontHave { ids } if ids.contains(&id) => {
                    Reply::Refusal(peer, "does not have the manifest".to_owned())
                }
                _ => Reply::Unrelated,
            },
            _ => Reply::Unrelated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_asking(peer: PeerId, id: Id) -> Round {
        let mut round = Round::new(
            id,
            IdNames::CheckpointOrFile,
            Instant::now() + Duration::from_secs(60),
        );
        round.asked.insert(peer);
        round
    }

    #[test]
    fn a_stream_that_closes_is_reported_whoever_was_asked() {
        let id = Id::of(b"checkpoint");
        let (asked, other) = (PeerId::random(), PeerId::random());
        let round = round_asking(asked, id);
        // Another holder's stream closing while the round waits is not lost: the round
        // removes that session, so it cannot stay behind as a holder that is gone.
        assert_eq!(
            round.classify(SessionEvent::Closed(other, Some("reset".into()))),
            Reply::Closed(other, Some("reset".into()))
        );
        assert_eq!(
            round.classify(SessionEvent::Closed(asked, None)),
            Reply::Closed(asked, None)
        );
    }

    #[test]
    fn only_answers_from_asked_holders_about_the_id_count() {
        let id = Id::of(b"checkpoint");
        let elsewhere = Id::of(b"another");
        let (asked, other) = (PeerId::random(), PeerId::random());
        let round = round_asking(asked, id);
        let manifest = |from, about| {
            SessionEvent::Message(
                from,
                Message::Manifest {
                    id: about,
                    bytes: Bytes::from_static(b"bytes"),
                },
            )
        };
        assert_eq!(
            round.classify(manifest(asked, id)),
            Reply::Manifest(asked, Bytes::from_static(b"bytes"))
        );
        assert_eq!(round.classify(manifest(other, id)), Reply::Unrelated);
        assert_eq!(round.classify(manifest(asked, elsewhere)), Reply::Unrelated);
        let dont_have = |ids| SessionEvent::Message(asked, Message::DontHave { ids });
        assert!(matches!(
            round.classify(dont_have(vec![elsewhere, id])),
            Reply::Refusal(p, _) if p == asked
        ));
        assert_eq!(round.classify(dont_have(vec![elsewhere])), Reply::Unrelated);
        let refused = SessionEvent::Message(
            asked,
            Message::Refused {
                id,
                reason: "not authorized".into(),
            },
        );
        assert_eq!(
            round.classify(refused),
            Reply::Refusal(asked, "not authorized".into())
        );
    }

    fn signed_manifest(file: &[u8]) -> SignedManifest {
        let key = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let manifest = ostrom_protocol::Manifest {
            publisher: key.verifying_key().to_bytes(),
            name: "m".into(),
            tag: None,
            parent: None,
            created_ms: 0,
            metadata: Default::default(),
            files: vec![ostrom_protocol::FileEntry {
                path: "a".into(),
                size: 1,
                id: Id::of(file),
                chunks: vec![ostrom_protocol::manifest::ChunkRef {
                    id: Id::of(file),
                    len: 1,
                }],
                tensors: vec![],
            }],
        };
        SignedManifest::sign(manifest, &key).expect("signs")
    }

    #[test]
    fn an_answer_for_a_checkpoint_is_hashed_before_it_is_decoded() {
        let signed = signed_manifest(b"a");
        let bytes = signed.bytes().to_vec();
        let checkpoint = signed.id();
        assert!(accept(checkpoint, &bytes, IdNames::Checkpoint).is_ok());

        // Bytes that would fail decoding, asked for as a checkpoint: a hash mismatch, not
        // a decoding error, so they were never decoded.
        let junk = vec![0xff; 4096];
        let error = accept(checkpoint, &junk, IdNames::Checkpoint).expect_err("refused");
        assert_eq!(error, format!("its manifest does not hash to {checkpoint}"));

        // A valid manifest listing the id as a file is refused when a checkpoint was asked
        // for, and accepted when the id may name a file.
        let file = Id::of(b"a");
        let error = accept(file, &bytes, IdNames::Checkpoint).expect_err("refused");
        assert_eq!(error, format!("its manifest does not hash to {file}"));
        assert!(accept(file, &bytes, IdNames::CheckpointOrFile).is_ok());
        let error = accept(file, &junk, IdNames::CheckpointOrFile).expect_err("refused");
        assert!(error.contains("refused:"), "{error}");
        let other = signed_manifest(b"b");
        let error = accept(file, other.bytes(), IdNames::CheckpointOrFile).expect_err("refused");
        assert!(error.ends_with("lists no file with that id"), "{error}");
    }

    #[test]
    fn an_oversized_answer_is_refused_before_hashing() {
        let bytes = vec![0; MAX_MANIFEST_SIZE + 1];
        let id = Id::of(&bytes);
        let error = accept(id, &bytes, IdNames::CheckpointOrFile).expect_err("refused");
        assert!(error.contains("over the limit"), "{error}");
    }
}
