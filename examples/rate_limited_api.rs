//! A per-customer rate limit in front of a fake API, with a `KeyedLimiter`.
//!
//! Four customers call the service at different rates for two seconds; each may make 20
//! requests per second with bursts of 5. Those under their limit are all served; those over
//! it get about 20 per second (plus the initial burst) and the rest are refused, as an API
//! would answer `429 Too Many Requests`. Ends by itself after the two seconds.
//!
//! Run: `cargo run --release --example rate_limited_api`

use gosync::limit::{KeyedLimiter, Rate};
use gosync::WaitGroup;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const LIMIT_PER_SECOND: u32 = 20;
const BURST: u32 = 5;
const RUN_FOR: Duration = Duration::from_secs(2);

/// The fake service: counts the requests it served.
#[derive(Default)]
struct Service {
    served: AtomicU64,
}

impl Service {
    fn handle(&self, _customer: &str) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let limits = Arc::new(KeyedLimiter::new(Rate::per_second(LIMIT_PER_SECOND), BURST));
    // (customer, requests per second they attempt)
    let customers = [("acme", 5u32), ("globex", 15), ("initech", 40), ("umbrella", 200)];
    let start = Instant::now();
    let done = WaitGroup::new();
    let mut results = Vec::new();
    for (name, attempts_per_second) in customers {
        let (limits, service) = (limits.clone(), Arc::new(Service::default()));
        let refused = Arc::new(AtomicU64::new(0));
        results.push((name, attempts_per_second, service.clone(), refused.clone()));
        done.go(move || {
            let every = Duration::from_secs(1) / attempts_per_second;
            let mut next = Instant::now();
            while start.elapsed() < RUN_FOR {
                if limits.allow(&name) {
                    service.handle(name);
                } else {
                    refused.fetch_add(1, Ordering::Relaxed); // "429 Too Many Requests"
                }
                next += every;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
    }
    done.wait();
    let secs = start.elapsed().as_secs_f64();
    println!("limit: {LIMIT_PER_SECOND}/s per customer, burst {BURST}; ran {secs:.2} s\n");
    println!("{:<10} {:>10} {:>12} {:>9} {:>8}", "customer", "tries/s", "admitted/s", "refused", "limit/s");
    for (name, attempts, service, refused) in results {
        let served = service.served.load(Ordering::Relaxed);
        println!(
            "{:<10} {:>10} {:>12.1} {:>9} {:>8}",
            name,
            attempts,
            served as f64 / secs,
            refused.load(Ordering::Relaxed),
            LIMIT_PER_SECOND
        );
    }
    println!("\nkeys still held once the run is over: {}", limits.len());
    thread::sleep(Rate::per_second(LIMIT_PER_SECOND).interval() * BURST);
    println!("keys held after one refill time: {} (idle customers cost nothing)", limits.len());
}
