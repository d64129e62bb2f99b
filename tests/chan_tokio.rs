//! Channels on a real multi-thread tokio runtime: SPSC and MPMC across tasks for each
//! flavour, blocking threads and async tasks on the same channel, `select_async`, and
//! `tokio::select!` loops that drop the losing futures.
//!
//! Not under Miri: it cannot run tokio's runtime (its I/O driver makes system calls Miri
//! does not support). The same properties without a runtime are in `chan_async.rs`.
#![cfg(not(miri))]

mod common;

use gosync::chan::{self, Receiver, RecvError, Select, Sender};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Flavour {
    Zero,
    Bounded(usize),
    Unbounded,
}

const ALL: [Flavour; 4] = [Flavour::Zero, Flavour::Bounded(1), Flavour::Bounded(16), Flavour::Unbounded];

fn make<T>(flavour: Flavour) -> (Sender<T>, Receiver<T>) {
    match flavour {
        Flavour::Zero => chan::bounded(0),
        Flavour::Bounded(cap) => chan::bounded(cap),
        Flavour::Unbounded => chan::unbounded(),
    }
}

/// Fails the test instead of hanging it when a task is never woken.
async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(common::LONG, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still pending (lost wake-up?)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spsc_across_tasks() {
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let producer = tokio::spawn(async move {
            for i in 0..5_000 {
                tx.send_async(i).await.unwrap();
            }
        });
        let consumer = tokio::spawn(async move {
            let mut next = 0;
            while let Ok(v) = rx.recv_async().await {
                assert_eq!(v, next, "{flavour:?}");
                next += 1;
            }
            next
        });
        within("producer", producer).await.unwrap();
        assert_eq!(within("consumer", consumer).await.unwrap(), 5_000, "{flavour:?}");
    }
}

/// Producers and consumers, half of each async tasks and half blocking threads, on one
/// channel: every message exactly once, each producer's messages in order per consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpmc_tasks_and_threads_mixed() {
    const PER: u32 = 2_000;
    for flavour in ALL {
        let (tx, rx) = make::<(u32, u32)>(flavour);
        let mut producers = Vec::new();
        let mut threads = Vec::new();
        for p in 0..4u32 {
            let tx = tx.clone();
            if p % 2 == 0 {
                producers.push(tokio::spawn(async move {
                    for seq in 0..PER {
                        tx.send_async((p, seq)).await.unwrap();
                    }
                }));
            } else {
                threads.push(std::thread::spawn(move || {
                    for seq in 0..PER {
                        tx.send((p, seq)).unwrap();
                    }
                    Vec::new()
                }));
            }
        }
        drop(tx);
        let mut consumers = Vec::new();
        for c in 0..4 {
            let rx = rx.clone();
            if c % 2 == 0 {
                consumers.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(m) = rx.recv_async().await {
                        got.push(m);
                    }
                    got
                }));
            } else {
                threads.push(std::thread::spawn(move || rx.iter().collect()));
            }
        }
        drop(rx);
        let mut all: Vec<Vec<(u32, u32)>> = Vec::new();
        for p in producers {
            within("producer task", p).await.unwrap();
        }
        for c in consumers {
            all.push(within("consumer task", c).await.unwrap());
        }
        let threads = tokio::task::spawn_blocking(move || {
            threads.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
        });
        all.extend(within("threads", threads).await.unwrap());
        let mut seen = vec![vec![false; PER as usize]; 4];
        for got in all {
            let mut last = [None::<u32>; 4];
            for (p, seq) in got {
                let p = p as usize;
                assert!(last[p].map_or(true, |l| l < seq), "{flavour:?}: producer {p} reordered");
                last[p] = Some(seq);
                assert!(!std::mem::replace(&mut seen[p][seq as usize], true), "{flavour:?}: duplicate");
            }
        }
        assert!(seen.iter().flatten().all(|&s| s), "{flavour:?}: a message was lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_async_across_tasks() {
    for flavour in ALL {
        let (tx_a, rx_a) = make::<u32>(flavour);
        let (tx_b, rx_b) = make::<u32>(flavour);
        let pa = tokio::spawn(async move {
            for i in 0..1_000 {
                tx_a.send_async(i).await.unwrap();
            }
        });
        let pb = std::thread::spawn(move || {
            for i in 0..1_000 {
                tx_b.send(i).unwrap();
            }
        });
        // A spawned task: a `Select` (and so its future) is `Send`.
        let consumer = tokio::spawn(async move {
            let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
            let mut sel = Select::new();
            let ia = sel.recv(&rx_a);
            let ib = sel.recv(&rx_b);
            let mut closed = 0;
            while closed < 2 {
                let op = sel.select_async().await;
                let (i, m) = if op.index() == ia { (ia, op.recv(&rx_a)) } else { (ib, op.recv(&rx_b)) };
                match (i == ia, m) {
                    (true, Ok(v)) => got_a.push(v),
                    (false, Ok(v)) => got_b.push(v),
                    (_, Err(RecvError)) => {
                        // A closed channel stays ready: finish the other one on its own.
                        closed = 2;
                        got_a.extend(futures::StreamExt::collect::<Vec<_>>(rx_a.clone()).await);
                        got_b.extend(futures::StreamExt::collect::<Vec<_>>(rx_b.clone()).await);
                    }
                }
            }
            (got_a, got_b)
        });
        let (got_a, got_b) = within("consumer", consumer).await.unwrap();
        within("producer a", pa).await.unwrap();
        pb.join().unwrap();
        assert_eq!(got_a, (0..1_000).collect::<Vec<_>>(), "{flavour:?}");
        assert_eq!(got_b, (0..1_000).collect::<Vec<_>>(), "{flavour:?}");
    }
}

/// A `tokio::select!` loop that races a receive against a short sleep (so receive futures
/// are dropped mid-wait, sometimes after a value was handed to them) loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_select_loop_with_timeouts_loses_nothing() {
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let producer = std::thread::spawn(move || {
            for i in 0..2_000 {
                tx.send(i).unwrap();
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let mut got = Vec::new();
        let mut timeouts = 0;
        loop {
            tokio::select! {
                m = rx.recv_async() => match m {
                    Ok(v) => got.push(v),
                    Err(RecvError) => break,
                },
                _ = tokio::time::sleep(Duration::from_micros(200)) => timeouts += 1,
            }
        }
        producer.join().unwrap();
        assert_eq!(got, (0..2_000).collect::<Vec<_>>(), "{flavour:?} ({timeouts} timeouts)");
    }
}

/// A `tokio::select!` loop racing each send future against a short sleep on a buffered
/// channel: a send future dropped before Ready has not sent, so resending the same value
/// delivers every value exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_select_with_send_futures_on_buffered_channels_is_exactly_once() {
    for flavour in [Flavour::Bounded(1), Flavour::Bounded(16)] {
        let (tx, rx) = make::<u32>(flavour);
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv_async().await {
                got.push(v);
                if v % 50 == 0 {
                    tokio::time::sleep(Duration::from_micros(300)).await;
                }
            }
            got
        });
        let mut next = 0;
        let mut gave_up = 0;
        while next < 1_000 {
            tokio::select! {
                r = tx.send_async(next) => { r.unwrap(); next += 1; },
                // A dropped send future on a buffered channel has not sent: resend.
                _ = tokio::time::sleep(Duration::from_micros(100)) => gave_up += 1,
            }
        }
        drop(tx);
        let got = within("consumer", consumer).await.unwrap();
        assert_eq!(got, (0..1_000).collect::<Vec<_>>(), "{flavour:?} ({gave_up} sends given up)");
    }
}
