//! Blocking a thread on one of the limiters' futures (std): the thread parks through the
//! crate's parker and is woken through the future's waker.

use core::future::Future;

/// Polls `fut` to completion on the calling thread, parking between polls. A wake-up that
/// arrives before the park makes the park return at once (the thread's park token), so none
/// is lost; a spurious return just polls again.
#[cfg(not(loom))]
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    use crate::primitive::thread::Parker;
    use crate::primitive::Arc;
    use core::pin::pin;
    use core::task::{Context, Poll};
    use std::task::{Wake, Waker};

    struct Unpark(Parker);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let parker = Parker::current();
    let waker = Waker::from(Arc::new(Unpark(parker.clone())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return output;
        }
        parker.park();
    }
}

/// Under loom: loom's own executor, which models the wake-up.
#[cfg(loom)]
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    loom::future::block_on(fut)
}
