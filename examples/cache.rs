//! A cache in front of a slow backend: many threads ask for the same few keys at once, and
//! OnceMap coalesces their loads so that each key is loaded once, while the other callers
//! wait for that load and share its result. Then a flaky key: a load that fails is returned
//! to its caller and not cached, and a waiting caller loads again.
//!
//! Run with `cargo run --release --example cache`.

use gosync::{OnceMap, WaitGroup};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CALLERS: usize = 16;
const KEYS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
const REQUESTS_PER_CALLER: usize = 20;
/// How long the fake backend takes per load.
const LOAD_TIME: Duration = Duration::from_millis(50);

/// A slow backend that counts its loads per key. Its first load of "flaky" fails.
struct Backend {
    loads: Mutex<BTreeMap<String, usize>>,
    flaky_failed: AtomicBool,
}

impl Backend {
    fn load(&self, key: &str) -> Result<Arc<String>, String> {
        *self.loads.lock().unwrap().entry(key.to_string()).or_default() += 1;
        std::thread::sleep(LOAD_TIME);
        if key == "flaky" && !self.flaky_failed.swap(true, Ordering::SeqCst) {
            return Err(format!("backend timeout loading {key}"));
        }
        Ok(Arc::new(format!("profile of {key}")))
    }
}

fn main() {
    let backend =
        Arc::new(Backend { loads: Mutex::new(BTreeMap::new()), flaky_failed: AtomicBool::new(false) });
    // Values are `Arc`s: a hit clones the Arc, not the profile.
    let cache: Arc<OnceMap<String, Arc<String>>> = Arc::new(OnceMap::new());
    let start = Instant::now();
    let callers = WaitGroup::new();
    for caller in 0..CALLERS {
        let (backend, cache) = (backend.clone(), cache.clone());
        callers.go(move || {
            for request in 0..REQUESTS_PER_CALLER {
                let key = KEYS[(caller + request) % KEYS.len()];
                let profile = cache.try_get_or_init(key.to_string(), |key| backend.load(key)).unwrap();
                assert_eq!(*profile, format!("profile of {key}"));
            }
        });
    }
    callers.wait();
    let elapsed = start.elapsed();

    let requests = CALLERS * REQUESTS_PER_CALLER;
    println!("{requests} requests from {CALLERS} threads for {} keys in {elapsed:.0?}", KEYS.len());
    println!(
        "(a backend load takes {LOAD_TIME:?}: one load per request would be {:.1?})",
        LOAD_TIME * requests as u32
    );
    println!();
    println!("{:<8} {:>6}  value", "key", "loads");
    for key in KEYS {
        let loads = backend.loads.lock().unwrap().get(key).copied().unwrap_or(0);
        println!("{key:<8} {loads:>6}  {}", cache.get(key).unwrap());
        assert_eq!(loads, 1, "every key is loaded exactly once");
    }

    // A flaky key: the first load fails. Its caller gets the error; the callers waiting for
    // that load are not given the error: one of them loads again, and the others share it.
    let errors = Arc::new(Mutex::new(Vec::new()));
    let callers = WaitGroup::new();
    for _ in 0..CALLERS {
        let (backend, cache, errors) = (backend.clone(), cache.clone(), errors.clone());
        callers.go(move || {
            if let Err(error) = cache.try_get_or_init("flaky".to_string(), |key| backend.load(key)) {
                errors.lock().unwrap().push(error);
            }
        });
    }
    callers.wait();
    let errors = errors.lock().unwrap();
    let flaky_loads = backend.loads.lock().unwrap()["flaky"];
    println!();
    println!("flaky: {CALLERS} callers, {flaky_loads} loads, {} error(s) not cached:", errors.len());
    for error in errors.iter() {
        println!("  {error}");
    }
    println!("flaky: now cached as {:?}", cache.get("flaky").as_deref().map(String::as_str));
    // Only the first load fails: one error, one successful reload, then hits.
    assert_eq!(errors.len(), 1);
    assert_eq!(flaky_loads, 2);
    assert_eq!(cache.len(), KEYS.len() + 1);
}
