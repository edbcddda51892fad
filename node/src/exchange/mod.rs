//! The exchange protocol on the node: serving blocks and manifests to peers, and fetching
//! checkpoints and files from them.
//!
//! - [`codec`]: framing of [`Message`](ostrom_protocol::wire::Message)s over a libp2p
//!   stream.
//! - [`serve`]: answers other peers' requests from the store.
//! - [`session`]: the streams to one holder during a fetch.
//! - [`fetch`]: the fetch engine: find holders, get and check the manifest, pull chunks from
//!   every holder at once, verify, write, record.
//! - [`misbehave`]: deliberate faults, so tests can stand up bad peers.
//! - [`reveal`]: which held chunks a server tells each requester about (super-seeding).

pub mod codec;
pub mod fetch;
pub mod misbehave;
pub mod reveal;
pub mod serve;
pub mod session;

pub use fetch::{FetchError, FetchOutcome, FetchRequest, Fetcher};
pub use misbehave::Misbehavior;
