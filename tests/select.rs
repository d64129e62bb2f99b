//! `select!` and `chan::Select` through the public API: fairness, `default` never blocks,
//! timeouts within bounds, closed channels are ready, exactly-once hand-off on rendezvous
//! channels (also between two selects), no self-pairing, reuse, misuse panics, drop counting.
//!
//! Runs under Miri with reduced counts (`scaled`); fairness bounds widen with the counts.
mod common;

use common::{let_others_block, panic_message, scaled, spawn_timed, DropCounter, DropLog, Watchdog};
use gosync::chan::{self, Receiver, RecvError, Select, SendError, Sender};
use gosync::select;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Selects over 10,000 rounds (fewer under Miri, with bounds still at least four standard
/// deviations wide) and returns how often each case won.
fn rounds() -> usize {
    scaled(10_000, 400)
}

/// Asserts that `wins` is within 40%..60% of `total`.
#[track_caller]
fn assert_fair(what: &str, wins: usize, total: usize) {
    let share = wins as f64 / total as f64;
    assert!((0.4..=0.6).contains(&share), "{what}: chosen {wins} of {total} times ({share:.3})");
}

/// Two receivers that stay ready for `n` receives each.
fn two_ready(n: usize) -> [(Sender<usize>, Receiver<usize>); 2] {
    let a = chan::unbounded();
    let b = chan::unbounded();
    for i in 0..n {
        a.0.send(i).unwrap();
        b.0.send(i).unwrap();
    }
    [a, b]
}

#[test]
fn select_macro_is_fair_between_two_ready_channels() {
    let _watchdog = Watchdog::start("select_macro_is_fair_between_two_ready_channels");
    let n = rounds();
    let [(_ta, a), (_tb, b)] = two_ready(n);
    let mut wins = [0; 2];
    for _ in 0..n {
        select! {
            recv(a) -> m => { m.unwrap(); wins[0] += 1; },
            recv(b) -> m => { m.unwrap(); wins[1] += 1; },
        }
    }
    assert_fair("select! case a", wins[0], n);
    assert_fair("select! case b", wins[1], n);
}

#[test]
fn select_builder_is_fair_between_two_ready_channels() {
    let _watchdog = Watchdog::start("select_builder_is_fair_between_two_ready_channels");
    let n = rounds();
    let [(_ta, a), (_tb, b)] = two_ready(n);
    let mut sel = Select::new();
    let ia = sel.recv(&a);
    let ib = sel.recv(&b);
    let mut wins = [0; 2];
    for _ in 0..n {
        let op = sel.select();
        let i = op.index();
        if i == ia {
            op.recv(&a).unwrap();
        } else {
            assert_eq!(i, ib);
            op.recv(&b).unwrap();
        }
        wins[i] += 1;
    }
    assert_fair("Select case a", wins[0], n);
    assert_fair("Select case b", wins[1], n);
}

#[test]
fn select_is_fair_with_a_never_ready_case_between() {
    let _watchdog = Watchdog::start("select_is_fair_with_a_never_ready_case_between");
    let n = rounds();
    let [(_ta, a), (_tb, b)] = two_ready(2 * n);
    let (_never_tx, never) = chan::bounded::<usize>(0);
    let mut wins = [0; 3];
    for _ in 0..n {
        select! {
            recv(a) -> m => { m.unwrap(); wins[0] += 1; },
            recv(never) -> _ => wins[1] += 1,
            recv(b) -> m => { m.unwrap(); wins[2] += 1; },
        }
    }
    assert_eq!(wins[1], 0);
    assert_fair("select! first of three", wins[0], n);
    assert_fair("select! third of three", wins[2], n);

    let mut sel = Select::new();
    sel.recv(&a);
    sel.recv(&never);
    sel.recv(&b);
    let mut wins = [0; 3];
    for _ in 0..n {
        let op = sel.select();
        let i = op.index();
        wins[i] += 1;
        match i {
            0 => op.recv(&a).unwrap(),
            2 => op.recv(&b).unwrap(),
            _ => unreachable!("the middle case is never ready"),
        };
    }
    assert_fair("Select first of three", wins[0], n);
    assert_fair("Select third of three", wins[2], n);
}

#[test]
fn default_never_blocks() {
    let _watchdog = Watchdog::start("default_never_blocks");
    let (_tx, rx) = chan::bounded::<u8>(1);
    let (zero_tx, zero_rx) = chan::bounded::<u8>(0);
    for _ in 0..scaled(100, 5) {
        let r = select! {
            recv(rx) -> _ => 1,
            default => 0,
        };
        assert_eq!(r, 0, "nothing is ready");
        // A send on a rendezvous channel with no receiver is not ready.
        let r = select! {
            send(zero_tx, 7) -> _ => 1,
            default => 0,
        };
        assert_eq!(r, 0, "no receiver is waiting");
        let r = select! {
            send(zero_tx, 7) -> _ => 1,
            recv(zero_rx) -> _ => 2,
            default => 0,
        };
        assert_eq!(r, 0, "a select does not meet itself");
    }
    assert_eq!(zero_rx.try_recv(), Err(chan::TryRecvError::Empty), "the default kept nothing registered");
    let mut sel = Select::new();
    sel.recv(&rx);
    sel.send(&zero_tx, 1);
    assert!(sel.try_select().is_err());
}

#[test]
fn default_timeout_returns_within_bounds() {
    let _watchdog = Watchdog::start("default_timeout_returns_within_bounds");
    let (_tx, rx) = chan::bounded::<u8>(0);
    let timeout = Duration::from_millis(50);
    let generous = Duration::from_secs(if cfg!(miri) { 3600 } else { 5 });
    let start = Instant::now();
    let r = select! {
        recv(rx) -> _ => 1,
        default(timeout) => 0,
    };
    let took = start.elapsed();
    assert_eq!(r, 0);
    assert!(took >= timeout, "returned early: {took:?}");
    assert!(took < timeout + generous, "returned late: {took:?}");

    let mut sel = Select::new();
    sel.recv(&rx);
    let start = Instant::now();
    assert!(sel.select_timeout(timeout).is_err());
    let took = start.elapsed();
    assert!(took >= timeout && took < timeout + generous, "select_timeout took {took:?}");
    let deadline = Instant::now() + timeout;
    assert!(sel.select_deadline(deadline).is_err());
    assert!(Instant::now() >= deadline);
}

#[test]
fn default_timeout_returns_early_when_a_case_becomes_ready() {
    let _watchdog = Watchdog::start("default_timeout_returns_early_when_a_case_becomes_ready");
    let (tx, rx) = chan::bounded::<u8>(0);
    let sender = spawn_timed(move || tx.send(3));
    let r = select! {
        recv(rx) -> m => m,
        default(common::LONG) => panic!("the sender was there"),
    };
    assert_eq!(r, Ok(3));
    sender.join("sender").unwrap();
}

#[test]
fn closed_channels_are_ready() {
    let _watchdog = Watchdog::start("closed_channels_are_ready");
    let (tx, rx) = chan::bounded::<u8>(0);
    let (tx2, _rx2) = chan::bounded::<String>(0);
    tx.close();
    tx2.close();
    // Blocking selects: they would block forever if a closed channel were not ready.
    let r = select! { recv(rx) -> m => m };
    assert_eq!(r, Err(RecvError));
    let r = select! { send(tx2, String::from("v")) -> res => res };
    assert_eq!(r, Err(SendError(String::from("v"))), "the value comes back");
    let r = select! { recv(rx) -> m => m.is_err(), default => false };
    assert!(r, "default is not taken when a closed channel is ready");

    let mut sel = Select::new();
    let i = sel.recv(&rx);
    let j = sel.send(&tx2, String::from("w"));
    let mut seen = [false; 2];
    for _ in 0..scaled(50, 10) {
        let op = sel.select();
        if op.index() == i {
            assert_eq!(op.recv(&rx), Err(RecvError));
            seen[0] = true;
        } else {
            assert_eq!(op.index(), j);
            // Only the first completion has the value: the case is spent after it.
            assert_eq!(op.send(&tx2), Err(SendError(String::from("w"))));
            seen[1] = true;
            break;
        }
    }
    assert!(seen[1], "the closed send case was never chosen");
}

/// Many selectors offer values on a rendezvous channel with a short timeout while receivers
/// (blocking, timed and select receives) take them: each value is received by exactly one
/// receiver or kept by its selector (which then drops it with the `Select`), never both,
/// never lost.
#[test]
fn rendezvous_send_case_hands_off_exactly_once_or_keeps_the_value() {
    let _watchdog = Watchdog::start("rendezvous_send_case_hands_off_exactly_once_or_keeps_the_value");
    let per_selector = scaled(300, 8);
    let selectors = 3;
    let log = DropLog::new();
    let (tx, rx) = chan::bounded::<DropCounter>(0);
    let (other_tx, other_rx) = chan::bounded::<DropCounter>(0);
    let selector_threads: Vec<_> = (0..selectors)
        .map(|s| {
            let (tx, other_tx, log) = (tx.clone(), other_tx.clone(), log.clone());
            spawn_timed(move || {
                let mut kept = Vec::new();
                for k in 0..per_selector {
                    let id = s * per_selector + k;
                    let mut sel = Select::new();
                    sel.send(&tx, DropCounter::new(id, &log));
                    // A second case nobody receives from: its value is never sent.
                    sel.send(&other_tx, DropCounter::new(selectors * per_selector + id, &log));
                    match sel.select_timeout(Duration::from_micros(200)) {
                        Ok(op) => {
                            assert_eq!(op.index(), 0);
                            op.send(&tx).unwrap();
                        }
                        Err(_) => kept.push(id),
                    }
                }
                kept
            })
        })
        .collect();
    drop((tx, other_tx));
    let receivers: Vec<_> = (0..3)
        .map(|r| {
            let rx = rx.clone();
            spawn_timed(move || {
                let mut got = Vec::new();
                loop {
                    let m = match r {
                        0 => rx.recv().ok(),
                        1 => match rx.recv_timeout(Duration::from_micros(100)) {
                            Ok(m) => Some(m),
                            Err(chan::RecvTimeoutError::Timeout) => continue,
                            Err(chan::RecvTimeoutError::Closed) => None,
                        },
                        _ => select! { recv(rx) -> m => m.ok() },
                    };
                    match m {
                        Some(m) => got.push(m.id),
                        None => return got,
                    }
                }
            })
        })
        .collect();
    drop(rx);
    let mut kept: Vec<usize> = selector_threads.into_iter().flat_map(|s| s.join("selector")).collect();
    let mut received: Vec<usize> = receivers.into_iter().flat_map(|r| r.join("receiver")).collect();
    drop(other_rx);
    received.sort_unstable();
    kept.sort_unstable();
    let mut all: Vec<usize> = received.iter().chain(&kept).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..selectors * per_selector).collect::<Vec<_>>(), "received + kept != sent");
    log.assert_each_once(2 * selectors * per_selector);
}

/// Two blocking selects that can only complete with each other: `a` sends on `x` or
/// receives on `y`, `b` receives on `x` or sends on `y`. Exactly one hand-off happens, and
/// both selects agree on which.
#[test]
fn two_selects_meeting_complete_exactly_once() {
    let _watchdog = Watchdog::start("two_selects_meeting_complete_exactly_once");
    for round in 0..scaled(500, 10) {
        let (x_tx, x_rx) = chan::bounded::<usize>(0);
        let (y_tx, y_rx) = chan::bounded::<usize>(0);
        let barrier = Arc::new(Barrier::new(2));
        let a = {
            let (x_tx, y_rx, barrier) = (x_tx.clone(), y_rx.clone(), barrier.clone());
            spawn_timed(move || {
                barrier.wait();
                select! {
                    send(x_tx, round) -> r => { r.unwrap(); 'x' },
                    recv(y_rx) -> m => { assert_eq!(m, Ok(round + 1)); 'y' },
                }
            })
        };
        let b = {
            let (x_rx, y_tx, barrier) = (x_rx.clone(), y_tx.clone(), barrier.clone());
            spawn_timed(move || {
                barrier.wait();
                let mut sel = Select::new();
                let rx_case = sel.recv(&x_rx);
                let tx_case = sel.send(&y_tx, round + 1);
                let op = sel.select();
                if op.index() == rx_case {
                    assert_eq!(op.recv(&x_rx), Ok(round));
                    'x'
                } else {
                    assert_eq!(op.index(), tx_case);
                    op.send(&y_tx).unwrap();
                    'y'
                }
            })
        };
        let (a, b) = (a.join("select a"), b.join("select b"));
        assert_eq!(a, b, "round {round}: the selects disagree on the hand-off");
        // Nothing is left over on either channel.
        assert!(x_rx.try_recv().is_err() && y_rx.try_recv().is_err());
        drop((x_tx, y_tx));
    }
}

/// Two rendezvous senders arrive while a select waits on both channels: the select
/// completes exactly one receive, and the other value is neither lost nor duplicated (its
/// sender is still blocked, or the value went back to the channel).
#[test]
fn select_over_two_channels_ready_at_once_completes_one() {
    let _watchdog = Watchdog::start("select_over_two_channels_ready_at_once_completes_one");
    for round in 0..scaled(1_000, 10) {
        let (tx1, rx1) = chan::bounded::<usize>(0);
        let (tx2, rx2) = chan::bounded::<usize>(0);
        let barrier = Arc::new(Barrier::new(3));
        let senders: Vec<_> = [(tx1, 1), (tx2, 2)]
            .into_iter()
            .map(|(tx, v)| {
                let barrier = barrier.clone();
                spawn_timed(move || {
                    barrier.wait();
                    tx.send(v).unwrap();
                })
            })
            .collect();
        barrier.wait();
        let (chosen, other) = select! {
            recv(rx1) -> m => (m.unwrap(), &rx2),
            recv(rx2) -> m => (m.unwrap(), &rx1),
        };
        let rest = other.recv_timeout(common::LONG);
        assert_eq!(rest, Ok(3 - chosen), "round {round}: the value not chosen was lost");
        for s in senders {
            s.join("sender");
        }
        assert!(rx1.is_empty() && rx2.is_empty(), "round {round}: a value was duplicated");
    }
}

/// The same meeting with timeouts on both sides: both complete, or neither does.
#[test]
fn two_timed_selects_complete_together_or_not_at_all() {
    let _watchdog = Watchdog::start("two_timed_selects_complete_together_or_not_at_all");
    let mut met = 0;
    let rounds = scaled(300, 8);
    for round in 0..rounds {
        let (tx, rx) = chan::bounded::<usize>(0);
        // Kept open until both sides are done: the sender's thread ending must not close
        // the channel, which would make the receiver's case ready with `Err`.
        let _keep_open = tx.clone();
        let barrier = Arc::new(Barrier::new(2));
        let a = {
            let barrier = barrier.clone();
            spawn_timed(move || {
                barrier.wait();
                select! {
                    send(tx, round) -> r => r.is_ok(),
                    default(Duration::from_micros(300)) => false,
                }
            })
        };
        let b = spawn_timed(move || {
            barrier.wait();
            select! {
                recv(rx) -> m => { assert_eq!(m, Ok(round)); true },
                default(Duration::from_micros(300)) => false,
            }
        });
        let (sent, received) = (a.join("sender select"), b.join("receiver select"));
        assert_eq!(sent, received, "round {round}: sent {sent}, received {received}");
        met += usize::from(sent);
    }
    // Not a timing assertion: only reported, the property above is the test.
    println!("timed selects met in {met} of {rounds} rounds");
}

#[test]
fn a_select_never_pairs_with_itself() {
    let _watchdog = Watchdog::start("a_select_never_pairs_with_itself");
    let (tx, rx) = chan::bounded::<u8>(0);
    let r = select! {
        send(tx, 1) -> _ => "sent",
        recv(rx) -> _ => "received",
        default(Duration::from_millis(20)) => "timed out",
    };
    assert_eq!(r, "timed out");
    let mut sel = Select::new();
    sel.recv(&rx);
    sel.send(&tx, 2);
    assert!(sel.select_timeout(Duration::from_millis(20)).is_err());
    drop(sel);

    // Blocking: it waits for somebody else, then completes with them.
    let blocked = {
        let (tx, rx) = (tx.clone(), rx.clone());
        spawn_timed(move || {
            select! {
                send(tx, 3) -> r => { r.unwrap(); "sent" },
                recv(rx) -> m => { assert_eq!(m, Ok(4)); "received" },
            }
        })
    };
    let_others_block();
    assert!(!blocked.is_finished(), "the select completed with itself");
    let mine = select! {
        recv(rx) -> m => { assert_eq!(m, Ok(3)); "received" },
        send(tx, 4) -> r => { r.unwrap(); "sent" },
    };
    let theirs = blocked.join("select waiting for a partner");
    assert_ne!(mine, theirs);
}

#[test]
fn select_reuse_across_selects() {
    let _watchdog = Watchdog::start("select_reuse_across_selects");
    let (tx_a, rx_a) = chan::unbounded::<u32>();
    let (tx_b, rx_b) = chan::bounded::<u32>(2);
    let mut sel = Select::new();
    let ra = sel.recv(&rx_a);
    let sb = sel.send(&tx_b, 10);
    // The send case is ready first (room in the buffer).
    let op = sel.select();
    assert_eq!(op.index(), sb);
    op.send(&tx_b).unwrap();
    assert_eq!(rx_b.try_recv(), Ok(10));
    // Spent: the send case does not send again.
    assert!(sel.try_select().is_err());
    for i in 0..5 {
        tx_a.send(i).unwrap();
        let op = sel.select();
        assert_eq!(op.index(), ra);
        assert_eq!(op.recv(&rx_a), Ok(i));
    }
    assert!(rx_b.is_empty(), "the send case sent once");
    // From another thread, while the reused select is blocked.
    let sender = spawn_timed(move || tx_a.send(99).unwrap());
    assert_eq!(sel.select().recv(&rx_a), Ok(99));
    sender.join("sender");
}

#[test]
fn selected_operation_with_the_wrong_end_panics_with_a_gosync_message() {
    let _watchdog = Watchdog::start("selected_operation_with_the_wrong_end_panics_with_a_gosync_message");
    let (tx, rx) = chan::unbounded::<u8>();
    let (tx2, rx2) = chan::unbounded::<u8>();
    tx.send(1).unwrap();
    let check = |f: &mut dyn FnMut()| {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("must panic");
        let msg = panic_message(&*err);
        assert!(msg.starts_with("gosync:"), "panic message {msg:?}");
    };
    check(&mut || {
        let mut sel = Select::new();
        sel.recv(&rx);
        let _ = sel.select().recv(&rx2);
    });
    check(&mut || {
        let mut sel = Select::new();
        sel.send(&tx2, 5);
        let _ = sel.select().recv(&rx2); // a send case, read as a receive
    });
    check(&mut || {
        let mut sel = Select::new();
        sel.send(&tx2, 5);
        let _ = sel.select().send(&tx);
    });
    // Each panicking select kept or gave back what it held: tx's value was received by the
    // first select (dropped with it), tx2 got the value of the send cases.
    assert_eq!(rx.try_recv(), Err(chan::TryRecvError::Empty));
    assert_eq!(rx2.try_iter().collect::<Vec<_>>(), [5, 5]);
}

#[test]
fn a_dropped_selected_operation_keeps_its_result_for_the_next_select() {
    let _watchdog = Watchdog::start("a_dropped_selected_operation_keeps_its_result_for_the_next_select");
    let (tx, rx) = chan::unbounded::<u32>();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let mut sel = Select::new();
    let i = sel.recv(&rx);
    drop(sel.select()); // the value 1 was received, not taken
    let op = sel.select();
    assert_eq!(op.index(), i);
    assert_eq!(op.recv(&rx), Ok(1), "the dropped operation's value comes first");
    assert_eq!(sel.select().recv(&rx), Ok(2));
}

#[test]
fn a_dropped_selected_operation_wins_the_next_select_over_other_ready_cases() {
    let _watchdog =
        Watchdog::start("a_dropped_selected_operation_wins_the_next_select_over_other_ready_cases");
    for _ in 0..scaled(100, 10) {
        let (tx_a, rx_a) = chan::unbounded::<u32>();
        let (tx_b, rx_b) = chan::unbounded::<u32>();
        tx_a.send(1).unwrap();
        tx_b.send(2).unwrap();
        let mut sel = Select::new();
        sel.recv(&rx_a);
        sel.recv(&rx_b);
        let first = sel.select().index();
        // Dropped without taking its value: the next select must return that same case
        // (with the value), not complete another ready case and leave it pending.
        let op = sel.select();
        assert_eq!(op.index(), first, "the next select returns the same case");
        match first {
            0 => assert_eq!(op.recv(&rx_a), Ok(1)),
            _ => assert_eq!(op.recv(&rx_b), Ok(2)),
        }
        assert_eq!(rx_a.len() + rx_b.len(), 1, "exactly one value was received");
    }
}

// ---------------------------------------------------------------------------------------
// Drop counting
// ---------------------------------------------------------------------------------------

#[test]
fn unsent_values_of_cases_not_chosen_drop_once() {
    let _watchdog = Watchdog::start("unsent_values_of_cases_not_chosen_drop_once");
    let log = DropLog::new();
    let (tx_a, rx_a) = chan::bounded(1);
    let (tx_b, rx_b) = chan::bounded(1);
    let n = scaled(100, 10);
    for k in 0..n {
        // Both ready: one value goes into a channel, the other is dropped by the select.
        select! {
            send(tx_a, DropCounter::new(2 * k, &log)) -> r => r.unwrap(),
            send(tx_b, DropCounter::new(2 * k + 1, &log)) -> r => r.unwrap(),
        }
        // The values of earlier rounds were received and dropped; of this round's two, the
        // one not chosen is dropped by the select.
        assert_eq!(log.total(), 2 * k + 1, "the case not chosen dropped its value");
        drop(rx_a.try_recv());
        drop(rx_b.try_recv());
    }
    // A `default` drops every case's value; a `Select` drops its unsent values with it.
    let (zero_tx, _zero_rx) = chan::bounded(0);
    select! {
        send(zero_tx, DropCounter::new(2 * n, &log)) -> _ => unreachable!(),
        default => {}
    }
    let mut sel = Select::new();
    sel.send(&zero_tx, DropCounter::new(2 * n + 1, &log));
    assert!(sel.try_select().is_err());
    drop(sel);
    // A send that failed on a closed channel returns the value in the error.
    zero_tx.close();
    let back = select! { send(zero_tx, DropCounter::new(2 * n + 2, &log)) -> r => r.unwrap_err().0 };
    assert_eq!(back.id, 2 * n + 2);
    drop(back);
    drop((tx_a, rx_a, tx_b, rx_b));
    log.assert_each_once(2 * n + 3);
}

/// Block bodies followed by a comma, between and after cases (the form Go and crossbeam
/// users write).
#[test]
fn block_bodies_take_a_trailing_comma() {
    let _watchdog = Watchdog::start("block_bodies_take_a_trailing_comma");
    let (tx, rx) = chan::bounded::<u8>(1);
    let r = select! {
        recv(rx) -> _ => { 1 },
        send(tx, 5) -> r => { r.unwrap(); 2 },
    };
    assert_eq!(r, 2);
    let r = select! {
        send(tx, 6) -> _ => { 1 },
        recv(rx) -> m => { assert_eq!(m, Ok(5)); 2 },
        default => { 3 },
    };
    assert_eq!(r, 2);
    let r = select! {
        recv(rx) -> _ => { 1 }
        default(Duration::from_millis(1)) => { 3 },
    };
    assert_eq!(r, 3);
}

/// CPU time (user + system) the calling thread has used, in clock ticks (1/100 s).
#[cfg(all(target_os = "linux", not(miri)))]
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A send case whose value an earlier select sent is spent. On a buffered channel with room
/// it must not count as ready, or every later select on the same `Select` spins instead of
/// parking until its timeout (found in review: a 500 ms select burnt half a second of CPU).
#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn a_spent_send_case_lets_the_select_park() {
    let _watchdog = Watchdog::start("a_spent_send_case_lets_the_select_park");
    let (_tx_a, rx_a) = chan::unbounded::<u32>();
    let (tx_b, rx_b) = chan::bounded::<u32>(2);
    let mut sel = Select::new();
    sel.recv(&rx_a);
    let send_b = sel.send(&tx_b, 10);
    let op = sel.select();
    assert_eq!(op.index(), send_b);
    op.send(&tx_b).unwrap();
    assert_eq!(rx_b.try_recv(), Ok(10));
    let cpu_before = thread_cpu_ticks();
    assert!(sel.select_timeout(Duration::from_millis(300)).is_err(), "nothing is ready");
    let cpu = thread_cpu_ticks() - cpu_before;
    // Parked, it uses almost none; spinning, it uses about 30 ticks.
    assert!(cpu < 10, "a 300 ms select used {cpu} ticks of CPU: it spun instead of parking");
}
