//! Quick end-to-end checks of each channel flavour, select, and the async forms.
use gosync::chan::{self, Select};
use gosync::select;
use std::thread;
use std::time::Duration;

#[test]
fn flavours_basic() {
    for cap in [0usize, 1, 4] {
        let (tx, rx) = chan::bounded(cap);
        let h = thread::spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
        });
        let got: Vec<i32> = rx.iter().collect();
        assert_eq!(got, (0..1000).collect::<Vec<_>>(), "cap {cap}");
        h.join().unwrap();
    }
    let (tx, rx) = chan::unbounded();
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert_eq!(rx.iter().count(), 100);
}

#[test]
fn mpmc_zero() {
    let (tx, rx) = chan::bounded(0);
    let mut hs = vec![];
    for p in 0..3 {
        let tx = tx.clone();
        hs.push(thread::spawn(move || {
            for i in 0..300 {
                tx.send(p * 1000 + i).unwrap();
            }
        }));
    }
    drop(tx);
    let mut cs = vec![];
    for _ in 0..3 {
        let rx = rx.clone();
        cs.push(thread::spawn(move || rx.iter().collect::<Vec<_>>()));
    }
    drop(rx);
    for h in hs {
        h.join().unwrap();
    }
    let mut all: Vec<i32> = cs.into_iter().flat_map(|c| c.join().unwrap()).collect();
    all.sort();
    assert_eq!(all.len(), 900);
    all.dedup();
    assert_eq!(all.len(), 900);
}

#[test]
fn select_macro_and_builder() {
    let (tx1, rx1) = chan::bounded(0);
    let (tx2, rx2) = chan::unbounded::<u32>();
    let h = thread::spawn(move || {
        for i in 0..500 {
            if i % 2 == 0 {
                tx1.send(i).unwrap();
            } else {
                tx2.send(i).unwrap();
            }
        }
    });
    let mut n = 0;
    let mut closed = 0;
    while closed < 2 {
        select! {
            recv(rx1) -> m => match m { Ok(_) => n += 1, Err(_) => { closed += 1; } },
            recv(rx2) -> m => if m.is_ok() { n += 1 } else { closed += 1 },
        }
        if closed > 0 {
            // Drain the other.
            n += rx1.try_iter().count() + rx2.try_iter().count();
            while rx1.recv_timeout(Duration::from_millis(50)).is_ok() {
                n += 1;
            }
            break;
        }
    }
    h.join().unwrap();
    n += rx2.try_iter().count();
    assert_eq!(n, 500);

    let (tx, rx) = chan::bounded(0);
    let t = thread::spawn(move || {
        let mut sel = Select::new();
        let i = sel.send(&tx, 42);
        let op = sel.select();
        assert_eq!(op.index(), i);
        op.send(&tx).unwrap();
    });
    assert_eq!(rx.recv(), Ok(42));
    t.join().unwrap();
}

#[test]
fn two_selects_meet() {
    for _ in 0..200 {
        let (tx, rx) = chan::bounded::<u32>(0);
        let (tx2, rx2) = (tx.clone(), rx.clone());
        let a = thread::spawn(move || {
            select! { send(tx2, 7) -> r => r.unwrap(), }
        });
        let b = thread::spawn(move || {
            select! { recv(rx2) -> m => m.unwrap() }
        });
        a.join().unwrap();
        assert_eq!(b.join().unwrap(), 7);
        drop((tx, rx));
    }
}

#[test]
fn select_timeout_default() {
    let (_tx, rx) = chan::bounded::<u8>(0);
    let t = std::time::Instant::now();
    let r = select! { recv(rx) -> _ => 1, default(Duration::from_millis(30)) => 2 };
    assert_eq!(r, 2);
    assert!(t.elapsed() >= Duration::from_millis(30));
    let r = select! { recv(rx) -> _ => 1, default => 3 };
    assert_eq!(r, 3);
}

#[test]
fn async_basic() {
    let (tx, rx) = chan::bounded(0);
    let h = thread::spawn(move || {
        gosync::__block_on(async {
            for i in 0..200 {
                tx.send_async(i).await.unwrap();
            }
        })
    });
    let got = gosync::__block_on(async {
        let mut v = vec![];
        while let Ok(x) = rx.recv_async().await {
            v.push(x)
        }
        v
    });
    h.join().unwrap();
    assert_eq!(got, (0..200).collect::<Vec<_>>());
}
