//! Object handle tests: garbage in the shared words gives errors or retries, never UB
//! or an endless spin; the user table fills and frees.

use super::*;
use crate::ring::Identity;
use crate::sync::raw::{Acquired, RawMutex, SeqLock};
use crate::wait::WaitMode;
use proptest::prelude::*;
use std::time::{Duration, Instant};

const ME: Identity = Identity {
    pid: 4242,
    start: 9,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any lock word and owner record: `lock` returns within its deadline, either
    /// holding the lock or timed out; with the recorded owner dead it takes over.
    #[test]
    fn garbage_lock_word_never_hangs(word: u32, owner: u64, dead: bool) {
        let m = RawMutex::new();
        m.poke(word, owner);
        let start = Instant::now();
        let alive = if dead { (|_| false) as fn(Identity) -> bool } else { |_| true };
        let r = m.lock(ME, WaitMode::Sleep, Some(start + Duration::from_millis(70)), alive);
        prop_assert!(start.elapsed() < Duration::from_secs(5));
        match r {
            Ok(how) => {
                prop_assert!(m.is_locked());
                if word & ((1 << 30) - 1) != 0 {
                    prop_assert_eq!(how, Acquired::OwnerDied);
                }
                m.unlock();
            }
            Err(_) => prop_assert!(!dead && word & ((1 << 30) - 1) != 0),
        }
    }

    /// Any sequence value and words: a read either succeeds with the stored words or
    /// reports a retry; a following write makes reads succeed again.
    #[test]
    fn garbage_seqlock_sequence_is_retried_then_repaired(seq: u64, a: u64, b: u64) {
        let s = SeqLock::<2>::new();
        s.write(&[a, b]);
        s.poke_seq(seq);
        if let Some(v) = s.read() {
            prop_assert_eq!(v, [a, b]);
            prop_assert_eq!(seq & 1, 0);
        } else {
            prop_assert_eq!(seq & 1, 1);
        }
        s.write(&[b, a]);
        prop_assert_eq!(s.read(), Some([b, a]));
    }
}

/// A shared value whose sequence was left odd (a writer killed mid-store, or garbage)
/// is repaired by the next reader instead of spinning forever.
#[test]
fn stuck_odd_sequence_is_repaired_by_a_reader() {
    let v = SharedValue::anonymous([7u64, 8]).unwrap();
    let seq = &v.obj.ctrl().seq;
    seq.store(
        seq.load(std::sync::atomic::Ordering::Relaxed) | 1,
        std::sync::atomic::Ordering::Relaxed,
    );
    assert_eq!(v.load(), [7, 8]);
    v.store([1, 2]);
    assert_eq!(v.load(), [1, 2]);
}

/// A lock word naming a dead process: `lock` takes it over and says so.
#[test]
fn dead_owner_in_the_word_is_taken_over() {
    let m = Mutex::anonymous(5u32).unwrap();
    // pid 0x3fff_fffe does not exist (above pid_max).
    m.obj
        .ctrl()
        .lock
        .poke(0x3fff_fffe, 0x3fff_fffe_u64 << 32 | 1);
    let g = m.lock().expect_err("owner died");
    let g = g.into_inner();
    assert_eq!(*g, 5);
    g.mark_consistent();
    drop(g);
    assert!(m.lock().is_ok());
}

/// Every opened handle holds one entry of the object's user table (clones share it);
/// the table refuses an opener once full and frees the entry when the handle drops.
#[test]
fn user_table_fills_and_frees() {
    use crate::error::{ClaimError, OpenError};
    use crate::layout::OBJECT_USERS;
    let name = format!("ut-users-{}", std::process::id());
    let first = Event::create(&name).unwrap();
    let _clone = first.clone();
    let mut more: Vec<Event> = (1..OBJECT_USERS)
        .map(|_| Event::open(&name).unwrap())
        .collect();
    assert!(matches!(
        Event::open(&name),
        Err(OpenError::Claim(ClaimError::TableFull {
            members: OBJECT_USERS
        }))
    ));
    more.pop();
    assert!(Event::open(&name).is_ok());
}
