//! The buffer pool's algorithm (`shmlane::ring::pool`, issue 14 design §6 "Fuzz") over a
//! heap pool with 4 members whose liveness the fuzzer controls: allocation (plain and
//! the blocking loop with a deadline that has passed), writes, freezes, joins by
//! published, mutated and arbitrary handles, releases (with the wake), crashes (a member
//! forgets its holds), adoption, sweeps, forged arguments, and hostile writes of the
//! bitmap, the frozen lengths and the chunk words.
//!
//! Until a chunk word is scribbled, an exact model of every word (phase, generation,
//! holders), every frozen length and every member's holds predicts each call's result;
//! a scribbled bitmap keeps it exact (the bitmap is a hint: allocation may then miss a
//! free chunk until a sweep of its class, never hand out one that is not free). No
//! chunk is ever handed out twice (an allocation must find its chunk free in the
//! model), a joined reader sees the bytes frozen in its generation, and at the end,
//! after every live member released its holds, every dead one was adopted and every
//! class swept, every chunk is free and can be allocated again. Once a chunk word was
//! scribbled only this holds: no panic, no access outside the pool, typed errors, every
//! call returns (the blocking one at its deadline).

use arbitrary::{Arbitrary, Unstructured};
use shmlane::WaitMode;
use shmlane::ring::pool::word::{Chunk, GEN_LIMIT, Phase, decode};
use shmlane::ring::pool::{
    Adopted, BlockError, Class, Core, Grant, Handle, HeapPool, Refused, Swept, heap,
};
use shmlane::wait::EventCount;
use std::time::Instant;

/// Members played (entries `0..MEMBERS` of the pool's 32).
const MEMBERS: usize = 4;

/// One operation. `m` picks a member (`m % 4`), `which` an entry of a list (modulo its
/// length; nothing happens when it is empty), `class` a class (modulo their number).
#[derive(Arbitrary, Debug)]
pub enum PoolOp {
    /// `try_alloc`.
    Alloc { m: u8, class: u8, cursor: u32 },
    /// `alloc_blocking` with a deadline already passed (fast path, sweep, retry, one
    /// poll, time-out).
    AllocNow { m: u8, class: u8, cursor: u32 },
    /// Writes a tag into a chunk the member is writing (its "bytes").
    Write { m: u8, which: u8, tag: u64 },
    /// Freezes a chunk the member is writing.
    Freeze { m: u8, which: u8, len: u16 },
    /// `freeze` with an arbitrary grant.
    FreezeRaw {
        m: u8,
        index: u16,
        generation: u32,
        len: u16,
    },
    /// Joins a published handle as it is.
    Join { m: u8, which: u8 },
    /// Joins a published handle with its fields nudged.
    JoinMut {
        m: u8,
        which: u8,
        dindex: i8,
        dgen: i8,
        dlen: i16,
    },
    /// Joins arbitrary handle bytes (index, generation, len).
    JoinBytes { m: u8, bytes: [u8; 16] },
    /// Releases one of the member's holds (writing or frozen), with the wake.
    Release { m: u8, which: u8 },
    /// Releases an arbitrary index (double release, never held, out of range).
    ReleaseRaw { m: u8, index: u16 },
    /// The member's process dies: it forgets its holds without releasing them.
    Crash { m: u8 },
    /// A live process adopts a dead member's entry (releases its holds) and becomes it.
    Adopt { m: u8 },
    /// `sweep`.
    Sweep { class: u8 },
    /// Member and class numbers out of range.
    Forged { m: u8, class: u8, index: u32 },
    /// A hostile write of a bitmap word.
    ScribbleBitmap { word: u8, value: u64 },
    /// A hostile write of a frozen length.
    ScribbleLen { index: u16, value: u64 },
    /// A hostile write of a chunk word (the model is exact no longer).
    ScribbleWord { index: u16, value: u64 },
}

/// The model of one chunk.
#[derive(Clone, Copy, Debug)]
struct Model {
    chunk: Chunk,
    /// The descriptor's `len`.
    len: u64,
    /// The tag frozen with it (the bytes a joiner must see).
    frozen_tag: u64,
}

#[derive(Debug, Default)]
struct Member {
    alive: bool,
    /// Chunks it writes.
    writing: Vec<Grant>,
    /// Frozen chunks it holds.
    held: Vec<u32>,
}

struct World<'a> {
    pool: &'a HeapPool,
    core: Core<'a>,
    waits: Vec<EventCount>,
    model: Vec<Model>,
    /// The harness's "bytes" of each chunk.
    data: Vec<u64>,
    members: [Member; MEMBERS],
    published: Vec<Handle>,
    /// Per class: every free chunk has its token (false after a bitmap scribble, until
    /// a sweep of the class).
    tokens_exact: Vec<bool>,
    /// A chunk word was scribbled: results are no longer predicted.
    garbled: bool,
}

impl World<'_> {
    fn class_count(&self) -> usize {
        self.core.geometry().classes()
    }

    fn chunks(&self) -> u32 {
        self.core.geometry().chunks()
    }

    fn size_of(&self, index: u32) -> Option<u64> {
        let geo = self.core.geometry();
        geo.class_of(index).map(|c| geo.chunk_size(c))
    }

    /// The actual word of `index` equals the model (while not garbled).
    fn check(&self, index: u32) {
        if self.garbled {
            return;
        }
        let i = index as usize;
        let word = self.pool.descriptors()[i]
            .word
            .load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(decode(word), Some(self.model[i].chunk), "chunk {index}");
        let len = self.pool.descriptors()[i]
            .len
            .load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(len, self.model[i].len, "len of chunk {index}");
    }

    fn free_in(&self, class: usize) -> u32 {
        self.core
            .geometry()
            .range(class)
            .filter(|&i| self.model[i as usize].chunk.phase == Phase::Free)
            .count() as u32
    }

    /// An allocation's outcome against the model: a grant must be a free chunk of the
    /// class (never one handed out already); a miss must leave none free (when tokens
    /// are exact, or `swept` says a sweep of the class ran before the last attempt).
    fn granted(&mut self, class: usize, m: usize, got: Option<Grant>, swept: bool) {
        let range = self.core.geometry().range(class);
        match got {
            Some(g) => {
                assert!(range.contains(&g.index), "{g:?} outside class {class}");
                if !self.garbled {
                    let c = &mut self.model[g.index as usize];
                    assert_eq!(
                        c.chunk.phase,
                        Phase::Free,
                        "chunk {} handed out twice",
                        g.index
                    );
                    assert_eq!(g.generation, (c.chunk.generation + 1) % GEN_LIMIT);
                    c.chunk = Chunk {
                        generation: g.generation,
                        phase: Phase::Writing,
                        holders: 1 << m,
                    };
                    self.check(g.index);
                }
                self.members[m].writing.push(g);
            }
            None => {
                if !self.garbled && (swept || self.tokens_exact[class]) {
                    assert_eq!(self.free_in(class), 0, "a miss with free chunks");
                }
            }
        }
        if swept {
            self.tokens_exact[class] = true;
        }
    }

    /// What `release(index, m)` must return.
    fn predict_release(&self, index: u32, m: usize) -> Result<bool, Refused> {
        if index >= self.chunks() {
            return Err(Refused::Forged { what: "index" });
        }
        let c = self.model[index as usize].chunk;
        if !c.held_by(m as u32) {
            return Err(Refused::NotHeld { index });
        }
        Ok(c.holders == 1 << m)
    }

    /// Applies a release that returned `got` (model and member lists).
    fn released(&mut self, index: u32, m: usize, got: Result<bool, Refused>) {
        if !self.garbled {
            assert_eq!(
                got,
                self.predict_release(index, m),
                "release {index} by {m}"
            );
            if got.is_ok() {
                let c = &mut self.model[index as usize];
                c.chunk.holders &= !(1 << m);
                if c.chunk.holders == 0 {
                    c.chunk = Chunk::free(c.chunk.generation);
                }
                self.check(index);
            }
        }
        if got.is_ok() || self.garbled {
            let me = &mut self.members[m];
            if let Some(k) = me.writing.iter().position(|g| g.index == index) {
                me.writing.swap_remove(k);
            } else if let Some(k) = me.held.iter().position(|&i| i == index) {
                me.held.swap_remove(k);
            }
        }
    }

    /// What `join(h, m)` must return.
    fn predict_join(&self, h: Handle, m: usize) -> Result<(), Refused> {
        let Some(size) = self.size_of(h.index) else {
            return Err(Refused::Forged { what: "index" });
        };
        if h.generation >= GEN_LIMIT {
            return Err(Refused::Forged { what: "generation" });
        }
        if h.len > size {
            return Err(Refused::Forged { what: "len" });
        }
        let c = self.model[h.index as usize];
        if c.chunk.phase != Phase::Frozen || c.chunk.generation != h.generation {
            return Err(Refused::Stale {
                index: h.index,
                generation: h.generation,
            });
        }
        if c.chunk.held_by(m as u32) {
            return Err(Refused::AlreadyHeld { index: h.index });
        }
        if c.len != h.len {
            return Err(Refused::WrongLen {
                index: h.index,
                frozen: c.len,
                freed: false,
            });
        }
        Ok(())
    }

    fn join(&mut self, h: Handle, m: usize) {
        let got = self.core.join(h, m as u32);
        if self.garbled {
            if got.is_ok() {
                assert!(h.index < self.chunks());
                self.members[m].held.push(h.index);
            }
            return;
        }
        assert_eq!(got, self.predict_join(h, m), "join {h:?} by {m}");
        if got.is_ok() {
            let c = &mut self.model[h.index as usize];
            c.chunk.holders |= 1 << m;
            assert_eq!(
                self.data[h.index as usize], c.frozen_tag,
                "a reader sees other bytes than its generation's"
            );
            self.members[m].held.push(h.index);
        }
        if h.index < self.chunks() {
            self.check(h.index);
        }
    }

    /// `freeze(g, m, len)` with the model's prediction; moves `g` to the held list.
    fn freeze(&mut self, g: Grant, m: usize, len: u64) {
        let got = self.core.freeze(g, m as u32, len);
        if let Ok(h) = got {
            assert_eq!((h.index, h.generation, h.len), (g.index, g.generation, len));
            let me = &mut self.members[m];
            if let Some(k) = me.writing.iter().position(|w| *w == g) {
                me.writing.swap_remove(k);
            }
            me.held.push(g.index);
            self.published.push(h);
        }
        if self.garbled {
            return;
        }
        let want = match self.size_of(g.index) {
            None => Err(Refused::Forged { what: "index" }),
            Some(size) if len > size => Err(Refused::Forged { what: "len" }),
            Some(_) if g.generation >= GEN_LIMIT => Err(Refused::Forged { what: "generation" }),
            Some(_) => {
                let c = &mut self.model[g.index as usize];
                c.len = len;
                let writing = Chunk {
                    generation: g.generation,
                    phase: Phase::Writing,
                    holders: 1 << m,
                };
                if c.chunk == writing {
                    c.chunk.phase = Phase::Frozen;
                    c.frozen_tag = self.data[g.index as usize];
                    Ok(Handle {
                        index: g.index,
                        generation: g.generation,
                        len,
                    })
                } else {
                    Err(Refused::Corrupted {
                        index: g.index,
                        word: c.chunk.encode(),
                    })
                }
            }
        };
        assert_eq!(got, want, "freeze {g:?} len {len} by {m}");
        if g.index < self.chunks() {
            self.check(g.index);
        }
    }

    fn adopt(&mut self, m: usize) {
        let got = self.core.adopt(m as u32);
        let me = &mut self.members[m];
        me.alive = true; // the adopter now owns the entry
        me.writing.clear();
        me.held.clear();
        if self.garbled {
            assert!(got.is_ok());
            return;
        }
        let mut want = Adopted::default();
        for c in self.model.iter_mut() {
            if c.chunk.held_by(m as u32) {
                want.released += 1;
                c.chunk.holders &= !(1 << m);
                if c.chunk.holders == 0 {
                    want.freed += 1;
                    c.chunk = Chunk::free(c.chunk.generation);
                }
            }
        }
        assert_eq!(got, Ok(want), "adopt {m}");
    }

    fn sweep(&mut self, class: usize) {
        let got = self.core.sweep(class).expect("class in range");
        if !self.garbled {
            let free = self.free_in(class);
            if self.tokens_exact[class] {
                assert_eq!(
                    got,
                    Swept {
                        restored: 0,
                        free,
                        corrupted: 0
                    }
                );
            } else {
                assert_eq!((got.free, got.corrupted), (free, 0));
                assert!(got.restored <= free);
            }
        }
        self.tokens_exact[class] = true;
    }

    fn op(&mut self, op: PoolOp) {
        let member = |m: u8| m as usize % MEMBERS;
        let classes = self.class_count();
        match op {
            PoolOp::Alloc { m, class, cursor } => {
                let (m, class) = (member(m), class as usize % classes);
                if self.members[m].alive {
                    let got = self.core.try_alloc(class, m as u32, cursor).unwrap();
                    self.granted(class, m, got, false);
                }
            }
            PoolOp::AllocNow { m, class, cursor } => {
                let (m, class) = (member(m), class as usize % classes);
                if self.members[m].alive {
                    let got = self.core.alloc_blocking(
                        class,
                        m as u32,
                        cursor,
                        &self.waits[class],
                        WaitMode::Sleep,
                        Some(Instant::now()),
                        &mut || panic!("no tick before the deadline"),
                    );
                    match got {
                        // The fast path may have won without a sweep.
                        Ok(g) => self.granted(class, m, Some(g), false),
                        Err(BlockError::TimedOut) => self.granted(class, m, None, true),
                        Err(e) => panic!("{e:?} without a tick"),
                    }
                    assert_eq!(self.waits[class].sleepers(), 0);
                }
            }
            PoolOp::Write { m, which, tag } => {
                let m = member(m);
                let me = &self.members[m];
                if me.alive && !me.writing.is_empty() {
                    let g = me.writing[which as usize % me.writing.len()];
                    if !self.garbled {
                        let c = self.model[g.index as usize].chunk;
                        assert_eq!((c.phase, c.holders), (Phase::Writing, 1 << m));
                    }
                    self.data[g.index as usize] = tag;
                }
            }
            PoolOp::Freeze { m, which, len } => {
                let m = member(m);
                let me = &self.members[m];
                if me.alive && !me.writing.is_empty() {
                    let g = me.writing[which as usize % me.writing.len()];
                    self.freeze(g, m, len.into());
                }
            }
            PoolOp::FreezeRaw {
                m,
                index,
                generation,
                len,
            } => {
                let m = member(m);
                if self.members[m].alive {
                    let g = Grant {
                        index: index.into(),
                        generation,
                    };
                    self.freeze(g, m, len.into());
                }
            }
            PoolOp::Join { m, which } => {
                let m = member(m);
                if self.members[m].alive && !self.published.is_empty() {
                    let h = self.published[which as usize % self.published.len()];
                    self.join(h, m);
                }
            }
            PoolOp::JoinMut {
                m,
                which,
                dindex,
                dgen,
                dlen,
            } => {
                let m = member(m);
                if self.members[m].alive && !self.published.is_empty() {
                    let h = self.published[which as usize % self.published.len()];
                    let h = Handle {
                        index: h.index.wrapping_add_signed(dindex.into()),
                        generation: h.generation.wrapping_add_signed(dgen.into()),
                        len: h.len.wrapping_add_signed(dlen.into()),
                    };
                    self.join(h, m);
                }
            }
            PoolOp::JoinBytes { m, bytes } => {
                let m = member(m);
                if self.members[m].alive {
                    let h = Handle {
                        index: u32::from_le_bytes(bytes[0..4].try_into().unwrap()),
                        generation: u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
                        len: u64::from_le_bytes(bytes[8..16].try_into().unwrap()),
                    };
                    self.join(h, m);
                }
            }
            PoolOp::Release { m, which } => {
                let m = member(m);
                let me = &self.members[m];
                let n = me.writing.len() + me.held.len();
                if me.alive && n > 0 {
                    let k = which as usize % n;
                    let index = me
                        .writing
                        .get(k)
                        .map_or_else(|| me.held[k - me.writing.len()], |g| g.index);
                    let class = self.core.geometry().class_of(index).unwrap();
                    let got = self
                        .core
                        .release_and_wake(index, m as u32, &self.waits[class]);
                    self.released(index, m, got);
                }
            }
            PoolOp::ReleaseRaw { m, index } => {
                let m = member(m);
                if self.members[m].alive {
                    let got = self.core.release(index.into(), m as u32);
                    self.released(index.into(), m, got);
                }
            }
            PoolOp::Crash { m } => {
                let me = &mut self.members[member(m)];
                me.alive = false;
                me.writing.clear();
                me.held.clear();
            }
            PoolOp::Adopt { m } => {
                let m = member(m);
                if !self.members[m].alive {
                    self.adopt(m);
                }
            }
            PoolOp::Sweep { class } => self.sweep(class as usize % classes),
            PoolOp::Forged { m, class, index } => {
                let bad_m = 32 + u32::from(m) % 224;
                let bad_class = classes + class as usize;
                let bad_index = self.chunks().saturating_add(index);
                let member = Refused::Forged { what: "member" };
                let class_err = Refused::Forged { what: "class" };
                assert_eq!(self.core.try_alloc(0, bad_m, 0), Err(member));
                assert_eq!(self.core.try_alloc(bad_class, 0, 0), Err(class_err));
                assert_eq!(self.core.sweep(bad_class), Err(class_err));
                assert!(!self.core.has_token(bad_class));
                assert_eq!(self.core.release(0, bad_m), Err(member));
                assert_eq!(self.core.adopt(bad_m), Err(member));
                let forged_index = Refused::Forged { what: "index" };
                assert_eq!(self.core.release(bad_index, 0), Err(forged_index));
                assert_eq!(self.core.chunk(bad_index).err(), Some(forged_index));
                let h = Handle {
                    index: 0,
                    generation: 0,
                    len: 0,
                };
                assert_eq!(self.core.join(h, bad_m), Err(member));
            }
            PoolOp::ScribbleBitmap { word, value } => {
                let words = self.pool.bitmap();
                words[word as usize % words.len()]
                    .store(value, std::sync::atomic::Ordering::SeqCst);
                self.tokens_exact.iter_mut().for_each(|e| *e = false);
            }
            PoolOp::ScribbleLen { index, value } => {
                let i = index as usize % self.model.len();
                self.pool.descriptors()[i]
                    .len
                    .store(value, std::sync::atomic::Ordering::SeqCst);
                self.model[i].len = value;
            }
            PoolOp::ScribbleWord { index, value } => {
                let i = index as usize % self.model.len();
                self.pool.descriptors()[i]
                    .word
                    .store(value, std::sync::atomic::Ordering::SeqCst);
                self.garbled = true;
            }
        }
    }

    /// Every live member releases its holds, every dead one is adopted, every class
    /// swept: then (unless garbled) every chunk is free with its token, and can be
    /// allocated once more.
    fn finish(&mut self) {
        for m in 0..MEMBERS {
            if self.members[m].alive {
                let me = &self.members[m];
                let mut holds: Vec<u32> = me.writing.iter().map(|g| g.index).collect();
                holds.extend(&me.held);
                for index in holds {
                    let got = self.core.release(index, m as u32);
                    self.released(index, m, got);
                }
            } else {
                self.adopt(m);
            }
        }
        for class in 0..self.class_count() {
            self.sweep(class);
        }
        if self.garbled {
            // Bounded and typed, nothing more: allocate until a miss.
            for class in 0..self.class_count() {
                let count = self.core.geometry().range(class).len();
                for _ in 0..=count {
                    if self.core.try_alloc(class, 0, 0).unwrap().is_none() {
                        break;
                    }
                }
            }
            return;
        }
        for (i, c) in self.model.iter().enumerate() {
            assert_eq!(c.chunk.phase, Phase::Free, "chunk {i} not free at the end");
            self.check(i as u32);
        }
        for class in 0..self.class_count() {
            let range = self.core.geometry().range(class);
            let mut got: Vec<u32> =
                std::iter::from_fn(|| self.core.try_alloc(class, 0, 0).unwrap())
                    .map(|g| g.index)
                    .take(range.len() + 1)
                    .collect();
            got.sort_unstable();
            assert_eq!(
                got,
                range.collect::<Vec<_>>(),
                "class {class}: every chunk once"
            );
        }
    }
}

/// Replays pool ops against the model (module doc).
pub fn pool_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((nclasses, shape, gen0, alive)) = <(u8, [(u8, u8); 3], u32, u8)>::arbitrary(&mut u)
    else {
        return;
    };
    let Ok(ops) = Vec::<PoolOp>::arbitrary_take_rest(u) else {
        return;
    };
    let mut classes = Vec::new();
    let mut size = 0u64;
    for &(step, count) in &shape[..1 + nclasses as usize % 3] {
        size += 128 * (1 + u64::from(step % 8));
        classes.push(Class {
            size,
            count: 1 + u32::from(count % 80),
        });
    }
    let pool = heap(&classes).expect("a valid class table");
    let core = pool.core();
    let n = core.geometry().chunks() as usize;
    // Every chunk starts free in one generation (near the wrap, if the fuzzer likes).
    let gen0 = gen0 % GEN_LIMIT;
    for d in pool.descriptors() {
        d.word.store(
            Chunk::free(gen0).encode(),
            std::sync::atomic::Ordering::SeqCst,
        );
    }
    let mut world = World {
        pool: &pool,
        core,
        waits: (0..classes.len()).map(|_| EventCount::new()).collect(),
        model: vec![
            Model {
                chunk: Chunk::free(gen0),
                len: 0,
                frozen_tag: 0,
            };
            n
        ],
        data: vec![0; n],
        members: Default::default(),
        published: Vec::new(),
        tokens_exact: vec![true; classes.len()],
        garbled: false,
    };
    for (m, me) in world.members.iter_mut().enumerate() {
        me.alive = alive & (1 << m) != 0;
    }
    for op in ops.into_iter().take(512) {
        world.op(op);
    }
    world.finish();
}
