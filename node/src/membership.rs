//! Lab membership: a lab's publisher key vouches for its nodes (a signed statement binding
//! a peer id to the lab, with an expiry). A node keeps the vouches it was given in
//! `HOME/vouches/`, and presents them, with one it signs for itself, on every exchange
//! stream it opens; servers check them to decide who may read restricted checkpoints.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use libp2p::PeerId;
use ostrom_protocol::limits::MAX_VOUCHES_PER_MESSAGE;
use ostrom_protocol::signed::RecordError;
use ostrom_protocol::trust::format_public_key;
use ostrom_protocol::vouch::{SignedVouch, Vouch, VouchError};

use crate::home::Home;

/// How long the vouch a node signs for itself lasts.
const SELF_VOUCH: Duration = Duration::from_secs(24 * 3600);

/// Why a vouch could not be made or joined.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The vouch breaks a rule or does not verify.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The vouch is not for this node, or not valid now.
    #[error("this vouch cannot be used here: {0}")]
    Check(#[from] VouchError),
    /// The text is not a vouch.
    #[error("not a vouch: expected the hex text that `ostrom lab vouch` prints")]
    NotHex,
    /// The vouch directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn vouch_dir(home: &Home) -> PathBuf {
    home.root().join("vouches")
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MembershipError + '_ {
    move |source| MembershipError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Signs, with the lab's publisher key, a vouch for `peer` valid for `lifetime`.
pub fn vouch_for(
    lab: &SigningKey,
    peer: &PeerId,
    lifetime: Duration,
) -> Result<SignedVouch, MembershipError> {
    let issued_ms = now_ms();
    Ok(SignedVouch::sign(
        Vouch {
            lab: lab.verifying_key().to_bytes(),
            peer: peer.to_bytes(),
            issued_ms,
            expires_ms: issued_ms + lifetime.as_millis() as u64,
        },
        lab,
    )?)
}

/// Checks a vouch given to this node (its hex text) and keeps it.
pub fn join(home: &Home, text: &str, own: &PeerId) -> Result<SignedVouch, MembershipError> {
    let bytes = hex::decode(text.trim()).map_err(|_| MembershipError::NotHex)?;
    let vouch = SignedVouch::from_bytes(bytes)?;
    vouch.check(&own.to_bytes(), now_ms())?;
    let dir = vouch_dir(home);
    std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let path = dir.join(format!("{}.vouch", format_public_key(vouch.lab())));
    std::fs::write(&path, vouch.bytes()).map_err(io_error(&path))?;
    Ok(vouch)
}

/// The vouches this node holds that are valid for it now.
pub fn held(home: &Home, own: &PeerId) -> Vec<SignedVouch> {
    let Ok(entries) = std::fs::read_dir(vouch_dir(home)) else {
        return Vec::new();
    };
    let now = now_ms();
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path()).ok())
        .filter_map(|bytes| SignedVouch::from_bytes(bytes).ok())
        .filter(|vouch| vouch.check(&own.to_bytes(), now).is_ok())
        .collect()
}

/// What this node presents on a stream: its held vouches and one it signs for itself
/// with its own publisher key (so its own lab's restricted checkpoints are readable).
pub fn presentation(home: &Home, publisher: &SigningKey, own: &PeerId) -> Vec<Bytes> {
    let mut vouches: Vec<Bytes> = vouch_for(publisher, own, SELF_VOUCH)
        .map(|v| Bytes::from(v.into_bytes()))
        .into_iter()
        .collect();
    vouches.extend(
        held(home, own)
            .into_iter()
            .map(|v| Bytes::from(v.into_bytes())),
    );
    vouches.truncate(MAX_VOUCHES_PER_MESSAGE);
    vouches
}

/// The labs a peer proved it belongs to, each until its vouch expires: a stream can outlive
/// a vouch, so membership is asked of [`VerifiedLabs::vouch_for`] at the time it matters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifiedLabs {
    /// Each lab, with the latest expiry (Unix ms) of its valid vouches.
    until_ms: HashMap<[u8; 32], u64>,
}

impl VerifiedLabs {
    /// The labs that vouch, validly at `now_ms`, for `peer` among presented `vouches`.
    pub fn verify(vouches: &[Bytes], peer: &PeerId, now_ms: u64) -> Self {
        let peer = peer.to_bytes();
        let mut until_ms: HashMap<[u8; 32], u64> = HashMap::new();
        for vouch in vouches
            .iter()
            .filter_map(|bytes| SignedVouch::from_bytes(bytes.to_vec()).ok())
            .filter(|vouch| vouch.check(&peer, now_ms).is_ok())
        {
            let expires = until_ms.entry(*vouch.lab()).or_default();
            *expires = (*expires).max(vouch.body().expires_ms);
        }
        Self { until_ms }
    }

    /// Whether `lab` vouches for the peer at `now_ms`.
    pub fn vouch_for(&self, lab: &[u8; 32], now_ms: u64) -> bool {
        self.until_ms.get(lab).is_some_and(|until| now_ms < *until)
    }

    /// The labs that vouch for the peer at `now_ms`.
    pub fn at(&self, now_ms: u64) -> HashSet<[u8; 32]> {
        self.until_ms
            .iter()
            .filter(|(_, until)| now_ms < **until)
            .map(|(lab, _)| *lab)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vouches_count_only_for_their_peer_and_lifetime() {
        let lab = SigningKey::from_bytes(&[4; 32]);
        let other_lab = SigningKey::from_bytes(&[5; 32]);
        let peer = PeerId::random();
        let stranger = PeerId::random();
        let vouch = vouch_for(&lab, &peer, Duration::from_secs(60)).expect("vouch");
        let mut forged = vouch.bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let presented = vec![
            Bytes::from(vouch.bytes().to_vec()),
            Bytes::from(forged),
            Bytes::from(
                vouch_for(&other_lab, &stranger, Duration::from_secs(60))
                    .expect("vouch")
                    .into_bytes(),
            ),
        ];
        let now = now_ms();
        let labs = VerifiedLabs::verify(&presented, &peer, now);
        assert_eq!(
            labs.at(now),
            HashSet::from([lab.verifying_key().to_bytes()])
        );
        assert!(
            VerifiedLabs::verify(&presented, &peer, now + 120_000)
                .at(now + 120_000)
                .is_empty(),
            "expired vouch counted"
        );
        assert!(
            VerifiedLabs::verify(&presented[..1], &stranger, now)
                .at(now)
                .is_empty(),
            "vouch for another peer counted"
        );
    }

    /// A vouch that was valid when presented stops counting once it expires, on the same
    /// stream and without being presented again.
    #[test]
    fn membership_ends_when_the_vouch_expires() {
        let lab = SigningKey::from_bytes(&[4; 32]);
        let peer = PeerId::random();
        let vouch = vouch_for(&lab, &peer, Duration::from_secs(60)).expect("vouch");
        let expires = vouch.body().expires_ms;
        let labs = VerifiedLabs::verify(&[Bytes::from(vouch.into_bytes())], &peer, now_ms());
        let key = lab.verifying_key().to_bytes();
        assert!(labs.vouch_for(&key, expires - 1));
        assert!(!labs.vouch_for(&key, expires));
        assert!(labs.at(expires).is_empty());
    }

    #[test]
    fn joining_keeps_a_vouch_for_this_node_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        let lab = SigningKey::from_bytes(&[6; 32]);
        let me = PeerId::random();
        let mine = vouch_for(&lab, &me, Duration::from_secs(60)).expect("vouch");
        let theirs = vouch_for(&lab, &PeerId::random(), Duration::from_secs(60)).expect("vouch");
        assert!(matches!(
            join(&home, &hex::encode(theirs.bytes()), &me),
            Err(MembershipError::Check(_))
        ));
        assert!(matches!(
            join(&home, "zz", &me),
            Err(MembershipError::NotHex)
        ));
        join(&home, &hex::encode(mine.bytes()), &me).expect("join");
        assert_eq!(held(&home, &me).len(), 1);
    }
}
