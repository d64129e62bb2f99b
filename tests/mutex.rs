//! Mutex: sound shared borrows of a guard, panic safety around a Cond wait, and fairness
//! (a waiter is never starved by a thread that relocks in a tight loop), blocking and async.

mod common;

use gosync::Mutex;

/// Two `&*guard` borrows alive at once (as in `v.iter().filter(|x| v.contains(x))`) are
/// plain shared borrows. Under Miri this catches a `Deref` that makes a `&mut` per call:
/// the second one would invalidate the first ("invalidated by a Unique retag").
#[test]
fn overlapping_shared_borrows_of_one_guard() {
    let m = Mutex::new(vec![1, 2, 3, 2]);
    let guard = m.lock();
    let first: &Vec<i32> = &guard;
    let second: &Vec<i32> = &guard;
    assert_eq!(first.len(), second.len());
    let repeated: Vec<_> = guard.iter().filter(|x| guard.iter().filter(|y| y == x).count() > 1).collect();
    assert_eq!(repeated, [&2, &2]);
    assert_eq!(first[0], 1); // `first` is still valid after later borrows
}
