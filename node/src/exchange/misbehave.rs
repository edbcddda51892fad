//! Deliberate faults a node can be started with, so tests and the testnet can stand up bad
//! peers. A misbehaving node still fetches honestly; only what it serves is bad.

use std::fmt;
use std::str::FromStr;

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
            other => Err(format!(
                "unknown misbehavior {other:?}: expected none, corrupt-blocks, forge-manifests, lie-have or stall"
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
