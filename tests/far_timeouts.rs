//! A timeout too far to be an `Instant` (`Duration::MAX`, a common way to say "no
//! limit") waits without a deadline, as `std`'s timeouts do, instead of panicking on
//! `Instant + Duration` overflow. Every call here has what it waits for at once.

use shmlane::pipe::channel;
use shmlane::queue::Queue;
use shmlane::sync::{Barrier, Condvar, Event, Mutex, Semaphore, SharedArray};
use std::time::Duration;

const FAR: Duration = Duration::MAX;

#[test]
fn sync_objects_accept_a_timeout_beyond_any_instant() {
    let m = Mutex::anonymous(7u64).unwrap();
    let g = m.lock_timeout(FAR).unwrap();
    let cv = Condvar::anonymous().unwrap();
    let g = cv.wait_while_timeout(g, FAR, |_| false).unwrap();
    assert_eq!(*g, 7);
    drop(g);
    let a = SharedArray::<u32>::zeroed(4).unwrap();
    assert_eq!(a.lock_timeout(FAR).unwrap().len(), 4);
    let s = Semaphore::anonymous(1, 1).unwrap();
    s.acquire_timeout(FAR).unwrap();
    let e = Event::anonymous().unwrap();
    e.set();
    e.wait_timeout(FAR).unwrap();
    assert!(Barrier::anonymous(1).unwrap().wait_timeout(FAR).unwrap());
}

#[test]
fn condvar_wait_timeout_accepts_a_timeout_beyond_any_instant() {
    let m = std::sync::Arc::new(Mutex::anonymous(0u64).unwrap());
    let cv = std::sync::Arc::new(Condvar::anonymous().unwrap());
    let (m2, cv2) = (m.clone(), cv.clone());
    let waiter = std::thread::spawn(move || {
        let mut g = m2.lock().unwrap();
        while *g == 0 {
            g = cv2.wait_timeout(g, FAR).unwrap();
        }
        *g
    });
    *m.lock().unwrap() = 5;
    // Notify until the waiter is done (it may not sleep yet at the first notify).
    while !waiter.is_finished() {
        cv.notify_all();
        std::thread::yield_now();
    }
    assert_eq!(waiter.join().unwrap(), 5);
}

#[test]
fn rings_accept_a_timeout_beyond_any_instant() {
    let (mut tx, mut rx) = channel::<u64>(4).unwrap();
    tx.send_timeout(1, FAR).unwrap();
    assert_eq!(rx.recv_timeout(FAR).unwrap(), 1);
    let mut q = Queue::<u64>::anonymous(4).unwrap();
    q.put_timeout(2, FAR).unwrap();
    assert_eq!(q.get_timeout(FAR).unwrap(), 2);
}
