//! Fan-in through the public API: `fan_in` (arrival order), `fan_in_ordered` (sequence
//! order, one held item per input, every `OrderError` case) and `ordered_pool` (input order,
//! bounded memory, panics in `f`), each as an iterator and as a stream.

mod common;

use common::{block_on, scaled, DropCounter, DropLog, Watchdog, WATCHDOG_LIMIT};
use gosync::chan::{self, Receiver, Sender};
use gosync::fan_in::{
    fan_in, fan_in_ordered, ordered_pool, ordered_pool_with_handle, OrderError, TryNextError,
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Spawns one producer per `(channel, items)`, sending its items in order, with a sleep of
/// `delay(item)` before each.
fn produce<T: Send + 'static>(
    inputs: Vec<(Sender<T>, Vec<T>)>,
    delay: impl Fn(&T) -> Duration + Send + Sync + Copy + 'static,
) -> Vec<thread::JoinHandle<()>> {
    inputs
        .into_iter()
        .map(|(tx, items)| {
            thread::spawn(move || {
                for item in items {
                    thread::sleep(delay(&item));
                    tx.send(item).unwrap();
                }
            })
        })
        .collect()
}

fn join_all(handles: Vec<thread::JoinHandle<()>>) {
    handles.into_iter().for_each(|h| h.join().unwrap());
}

/// Channels of each flavour: rendezvous, bounded 1, unbounded.
fn three_flavours<T>() -> (Vec<Sender<T>>, Vec<Receiver<T>>) {
    let (a, b, c) = (chan::bounded(0), chan::bounded(1), chan::unbounded());
    (vec![a.0, b.0, c.0], vec![a.1, b.1, c.1])
}

#[test]
fn fan_in_delivers_every_value_once_and_ends_when_all_close() {
    let _dog = Watchdog::new("fan_in_delivers_every_value_once", WATCHDOG_LIMIT);
    let n = scaled(300, 20) as u32;
    let (txs, rxs) = three_flavours();
    let inputs =
        txs.into_iter().enumerate().map(|(p, tx)| (tx, (0..n).map(|i| p as u32 * 10_000 + i).collect()));
    let producers = produce(inputs.collect(), |_| Duration::ZERO);
    let got: Vec<u32> = fan_in(rxs).collect();
    join_all(producers);
    // Each input's values keep their order; together they are every value once.
    for p in 0..3 {
        let mine: Vec<u32> = got.iter().copied().filter(|v| v / 10_000 == p).collect();
        assert_eq!(mine, (0..n).map(|i| p * 10_000 + i).collect::<Vec<_>>(), "input {p}");
    }
    assert_eq!(got.len(), 3 * n as usize);
}

#[test]
fn fan_in_serves_inputs_in_turn() {
    // A busy input must not starve a quiet one: with 50 values waiting on `busy` and one on
    // `quiet`, the quiet one comes within the first two.
    let (busy_tx, busy) = chan::unbounded();
    let (quiet_tx, quiet) = chan::unbounded();
    for i in 0..50 {
        busy_tx.send(i).unwrap();
    }
    quiet_tx.send(-1).unwrap();
    drop((busy_tx, quiet_tx));
    let got: Vec<i32> = fan_in([busy, quiet]).collect();
    let position = got.iter().position(|v| *v == -1).unwrap();
    assert!(position < 2, "the quiet input waited behind {position} busy values");
    assert_eq!(got.len(), 51);
}

#[test]
fn fan_in_with_no_inputs_ends_at_once() {
    let mut merged = fan_in(Vec::<Receiver<u8>>::new());
    assert_eq!(merged.next(), None);
    assert_eq!(merged.try_next(), Err(TryNextError::Closed));
    assert_eq!(block_on(merged.next_stream()), None);
}

/// `StreamExt::next`, named so that it is not confused with `Iterator::next`.
trait NextStream: futures::Stream + Unpin {
    fn next_stream(&mut self) -> futures::stream::Next<'_, Self> {
        futures::StreamExt::next(self)
    }
}
impl<S: futures::Stream + Unpin> NextStream for S {}

#[test]
fn fan_in_stream_wakes_for_every_input() {
    // common::block_on re-polls only when woken, so a lost wake-up fails the test.
    let n = scaled(200, 10) as u32;
    let (txs, rxs) = three_flavours();
    let inputs =
        txs.into_iter().enumerate().map(|(p, tx)| (tx, (0..n).map(|i| p as u32 * 10_000 + i).collect()));
    let producers = produce(inputs.collect(), |v| Duration::from_micros(u64::from(v % 7) * 20));
    let mut got: Vec<u32> = block_on(futures::StreamExt::collect(fan_in(rxs)));
    join_all(producers);
    got.sort_unstable();
    let mut want: Vec<u32> = (0..3).flat_map(|p| (0..n).map(move |i| p * 10_000 + i)).collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn fan_in_stream_dropped_while_pending_loses_no_value() {
    let _dog = Watchdog::new("fan_in_stream_dropped_while_pending", WATCHDOG_LIMIT);
    // A rendezvous sender hands its value to the merge's waiting input; the merge is then
    // dropped without being polled again. The value must come back to the channel.
    let (tx, rx) = chan::bounded(0);
    let other = rx.clone();
    let mut merged = fan_in([rx]);
    let waker = common::CountingWaker::new();
    {
        let mut next = std::pin::pin!(merged.next_stream());
        assert!(waker.poll(&mut next).is_pending());
    }
    // Completes only when a receiver takes the value: the merge's registered input is the
    // only receiver waiting.
    let sender = thread::spawn(move || tx.send(7).unwrap());
    sender.join().unwrap();
    assert!(waker.woken());
    drop(merged);
    assert_eq!(other.try_recv(), Ok(7));
}

#[test]
fn ordered_fan_in_restores_order_from_interleaved_inputs() {
    let _dog = Watchdog::new("ordered_fan_in_restores_order", WATCHDOG_LIMIT);
    let n = scaled(600, 30) as u64;
    let (txs, rxs) = three_flavours();
    // Item k goes to input k % 3; each input sends its own items in increasing order.
    let inputs: Vec<_> = txs
        .into_iter()
        .enumerate()
        .map(|(p, tx)| (tx, (0..n).filter(|k| k % 3 == p as u64).collect()))
        .collect();
    let producers = produce(inputs, |k| Duration::from_micros((k * 7919) % 5 * 30));
    let mut merged = fan_in_ordered(rxs, 0, |k| *k);
    let mut got = Vec::new();
    while let Some(item) = merged.next() {
        assert!(merged.held() <= 3);
        got.push(item.unwrap());
    }
    join_all(producers);
    assert_eq!(got, (0..n).collect::<Vec<_>>());
}

#[test]
fn ordered_fan_in_reads_no_input_twice_while_it_holds_an_item() {
    // The seed's bound: a held item blocks its input. `a` has 5, 6, 7 buffered; 5 is held
    // while 0..5 are missing, so 6 and 7 must still be in `a`'s channel.
    let (tx_a, rx_a) = chan::unbounded();
    let (tx_b, rx_b) = chan::unbounded();
    for k in [5u64, 6, 7] {
        tx_a.send(k).unwrap();
    }
    let mut merged = fan_in_ordered([rx_a.clone(), rx_b], 0, |k| *k);
    assert_eq!(merged.try_next(), Err(TryNextError::Empty));
    assert_eq!(merged.held(), 1);
    assert_eq!(rx_a.len(), 2, "the merge read an input that already holds an item");
    // The other input delivers 0..5: each is yielded at once, then the held 5, then a's rest.
    for k in 0..5 {
        tx_b.send(k).unwrap();
        assert_eq!(merged.try_next(), Ok(Ok(k)));
        assert_eq!(rx_a.len(), 2);
    }
    drop((tx_a, tx_b));
    let rest: Vec<u64> = merged.map(Result::unwrap).collect();
    assert_eq!(rest, [5, 6, 7]);
}

/// Collects a whole ordered merge: the items in the order yielded, and the errors.
fn drain_ordered(rxs: Vec<Receiver<u64>>, first: u64) -> (Vec<u64>, Vec<OrderError<u64>>) {
    let (mut items, mut errors) = (Vec::new(), Vec::new());
    for result in fan_in_ordered(rxs, first, |k| *k) {
        match result {
            Ok(k) => items.push(k),
            Err(err) => errors.push(err),
        }
    }
    (items, errors)
}

fn closed_inputs(per_input: &[&[u64]]) -> Vec<Receiver<u64>> {
    per_input
        .iter()
        .map(|items| {
            let (tx, rx) = chan::unbounded();
            items.iter().for_each(|k| tx.send(*k).unwrap());
            rx
        })
        .collect()
}

#[test]
fn ordered_fan_in_reports_stale_items() {
    let _dog = Watchdog::new("ordered_fan_in_reports_stale_items", WATCHDOG_LIMIT);
    // A repeat after its turn, and a number below `first_seq`.
    let (items, errors) = drain_ordered(closed_inputs(&[&[5, 6, 5, 3, 7]]), 5);
    assert_eq!(items, [5, 6, 7]);
    assert_eq!(
        errors,
        [
            OrderError::Stale { seq: 5, expected: 7, item: 5 },
            OrderError::Stale { seq: 3, expected: 7, item: 3 }
        ]
    );
}

/// After `u64::MAX`, the last number, every item is stale: a repeat of it is not yielded
/// again as if it were new (found in review: the next number saturated at `u64::MAX`).
#[test]
fn ordered_fan_in_repeat_of_the_last_number_is_stale() {
    let _dog = Watchdog::new("ordered_fan_in_repeat_of_the_last_number_is_stale", WATCHDOG_LIMIT);
    let (tx, rx) = chan::unbounded();
    tx.send(u64::MAX).unwrap();
    tx.send(u64::MAX).unwrap();
    drop(tx);
    let got: Vec<_> = fan_in_ordered([rx], u64::MAX, |k| *k).collect();
    assert_eq!(
        got,
        [Ok(u64::MAX), Err(OrderError::Stale { seq: u64::MAX, expected: u64::MAX, item: u64::MAX })]
    );
}

#[test]
fn ordered_fan_in_reports_duplicates_and_keeps_the_held_copy() {
    let _dog = Watchdog::new("ordered_fan_in_reports_duplicates", WATCHDOG_LIMIT);
    // `a` delivers 0 and 2, so 2 is held while 1 is missing; then `b` delivers 2 as well.
    let (tx_a, rx_a) = chan::unbounded();
    let (tx_b, rx_b) = chan::unbounded();
    tx_a.send(0).unwrap();
    tx_a.send(2).unwrap();
    let mut merged = fan_in_ordered([rx_a, rx_b], 0, |k| *k);
    assert_eq!(merged.next(), Some(Ok(0)));
    assert_eq!(merged.try_next(), Err(TryNextError::Empty));
    assert_eq!(merged.held(), 1);
    tx_b.send(2).unwrap();
    assert_eq!(merged.next(), Some(Err(OrderError::Duplicate { seq: 2, item: 2 })));
    // The copy held from `a` is kept: once 1 arrives, it follows.
    tx_b.send(1).unwrap();
    drop((tx_a, tx_b));
    let rest: Vec<_> = merged.collect();
    assert_eq!(rest, [Ok(1), Ok(2)]);
}

#[test]
fn ordered_fan_in_reports_a_gap_when_every_open_input_holds_a_later_item() {
    let _dog = Watchdog::new("ordered_fan_in_reports_a_gap_open", WATCHDOG_LIMIT);
    // Both inputs stay open, and neither can send 0 before its held item is taken: waiting
    // would deadlock (the seed's version does). The gap is reported, then the items follow.
    let (tx_a, rx_a) = chan::unbounded();
    let (tx_b, rx_b) = chan::unbounded();
    tx_a.send(3u64).unwrap();
    tx_b.send(2u64).unwrap();
    let mut merged = fan_in_ordered([rx_a, rx_b], 0, |k| *k);
    assert_eq!(merged.next(), Some(Err(OrderError::Gap { expected: 0, resume: 2 })));
    assert_eq!(merged.next(), Some(Ok(2)));
    assert_eq!(merged.next(), Some(Ok(3)));
    assert_eq!(merged.try_next(), Err(TryNextError::Empty));
    drop((tx_a, tx_b));
    assert_eq!(merged.next(), None);
}

#[test]
fn ordered_fan_in_reports_a_gap_when_inputs_close_with_items_held() {
    let _dog = Watchdog::new("ordered_fan_in_reports_a_gap_closed", WATCHDOG_LIMIT);
    let (items, errors) = drain_ordered(closed_inputs(&[&[0, 2, 3], &[6]]), 0);
    assert_eq!(items, [0, 2, 3, 6]);
    assert_eq!(
        errors,
        [OrderError::Gap { expected: 1, resume: 2 }, OrderError::Gap { expected: 4, resume: 6 }]
    );
}

#[test]
fn ordered_fan_in_drops_each_item_once_and_gives_held_items_back() {
    let log = DropLog::new();
    let (tx_a, rx_a) = chan::unbounded();
    let (_tx_b, rx_b) = chan::unbounded::<DropCounter>();
    for id in [0, 1] {
        tx_a.send(DropCounter::new(id, &log)).unwrap();
    }
    // Item `id` is numbered `id + 3`: id 0 is held, waiting for 0..3; id 1 stays queued.
    let mut merged = fan_in_ordered([rx_a, rx_b], 0, |item| item.id as u64 + 3);
    assert!(merged.try_next().is_err());
    let (inputs, held) = merged.into_parts();
    assert_eq!(held.iter().map(|item| item.id).collect::<Vec<_>>(), [0]);
    assert_eq!(log.total(), 0);
    drop(held);
    assert_eq!(log.count(0), 1);
    drop(inputs);
    drop(tx_a);
    log.assert_each_once(2);
}

#[test]
fn ordered_fan_in_stream_restores_order() {
    let n = scaled(300, 20) as u64;
    let (txs, rxs) = three_flavours();
    let inputs: Vec<_> = txs
        .into_iter()
        .enumerate()
        .map(|(p, tx)| (tx, (0..n).filter(|k| k % 3 == p as u64).collect()))
        .collect();
    let producers = produce(inputs, |k| Duration::from_micros((k * 31) % 4 * 25));
    let got: Vec<u64> = block_on(futures::StreamExt::collect(futures::StreamExt::map(
        fan_in_ordered(rxs, 0, |k| *k),
        Result::unwrap,
    )));
    join_all(producers);
    assert_eq!(got, (0..n).collect::<Vec<_>>());
}

#[test]
fn ordered_fan_in_stream_reports_errors_too() {
    let got: Vec<_> =
        block_on(futures::StreamExt::collect(fan_in_ordered(closed_inputs(&[&[0, 0, 2]]), 0, |k| *k)));
    assert_eq!(
        got,
        [
            Ok(0),
            Err(OrderError::Stale { seq: 0, expected: 1, item: 0 }),
            Err(OrderError::Gap { expected: 1, resume: 2 }),
            Ok(2)
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the number of inputs, the split of items between them and the delays,
    /// the merge yields every item once, in order, holding at most one per input.
    #[test]
    #[cfg_attr(miri, ignore)] // threads with sleeps, many cases: too slow for Miri
    fn ordered_fan_in_under_random_delays(
        inputs in 1usize..5,
        owners in prop::collection::vec(0usize..4, 1..60),
        delays in prop::collection::vec(0u64..300, 60),
    ) {
        let n = owners.len() as u64;
        let channels: Vec<_> = (0..inputs).map(|i| if i % 2 == 0 { chan::bounded(0) } else { chan::bounded(2) }).collect();
        let (txs, rxs): (Vec<_>, Vec<_>) = channels.into_iter().unzip();
        let work: Vec<_> = txs.into_iter().enumerate()
            .map(|(p, tx)| (tx, (0..n).filter(|k| owners[*k as usize] % inputs == p).collect()))
            .collect();
        let delays = Arc::new(delays);
        let producers: Vec<_> = work.into_iter().map(|(tx, items): (Sender<u64>, Vec<u64>)| {
            let delays = delays.clone();
            thread::spawn(move || for k in items {
                thread::sleep(Duration::from_micros(delays[k as usize]));
                tx.send(k).unwrap();
            })
        }).collect();
        let mut merged = fan_in_ordered(rxs, 0, |k| *k);
        let mut got = Vec::new();
        while let Some(item) = merged.next() {
            prop_assert!(merged.held() <= inputs);
            got.push(item.unwrap());
        }
        join_all(producers);
        prop_assert_eq!(got, (0..n).collect::<Vec<_>>());
    }
}

/// A deliberately uneven amount of work per item, so workers finish out of order.
fn uneven(n: u64) -> u64 {
    let spins = (n * 2_654_435_761) % 64 * scaled(50, 1) as u64;
    (0..spins).fold(n, |acc, i| acc.wrapping_mul(31).wrapping_add(i)) % 1000 + n * 1000
}

#[test]
fn ordered_pool_output_equals_sequential_map() {
    let _dog = Watchdog::new("ordered_pool_output_equals_sequential_map", WATCHDOG_LIMIT);
    let n = scaled(2000, 40) as u64;
    for workers in [1, 2, 3, 4] {
        let (tx, rx) = chan::bounded(8);
        let producer = thread::spawn(move || (0..n).for_each(|k| tx.send(k).unwrap()));
        let (out, pool) = ordered_pool_with_handle(rx, workers, uneven);
        let got: Vec<u64> = out.iter().collect();
        producer.join().unwrap();
        pool.join().unwrap();
        assert_eq!(got, (0..n).map(uneven).collect::<Vec<_>>(), "{workers} workers");
    }
}

#[test]
fn ordered_pool_memory_stays_bounded_behind_one_slow_item() {
    let _dog = Watchdog::new("ordered_pool_memory_stays_bounded", WATCHDOG_LIMIT);
    let workers = 3;
    let (release_tx, release_rx) = chan::bounded::<()>(0);
    let started = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = chan::unbounded();
    let n = scaled(500, 40) as u64;
    for k in 0..n {
        tx.send(k).unwrap();
    }
    drop(tx);
    let f = {
        let started = started.clone();
        move |k: u64| {
            started.fetch_add(1, Ordering::SeqCst);
            if k == 0 {
                // Item 0 waits until the test has looked: everything after it must wait too.
                let _ = release_rx.recv();
            }
            k
        }
    };
    let (out, pool) = ordered_pool_with_handle(rx, workers, f);
    // Give the other workers every chance to run ahead; waiting longer can only show more.
    thread::sleep(Duration::from_millis(scaled(200, 50) as u64));
    let ran = started.load(Ordering::SeqCst);
    // Item 0, and per other worker one result held by the merge and one in the worker's hand.
    assert!(ran <= 1 + 2 * (workers - 1), "{ran} items ran while item 0 was stuck");
    drop(release_tx);
    assert_eq!(out.iter().collect::<Vec<_>>(), (0..n).collect::<Vec<_>>());
    pool.join().unwrap();
}

#[test]
fn ordered_pool_reports_a_panic_after_the_items_before_it() {
    let _dog = Watchdog::new("ordered_pool_reports_a_panic", WATCHDOG_LIMIT);
    let n = scaled(300, 30) as u64;
    let bad = n / 2;
    let (tx, rx) = chan::bounded(4);
    let producer = thread::spawn(move || {
        // Stops when the pool stops reading (its input closes).
        for k in 0..n {
            if tx.send(k).is_err() {
                break;
            }
        }
    });
    let (out, pool) = ordered_pool_with_handle(rx, 3, move |k: u64| {
        if k == bad {
            panic!("item {k} is bad");
        }
        uneven(k)
    });
    let got: Vec<u64> = out.iter().collect();
    assert_eq!(got, (0..bad).map(uneven).collect::<Vec<_>>());
    let payload = pool.join().unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some(format!("item {bad} is bad").as_str())
    );
    producer.join().unwrap();
}

#[test]
fn ordered_pool_without_a_handle_closes_its_output_after_a_panic() {
    let _dog = Watchdog::new("ordered_pool_without_a_handle", WATCHDOG_LIMIT);
    let (tx, rx) = chan::unbounded();
    for k in 0..20u32 {
        tx.send(k).unwrap();
    }
    // The input stays open: the pool must stop on the panic, not wait for more input.
    let out = ordered_pool(rx, 2, |k: u32| {
        assert_ne!(k, 5, "five");
        k
    });
    assert_eq!(out.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    drop(tx);
}

#[test]
fn ordered_pool_stops_when_the_output_is_dropped() {
    let _dog = Watchdog::new("ordered_pool_stops_when_the_output_is_dropped", WATCHDOG_LIMIT);
    // An endless producer: the pool's threads must still all exit once nobody reads.
    let (tx, rx) = chan::bounded(2);
    let producer = thread::spawn(move || {
        let mut k = 0u64;
        while tx.send(k).is_ok() {
            k += 1;
        }
    });
    let (out, pool) = ordered_pool_with_handle(rx, 2, |k: u64| k * 2);
    for k in 0..10 {
        assert_eq!(out.recv(), Ok(k * 2));
    }
    drop(out);
    pool.join().unwrap();
    producer.join().unwrap();
}

#[test]
#[should_panic(expected = "gosync: ordered_pool needs at least one worker")]
fn ordered_pool_with_no_workers_panics() {
    let (_tx, rx) = chan::unbounded::<u8>();
    let _ = ordered_pool(rx, 0, |k| k);
}

#[test]
fn ordered_pool_output_is_a_stream() {
    let n = scaled(500, 20) as u64;
    let (tx, rx) = chan::bounded(4);
    let producer = thread::spawn(move || (0..n).for_each(|k| tx.send(k).unwrap()));
    let (out, pool) = ordered_pool_with_handle(rx, 2, uneven);
    let got: Vec<u64> = block_on(futures::StreamExt::collect(out));
    assert_eq!(got, (0..n).map(uneven).collect::<Vec<_>>());
    producer.join().unwrap();
    pool.join().unwrap();
}

#[test]
fn ordered_pool_stops_when_the_output_is_dropped_while_the_input_is_idle() {
    let _dog = Watchdog::new("ordered_pool_stops_while_the_input_is_idle", WATCHDOG_LIMIT);
    // The input stays open with nothing more to give: the pool must not wait on it for ever
    // once it has found the output gone.
    let (tx, rx) = chan::unbounded();
    for k in 0..5u64 {
        tx.send(k).unwrap();
    }
    let (out, pool) = ordered_pool_with_handle(rx, 2, |k: u64| k);
    // Wait until the pool has taken every input item and filled the output (2 results):
    // the numbering thread is then waiting on the idle input.
    while !(tx.is_empty() && out.len() == 2) {
        thread::sleep(Duration::from_millis(1));
    }
    drop(out);
    pool.join().unwrap();
    assert!(tx.send(10).is_err(), "the pool let go of its input");
}

#[test]
fn ordered_pool_panic_stops_the_pool_while_the_input_is_idle() {
    let _dog = Watchdog::new("ordered_pool_panic_while_the_input_is_idle", WATCHDOG_LIMIT);
    let (tx, rx) = chan::unbounded();
    for k in 0..5u64 {
        tx.send(k).unwrap();
    }
    let (out, pool) = ordered_pool_with_handle(rx, 2, |k: u64| {
        assert_ne!(k, 2);
        k
    });
    assert_eq!(out.iter().collect::<Vec<_>>(), [0, 1]);
    assert!(pool.join().is_err());
    drop(tx);
}

/// The consumer drops the pool's output while the input stays open and idle: the pool's
/// threads shut down at once instead of waiting for an item nobody wants (found in review).
#[test]
fn ordered_pool_stops_when_the_consumer_goes_away() {
    let _watchdog = Watchdog::new("ordered_pool_stops_when_the_consumer_goes_away", WATCHDOG_LIMIT);
    let (_input_tx, input_rx) = chan::bounded::<u32>(1);
    let (out, pool) = ordered_pool_with_handle(input_rx, 2, |x| x);
    drop(out);
    // A hang here (the threads waiting on the idle input) trips the watchdog.
    pool.join().unwrap();
}
