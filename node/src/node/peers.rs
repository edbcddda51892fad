//! Whether a fetch can go anywhere: a fetch that needs the network on a node with no peers
//! fails at once with [`FetchError::NoPeers`], instead of waiting out its timeout and then
//! blaming the holders. Bootstrap dials get [`FIRST_PEER_WAIT`] to connect first; a node
//! with no bootstrap peer waits only [`UNBOOTSTRAPPED_WAIT`] (a peer may still dial it).

use std::time::{Duration, Instant};

use ostrom_protocol::Id;

use crate::exchange::FetchError;
use crate::network::NetworkHandle;
use crate::store::Store;

/// How long a fetch waits for a first peer (bootstrap dials are then under way) before it
/// says that the node has none.
pub const FIRST_PEER_WAIT: Duration = Duration::from_secs(10);
/// How long a fetch on a node with no bootstrap peer waits for a peer to dial it.
pub const UNBOOTSTRAPPED_WAIT: Duration = Duration::from_secs(1);

/// Whether everything a fetch of `id` needs is held here already: its manifest, and the
/// whole checkpoint (or, for a file id, that file).
fn held_here(store: &Store, id: &Id) -> Result<bool, FetchError> {
    let Some(signed) = store.manifest_for(id)? else {
        return Ok(false);
    };
    let checkpoint = signed.id();
    if matches!(store.held(&checkpoint)?, Some(held) if held.complete) {
        return Ok(true);
    }
    Ok(*id != checkpoint && store.complete_files()?.iter().any(|(file, _)| file == id))
}

/// Waits until the node has a peer, at most [`FIRST_PEER_WAIT`] (or
/// [`UNBOOTSTRAPPED_WAIT`] without bootstrap peers); whether it has one. A node that just
/// started asks the DHT only once it can reach it, rather than settling for what it holds.
pub(super) async fn wait_for_first_peer(network: &NetworkHandle, has_bootstrap: bool) -> bool {
    let wait = if has_bootstrap {
        FIRST_PEER_WAIT
    } else {
        UNBOOTSTRAPPED_WAIT
    };
    network.wait_connected(wait).await
}

/// Fails with [`FetchError::NoPeers`] when a fetch of `id` needs the network but no peer
/// connects within [`FIRST_PEER_WAIT`] (or [`UNBOOTSTRAPPED_WAIT`] without bootstrap peers).
pub(super) async fn ensure_for_fetch(
    network: &NetworkHandle,
    store: &Store,
    id: &Id,
    has_bootstrap: bool,
) -> Result<(), FetchError> {
    if held_here(store, id)? {
        return Ok(());
    }
    let started = Instant::now();
    if wait_for_first_peer(network, has_bootstrap).await {
        return Ok(());
    }
    Err(FetchError::NoPeers {
        id: *id,
        waited: started.elapsed(),
    })
}
