//! Go's select loop: two producers at different rates, a ticker for status lines, and an
//! overall timeout, all in one `select!`.
//!
//! Run with `cargo run --release --example select_timeout`.

use gosync::chan::{self, Receiver};
use gosync::select;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A producer thread that sends `name-0`, `name-1`, ... every `every`, until the channel is
/// closed (a send then fails and it returns).
fn producer(name: &'static str, every: Duration) -> (Receiver<String>, JoinHandle<()>) {
    let (tx, rx) = chan::bounded(8);
    let handle = thread::spawn(move || {
        for i in 0.. {
            if tx.send(format!("{name}-{i}")).is_err() {
                return; // closed by the consumer
            }
            thread::sleep(every);
        }
    });
    (rx, handle)
}

fn main() {
    let start = Instant::now();
    let (fast, fast_thread) = producer("fast", Duration::from_millis(20));
    let (slow, slow_thread) = producer("slow", Duration::from_millis(75));

    let status = chan::tick(Duration::from_millis(250)); // Go: time.Tick
    let timeout = chan::after(Duration::from_secs(1)); // Go: time.After

    let (mut from_fast, mut from_slow) = (0, 0);
    loop {
        select! {
            recv(fast) -> msg => {
                let _msg: String = msg.expect("the producer runs until we close");
                from_fast += 1;
            }
            recv(slow) -> msg => {
                println!("{:>5} ms  slow says {}", start.elapsed().as_millis(), msg.expect("running"));
                from_slow += 1;
            }
            recv(status) -> _ => {
                println!("{:>5} ms  status: {from_fast} fast, {from_slow} slow", start.elapsed().as_millis());
            }
            recv(timeout) -> _ => {
                println!("{:>5} ms  timeout: stopping", start.elapsed().as_millis());
                break;
            }
        }
    }

    // Dropping the receivers closes both channels: each producer's next send fails and its
    // thread returns. (Dropping `status` stops the ticker too.)
    drop((fast, slow, status));
    fast_thread.join().expect("fast producer");
    slow_thread.join().expect("slow producer");
    println!("received {from_fast} from fast (every 20 ms), {from_slow} from slow (every 75 ms) in 1 s");
}
