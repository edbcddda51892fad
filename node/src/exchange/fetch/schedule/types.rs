//! What goes into and comes out of the [`Scheduler`](super::Scheduler): the limits it runs
//! with, the events it is fed, the actions it answers with, and why a transfer fails.

use std::time::Duration;

use libp2p::PeerId;
use ostrom_protocol::Id;

/// The timeouts and windows a transfer runs with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most block requests in flight to one holder.
    pub window: usize,
    /// How long a holder may leave its requests unanswered before it is dropped.
    pub stall_timeout: Duration,
    /// How long the fetch may go without a new verified chunk before it fails.
    pub progress_timeout: Duration,
}

/// Something that happened, as the code around the scheduler saw it.
#[derive(Debug, Clone)]
pub enum Event {
    /// A stream to a holder is open; `rtt` is its round-trip time when known.
    HolderFound {
        /// The holder.
        peer: PeerId,
        /// Its round-trip time.
        rtt: Option<Duration>,
    },
    /// A holder lookup asked for by [`Action::LookUpHolders`] ended; the holders it found
    /// came before this as [`Event::HolderFound`].
    LookupDone {
        /// How many of them were new and reachable.
        found: usize,
    },
    /// A holder's round-trip time was measured.
    Rtt {
        /// The holder.
        peer: PeerId,
        /// Its round-trip time.
        rtt: Duration,
    },
    /// A holder says it has these chunks.
    Have {
        /// The holder.
        peer: PeerId,
        /// The chunks.
        ids: Vec<Id>,
    },
    /// A holder says it lacks these chunks.
    DontHave {
        /// The holder.
        peer: PeerId,
        /// The chunks.
        ids: Vec<Id>,
    },
    /// A holder refused a request.
    Refused {
        /// The holder.
        peer: PeerId,
        /// What it refused.
        id: Id,
        /// Its reason.
        reason: String,
    },
    /// A block arrived; `matches` says whether its bytes hash to `id`.
    Block {
        /// The holder.
        peer: PeerId,
        /// The chunk it claims to be.
        id: Id,
        /// Its length in bytes.
        len: u32,
        /// Whether BLAKE3 of the bytes is `id`.
        matches: bool,
    },
    /// A holder's stream ended, or a message to it could not be sent; `error` is `None`
    /// when it closed cleanly.
    StreamClosed {
        /// The holder.
        peer: PeerId,
        /// What went wrong.
        error: Option<String>,
    },
    /// Time passed.
    Tick,
}

/// What the code around the scheduler should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask `peer` which of `ids` it has (want-have).
    AskHave {
        /// The holder.
        peer: PeerId,
        /// At most `MAX_IDS_PER_MESSAGE` chunks.
        ids: Vec<Id>,
    },
    /// Ask `peer` for these blocks (want-block).
    Request {
        /// The holder.
        peer: PeerId,
        /// The chunks.
        ids: Vec<Id>,
    },
    /// Tell `peer` these blocks are no longer wanted.
    Cancel {
        /// The holder.
        peer: PeerId,
        /// The chunks.
        ids: Vec<Id>,
    },
    /// The block just reported is wanted: write its bytes.
    Write {
        /// The chunk.
        id: Id,
    },
    /// Stop using `peer` and close its stream (sent for every holder the scheduler stops
    /// using, whatever the cause).
    Drop {
        /// The holder.
        peer: PeerId,
        /// Why, for the log and the error.
        reason: String,
    },
    /// Look up holders in the DHT again; answer with [`Event::LookupDone`].
    LookUpHolders,
    /// Every chunk arrived.
    Done,
    /// The fetch cannot finish.
    Failed(Failure),
}

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No holder left can supply the missing chunks.
    Exhausted {
        /// Chunks still missing.
        missing: usize,
        /// What happened to the holders.
        reasons: Vec<String>,
    },
    /// No new chunk was verified for the progress timeout.
    NoProgress {
        /// Chunks still missing.
        missing: usize,
        /// How long it waited.
        waited: Duration,
        /// What happened to the holders.
        reasons: Vec<String>,
    },
}

/// Counts of what the holders did, for the fetch's outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Holder streams that ended with an error.
    pub stream_resets: u32,
    /// Holders dropped for misbehaving or stalling.
    pub holders_dropped: u32,
    /// Messages about chunks that were not missing, ignored.
    pub ignored: u64,
}

/// The download budget: whether `len` more bytes may be requested now.
pub type Budget = Box<dyn FnMut(u32) -> bool + Send>;
