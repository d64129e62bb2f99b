#![cfg(loom)]
//! loom model of `gosync::fan_in::fan_in_ordered`: two inputs whose producers deliver out
//! of order relative to each other (each in its own increasing order), merged back into
//! sequence order. Every interleaving of the producers' sends with the merge's reads and
//! waits must yield every item once, in order, with no error; a lost wake-up leaves the
//! merge parked forever, which loom reports as a deadlock.

use gosync::chan;
use gosync::fan_in::fan_in_ordered;
use loom::thread;

/// Input `a` carries 1 then 2, input `b` carries 0: the merge must hold `a`'s 1 until `b`'s
/// 0 arrives, and must not read `a` again meanwhile.
#[test]
fn two_inputs_out_of_order() {
    loom::model(|| {
        let (tx_a, rx_a) = chan::bounded(1);
        let (tx_b, rx_b) = chan::bounded(1);
        let a = thread::spawn(move || {
            tx_a.send(1u64).unwrap();
            tx_a.send(2u64).unwrap();
        });
        let b = thread::spawn(move || tx_b.send(0u64).unwrap());
        let mut merged = fan_in_ordered([rx_a, rx_b], 0, |k| *k);
        let mut got = Vec::new();
        while let Some(item) = merged.next() {
            assert!(merged.held() <= 2);
            got.push(item.expect("in-order inputs give no error"));
        }
        assert_eq!(got, [0, 1, 2]);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// Input `a` stays open and idle until the merge has yielded 0, which only `b` (another
/// thread) delivers: the merge must wait on both inputs at once, not on one of them.
#[test]
fn waits_on_every_open_input() {
    loom::model(|| {
        let (tx_a, rx_a) = chan::bounded(1);
        let (tx_b, rx_b) = chan::bounded(1);
        let b = thread::spawn(move || tx_b.send(0u64).unwrap());
        let mut merged = fan_in_ordered([rx_a, rx_b], 0, |k| *k);
        assert_eq!(merged.next(), Some(Ok(0)));
        tx_a.send(1).unwrap();
        drop(tx_a);
        assert_eq!(merged.next(), Some(Ok(1)));
        assert_eq!(merged.next(), None);
        b.join().unwrap();
    });
}
