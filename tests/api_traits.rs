//! The traits every public type promises, checked at compile time: `Debug` on every type,
//! `Send`/`Sync` where the type's parts allow it (and no more: see the `compile_fail` doc
//! tests on `MutexGuard`), `FusedFuture` and `Send` on every named future, and `Unpin` where
//! the docs rely on it (futures are polled through `Pin::new`, so none needs pinning).

use futures_core::stream::FusedStream;
use futures_core::FusedFuture;
use gosync::chan::{
    Iter, Receiver, RecvError, RecvFuture, RecvTimeoutError, Select, SelectFuture, SelectTimeoutError,
    SelectedOperation, SendError, SendFuture, SendTimeoutError, Sender, TryIter, TryRecvError,
    TrySelectError, TrySendError,
};
use gosync::time::{Clock, ManualClock, MonotonicClock, Sleep};
use gosync::{
    BoundedQueue, Closed, Cond, CondWaitFuture, GetOrInitFuture, GetOrTryInitFuture, LockFuture, Mutex,
    MutexGuard, OnceMap, PopFuture, PopTimeoutError, PushFuture, PushTimeoutError, Token, TryPopError,
    TryPushError, WaitGroup, WaitGroupFuture,
};
use std::fmt::Debug;
use std::future::Ready;

fn debug<T: Debug + ?Sized>() {}
fn send_sync<T: Send + Sync + ?Sized>() {}
fn send<T: Send>() {}
fn fused<T: FusedFuture>() {}
fn unpin<T: Unpin>() {}

#[test]
fn every_public_type_is_debug() {
    debug::<Mutex<u8>>();
    debug::<MutexGuard<'static, u8>>();
    debug::<LockFuture<'static, u8>>();
    debug::<Cond>();
    debug::<CondWaitFuture<'static, u8>>();
    debug::<WaitGroup>();
    debug::<Token>();
    debug::<WaitGroupFuture<'static>>();
    debug::<BoundedQueue<u8>>();
    debug::<PushFuture<'static, u8>>();
    debug::<PopFuture<'static, u8>>();
    debug::<Closed<u8>>();
    debug::<TryPushError<u8>>();
    debug::<PushTimeoutError<u8>>();
    debug::<TryPopError>();
    debug::<PopTimeoutError>();
    debug::<OnceMap<u8, u8>>();
    type Init = fn(&u8) -> Ready<u8>;
    type TryInit = fn(&u8) -> Ready<Result<u8, ()>>;
    debug::<GetOrInitFuture<'static, u8, u8, std::collections::hash_map::RandomState, Init, Ready<u8>>>();
    debug::<
        GetOrTryInitFuture<
            'static,
            u8,
            u8,
            std::collections::hash_map::RandomState,
            TryInit,
            Ready<Result<u8, ()>>,
            (),
        >,
    >();
    debug::<MonotonicClock>();
    debug::<ManualClock>();
    debug::<Sleep>();
}

#[test]
fn shared_types_are_send_and_sync() {
    send_sync::<Mutex<u8>>();
    send_sync::<MutexGuard<'static, u8>>();
    send_sync::<Cond>();
    send_sync::<WaitGroup>();
    send_sync::<Token>();
    send_sync::<BoundedQueue<u8>>();
    send_sync::<OnceMap<u8, u8>>();
    send_sync::<MonotonicClock>();
    send_sync::<ManualClock>();
}

#[test]
fn named_futures_are_fused_send_and_unpin() {
    fused::<LockFuture<'static, u8>>();
    fused::<CondWaitFuture<'static, u8>>();
    fused::<WaitGroupFuture<'static>>();
    fused::<PushFuture<'static, u8>>();
    fused::<PopFuture<'static, u8>>();
    fused::<Sleep>();
    send::<LockFuture<'static, u8>>();
    send::<CondWaitFuture<'static, u8>>();
    send::<WaitGroupFuture<'static>>();
    send::<PushFuture<'static, u8>>();
    send::<PopFuture<'static, u8>>();
    send::<Sleep>();
    unpin::<LockFuture<'static, u8>>();
    unpin::<CondWaitFuture<'static, u8>>();
    unpin::<WaitGroupFuture<'static>>();
    unpin::<PushFuture<'static, u8>>();
    unpin::<PopFuture<'static, u8>>();
}

#[test]
fn clocks_are_clocks() {
    fn clock<C: Clock + Clone + Send + Sync + 'static>() {}
    clock::<MonotonicClock>();
    clock::<ManualClock>();
}

#[test]
fn channel_types_are_debug() {
    debug::<Sender<u8>>();
    debug::<Receiver<u8>>();
    debug::<Iter<'static, u8>>();
    debug::<TryIter<'static, u8>>();
    debug::<SendFuture<'static, u8>>();
    debug::<RecvFuture<'static, u8>>();
    debug::<Select<'static>>();
    debug::<SelectedOperation<'static, 'static>>();
    debug::<SelectFuture<'static, 'static>>();
    debug::<SendError<u8>>();
    debug::<TrySendError<u8>>();
    debug::<SendTimeoutError<u8>>();
    debug::<RecvError>();
    debug::<TryRecvError>();
    debug::<RecvTimeoutError>();
    debug::<TrySelectError>();
    debug::<SelectTimeoutError>();
}

#[test]
fn channel_ends_are_send_sync_and_unpin() {
    send_sync::<Sender<u8>>();
    send_sync::<Receiver<u8>>();
    // A Cell is Send but not Sync: the ends only move it between threads.
    send_sync::<Sender<std::cell::Cell<u8>>>();
    send_sync::<Receiver<std::cell::Cell<u8>>>();
    unpin::<Sender<u8>>();
    unpin::<Receiver<u8>>();
    fn fused_stream<T: FusedStream + Unpin>() {}
    fused_stream::<Receiver<u8>>();
}

#[test]
fn channel_futures_are_fused_send_and_unpin() {
    fused::<SendFuture<'static, u8>>();
    fused::<RecvFuture<'static, u8>>();
    fused::<SelectFuture<'static, 'static>>();
    send::<SendFuture<'static, u8>>();
    send::<RecvFuture<'static, u8>>();
    unpin::<SendFuture<'static, u8>>();
    unpin::<RecvFuture<'static, u8>>();
    unpin::<SelectFuture<'static, 'static>>();
    // A select can be awaited inside a spawned task.
    send::<Select<'static>>();
    send::<SelectFuture<'static, 'static>>();
}

#[test]
fn channel_errors_are_errors() {
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    error::<SendError<u8>>();
    error::<TrySendError<u8>>();
    error::<SendTimeoutError<u8>>();
    error::<RecvError>();
    error::<TryRecvError>();
    error::<RecvTimeoutError>();
    error::<TrySelectError>();
    error::<SelectTimeoutError>();
}
