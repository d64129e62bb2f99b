//! [`OnceMap`]: a concurrent map whose values are computed once per key, for threads and
//! async tasks (a cache with Go's `singleflight` built in).

use crate::primitive::{shard_count, Arc, Lock, RwLock};
#[cfg(any(feature = "std", loom))]
use crate::waiter::Waiter;
use crate::waiter::{TaskWaiter, WaitList};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::convert::Infallible;
use core::fmt;
use core::future::Future;
use core::hash::{BuildHasher, Hash};
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use crossbeam_utils::CachePadded;
use hashbrown::HashTable;

#[cfg(any(feature = "std", loom))]
use std::collections::hash_map::RandomState;

/// A concurrent map that computes each key's value once, however many threads or tasks ask
/// for it at the same time: a cache with Go's `singleflight` built in (Go: `sync.Map` holding
/// a `sync.Once` per key, or `x/sync/singleflight` in front of a map).
///
/// [`get_or_init`](OnceMap::get_or_init) returns the key's value, running `init` to compute it
/// if it is missing. Exactly one initializer runs per key at a time: callers that ask for a
/// key while its initializer runs wait for it (a blocked thread or a pending task) and receive
/// a clone of its value. The return of an initializer synchronizes with the return of every
/// call that receives its value.
///
/// * **No lock is held while an initializer runs**, so lookups and initializations of other
///   keys never wait on it, and an initializer may itself use the map for other keys.
/// * **Failures are not cached.** When an initializer returns an error
///   ([`try_get_or_init`](OnceMap::try_get_or_init)), panics, or is dropped unfinished (an
///   async initializer whose future was dropped), its caller gets the error or the panic, the
///   key stays empty, and the waiting callers try again: the first of them to get there runs
///   its own initializer, the others wait for that one. Nobody is left waiting for an
///   initializer that is gone, and the map is never poisoned.
/// * **Hits do not serialize readers.** The map is split into shards, each behind a
///   reader-writer lock; a hit takes its shard's lock shared, clones the value and leaves
///   (readers of one hot key still share that shard's lock word, one cache line). Values
///   are returned by [`Clone`]: store an `Arc` when they are large. A key's `Eq` and a
///   value's `Clone` run under a shard's lock (`Clone` only under the shared one), so they
///   must not insert into or remove from the same map; reading it is fine. A key's `Hash`
///   runs once per call, before any lock.
/// * **Re-entry for the same key panics.** An initializer that asks the map for its own key
///   (directly, or in an async initializer's future) would wait for itself forever; on the
///   thread running it, that call panics instead with
///   `gosync: OnceMap initializer asked for its own key`. (Asked from another thread that the
///   initializer then waits for, it deadlocks, as any lock would.)
/// * [`remove`](OnceMap::remove) and [`clear`](OnceMap::clear) remove *initialized* values.
///   A key whose initializer is running is not affected: `remove` returns `None`, and the
///   initializer's value is stored when it finishes, as if it had finished just after the
///   removal.
///
/// # OnceMap vs `Mutex<HashMap<K, Arc<OnceLock<V>>>>` and `dashmap`
/// The std recipe serializes every lookup on one mutex, and `OnceLock` has no stable
/// fallible initializer, so an error cannot be returned without being cached. `dashmap`'s `entry().or_insert_with()` runs the
/// initializer while holding the shard's write lock, so every key of that shard, hits
/// included, waits for it, and an initializer that touches another key of its own shard
/// deadlocks. Here initializers run outside every lock, and waiting is per key.
///
/// # Without `std`
/// The type needs `alloc` only, but there is no `RandomState` and no thread to block: build
/// it with [`with_hasher`](OnceMap::with_hasher) (or `Default`) and any `BuildHasher`, and use
/// [`get_or_init_async`](OnceMap::get_or_init_async),
/// [`get_or_try_init_async`](OnceMap::get_or_try_init_async), [`get`](OnceMap::get),
/// [`remove`](OnceMap::remove), [`len`](OnceMap::len) and [`clear`](OnceMap::clear). The
/// blocking forms and the same-key re-entry check need `std`, and without `std` hits take
/// their shard's (spin) lock exclusively.
///
/// # Example
/// ```
/// use gosync::OnceMap;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let cache: OnceMap<u32, String> = OnceMap::new();
/// let loads = AtomicUsize::new(0);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             let value = cache.get_or_init(7, |key| {
///                 loads.fetch_add(1, Ordering::Relaxed);
///                 format!("value of {key}")
///             });
///             assert_eq!(value, "value of 7");
///         });
///     }
/// });
/// assert_eq!(loads.load(Ordering::Relaxed), 1); // four callers, one load
/// assert_eq!(cache.get(&7).as_deref(), Some("value of 7"));
/// ```
#[cfg(any(feature = "std", loom))]
pub struct OnceMap<K, V, S = RandomState> {
    shards: Shards<K, V>,
    /// log2 of the number of shards (at least 1).
    shard_bits: u32,
    hasher: S,
}

/// A concurrent map that computes each key's value once (see the `std` build's docs: without
/// `std` there is no default hasher).
///
/// ```
/// use std::hash::BuildHasherDefault;
/// use std::collections::hash_map::DefaultHasher;
/// let map: gosync::OnceMap<u8, u8, BuildHasherDefault<DefaultHasher>> = Default::default();
/// assert!(map.is_empty());
/// ```
#[cfg(not(any(feature = "std", loom)))]
pub struct OnceMap<K, V, S> {
    shards: Shards<K, V>,
    /// log2 of the number of shards (at least 1).
    shard_bits: u32,
    hasher: S,
}

/// Each shard on its own cache line, so that readers of different shards do not contend.
type Shards<K, V> = Box<[CachePadded<RwLock<Shard<K, V>>>]>;

struct Shard<K, V> {
    table: HashTable<Entry<K, V>>,
    /// How many entries are `Ready` (the map's length, per shard).
    ready: usize,
}

/// A bucket of a shard's table. A running initialization is one pointer, so that buckets
/// stay small and a hit's probe touches few cache lines.
///
/// Each entry keeps its key's hash, so that the table never calls the user's `Hash` while a
/// shard is locked (a rehash that panicked half-way would otherwise drop entries).
enum Entry<K, V> {
    Ready(u64, K, V),
    /// An initializer is running. Its caller holds the other reference to the flight (its key
    /// is what it passes to `init`), and turns the entry into `Ready` or removes it.
    Running(Arc<Flight<K>>),
}

/// One running initialization: the key (shared by the map's entry and the initializer's
/// caller) and the callers waiting for it.
struct Flight<K> {
    hash: u64,
    key: K,
    /// Touched only under the shard's write lock while the entry is in the table, and by the
    /// initializer's caller alone once it removed the entry. Woken all at once when the
    /// initializer ends: on success every waiter finds the value; on failure they all look
    /// again, and the first to take the shard's lock becomes the next initializer.
    waiters: Lock<WaitList>,
}

/// A running initialization's identity: its flight's address, unique while the flight lives
/// (the initializer's caller keeps it alive until the entry is gone).
type FlightId = usize;

fn flight_id<K>(flight: &Arc<Flight<K>>) -> FlightId {
    Arc::as_ptr(flight).cast::<()>() as usize
}

impl<K> Flight<K> {
    fn new(hash: u64, key: K) -> Arc<Self> {
        Arc::new(Flight { hash, key, waiters: Lock::new(WaitList::new()) })
    }
}

impl<K, V> Entry<K, V> {
    fn key(&self) -> &K {
        match self {
            Entry::Ready(_, key, _) => key,
            Entry::Running(flight) => &flight.key,
        }
    }

    /// The key's hash, stored: no user code runs when the table rehashes.
    fn hash(&self) -> u64 {
        match self {
            Entry::Ready(hash, ..) => *hash,
            Entry::Running(flight) => flight.hash,
        }
    }

    fn is_flight(&self, id: FlightId) -> bool {
        matches!(self, Entry::Running(flight) if flight_id(flight) == id)
    }
}

impl<K, V> Shard<K, V> {
    fn new() -> Self {
        Shard { table: HashTable::new(), ready: 0 }
    }
}

/// What a caller that missed finds under its shard's write lock.
enum Lookup {
    /// The value is there: read it (cloned under a shared lock, never the exclusive one).
    Ready,
    /// Another caller's initializer (this flight) runs, and the caller registered on it.
    Waiting(FlightId),
    /// Nothing was there: the caller's flight is now the key's running entry.
    Started,
}

#[cfg(any(feature = "std", loom))]
impl<K, V> OnceMap<K, V, RandomState> {
    /// An empty map with the default hasher.
    ///
    /// ```
    /// let map: gosync::OnceMap<String, u64> = gosync::OnceMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        OnceMap::with_hasher(RandomState::new())
    }
}

impl<K, V, S> OnceMap<K, V, S> {
    /// An empty map that hashes keys with `hasher` (the only constructor without `std`).
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: gosync::OnceMap<&str, u8> = gosync::OnceMap::with_hasher(RandomState::new());
    /// assert_eq!(map.get_or_init("a", |_| 1), 1);
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        let shards = shard_count().max(2).next_power_of_two();
        OnceMap {
            shards: (0..shards).map(|_| CachePadded::new(RwLock::new(Shard::new()))).collect(),
            shard_bits: shards.trailing_zeros(),
            hasher,
        }
    }

    /// The number of initialized values (a snapshot: initializers still running are not
    /// counted).
    ///
    /// ```
    /// let map = gosync::OnceMap::new();
    /// map.get_or_init(1, |_| "one");
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().ready).sum()
    }

    /// True if no value is initialized (a snapshot).
    ///
    /// ```
    /// let map: gosync::OnceMap<u8, u8> = gosync::OnceMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every initialized value. Initializers running meanwhile are not affected:
    /// their values are stored when they finish. The values are dropped after the map's
    /// locks are released.
    ///
    /// ```
    /// let map = gosync::OnceMap::new();
    /// map.get_or_init("k", |_| 1);
    /// map.clear();
    /// assert!(map.is_empty());
    /// assert_eq!(map.get_or_init("k", |_| 2), 2);
    /// ```
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let removed: Vec<Entry<K, V>> = {
                let mut shard = shard.write();
                shard.ready = 0;
                shard.table.extract_if(|entry| matches!(entry, Entry::Ready(..))).collect()
            };
            // Dropped here, outside the lock: a value's Drop may use the map.
            drop(removed);
        }
    }

    /// The hasher the map was built with.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: gosync::OnceMap<u8, u8> = gosync::OnceMap::with_hasher(RandomState::new());
    /// let _hasher: &RandomState = map.hasher();
    /// ```
    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard<K, V>> {
        // The bits just below the top 7: hashbrown uses the top 7 bits as its tag and the low
        // bits as the bucket index, so neither is made constant within a shard.
        let index = ((hash << 7) >> (64 - self.shard_bits)) as usize;
        &self.shards[index]
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> OnceMap<K, V, S> {
    /// A clone of `key`'s value, if it is initialized (`None` while its initializer runs).
    ///
    /// ```
    /// let map = gosync::OnceMap::new();
    /// assert_eq!(map.get("k"), None);
    /// map.get_or_init("k".to_string(), |_| 1);
    /// assert_eq!(map.get("k"), Some(1));
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash).read();
        match shard.table.find(hash, |entry| entry.key().borrow() == key)? {
            Entry::Ready(_, _, value) => Some(value.clone()),
            Entry::Running(_) => None,
        }
    }

    /// Removes `key`'s value and returns it, if it is initialized. A running initializer for
    /// `key` is not affected: `remove` returns `None` and the initializer's value is stored
    /// when it finishes.
    ///
    /// ```
    /// let map = gosync::OnceMap::new();
    /// map.get_or_init(1, |_| "one");
    /// assert_eq!(map.remove(&1), Some("one"));
    /// assert_eq!(map.remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let (key, value) = {
            let mut shard = self.shard(hash).write();
            let found = shard
                .table
                .find_entry(hash, |entry| matches!(entry, Entry::Ready(_, k, _) if k.borrow() == key))
                .ok()?;
            let (Entry::Ready(_, key, value), _) = found.remove() else { unreachable!() };
            shard.ready -= 1;
            (key, value)
        };
        // The key is dropped outside the lock.
        drop(key);
        Some(value)
    }

    /// `key`'s value, computed by `init` if it is missing.
    ///
    /// If another caller's initializer for `key` is running, blocks until it ends and returns
    /// its value; if that initializer panicked, this call (or another waiting one) runs its
    /// own `init` instead. `init` runs on the calling thread with no lock held.
    ///
    /// # Panics
    /// If `init` panics, the panic propagates to this call (the key stays empty). If `init`
    /// asks the map for `key` itself: `gosync: OnceMap initializer asked for its own key`.
    ///
    /// ```
    /// let map = gosync::OnceMap::new();
    /// assert_eq!(map.get_or_init("answer", |_| 42), 42);
    /// assert_eq!(map.get_or_init("answer", |_| unreachable!()), 42);
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn get_or_init(&self, key: K, init: impl FnOnce(&K) -> V) -> V {
        match self.try_get_or_init(key, |key| Ok::<V, Infallible>(init(key))) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// `key`'s value, computed by `init` if it is missing; an error from `init` is returned
    /// to this caller and not stored, and the next caller (one that was waiting, or a later
    /// one) runs its own initializer.
    ///
    /// Blocks like [`get_or_init`](Self::get_or_init) while another caller's initializer
    /// for `key` runs.
    ///
    /// # Panics
    /// As [`get_or_init`](Self::get_or_init).
    ///
    /// ```
    /// let map = gosync::OnceMap::new();
    /// assert_eq!(map.try_get_or_init(1, |_| Err("offline")), Err("offline"));
    /// assert_eq!(map.get(&1), None); // errors are not cached
    /// assert_eq!(map.try_get_or_init(1, |_| Ok::<_, &str>(10)), Ok(10));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn try_get_or_init<E>(&self, key: K, init: impl FnOnce(&K) -> Result<V, E>) -> Result<V, E> {
        let hash = self.hasher.hash_one(&key);
        if let Some(value) = self.get_hashed(hash, &key) {
            return Ok(value);
        }
        // A miss: the key goes into a flight, which the map may share while `init` runs.
        let flight = Flight::new(hash, key);
        loop {
            // Looked up under a shared lock first: also after a wake-up, so that the woken
            // waiters clone the value side by side.
            if let Some(value) = self.get_hashed(hash, &flight.key) {
                return Ok(value);
            }
            let mut waiter = None;
            let register = |running: &Flight<K>| {
                let thread = Waiter::current_thread();
                running.waiters.lock().register(&thread);
                waiter = Some(thread);
            };
            match self.lookup_or_start(hash, &flight, register) {
                // Gone again before we could read it (removed): look once more.
                Lookup::Ready => continue,
                Lookup::Started => break,
                Lookup::Waiting(_) => {}
            }
            // Woken when that initializer ended, whatever its outcome: look again.
            if let Some(waiter) = waiter {
                waiter.wait();
            }
        }
        let owner = Owner { map: self, hash, flight: Some(flight) };
        let result = {
            let _running = reentry::Mark::new(owner.id());
            init(owner.key())
        };
        match result {
            Ok(value) => {
                owner.finish(&value);
                Ok(value)
            }
            // `owner` drops here (or while unwinding from `init`): the waiters try again.
            Err(error) => Err(error),
        }
    }

    /// `key`'s value from an async task, computed by the future `init` returns if it is
    /// missing. The future returned waits (without blocking the thread) while another
    /// caller's initializer for `key` runs; if this caller becomes the initializer, it polls
    /// `init`'s future (boxed) itself.
    ///
    /// # Cancel safety
    /// Dropping the future while it waits withdraws it and affects no one. Dropping it while
    /// its own initializer runs drops that initializer, leaves the key empty and wakes the
    /// waiting callers, the first of which starts its own: nobody waits for an initializer
    /// that is gone.
    ///
    /// # Panics
    /// A panic of `init` or of its future propagates to the poll that ran it (the key stays
    /// empty and waiters try again). Asking for `key` from inside `init`'s future, polled on
    /// the same thread, panics with `gosync: OnceMap initializer asked for its own key`.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) { return v } }
    /// # }
    /// let map = gosync::OnceMap::new();
    /// let value = block_on(map.get_or_init_async(5, |key| {
    ///     let key = *key;
    ///     async move { key * 2 }
    /// }));
    /// assert_eq!(value, 10);
    /// assert_eq!(map.get(&5), Some(10));
    /// ```
    pub fn get_or_init_async<F, Fut>(&self, key: K, init: F) -> GetOrInitFuture<'_, K, V, S, F, Fut>
    where
        F: FnOnce(&K) -> Fut,
        Fut: Future<Output = V>,
    {
        GetOrInitFuture { core: Core::new(self, key, init, Ok) }
    }

    /// The async form of [`try_get_or_init`](Self::try_get_or_init): an error from `init`'s
    /// future goes to this caller and is not stored; waiting callers then try again.
    ///
    /// # Cancel safety
    /// As [`get_or_init_async`](Self::get_or_init_async).
    ///
    /// # Panics
    /// As [`get_or_init_async`](Self::get_or_init_async).
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) { return v } }
    /// # }
    /// let map = gosync::OnceMap::new();
    /// let failed = block_on(map.get_or_try_init_async("k", |_| async { Err::<u8, _>("down") }));
    /// assert_eq!(failed, Err("down"));
    /// let loaded = block_on(map.get_or_try_init_async("k", |_| async { Ok::<_, &str>(3) }));
    /// assert_eq!(loaded, Ok(3));
    /// ```
    pub fn get_or_try_init_async<F, Fut, E>(
        &self,
        key: K,
        init: F,
    ) -> GetOrTryInitFuture<'_, K, V, S, F, Fut, E>
    where
        F: FnOnce(&K) -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        GetOrTryInitFuture { core: Core::new(self, key, init, core::convert::identity) }
    }

    /// The hit path: one shared lock of one shard.
    fn get_hashed(&self, hash: u64, key: &K) -> Option<V> {
        let shard = self.shard(hash).read();
        match shard.table.find(hash, |entry| entry.key() == key)? {
            Entry::Ready(_, _, value) => Some(value.clone()),
            Entry::Running(_) => None,
        }
    }

    /// Under the shard's write lock: returns the value, or lets `wait` register on the running
    /// initializer (after the re-entry check), or makes `flight` (the caller's, built before
    /// the lock) the key's running entry.
    fn lookup_or_start(&self, hash: u64, flight: &Arc<Flight<K>>, wait: impl FnOnce(&Flight<K>)) -> Lookup {
        let mut shard = self.shard(hash).write();
        let shard = &mut *shard;
        match shard.table.find(hash, |entry| entry.key() == &flight.key) {
            // Cloned by the caller under a shared lock, not here under the exclusive one.
            Some(Entry::Ready(..)) => return Lookup::Ready,
            Some(Entry::Running(running)) => {
                let id = flight_id(running);
                reentry::check(id);
                wait(running);
                return Lookup::Waiting(id);
            }
            None => {}
        }
        shard.table.insert_unique(hash, Entry::Running(flight.clone()), Entry::hash);
        Lookup::Started
    }
}

impl<K, V, S: Default> Default for OnceMap<K, V, S> {
    /// An empty map with the default of `S` as its hasher.
    fn default() -> Self {
        OnceMap::with_hasher(S::default())
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for OnceMap<K, V, S> {
    /// The initialized entries (each shard read in turn, so a snapshot per shard).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for shard in self.shards.iter() {
            for entry in shard.read().table.iter() {
                if let Entry::Ready(_, key, value) = entry {
                    map.entry(key, value);
                }
            }
        }
        map.finish()
    }
}

/// The caller running `key`'s initializer. `finish` stores the value; dropped unfinished (an
/// error, a panic, a dropped future) it removes the entry and wakes the waiters, who try again.
struct Owner<'a, K, V, S> {
    map: &'a OnceMap<K, V, S>,
    hash: u64,
    /// The caller's reference to its flight (the entry holds the other); `None` once finished.
    flight: Option<Arc<Flight<K>>>,
}

impl<K, V, S> Owner<'_, K, V, S> {
    fn key(&self) -> &K {
        &self.flight.as_ref().expect("gosync: OnceMap initializer already finished").key
    }

    fn id(&self) -> FlightId {
        flight_id(self.flight.as_ref().expect("gosync: OnceMap initializer already finished"))
    }

    fn finish(mut self, value: &V)
    where
        V: Clone,
    {
        let stored = value.clone();
        let id = self.id();
        let flight = self.flight.take().expect("gosync: OnceMap initializer already finished");
        let waiters = {
            let mut shard = self.map.shard(self.hash).write();
            let shard = &mut *shard;
            // Found by identity, not by key: remove and clear leave running entries alone, so
            // ours is still there, and no user `Eq` runs here.
            let Ok(found) = shard.table.find_entry(self.hash, |entry| entry.is_flight(id)) else {
                unreachable!("gosync: OnceMap lost a running entry")
            };
            let (Entry::Running(shared), vacant) = found.remove() else { unreachable!() };
            // The entry's reference was the only other one: waiters look at a flight under
            // the lock but never keep a reference to it.
            drop(shared);
            let Ok(Flight { key, waiters, .. }) = Arc::try_unwrap(flight) else {
                unreachable!("gosync: OnceMap flight still shared")
            };
            vacant.insert(Entry::Ready(self.hash, key, stored));
            shard.ready += 1;
            waiters
        };
        // After the unlock: every waiter now finds the value.
        let _wake = waiters.lock().notify_all();
    }
}

impl<K, V, S> Drop for Owner<'_, K, V, S> {
    fn drop(&mut self) {
        let Some(flight) = self.flight.take() else { return };
        let id = flight_id(&flight);
        let entry = {
            let mut shard = self.map.shard(self.hash).write();
            shard.table.find_entry(self.hash, |entry| entry.is_flight(id)).ok().map(|found| found.remove().0)
        };
        // The entry's reference is dropped outside the lock, and ours (with the key) last.
        drop(entry);
        // The key is empty again: wake every waiter. Each looks again and the first to take
        // the shard's lock starts its own initializer; the others wait for it. Waking one
        // designated successor instead would strand the others: their registrations went
        // away with this flight.
        let _wake = flight.waiters.lock().notify_all();
    }
}

/// The same-key re-entry check: a per-thread record of the initializations the thread is
/// running (a blocking `init`, or an async initializer's future while it is polled).
#[cfg(any(feature = "std", loom))]
// loom's `thread_local!` has no `const { }` form.
#[allow(clippy::missing_const_for_thread_local)]
mod reentry {
    use super::FlightId;
    use alloc::vec::Vec;
    use core::cell::RefCell;

    crate::primitive::thread::thread_local! {
        /// The flights whose initializer runs on this thread.
        static RUNNING: RefCell<Vec<FlightId>> = RefCell::new(Vec::new());
    }

    /// Records, while it lives, that this thread runs the initializer of flight `id`.
    pub(super) struct Mark(FlightId);

    impl Mark {
        pub(super) fn new(id: FlightId) -> Self {
            // During thread teardown there is no record to keep: nothing to check then.
            let _ = RUNNING.try_with(|running| running.borrow_mut().push(id));
            Mark(id)
        }
    }

    impl Drop for Mark {
        fn drop(&mut self) {
            let _ = RUNNING.try_with(|running| {
                let mut running = running.borrow_mut();
                if let Some(i) = running.iter().rposition(|id| *id == self.0) {
                    running.remove(i);
                }
            });
        }
    }

    /// Panics if this thread is running flight `id`'s initializer itself: waiting for it
    /// would never end.
    pub(super) fn check(id: FlightId) {
        if RUNNING.try_with(|running| running.borrow().contains(&id)).unwrap_or(false) {
            panic!("gosync: OnceMap initializer asked for its own key (it would wait for itself forever)");
        }
    }
}

/// Without `std` there are no thread-locals: no re-entry check.
#[cfg(not(any(feature = "std", loom)))]
mod reentry {
    pub(super) struct Mark;

    impl Mark {
        pub(super) fn new(_id: super::FlightId) -> Self {
            Mark
        }
    }

    pub(super) fn check(_id: super::FlightId) {}
}

/// A key kept by value until the caller misses; then in a flight the map may share.
enum Key<K> {
    Plain(K),
    InFlight(Arc<Flight<K>>),
}

impl<K> Key<K> {
    fn get(&self) -> &K {
        match self {
            Key::Plain(key) => key,
            Key::InFlight(flight) => &flight.key,
        }
    }

    fn into_flight(self, hash: u64) -> Arc<Flight<K>> {
        match self {
            Key::Plain(key) => Flight::new(hash, key),
            Key::InFlight(flight) => flight,
        }
    }
}

/// The state machine behind both async forms: `convert` maps the initializer's output to a
/// result (`Ok` for the infallible form).
struct Core<'a, K, V, S, F, Fut: Future, E> {
    map: &'a OnceMap<K, V, S>,
    hash: u64,
    state: State<'a, K, V, S, F, Fut>,
    convert: fn(Fut::Output) -> Result<V, E>,
}

enum State<'a, K, V, S, F, Fut> {
    /// Not looked up yet, or waiting for flight `waiting_on`'s initializer (registered with
    /// `wait`, this future's waiter, allocated on its first wait and re-armed after).
    Idle { key: Key<K>, init: F, wait: TaskWaiter, waiting_on: FlightId },
    /// This future is the initializer.
    Running { owner: Owner<'a, K, V, S>, future: Pin<Box<Fut>> },
    /// Completed (or a poll panicked).
    Done,
}

// Nothing is pinned in place: the initializer's future is boxed, and the key and the closure
// move freely.
impl<K, V, S, F, Fut: Future, E> Unpin for Core<'_, K, V, S, F, Fut, E> {}

impl<'a, K: Hash + Eq, V: Clone, S: BuildHasher, F, Fut: Future, E> Core<'a, K, V, S, F, Fut, E>
where
    F: FnOnce(&K) -> Fut,
{
    fn new(map: &'a OnceMap<K, V, S>, key: K, init: F, convert: fn(Fut::Output) -> Result<V, E>) -> Self {
        let hash = map.hasher.hash_one(&key);
        Core {
            map,
            hash,
            state: State::Idle { key: Key::Plain(key), init, wait: TaskWaiter::new(), waiting_on: 0 },
            convert,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<V, E>> {
        loop {
            // Taken out while this poll works on it: if user code panics, the future is left
            // Done, and whatever it held (an unfinished initializer) is dropped and handed over.
            match core::mem::replace(&mut self.state, State::Done) {
                State::Done => panic!("gosync: OnceMap future polled after completion"),
                State::Running { owner, mut future } => {
                    let output = {
                        let _running = reentry::Mark::new(owner.id());
                        future.as_mut().poll(cx)
                    };
                    let Poll::Ready(output) = output else {
                        self.state = State::Running { owner, future };
                        return Poll::Pending;
                    };
                    drop(future);
                    return Poll::Ready(match (self.convert)(output) {
                        Ok(value) => {
                            owner.finish(&value);
                            Ok(value)
                        }
                        // `owner` drops here: the waiters try again.
                        Err(error) => Err(error),
                    });
                }
                State::Idle { key, init, mut wait, waiting_on } => {
                    if wait.poll(cx.waker()).is_pending() {
                        self.state = State::Idle { key, init, wait, waiting_on };
                        return Poll::Pending;
                    }
                    // A first poll, or the initializer we waited for ended: look (again).
                    if let Some(value) = self.map.get_hashed(self.hash, key.get()) {
                        return Poll::Ready(Ok(value));
                    }
                    let flight = key.into_flight(self.hash);
                    // Armed before the lock: it may clone the waker, which is user code.
                    let task = wait.arm(cx.waker());
                    let register = |running: &Flight<K>| running.waiters.lock().register(task);
                    match self.map.lookup_or_start(self.hash, &flight, register) {
                        Lookup::Ready => {
                            // Read it under a shared lock on the next turn of the loop.
                            self.state = State::Idle { key: Key::InFlight(flight), init, wait, waiting_on };
                        }
                        Lookup::Waiting(waiting_on) => {
                            wait.set_registered();
                            let key = Key::InFlight(flight);
                            self.state = State::Idle { key, init, wait, waiting_on };
                            return Poll::Pending;
                        }
                        Lookup::Started => {
                            let owner = Owner { map: self.map, hash: self.hash, flight: Some(flight) };
                            let future = {
                                let _running = reentry::Mark::new(owner.id());
                                init(owner.key())
                            };
                            self.state = State::Running { owner, future: Box::pin(future) };
                            // Poll the initializer right away (next turn of the loop).
                        }
                    }
                }
            }
        }
    }
}

impl<K, V, S, F, Fut: Future, E> Core<'_, K, V, S, F, Fut, E> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            State::Idle { ref wait, .. } if wait.registered().is_none() => "Idle",
            State::Idle { .. } => "Waiting",
            State::Running { .. } => "Initializing",
            State::Done => "Done",
        }
    }
}

impl<K, V, S, F, Fut: Future, E> Drop for Core<'_, K, V, S, F, Fut, E> {
    fn drop(&mut self) {
        match core::mem::replace(&mut self.state, State::Done) {
            State::Idle { wait, waiting_on, .. } => {
                let Some(waiter) = wait.registered() else { return };
                {
                    // Shared is enough: while the entry is in the table its flight lives, and
                    // the flight's own lock orders this cancel with its wake-up.
                    let shard = self.map.shard(self.hash).read();
                    // If the flight's entry is gone, its initializer ended and woke every
                    // waiter, us included: nothing to withdraw. (A new flight at the same
                    // address holds no registration of ours; cancelling there only counts one more dead
                    // registration on its list, which at worst compacts that list early.)
                    // Otherwise withdraw; a plain cancel is enough, as every wake-up here goes
                    // to all waiters and none is ours alone to pass on.
                    if let Some(Entry::Running(running)) =
                        shard.table.find(self.hash, |entry| entry.is_flight(waiting_on))
                    {
                        let _ = running.waiters.lock().cancel(waiter);
                    }
                }
                // Our waiter's waker is dropped after the unlock.
                drop(wait);
            }
            State::Running { owner, future } => {
                // The initializer goes first, then the key is handed over.
                drop(future);
                drop(owner);
            }
            State::Done => {}
        }
    }
}

/// The future of [`OnceMap::get_or_init_async`]: resolves to the key's value.
///
/// It is `Send` when the map is `Sync` and the key, the closure and its future are `Send`.
/// It is fused: polling it again after it completed (see `FusedFuture::is_terminated`)
/// panics with `gosync: OnceMap future polled after completion`.
///
/// # Cancel safety
/// Dropping it while it waits withdraws it and affects no one. Dropping it while it runs the
/// initializer drops the initializer, leaves the key empty and wakes the waiting callers, the
/// first of which starts its own. Leaking it (`mem::forget`) while it runs the initializer
/// leaves the key running for good: every later caller for that key waits forever.
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// let map = gosync::OnceMap::new();
/// let mut cx = Context::from_waker(Waker::noop());
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// // The first caller's initializer waits for a signal...
/// let mut first = Box::pin(map.get_or_init_async(1, |_| async move {
///     std::future::poll_fn(|_| match rx.try_recv() {
///         Ok(()) => Poll::Ready(10),
///         Err(_) => Poll::Pending,
///     })
///     .await
/// }));
/// assert!(first.as_mut().poll(&mut cx).is_pending());
/// // ...so the second caller waits for it.
/// let mut second = Box::pin(map.get_or_init_async(1, |_| async { 20 }));
/// assert!(second.as_mut().poll(&mut cx).is_pending());
/// // The first caller gives up: the second one runs its own initializer.
/// drop(first);
/// drop(tx);
/// assert_eq!(second.as_mut().poll(&mut cx), Poll::Ready(20));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct GetOrInitFuture<'a, K, V, S, F, Fut: Future<Output = V>> {
    core: Core<'a, K, V, S, F, Fut, Infallible>,
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher, F, Fut> Future for GetOrInitFuture<'_, K, V, S, F, Fut>
where
    F: FnOnce(&K) -> Fut,
    Fut: Future<Output = V>,
{
    type Output = V;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<V> {
        match ready!(self.get_mut().core.poll(cx)) {
            Ok(value) => Poll::Ready(value),
            Err(never) => match never {},
        }
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher, F, Fut> futures_core::FusedFuture
    for GetOrInitFuture<'_, K, V, S, F, Fut>
where
    F: FnOnce(&K) -> Fut,
    Fut: Future<Output = V>,
{
    fn is_terminated(&self) -> bool {
        self.core.is_terminated()
    }
}

impl<K, V, S, F, Fut: Future<Output = V>> fmt::Debug for GetOrInitFuture<'_, K, V, S, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetOrInitFuture").field("state", &self.core.state_name()).finish_non_exhaustive()
    }
}

/// The future of [`OnceMap::get_or_try_init_async`]: resolves to the key's value or to this
/// caller's initializer's error.
///
/// # Cancel safety
/// As [`GetOrInitFuture`].
///
/// ```
/// use futures_core::FusedFuture;
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// let map = gosync::OnceMap::new();
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut load = Box::pin(map.get_or_try_init_async("k", |_| async { Err::<u8, _>("nope") }));
/// assert_eq!(load.as_mut().poll(&mut cx), Poll::Ready(Err("nope")));
/// assert!(load.is_terminated());
/// assert_eq!(map.get("k"), None);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct GetOrTryInitFuture<'a, K, V, S, F, Fut: Future<Output = Result<V, E>>, E> {
    core: Core<'a, K, V, S, F, Fut, E>,
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher, F, Fut, E> Future for GetOrTryInitFuture<'_, K, V, S, F, Fut, E>
where
    F: FnOnce(&K) -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    type Output = Result<V, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<V, E>> {
        self.get_mut().core.poll(cx)
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher, F, Fut, E> futures_core::FusedFuture
    for GetOrTryInitFuture<'_, K, V, S, F, Fut, E>
where
    F: FnOnce(&K) -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    fn is_terminated(&self) -> bool {
        self.core.is_terminated()
    }
}

impl<K, V, S, F, Fut: Future<Output = Result<V, E>>, E> fmt::Debug
    for GetOrTryInitFuture<'_, K, V, S, F, Fut, E>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetOrTryInitFuture").field("state", &self.core.state_name()).finish_non_exhaustive()
    }
}
