//! Counting inbound exchange streams against their caps: a slot is reserved for a stream
//! before it is negotiated (so the protocol is offered only when one is free) and freed
//! when the [`InboundPermit`] that travels with the stream is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::StreamCaps;

/// The counts one connection's inbound streams go against: its peer's, over all of that
/// peer's connections, and the node's total.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    peer: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
    caps: StreamCaps,
}

/// One reserved inbound slot; dropping it frees the slot.
#[derive(Debug)]
pub struct InboundPermit {
    slots: Slots,
}

/// Adds one to `count` unless it is at `cap`; whether it did.
fn take(count: &AtomicUsize, cap: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < cap).then_some(n + 1)
        })
        .is_ok()
}

impl Slots {
    /// Slots counted in `peer` (shared by that peer's connections) and `total`, against
    /// `caps`.
    pub(crate) fn new(peer: Arc<AtomicUsize>, total: Arc<AtomicUsize>, caps: StreamCaps) -> Self {
        Self { peer, total, caps }
    }

    /// The caps counted against.
    pub(crate) fn caps(&self) -> StreamCaps {
        self.caps
    }

    /// A slot, if the peer and the node are both under their caps.
    pub(crate) fn try_reserve(&self) -> Option<InboundPermit> {
        if !take(&self.total, self.caps.total) {
            return None;
        }
        if !take(&self.peer, self.caps.per_peer) {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InboundPermit {
            slots: self.clone(),
        })
    }

    /// Inbound streams the peer holds now (reserved or accepted).
    pub(crate) fn peer_count(&self) -> usize {
        self.peer.load(Ordering::Acquire)
    }
}

impl Drop for InboundPermit {
    fn drop(&mut self) {
        self.slots.peer.fetch_sub(1, Ordering::AcqRel);
        self.slots.total.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: StreamCaps = StreamCaps {
        per_peer: 64,
        total: 1024,
    };

    #[test]
    fn a_peer_gets_its_cap_and_no_more_and_dropping_frees() {
        let total = Arc::new(AtomicUsize::new(0));
        let slots = Slots::new(Arc::default(), total.clone(), CAPS);
        let permits: Vec<InboundPermit> = (0..CAPS.per_peer)
            .map_while(|_| slots.try_reserve())
            .collect();
        assert_eq!(permits.len(), CAPS.per_peer);
        assert!(slots.try_reserve().is_none());
        assert_eq!(total.load(Ordering::Acquire), CAPS.per_peer);
        // Another peer is not affected by this one's cap.
        let other = Slots::new(Arc::default(), total.clone(), CAPS);
        assert!(other.try_reserve().is_some());
        drop(permits);
        assert_eq!(slots.peer_count(), 0);
        assert_eq!(total.load(Ordering::Acquire), 0);
        assert!(slots.try_reserve().is_some());
    }

    #[test]
    fn the_total_cap_holds_over_peers() {
        let total = Arc::new(AtomicUsize::new(CAPS.total - 1));
        let a = Slots::new(Arc::default(), total.clone(), CAPS);
        let b = Slots::new(Arc::default(), total.clone(), CAPS);
        let kept = a.try_reserve();
        assert!(kept.is_some());
        assert!(b.try_reserve().is_none());
        assert_eq!(b.peer_count(), 0, "a refused reservation leaves no trace");
        drop(kept);
        assert!(b.try_reserve().is_some());
    }
}
