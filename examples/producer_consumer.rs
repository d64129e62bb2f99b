//! The seed's producer/consumer program: producers push jobs into a BoundedQueue, consumers
//! pop and process them, a WaitGroup tells when the producers are done so the queue can be
//! closed, and a second WaitGroup waits for the consumers to drain it.
//!
//! Run with `cargo run --release --example producer_consumer`.

use gosync::{BoundedQueue, WaitGroup};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const PRODUCERS: u64 = 3;
const CONSUMERS: u64 = 2;
const JOBS_PER_PRODUCER: u64 = 10_000;
const CAPACITY: usize = 16;

fn main() {
    let queue = Arc::new(BoundedQueue::new(CAPACITY));
    let sum = Arc::new(AtomicU64::new(0));
    let processed = Arc::new(AtomicU64::new(0));

    let producers = WaitGroup::new();
    for p in 0..PRODUCERS {
        let queue = queue.clone();
        producers.go(move || {
            for i in 0..JOBS_PER_PRODUCER {
                queue.push(p * JOBS_PER_PRODUCER + i).expect("queue closed while producing");
            }
        });
    }

    let consumers = WaitGroup::new();
    for c in 0..CONSUMERS {
        let (queue, sum, processed) = (queue.clone(), sum.clone(), processed.clone());
        consumers.go(move || {
            let mut mine = 0u64;
            // pop() returns None once the queue is closed and drained.
            while let Some(job) = queue.pop() {
                sum.fetch_add(job, Ordering::Relaxed);
                mine += 1;
            }
            processed.fetch_add(mine, Ordering::Relaxed);
            println!("consumer {c}: processed {mine} jobs");
        });
    }

    producers.wait();
    queue.close();
    consumers.wait();

    let total = PRODUCERS * JOBS_PER_PRODUCER;
    let expected_sum = total * (total - 1) / 2;
    println!(
        "processed {} of {total} jobs, sum {} (expected {expected_sum})",
        processed.load(Ordering::Relaxed),
        sum.load(Ordering::Relaxed)
    );
    assert_eq!(processed.load(Ordering::Relaxed), total, "every job processed exactly once");
    assert_eq!(sum.load(Ordering::Relaxed), expected_sum, "no job lost or duplicated");
}
