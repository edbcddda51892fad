//! Finding holders in the DHT and getting a manifest from them that verifies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libp2p::PeerId;
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
/// Pause between DHT lookups while no holder is found.
const LOOKUP_RETRY: Duration = Duration::from_millis(500);

/// A verified manifest and the streams opened to holders on the way.
pub(super) struct Found {
    pub manifest: SignedManifest,
    pub sessions: Vec<Session>,
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

/// Accepts `bytes` as the manifest for `id`: either they hash to `id` (a checkpoint id) and
/// verify, or they verify and list a file whose id is `id`.
fn accept(id: Id, bytes: Vec<u8>) -> Result<SignedManifest, String> {
    let hashes_to_id = Id::of(&bytes) == id;
    let signed = SignedManifest::from_bytes(bytes).map_err(|e| {
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
    reason: String,
    transient: bool,
}

/// Finds holders of `id`, opens streams to them, and asks them for the manifest one after
/// another until one sends a manifest that verifies. Holders that send a bad one are
/// excluded; while only transient failures happened, it tries again, a few rounds at most
/// and never past `deadline`. The
/// streams opened on the way are kept for the chunk transfer.
pub(super) async fn from_holders(
    network: &NetworkHandle,
    id: Id,
    deadline: Instant,
    events_tx: &mpsc::Sender<SessionEvent>,
    events: &mut mpsc::Receiver<SessionEvent>,
    vouches: &[Bytes],
) -> Result<Found, FetchError> {
    let mut reasons = Vec::new();
    let mut excluded: HashSet<PeerId> = HashSet::new();
    let mut attempts = 0;
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
        // Ask the first holder left; a holder that fails is removed, so the next one moves up.
        while let Some(session) = sessions.first_mut() {
            let peer = session.peer;
            let verdict = match session.send(&Message::WantManifest { id }).await {
                Err(error) => Err(Failure {
                    reason: format!("{peer}: {error}"),
                    transient: true,
                }),
                Ok(()) => await_manifest(peer, id, events).await,
            };
            match verdict {
                Ok(manifest) => return Ok(Found { manifest, sessions }),
                Err(failure) => {
                    tracing::warn!(%peer, reason = %failure.reason, "holder sent no valid manifest");
                    transient |= failure.transient;
                    if !failure.transient {
                        excluded.insert(peer);
                    }
                    reasons.push(failure.reason);
                    sessions.remove(0);
                }
            }
        }
        attempts += 1;
        if !transient
            || attempts >= MANIFEST_ATTEMPTS
            || Instant::now() + MANIFEST_RETRY >= deadline
        {
            reasons.dedup();
            return Err(FetchError::NoValidManifest { id, reasons });
        }
        tokio::time::sleep(MANIFEST_RETRY).await;
    }
}

async fn await_manifest(
    peer: PeerId,
    id: Id,
    events: &mut mpsc::Receiver<SessionEvent>,
) -> Result<SignedManifest, Failure> {
    let until = Instant::now() + HOLDER_ANSWER_TIMEOUT;
    loop {
        let event = tokio::time::timeout_at(until.into(), events.recv())
            .await
            .map_err(|_| Failure {
                reason: format!("{peer}: did not answer the manifest request in time"),
                transient: true,
            })?
            .ok_or_else(|| Failure {
                reason: format!("{peer}: stream closed"),
                transient: true,
            })?;
        match event {
            SessionEvent::Message(
                from,
                Message::Manifest {
                    id: answered,
                    bytes,
                },
            ) if from == peer && answered == id => {
                return accept(id, bytes.to_vec()).map_err(|e| Failure {
                    reason: format!("{peer}: {e}"),
                    transient: false,
                });
            }
            SessionEvent::Message(
                from,
                Message::Refused {
                    id: refused,
                    reason,
                },
            ) if from == peer && refused == id => {
                return Err(Failure {
                    reason: format!("{peer}: {reason}"),
                    transient: false,
                });
            }
            SessionEvent::Message(from, Message::DontHave { ids })
                if from == peer && ids.contains(&id) =>
            {
                return Err(Failure {
                    reason: format!("{peer}: does not have the manifest"),
                    transient: false,
                });
            }
            SessionEvent::Closed(from, reason) if from == peer => {
                return Err(Failure {
                    reason: format!(
                        "{peer}: stream closed ({})",
                        reason.unwrap_or_else(|| "by the peer".into())
                    ),
                    transient: true,
                });
            }
            _ => {}
        }
    }
}
