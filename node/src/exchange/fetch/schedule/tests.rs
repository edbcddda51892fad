//! The scheduler on injected time: every test drives it with events at chosen instants and
//! checks the actions it answers with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::*;
use ostrom_protocol::limits::MAX_CHUNK_SIZE;

const STALL: Duration = Duration::from_secs(30);
const PROGRESS: Duration = Duration::from_secs(60);

fn chunk(n: u32) -> Id {
    Id::of(&n.to_be_bytes())
}

fn chunks(count: u32) -> Vec<(Id, u32)> {
    (0..count).map(|n| (chunk(n), MAX_CHUNK_SIZE)).collect()
}

fn unlimited() -> Budget {
    Box::new(|_| true)
}

fn limits(window: usize) -> Limits {
    Limits {
        window,
        stall_timeout: STALL,
        progress_timeout: PROGRESS,
    }
}

struct Run {
    scheduler: Scheduler,
    start: Instant,
}

impl Run {
    fn new(count: u32, window: usize) -> Self {
        Self::with_budget(count, window, unlimited())
    }

    fn with_budget(count: u32, window: usize, budget: Budget) -> Self {
        let start = Instant::now();
        Self {
            scheduler: Scheduler::new(chunks(count), limits(window), budget, start),
            start,
        }
    }

    fn at(&mut self, millis: u64, event: Event) -> Vec<Action> {
        self.scheduler
            .handle(self.start + Duration::from_millis(millis), event)
    }

    /// A holder that has every one of `ids`.
    fn holder(
        &mut self,
        millis: u64,
        peer: PeerId,
        rtt: Option<Duration>,
        ids: &[Id],
    ) -> Vec<Action> {
        let mut actions = self.at(millis, Event::HolderFound { peer, rtt });
        actions.extend(self.at(
            millis,
            Event::Have {
                peer,
                ids: ids.to_vec(),
            },
        ));
        actions
    }

    fn block(&mut self, millis: u64, peer: PeerId, id: Id) -> Vec<Action> {
        self.at(
            millis,
            Event::Block {
                peer,
                id,
                len: MAX_CHUNK_SIZE,
                matches: true,
            },
        )
    }
}

fn all(count: u32) -> Vec<Id> {
    (0..count).map(chunk).collect()
}

fn requested(actions: &[Action], to: PeerId) -> Vec<Id> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Request { peer, ids } if *peer == to => Some(ids.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn dropped(actions: &[Action]) -> Vec<PeerId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Drop { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect()
}

fn failure(actions: &[Action]) -> Option<&Failure> {
    actions.iter().find_map(|a| match a {
        Action::Failed(failure) => Some(failure),
        _ => None,
    })
}

#[test]
fn a_new_holder_is_asked_about_every_missing_chunk_in_bounded_batches() {
    let count = u32::try_from(MAX_IDS_PER_MESSAGE).unwrap_or(u32::MAX) + 5;
    let mut run = Run::new(count, 8);
    let peer = PeerId::random();
    let actions = run.at(0, Event::HolderFound { peer, rtt: None });
    let asked: Vec<usize> = actions
        .iter()
        .filter_map(|a| match a {
            Action::AskHave { ids, .. } => Some(ids.len()),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![MAX_IDS_PER_MESSAGE, 5]);
    // Nothing is requested before the holder says what it has.
    assert!(requested(&actions, peer).is_empty());
}

#[test]
fn one_holder_delivers_everything_and_the_transfer_is_done() {
    let mut run = Run::new(6, 4);
    let peer = PeerId::random();
    let actions = run.holder(0, peer, None, &all(6));
    let mut asked = requested(&actions, peer);
    assert_eq!(asked.len(), 4, "the initial window is four requests");
    let mut written = Vec::new();
    let mut t = 10;
    while let Some(id) = asked.pop() {
        let actions = run.block(t, peer, id);
        t += 10;
        assert!(actions.contains(&Action::Write { id }));
        written.push(id);
        asked.extend(requested(&actions, peer));
        if written.len() == 6 {
            assert!(actions.contains(&Action::Done));
        }
    }
    written.sort();
    let mut expected = all(6);
    expected.sort();
    assert_eq!(written, expected);
    assert_eq!(run.scheduler.missing.len(), 0);
}

#[test]
fn rarest_chunks_are_asked_first() {
    let open = Arc::new(AtomicU64::new(0));
    let budget: Budget = {
        let open = open.clone();
        Box::new(move |_| open.load(Ordering::SeqCst) > 0)
    };
    let mut run = Run::with_budget(4, 1, budget);
    let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
    // Chunk 3 is held by one holder, chunk 2 by two, chunks 0 and 1 by three.
    run.holder(0, a, None, &all(4));
    run.holder(0, b, None, &all(3));
    run.holder(0, c, None, &all(2));
    // Until the order is rebuilt on a tick, chunks keep the order given.
    assert_eq!(Vec::from(run.scheduler.queue.clone()), all(4));
    run.at(1, Event::Tick);
    let order: Vec<Id> = run.scheduler.queue.iter().copied().collect();
    assert_eq!(order, vec![chunk(3), chunk(2), chunk(0), chunk(1)]);
    // Once the budget opens, the one holder of chunk 3 is asked for it first.
    open.store(1, Ordering::SeqCst);
    let actions = run.at(2, Event::Tick);
    assert_eq!(requested(&actions, a), vec![chunk(3)]);
}

#[test]
fn windows_grow_with_a_holders_measured_rate() {
    let mut run = Run::new(200, 64);
    let (fast, slow) = (PeerId::random(), PeerId::random());
    let mut fast_asked = requested(&run.holder(0, fast, None, &all(200)), fast);
    let mut slow_asked = requested(&run.holder(0, slow, None, &all(200)), slow);
    // The fast holder delivers a chunk every 5 ms, the slow one every 500 ms.
    let mut t = 0;
    for _ in 0..60 {
        t += 5;
        if let Some(id) = fast_asked.pop() {
            fast_asked.extend(requested(&run.block(t, fast, id), fast));
        }
        if t % 500 == 0 {
            if let Some(id) = slow_asked.pop() {
                slow_asked.extend(requested(&run.block(t, slow, id), slow));
            }
        }
    }
    assert!(
        fast_asked.len() > 20,
        "fast holder's window: {}",
        fast_asked.len()
    );
    assert!(
        slow_asked.len() <= holder::INITIAL_WINDOW,
        "slow holder's window: {}",
        slow_asked.len()
    );
}

#[test]
fn a_far_holder_gets_a_small_window_and_only_what_no_near_holder_has() {
    let mut run = Run::new(40, 32);
    let (near, far) = (PeerId::random(), PeerId::random());
    let rtt_near = Some(Duration::from_millis(1));
    let rtt_far = Some(Duration::from_millis(80));
    run.at(
        0,
        Event::HolderFound {
            peer: near,
            rtt: rtt_near,
        },
    );
    run.at(
        0,
        Event::HolderFound {
            peer: far,
            rtt: rtt_far,
        },
    );
    // The near holder has chunks 0..30, the far one everything.
    let near_has: Vec<Id> = (0..30).map(chunk).collect();
    run.at(
        1,
        Event::Have {
            peer: near,
            ids: near_has.clone(),
        },
    );
    let actions = run.at(
        1,
        Event::Have {
            peer: far,
            ids: all(40),
        },
    );
    let to_far = requested(&actions, far);
    assert!(to_far.len() <= FAR_WINDOW, "far window: {to_far:?}");
    assert!(
        to_far.iter().all(|id| !near_has.contains(id)),
        "far holder was asked for a chunk a near holder has"
    );
}

#[test]
fn the_endgame_asks_a_second_holder_and_cancels_the_slower_copy() {
    let mut run = Run::new(1, 4);
    let (a, b) = (PeerId::random(), PeerId::random());
    let to_a = requested(&run.holder(0, a, None, &all(1)), a);
    assert_eq!(to_a, vec![chunk(0)]);
    let to_b = requested(&run.holder(1, b, None, &all(1)), b);
    assert_eq!(to_b, vec![chunk(0)], "endgame duplicate");
    let actions = run.block(5, b, chunk(0));
    assert!(actions.contains(&Action::Write { id: chunk(0) }));
    assert!(actions.contains(&Action::Cancel {
        peer: a,
        ids: vec![chunk(0)]
    }));
    assert!(actions.contains(&Action::Done));
}

#[test]
fn a_late_block_after_cancel_is_not_a_fault() {
    let mut run = Run::new(2, 4);
    let (a, b) = (PeerId::random(), PeerId::random());
    run.holder(0, a, None, &all(2));
    run.holder(0, b, None, &[chunk(0)]);
    // a has both in flight, b duplicates chunk 0 in the endgame and wins.
    run.block(5, b, chunk(0));
    let actions = run.block(6, a, chunk(0));
    assert!(dropped(&actions).is_empty(), "{actions:?}");
    assert!(!actions.contains(&Action::Write { id: chunk(0) }));
    let actions = run.block(7, a, chunk(1));
    assert!(actions.contains(&Action::Done));
}

#[test]
fn a_bad_or_unrequested_block_drops_the_holder_and_requeues_its_chunks() {
    let mut run = Run::new(4, 4);
    let (bad, good) = (PeerId::random(), PeerId::random());
    let to_bad = requested(&run.holder(0, bad, None, &all(4)), bad);
    assert_eq!(to_bad.len(), 4);
    let actions = run.at(
        5,
        Event::Block {
            peer: bad,
            id: to_bad[0],
            len: 10,
            matches: false,
        },
    );
    assert_eq!(dropped(&actions), vec![bad]);
    assert!(!actions.iter().any(|a| matches!(a, Action::Write { .. })));
    // A good holder that turns up gets all four chunks.
    let to_good = requested(&run.holder(6, good, None, &all(4)), good);
    assert_eq!(to_good.len(), 4);
    // The dropped holder is not taken back.
    let actions = run.at(
        7,
        Event::HolderFound {
            peer: bad,
            rtt: None,
        },
    );
    assert!(actions.is_empty(), "{actions:?}");

    let mut run = Run::new(4, 1);
    let liar = PeerId::random();
    let to_liar = requested(&run.holder(0, liar, None, &all(4)), liar);
    let other = all(4).into_iter().find(|id| !to_liar.contains(id));
    let actions = run.block(1, liar, other.unwrap_or(chunk(3)));
    assert_eq!(dropped(&actions), vec![liar]);
}

#[test]
fn a_stalled_holder_is_dropped_and_its_chunks_go_to_others() {
    let mut run = Run::new(2, 4);
    let (stalled, good) = (PeerId::random(), PeerId::random());
    assert_eq!(
        requested(&run.holder(0, stalled, None, &all(2)), stalled).len(),
        2
    );
    // Junk does not count as an answer.
    let junk = Event::Have {
        peer: stalled,
        ids: vec![chunk(99)],
    };
    run.at(STALL.as_millis() as u64 / 2, junk);
    // A second holder joins later and duplicates the requests (endgame).
    let to_good = requested(
        &run.holder(STALL.as_millis() as u64 / 2, good, None, &all(2)),
        good,
    );
    assert_eq!(to_good.len(), 2);
    let actions = run.at(STALL.as_millis() as u64 + 1, Event::Tick);
    assert_eq!(dropped(&actions), vec![stalled]);
    // The chunks stay with the holder that is still answering in time.
    let good_in_flight = &run.scheduler.holders[&good].in_flight;
    assert_eq!(good_in_flight.len(), 2);
    for id in all(2) {
        assert_eq!(run.scheduler.requested[&id], vec![good]);
    }
    let actions = run.block(STALL.as_millis() as u64 + 2, good, chunk(0));
    assert!(actions.contains(&Action::Write { id: chunk(0) }));
}

#[test]
fn a_holder_whose_stream_closed_can_be_found_again() {
    let mut run = Run::new(3, 4);
    let peer = PeerId::random();
    run.holder(0, peer, None, &all(3));
    let actions = run.at(
        5,
        Event::StreamClosed {
            peer,
            error: Some("connection reset".into()),
        },
    );
    assert_eq!(dropped(&actions), vec![peer]);
    assert_eq!(run.scheduler.counts().stream_resets, 1);
    assert_eq!(run.scheduler.holders(), 0);
    // Found again by a lookup: asked again, and gets its requests back.
    let actions = run.holder(10, peer, None, &all(3));
    assert_eq!(requested(&actions, peer).len(), 3);
}

#[test]
fn messages_about_ids_never_asked_for_change_nothing() {
    let mut run = Run::new(2, 4);
    let (peer, junk) = (PeerId::random(), PeerId::random());
    run.at(0, Event::HolderFound { peer, rtt: None });
    let strangers: Vec<Id> = (100..200).map(chunk).collect();
    let actions = run.at(
        1,
        Event::Have {
            peer,
            ids: strangers.clone(),
        },
    );
    assert!(requested(&actions, peer).is_empty());
    run.at(
        2,
        Event::DontHave {
            peer,
            ids: strangers.clone(),
        },
    );
    let actions = run.at(
        3,
        Event::Refused {
            peer,
            id: chunk(150),
            reason: "no".into(),
        },
    );
    assert!(actions.is_empty());
    // A peer that is not a holder changes nothing either.
    run.at(
        4,
        Event::Have {
            peer: junk,
            ids: all(2),
        },
    );
    assert_eq!(run.scheduler.counts().ignored, 201);
    assert_eq!(run.scheduler.holders(), 1);
    assert!(run
        .scheduler
        .holders
        .values()
        .all(|h| h.has.is_empty() && h.lacks.is_empty()));
    // And none of it is news or progress: with nothing asked of anyone, the fetch ends
    // once the stall timeout passes with no holder offering a missing chunk.
    let mut t = 5;
    let mut failed = None;
    while t < PROGRESS.as_millis() as u64 + 2_000 {
        let actions = run.at(
            t,
            Event::Have {
                peer,
                ids: strangers.clone(),
            },
        );
        if let Some(f) = failure(&actions) {
            failed = Some(f.clone());
            break;
        }
        t += 1_000;
    }
    assert!(
        matches!(failed, Some(Failure::Exhausted { missing: 2, .. })),
        "{failed:?}"
    );
    assert!(
        t <= STALL.as_millis() as u64 + 1_000,
        "ended only at {t} ms"
    );
}

#[test]
fn the_progress_deadline_cannot_be_reset_by_a_busy_holder_that_never_delivers() {
    let mut run = Run::new(1, 4);
    let (a, b) = (PeerId::random(), PeerId::random());
    run.holder(0, a, None, &all(1));
    let mut t = 0;
    let mut failed = None;
    // Holders keep joining and saying they have the chunk, and closing again.
    while failed.is_none() && t < 10 * PROGRESS.as_millis() as u64 {
        t += 1_000;
        for peer in [a, b] {
            let mut actions = run.at(t, Event::StreamClosed { peer, error: None });
            actions.extend(run.holder(t, peer, None, &all(1)));
            failed = failure(&actions).cloned().or(failed);
        }
    }
    assert!(
        matches!(failed, Some(Failure::NoProgress { .. })),
        "{failed:?}"
    );
    assert!(
        t <= PROGRESS.as_millis() as u64 + 1_000,
        "failed only at {t} ms"
    );
}

#[test]
fn a_lookup_that_finds_no_one_with_no_holders_left_ends_the_fetch() {
    let mut run = Run::new(2, 4);
    let actions = run.at(0, Event::Tick);
    assert!(actions.contains(&Action::LookUpHolders));
    // No second lookup while one is running.
    assert!(!run.at(5_000, Event::Tick).contains(&Action::LookUpHolders));
    let actions = run.at(5_001, Event::LookupDone { found: 0 });
    assert!(matches!(
        failure(&actions),
        Some(Failure::Exhausted { missing: 2, .. })
    ));
    // After the end, nothing more happens.
    assert!(run.at(5_002, Event::Tick).is_empty());
}

#[test]
fn holders_are_looked_up_often_at_first_then_less() {
    let mut run = Run::new(2, 4);
    let peer = PeerId::random();
    run.at(0, Event::HolderFound { peer, rtt: None });
    let mut lookups = Vec::new();
    for t in (0..30_000).step_by(250) {
        if run.at(t, Event::Tick).contains(&Action::LookUpHolders) {
            lookups.push(t);
            run.at(t + 1, Event::LookupDone { found: 0 });
        }
        // Keep the holder alive with news so the fetch does not end.
        run.at(t, Event::Have { peer, ids: all(2) });
    }
    let early = lookups.iter().filter(|t| **t < 10_000).count();
    let late = lookups.iter().filter(|t| **t >= 10_000).count();
    assert!(early >= 9, "lookups in the first 10 s: {lookups:?}");
    assert!(late <= 5, "lookups in the next 20 s: {lookups:?}");
}

#[test]
fn the_download_budget_holds_requests_back_without_failing_the_fetch() {
    let allowed = Arc::new(AtomicU64::new(2));
    let budget: Budget = {
        let allowed = allowed.clone();
        Box::new(move |_| {
            allowed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        })
    };
    let mut run = Run::with_budget(4, 8, budget);
    let peer = PeerId::random();
    let to_peer = requested(&run.holder(0, peer, None, &all(4)), peer);
    assert_eq!(to_peer.len(), 2);
    for id in to_peer {
        run.block(1, peer, id);
    }
    // Long past the progress deadline, the fetch waits on its own budget.
    let actions = run.at(10 * PROGRESS.as_millis() as u64, Event::Tick);
    assert!(failure(&actions).is_none(), "{actions:?}");
    allowed.store(10, Ordering::SeqCst);
    let actions = run.at(10 * PROGRESS.as_millis() as u64 + 1, Event::Tick);
    assert_eq!(requested(&actions, peer).len(), 2);
}

#[test]
fn a_refusal_moves_the_chunk_to_another_holder_and_its_reason_is_kept_once() {
    let mut run = Run::new(1, 4);
    let (a, b) = (PeerId::random(), PeerId::random());
    run.holder(0, a, None, &all(1));
    for t in 1..50 {
        run.at(
            t,
            Event::Refused {
                peer: a,
                id: chunk(0),
                reason: "not authorized".into(),
            },
        );
    }
    let to_b = requested(&run.holder(60, b, None, &all(1)), b);
    assert_eq!(to_b, vec![chunk(0)]);
    assert_eq!(run.scheduler.reasons.len(), 1);
}

#[test]
fn the_reasons_kept_are_bounded() {
    let mut run = Run::new(1, 4);
    for t in 0..(MAX_REASONS as u64 * 4) {
        let peer = PeerId::random();
        run.holder(t, peer, None, &all(1));
        run.at(
            t,
            Event::StreamClosed {
                peer,
                error: Some(format!("reset {t}")),
            },
        );
    }
    assert_eq!(run.scheduler.reasons.len(), MAX_REASONS);
}

#[test]
fn with_nothing_offered_the_holders_are_asked_again_less_and_less_often() {
    let mut run = Run::new(3, 4);
    let peer = PeerId::random();
    // The holder tells of nothing yet (a server revealing a few chunks at a time, or a
    // partial holder).
    run.at(0, Event::HolderFound { peer, rtt: None });
    let mut asked_at = Vec::new();
    for t in (250..20_000).step_by(250) {
        let actions = run.at(t, Event::Tick);
        if actions
            .iter()
            .any(|a| matches!(a, Action::AskHave { peer: p, ids } if *p == peer && ids.len() == 3))
        {
            asked_at.push(t);
        }
        // Keep it from ending for want of news.
        run.at(t, Event::Have { peer, ids: vec![] });
        if t == 10_000 {
            run.at(
                t,
                Event::Have {
                    peer,
                    ids: vec![chunk(0)],
                },
            );
        }
    }
    assert_eq!(asked_at[..4], [1_000, 2_000, 4_000, 8_000], "{asked_at:?}");
    // Once something is offered and asked for, nobody is asked again meanwhile.
    assert!(
        asked_at.iter().all(|t| *t < 10_000 || *t >= 16_000),
        "{asked_at:?}"
    );
}
