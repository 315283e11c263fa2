//! The fuzz targets' bodies, shared by `cargo +nightly fuzz run` (fuzz_targets/) and the
//! stable corpus replay test (tests/corpus.rs).

use arbitrary::{Arbitrary, Unstructured};
use shmlane::error::{PopError, PushError};
use shmlane::error::{TryGetError, TryPutError};
use shmlane::layout::{ElemDesc, HEADER_LEN, SegmentHeader, SegmentKind};
use shmlane::ring::Identity;
use shmlane::ring::frame::Frame;
use shmlane::ring::mpmc;
use shmlane::ring::spsc::{ChunkError, HeapRing};
use shmlane::segment::{Expect, validate_header};
use std::collections::VecDeque;

mod pool_ops;
pub use pool_ops::{PoolOp, pool_ops};

/// One operation on an SPSC ring.
#[derive(Arbitrary, Debug)]
pub enum Op {
    Push(u16),
    Pop,
    PushSlice(Vec<u16>),
    PopInto(u8),
    WriteChunk {
        want: u8,
        commit: u8,
    },
    ReadChunk {
        max: u8,
        commit: u8,
    },
    Consume(u8),
    DropProducer,
    /// Claims a new producer (if none is held): it resumes from the shared `tail`.
    AttachProducer,
    DropConsumer,
    /// Claims a new consumer (if none is held): it resumes from the shared `head`.
    AttachConsumer,
    /// A hostile write of the shared positions (while the ends are attached or not).
    Garbage {
        tail: Option<u64>,
        head: Option<u64>,
    },
    /// The slow-path consistency checks of both ends.
    Verify,
}

/// Replays ops on a heap ring and on a `VecDeque`, asserting every return value.
///
/// Until the first `Garbage` op the ring must behave exactly as the model. From then
/// on every call must either behave as a ring can (counts within the ring and the
/// request, values from the ring's slots) or report `Corrupted`: never panic, never
/// touch memory outside the ring (the sanitizer's part).
pub fn spsc_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(cap_log) = u.int_in_range(0u8..=5) else {
        return;
    };
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(u) else {
        return;
    };
    let cap = 1usize << cap_log;
    let ring = HeapRing::<u16>::new(cap).unwrap();
    let mut tx = Some(ring.producer().unwrap());
    let mut rx = Some(ring.consumer().unwrap());
    let mut model: VecDeque<u16> = VecDeque::new();
    let mut stamp = 0u16;
    // Once garbage was written, the model no longer says what a call returns.
    let mut garbled = false;
    for op in ops {
        let free = cap - model.len();
        match (op, tx.as_mut(), rx.as_mut()) {
            (Op::Push(v), Some(tx), _) => match tx.push(v) {
                Ok(()) if garbled => {}
                Ok(()) => {
                    assert!(free > 0);
                    model.push_back(v);
                }
                Err(PushError::Full(x)) => assert!(x == v && (garbled || free == 0)),
                Err(PushError::Corrupted(x, _)) => assert!(garbled && x == v),
            },
            (Op::PushSlice(v), Some(tx), _) => match tx.push_slice(&v) {
                Ok(n) if garbled => assert!(n <= v.len().min(cap)),
                Ok(n) => {
                    assert_eq!(n, v.len().min(free));
                    model.extend(&v[..n]);
                }
                Err(_) => assert!(garbled),
            },
            (Op::WriteChunk { want, commit }, Some(tx), _) => match tx.write_chunk(want as usize) {
                Ok(mut c) => {
                    assert!(garbled || want as usize <= free);
                    let (a, b) = c.as_mut_slices();
                    assert_eq!(a.len() + b.len(), want as usize);
                    assert!(a.len() + b.len() <= cap);
                    let mut written = Vec::new();
                    for x in a.iter_mut().chain(b.iter_mut()) {
                        *x = stamp;
                        written.push(stamp);
                        stamp = stamp.wrapping_add(1);
                    }
                    if let Some(k) = written.len().checked_sub(1) {
                        c.set(k, written[k]); // the per-element path, same slot
                    }
                    c.commit(commit as usize);
                    if !garbled {
                        model.extend(&written[..(commit as usize).min(written.len())]);
                    }
                }
                Err(ChunkError::TooFewSlots(n)) => {
                    assert!(n < want as usize && n <= cap);
                    assert!(garbled || n == free);
                }
                Err(ChunkError::Corrupted(_)) => assert!(garbled),
            },
            (Op::DropProducer, _, _) => {
                tx = None;
                if let Some(rx) = rx.as_ref() {
                    assert!(rx.is_abandoned());
                }
            }
            (Op::AttachProducer, None, _) => tx = Some(ring.producer().unwrap()),
            (Op::AttachProducer, Some(_), _) => assert!(ring.producer().is_err()),
            (Op::DropConsumer, _, _) => {
                rx = None;
                if let Some(tx) = tx.as_ref() {
                    assert!(tx.is_abandoned());
                }
            }
            (Op::AttachConsumer, _, None) => rx = Some(ring.consumer().unwrap()),
            (Op::AttachConsumer, _, Some(_)) => assert!(ring.consumer().is_err()),
            (Op::Garbage { tail, head }, _, _) => {
                ring.scribble_positions(tail, head);
                garbled |= tail.is_some() || head.is_some();
            }
            (Op::Verify, tx, rx) => {
                if let Some(tx) = tx {
                    assert!(garbled || tx.verify().is_ok());
                }
                if let Some(rx) = rx {
                    assert!(garbled || rx.verify().is_ok());
                }
            }
            (Op::Pop, _, Some(rx)) => match rx.pop() {
                Ok(_) if garbled => {}
                Ok(v) => assert_eq!(Some(v), model.pop_front()),
                Err(PopError::Empty) => assert!(garbled || model.is_empty()),
                Err(PopError::Corrupted(_)) => assert!(garbled),
            },
            (Op::PopInto(k), _, Some(rx)) => {
                let mut buf = vec![0; k as usize];
                match rx.pop_into(&mut buf) {
                    Ok(n) if garbled => assert!(n <= buf.len().min(cap)),
                    Ok(n) => {
                        assert_eq!(n, (k as usize).min(model.len()));
                        for x in &buf[..n] {
                            assert_eq!(Some(*x), model.pop_front());
                        }
                    }
                    Err(_) => assert!(garbled),
                }
            }
            (Op::ReadChunk { max, commit }, _, Some(rx)) => match rx.read_chunk(max as usize) {
                Ok(c) => {
                    let (a, b) = c.as_slices();
                    let got: Vec<u16> = a.iter().chain(b).copied().collect();
                    assert!(got.len() <= (max as usize).min(cap));
                    let each: Vec<u16> = (0..c.len()).map(|k| c.get(k)).collect();
                    assert_eq!(got, each);
                    c.commit(commit as usize);
                    if !garbled {
                        assert!(got.iter().eq(model.iter().take(max as usize)));
                        model.drain(..(commit as usize).min(got.len()));
                    }
                }
                Err(_) => assert!(garbled),
            },
            (Op::Consume(k), _, Some(rx)) => match rx.available() {
                Ok(ready) => {
                    assert!(ready <= cap);
                    if !garbled {
                        assert_eq!(ready, model.len());
                        model.drain(..(k as usize).min(ready));
                    }
                    if let Ok(peek) = rx.peek_slice() {
                        assert!(peek.len() <= cap);
                    }
                    rx.consume(k as usize);
                }
                Err(_) => {
                    assert!(garbled);
                    rx.consume(k as usize); // releases nothing unvalidated
                }
            },
            // ops of an end that is not held
            (_, None, _) | (_, _, None) => {}
        }
        if let Some(rx) = rx.as_mut() {
            match rx.available() {
                Ok(n) if garbled => assert!(n <= cap),
                Ok(n) => assert_eq!(n, model.len()),
                Err(_) => assert!(garbled),
            }
        }
        if let Some(tx) = tx.as_mut() {
            match tx.slots() {
                Ok(n) if garbled => assert!(n <= cap),
                Ok(n) => assert_eq!(n, cap - model.len()),
                Err(_) => assert!(garbled),
            }
        }
    }
}

/// Which header the opener expects; chosen by the input's first byte.
fn expect(sel: u8) -> Expect {
    let elem = match sel % 3 {
        0 => ElemDesc::of::<u64>(),
        1 => ElemDesc::of::<u8>(),
        _ => ElemDesc::of::<[u32; 3]>(),
    };
    let kind = if sel & 4 == 0 {
        SegmentKind::Pipe
    } else if sel & 2 == 0 {
        SegmentKind::Duplex
    } else {
        SegmentKind::Queue
    };
    let capacity = if sel & 8 == 0 {
        None
    } else {
        Some(1 << (sel >> 4))
    };
    Expect {
        kind,
        elem,
        capacity,
    }
}

/// Validates arbitrary bytes as a segment header; on success the layout invariants the
/// mapping code relies on must hold. Returns whether any variant validated.
pub fn header(data: &[u8]) -> bool {
    let mut valid = false;
    let Some((&sel, rest)) = data.split_first() else {
        return false;
    };
    let Some((len_bytes, bytes)) = rest.split_first_chunk::<8>() else {
        return false;
    };
    let e = expect(sel);
    // Half the time claim the real length, so the deeper checks get exercised.
    let file_len = if sel & 1 == 0 {
        u64::from_le_bytes(*len_bytes)
    } else {
        bytes.len() as u64
    };
    if let Ok(h) = validate_header(bytes, file_len, &e) {
        check_invariants(&h, file_len, &e);
        valid = true;
    }
    // The same bytes with a valid magic and version, to get past the first checks.
    if bytes.len() >= HEADER_LEN as usize {
        let mut b = bytes.to_vec();
        b[..8].copy_from_slice(&shmlane::layout::MAGIC);
        b[8..12].copy_from_slice(&shmlane::layout::FORMAT_VERSION.to_ne_bytes());
        if let Ok(h) = validate_header(&b, file_len, &e) {
            check_invariants(&h, file_len, &e);
            valid = true;
        }
    }
    valid
}

fn check_invariants(h: &SegmentHeader, file_len: u64, e: &Expect) {
    assert_eq!(h.total_len, file_len);
    assert!(h.capacity.is_power_of_two());
    assert_eq!(h.elem_size, e.elem.size);
    let rings = u64::from(h.rings);
    assert_eq!(h.ring_offset + rings * h.ring_stride, h.total_len);
    let slot = e
        .kind
        .slot_size(u64::from(h.elem_size), u64::from(h.elem_align))
        .unwrap();
    assert!(h.capacity * slot + e.kind.control_len() <= h.ring_stride);
    if e.kind == SegmentKind::Queue {
        assert!(h.capacity >= 2);
    }
    let _ = zerocopy::IntoBytes::as_bytes(h);
}

/// One operation on an MPMC queue, by one of three members (or a doomed fourth).
#[derive(Arbitrary, Debug)]
pub enum QueueOp {
    Push {
        member: u8,
        value: u16,
    },
    Pop {
        member: u8,
    },
    /// A member joins under a dead identity, claims a put or get, and stops.
    Crash {
        get: bool,
    },
    Recover,
    Close,
    /// A hostile peer writes a slot's stamp.
    PokeStamp {
        slot: u8,
        value: u64,
    },
    /// A hostile peer writes `tail` or `head`.
    PokePosition {
        tail: bool,
        value: u64,
    },
    /// A garbled frame read out of a slot.
    Frame([u8; 24]),
    /// A member leaves (drops its handle) and joins again.
    Rejoin {
        member: u8,
    },
    /// A member's process dies idle (no claim in hand); its entry stays attached until
    /// a recovery, and a fresh member takes its place.
    Die {
        member: u8,
    },
    /// A blocking put or get that gives up at once (after its spinning phase, which
    /// runs the slow-path checks).
    Wait {
        member: u8,
        get: bool,
        value: u16,
    },
    /// The snapshot calls: `len`, `is_empty`.
    Len,
}

const DOOMED: Identity = Identity {
    pid: u32::MAX - 1,
    start: 7,
};

/// What the model expects in one position between `head` and `tail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claimed {
    /// A published message.
    Value(u16),
    /// A dead producer's claim; `retired` once a recovery skipped it.
    DeadPut { retired: bool },
}

/// The exact model of a healthy queue, crashes and recoveries included.
#[derive(Debug, Default)]
struct QueueModel {
    /// Positions from `head` to `tail`.
    claimed: VecDeque<Claimed>,
    /// Position of the front of `claimed` (the queue's `head`).
    head: u64,
    /// Dead consumers' claims not yet retired: position, and whether it held a message
    /// (to be counted lost) rather than a skipped position.
    held: Vec<(u64, bool)>,
    /// Dead entries not yet freed.
    dead: usize,
    closed: bool,
    lost: u64,
    abandoned: u64,
}

impl QueueModel {
    /// Positions from the oldest slot not yet freed (a dead consumer's claim, or
    /// `head`) to `tail`: a put needs fewer than the capacity.
    fn occupied(&self) -> usize {
        let oldest = self.held.iter().map(|&(p, _)| p).fold(self.head, u64::min);
        (self.head - oldest) as usize + self.claimed.len()
    }

    /// Takes the front position (a get or a dead consumer's claim).
    fn take_front(&mut self) -> Option<Claimed> {
        let front = self.claimed.pop_front()?;
        self.head += 1;
        Some(front)
    }

    /// A get: skipped positions ahead are dropped; `Err(())` is Empty/Closed.
    fn pop(&mut self) -> Result<u16, ()> {
        while self.claimed.front() == Some(&Claimed::DeadPut { retired: true }) {
            self.take_front();
        }
        match self.claimed.front() {
            Some(&Claimed::Value(v)) => {
                self.take_front();
                Ok(v)
            }
            _ => Err(()),
        }
    }

    /// What `recover` does to a healthy queue: every dead entry is retired at once.
    fn recover(&mut self) -> usize {
        for c in self.claimed.iter_mut() {
            if let Claimed::DeadPut { retired } = c
                && !*retired
            {
                *retired = true;
                self.abandoned += 1;
            }
        }
        self.lost += self.held.drain(..).filter(|&(_, l)| l).count() as u64;
        std::mem::take(&mut self.dead)
    }
}

/// Replays queue ops against an exact model ([`QueueModel`]: values, crashes,
/// recoveries, counters) while the queue is healthy; once a peer wrote garbage, only
/// checks that nothing panics or loops forever and that every error is a typed one.
pub fn mpmc_ops(data: &[u8]) {
    use shmlane::WaitMode;
    use shmlane::layout::QUEUE_MEMBERS;
    use std::time::Instant;

    let mut u = Unstructured::new(data);
    let Ok(cap_log) = u.int_in_range(1u8..=4) else {
        return;
    };
    let Ok(ops) = Vec::<QueueOp>::arbitrary_take_rest(u) else {
        return;
    };
    let cap = 1usize << cap_log;
    let q = mpmc::heap::<u16>(cap).unwrap();
    let alive = |id: Identity| id != DOOMED;
    let mut members: Vec<_> = (0..3).map(|_| q.join_local().unwrap()).collect();
    let mut model = Some(QueueModel::default());
    // Spinning waits cost 4,096 polls each: a few per input reach the slow tick.
    let mut spins = 0;
    // A join into a full table first recovers (and so does the model).
    let join = |model: &mut Option<QueueModel>, id: Identity| {
        if let Some(m) = model.as_mut()
            && m.dead + 3 >= QUEUE_MEMBERS
        {
            m.recover();
        }
        q.join(id, alive)
    };
    for op in ops.into_iter().take(512) {
        match op {
            QueueOp::Push { member, value } => {
                let r = members[member as usize % 3].try_push(value);
                if let Some(m) = model.as_mut() {
                    match r {
                        Ok(()) => {
                            assert!(m.occupied() < cap && !m.closed);
                            m.claimed.push_back(Claimed::Value(value));
                        }
                        Err(TryPutError::Full(v)) => {
                            assert!(m.occupied() == cap && !m.closed && v == value)
                        }
                        Err(TryPutError::Closed(_)) => assert!(m.closed),
                        Err(e) => panic!("healthy queue: {e:?}"),
                    }
                }
            }
            QueueOp::Pop { member } => {
                let r = members[member as usize % 3].try_pop();
                if let Some(m) = model.as_mut() {
                    let w = m.pop();
                    let drained = m.claimed.is_empty() && m.closed;
                    match (r, w) {
                        (Ok(v), Ok(w)) => assert_eq!(v, w),
                        (Err(TryGetError::Empty), Err(())) => assert!(!drained),
                        (Err(TryGetError::Closed), Err(())) => assert!(drained),
                        (r, w) => panic!("healthy queue: {r:?}, model {w:?}"),
                    }
                }
            }
            QueueOp::Crash { get } => {
                if let Ok(doomed) = join(&mut model, DOOMED) {
                    let claimed = if get {
                        doomed.crash_in_pop()
                    } else {
                        doomed.crash_in_push()
                    };
                    if let Some(m) = model.as_mut() {
                        m.dead += 1;
                        if get {
                            let front = m.claimed.front().copied();
                            let expect = matches!(
                                front,
                                Some(Claimed::Value(_) | Claimed::DeadPut { retired: true })
                            );
                            assert_eq!(claimed, expect, "{front:?}");
                            if claimed {
                                let lost = matches!(front, Some(Claimed::Value(_)));
                                m.held.push((m.head, lost));
                                m.take_front();
                            }
                        } else {
                            assert_eq!(claimed, m.occupied() < cap && !m.closed);
                            if claimed {
                                m.claimed.push_back(Claimed::DeadPut { retired: false });
                            }
                        }
                    }
                }
            }
            QueueOp::Recover => {
                let r = q.recover(alive);
                if let Some(m) = model.as_mut() {
                    assert_eq!(r, Ok(m.recover()));
                }
            }
            QueueOp::Close => {
                let r = q.close();
                if let Some(m) = model.as_mut() {
                    assert_eq!(r, Ok(()));
                    m.closed = true;
                }
            }
            QueueOp::PokeStamp { slot, value } => {
                q.poke_stamp(slot as usize, value);
                model = None;
            }
            QueueOp::PokePosition { tail, value } => {
                q.poke_position(tail, value);
                model = None;
            }
            QueueOp::Frame(bytes) => {
                let f: &Frame<20> = bytemuck_cast(&bytes);
                if let Ok(b) = f.bytes() {
                    assert!(b.len() <= 20);
                }
            }
            QueueOp::Rejoin { member } => {
                let i = member as usize % 3;
                drop(members.remove(i));
                members.insert(i, q.join_local().unwrap());
            }
            QueueOp::Die { member } => {
                let i = member as usize % 3;
                // The dying member must be a doomed one for recovery to see it dead:
                // swap in a doomed member, which then dies idle.
                if let Ok(doomed) = join(&mut model, DOOMED) {
                    doomed.crash_idle();
                    if let Some(m) = model.as_mut() {
                        m.dead += 1;
                    }
                }
                drop(members.remove(i));
                members.insert(i, q.join_local().unwrap());
            }
            QueueOp::Wait { member, get, value } => {
                let m = &mut members[member as usize % 3];
                let now = Some(Instant::now());
                // Sleep mode gives up at once; one wait in 16 (at most 4 an input)
                // spins, whose polls (4,096 before the deadline check) include a slow
                // tick: recovery and the contradiction checks of a wait.
                let mode = if value % 16 == 0 && spins < 4 {
                    spins += 1;
                    WaitMode::Spin
                } else {
                    WaitMode::Sleep
                };
                if get {
                    let r = m.pop_until(mode, now);
                    if let Some(m) = model.as_mut() {
                        let w = m.pop();
                        let drained = m.claimed.is_empty() && m.closed;
                        match (r, w) {
                            (Ok(v), Ok(w)) => assert_eq!(v, w),
                            (Err(TryGetError::Empty), Err(())) => assert!(!drained),
                            (Err(TryGetError::Closed), Err(())) => assert!(drained),
                            (r, w) => panic!("healthy queue: {r:?}, model {w:?}"),
                        }
                    }
                } else {
                    let r = m.push_until(value, mode, now);
                    if let Some(m) = model.as_mut() {
                        match r {
                            Ok(()) => {
                                assert!(m.occupied() < cap && !m.closed);
                                m.claimed.push_back(Claimed::Value(value));
                            }
                            Err(TryPutError::Full(_)) => assert!(m.occupied() == cap && !m.closed),
                            Err(TryPutError::Closed(_)) => assert!(m.closed),
                            Err(e) => panic!("healthy queue: {e:?}"),
                        }
                    }
                }
            }
            QueueOp::Len => {
                let (len, empty) = (q.len(), q.is_empty());
                if let Some(m) = model.as_ref() {
                    assert_eq!(len, Ok(m.claimed.len()));
                    assert_eq!(empty, Ok(m.claimed.is_empty()));
                }
            }
        }
        if let Some(m) = model.as_ref() {
            assert_eq!((q.lost(), q.abandoned()), (m.lost, m.abandoned));
        }
        if let Ok(n) = q.len() {
            assert!(n <= cap);
        }
    }
}

fn bytemuck_cast(bytes: &[u8; 24]) -> &Frame<20> {
    bytemuck::from_bytes(bytes)
}
