//! Deliberate faults a node can be started with, so tests and the testnet can stand up bad
//! peers. A misbehaving node still fetches honestly; only what it serves is bad.

use std::fmt;
use std::str::FromStr;

use ostrom_protocol::limits::MAX_IDS_PER_MESSAGE;
use ostrom_protocol::wire::Message;
use ostrom_protocol::Id;

/// Messages of junk a [`Misbehavior::Junk`] node sends for each request.
const JUNK_BURST: usize = 16;

/// How a node misbehaves when serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Misbehavior {
    /// Serves honestly.
    #[default]
    None,
    /// Flips a byte in every block it serves.
    CorruptBlocks,
    /// Flips a byte of the signature of every manifest it serves.
    ForgeManifests,
    /// Claims to have every chunk it is asked about, then sends none of them.
    LieHave,
    /// Answers manifest requests but never a block request.
    Stall,
    /// Answers every want-have and want-block with a burst of haves, dont-haves and
    /// refusals about ids never asked for, and never with a block.
    Junk,
}

impl FromStr for Misbehavior {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(Self::None),
            "corrupt-blocks" => Ok(Self::CorruptBlocks),
            "forge-manifests" => Ok(Self::ForgeManifests),
            "lie-have" => Ok(Self::LieHave),
            "stall" => Ok(Self::Stall),
            "junk" => Ok(Self::Junk),
            other => Err(format!(
                "unknown misbehavior {other:?}: expected none, corrupt-blocks, forge-manifests, lie-have, stall or junk"
            )),
        }
    }
}

impl fmt::Display for Misbehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::CorruptBlocks => "corrupt-blocks",
            Self::ForgeManifests => "forge-manifests",
            Self::LieHave => "lie-have",
            Self::Stall => "stall",
            Self::Junk => "junk",
        })
    }
}

impl Misbehavior {
    /// Applies the fault, if any, to a block about to be served.
    pub fn block(self, mut data: Vec<u8>) -> Vec<u8> {
        if self == Self::CorruptBlocks {
            if let Some(byte) = data.first_mut() {
                *byte ^= 0xff;
            }
        }
        data
    }

    /// What a [`Misbehavior::Junk`] node sends for each request: messages about random ids.
    pub fn junk() -> Vec<Message> {
        let ids = || -> Vec<Id> {
            (0..MAX_IDS_PER_MESSAGE)
                .map(|_| Id(rand::random::<[u8; 32]>()))
                .collect()
        };
        let mut burst = Vec::with_capacity(JUNK_BURST + 2);
        for _ in 0..JUNK_BURST / 2 {
            burst.push(Message::Have { ids: ids() });
            burst.push(Message::DontHave { ids: ids() });
        }
        burst.push(Message::Refused {
            id: Id(rand::random::<[u8; 32]>()),
            reason: "not authorized: junk".to_owned(),
        });
        burst
    }

    /// Applies the fault, if any, to manifest bytes about to be served.
    pub fn manifest(self, mut bytes: Vec<u8>) -> Vec<u8> {
        if self == Self::ForgeManifests {
            if let Some(byte) = bytes.last_mut() {
                *byte ^= 0x01;
            }
        }
        bytes
    }
}
