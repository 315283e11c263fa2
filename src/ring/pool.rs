//! The buffer pool's algorithm (issue 14, design `docs/design/buffer-pool.md`, build
//! step 2), written once over borrowed memory: a heap region here ([`heap`]), a shared
//! mapping later. No system calls, no chunk data: only the chunk words, the frozen
//! lengths and the free-hint bitmap. Waiting (eventcount), member entries and their
//! liveness, pool identity and the byte views belong to the layers above; this module
//! reports what they need (`release` says whether the chunk became free, so the caller
//! knows to notify).
//!
//! **Status: a head start, not wired in.** No segment kind, no public API uses it yet;
//! it is public only with the unstable `internals` feature (loom-tests, fuzz). The
//! fault points of design §3 that fall in this module are here (`pool.alloc.after_token`,
//! `pool.alloc.after_cas`, `pool.freeze.before_cas`, `pool.freeze.after_cas`,
//! `pool.join.after_cas`, `pool.release.after_cas`, `pool.free.before_token`,
//! `pool.free.before_notify`, `pool.adopt.mid`), untested until a multi-process pool
//! exists. Blocking allocation and the freer's wake (§4) are [`Core::alloc_blocking`] and
//! [`Core::release_and_wake`] (`block.rs`), over an eventcount per class that the caller
//! owns. Not yet here: member entries and liveness (the caller's, §3), the
//! mapped-memory constructor.
//!
//! Naming: the design's field `gen` is spelled `generation` (`gen` is a reserved
//! keyword in edition 2024, so `BufHandle { gen }` of design §2 cannot compile as
//! written either).
//!
//! # Protocol
//!
//! Each chunk has one word, `gen:30 | phase:2 | holders:32` ([`word`]), and *every*
//! transition is one CAS on it (design §1, table "from / event / to"):
//!
//! | from                             | operation                  | to                       |
//! |----------------------------------|----------------------------|--------------------------|
//! | `FREE(g, ∅)`                     | [`Core::try_alloc`] by `m` | `WRITING(g+1, {m})`      |
//! | `WRITING(g, {m})`                | [`Core::freeze`]           | `FROZEN(g, {m})`         |
//! | `FROZEN(g, H)`, `m ∉ H`          | [`Core::join`] by `m`      | `FROZEN(g, H ∪ {m})`     |
//! | `FROZEN(g, H)`, `m ∈ H ≠ {m}`    | [`Core::release`] by `m`   | `FROZEN(g, H \ {m})`     |
//! | `FROZEN/WRITING(g, {m})`         | [`Core::release`] by `m`   | `FREE(g, ∅)`, then token |
//!
//! The caller guarantees the one rule the module cannot check: **only the current owner
//! of member entry `m` passes `m`** (a live process for its own entry, or an adopter
//! that took a dead member's entry by the endpoint claim CAS; [`Core::adopt`]). Given
//! that, and the CASes:
//!
//! * **No double allocation.** A chunk is handed out only by the CAS `FREE → WRITING`;
//!   two allocators cannot both win it, whatever the bitmap says.
//! * **No double release.** A release CAS requires bit `m` set and clears it; a second
//!   release by the same owner finds it clear and is refused ([`Refused::NotHeld`]).
//!   Only the owner of `m` clears bit `m`, so no other party's clear can make a stale
//!   CAS of ours succeed: no ABA on the chunk word (the word equal to one we read means
//!   bit `m` is still ours to clear).
//! * **No use after free.** While bit `m` is set the word cannot become `FREE`, so the
//!   chunk cannot be allocated and no one writes a `FROZEN` chunk: a joined handle is
//!   pinned, not re-checked.
//! * **Stale and forged handles** fail the join: index, generation and length are
//!   range-checked against the private geometry, the word must be `FROZEN` with the
//!   handle's generation, and the frozen length must equal the handle's.
//! * **Free list without ABA.** The bitmap (`tokens.rs`) is a hint: a CAS from `FREE`
//!   means "free now", whatever happened in between; nothing is read through the old
//!   value. A token is lost only by a crash (between the `FREE` CAS and the token's
//!   return, or between a take and its CAS); [`Core::sweep`] restores it.
//!
//! # Ordering
//!
//! SYNC POINT (design §1): every chunk-word CAS is SeqCst on success (Acquire on
//! failure: the value read is then decoded, and a later CAS re-validates it), and so is
//! every bitmap RMW; the token argument needs one total order over the `FREE` CAS, the
//! token's return, a taker's `fetch_or` and its load of the word. The writer's bytes and
//! its `len` store happen before its freeze CAS (Release); a joiner's CAS (Acquire)
//! reads from it or a later RMW of its release sequence, so the bytes and `len` are
//! visible. Each release CAS is a Release RMW, the one that frees acquires the chain,
//! and the next allocation's CAS acquires that: a new writer never races an old reader.
//!
//! # Hostile memory
//!
//! Every word is decoded before use; an illegal one is [`Refused::Corrupted`] (or
//! counted, in sweeps) and never acted on. Indices come from the private [`Geometry`]
//! and are range-checked before any slice access; a scribbled bitmap costs failed CASes
//! or a sweep. Every loop is bounded by the pool's size or by a CAS that failed because
//! another party made progress.

mod block;
#[cfg(not(shmlane_loom))]
pub(crate) mod mapped;
#[cfg(all(test, not(shmlane_loom)))]
mod tests;
mod tokens;
pub mod word;

use crate::primitive::{AtomicU64, Ordering};
use std::sync::Arc;
use tokens::Tokens;
use word::{Chunk, GEN_LIMIT, MEMBERS, Phase, decode};

#[cfg_attr(not(feature = "internals"), allow(unused_imports))] // until `crate::pool` uses it
pub use block::BlockError;
#[cfg(shmlane_loom)]
pub use block::model;

/// Most size classes in one pool.
pub const MAX_CLASSES: usize = 8;
/// Most chunks in one pool (all classes).
pub const MAX_CHUNKS: u32 = 1 << 20;
/// Chunk sizes are multiples of this (so a `Pod` view of alignment ≤ 128 fits).
pub const CHUNK_ALIGN: u64 = 128;

/// One size class as asked for: `count` chunks of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    /// Chunk size in bytes: a positive multiple of [`CHUNK_ALIGN`].
    pub size: u64,
    /// Chunks in the class, at least 1.
    pub count: u32,
}

/// Why a class table is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryError {
    /// No class, or more than [`MAX_CLASSES`].
    Classes(usize),
    /// Class `class` has a size that is zero or not a multiple of [`CHUNK_ALIGN`], or
    /// not larger than the class before it.
    Size {
        /// The class's position in the table.
        class: usize,
        /// Its size.
        size: u64,
    },
    /// Class `class` has no chunk.
    Count {
        /// The class's position in the table.
        class: usize,
    },
    /// More than [`MAX_CHUNKS`] chunks in all.
    Total(u64),
}

#[derive(Clone, Copy, Debug)]
struct ClassInfo {
    size: u64,
    count: u32,
    /// Global index of the class's first chunk.
    first: u32,
    /// Index of the class's first bitmap word.
    busy_first: usize,
}

/// The pool's shape, a private copy (each process derives every index and offset from
/// its own, never from shared memory).
#[derive(Clone, Debug)]
pub struct Geometry {
    classes: Box<[ClassInfo]>,
    chunks: u32,
    busy_words: usize,
}

impl Geometry {
    /// Checks a class table: 1 to [`MAX_CLASSES`] classes, sizes positive multiples of
    /// [`CHUNK_ALIGN`] and strictly increasing, counts ≥ 1, at most [`MAX_CHUNKS`] in all.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::ring::pool::{Class, Geometry};
    /// let g = Geometry::new(&[Class { size: 128, count: 3 }, Class { size: 4096, count: 1 }])
    ///     .unwrap();
    /// assert_eq!(g.chunks(), 4);
    /// assert_eq!(g.class_of(3), Some(1));
    /// assert_eq!(g.class_for_len(200), Some(1));
    /// ```
    pub fn new(classes: &[Class]) -> Result<Self, GeometryError> {
        if classes.is_empty() || classes.len() > MAX_CLASSES {
            return Err(GeometryError::Classes(classes.len()));
        }
        let mut out = Vec::with_capacity(classes.len());
        let (mut first, mut busy_first, mut prev) = (0u64, 0usize, 0u64);
        for (class, c) in classes.iter().enumerate() {
            if c.size == 0 || c.size % CHUNK_ALIGN != 0 || c.size <= prev {
                return Err(GeometryError::Size {
                    class,
                    size: c.size,
                });
            }
            if c.count == 0 {
                return Err(GeometryError::Count { class });
            }
            if first + c.count as u64 > MAX_CHUNKS as u64 {
                return Err(GeometryError::Total(first + c.count as u64));
            }
            out.push(ClassInfo {
                size: c.size,
                count: c.count,
                first: first as u32,
                busy_first,
            });
            prev = c.size;
            first += c.count as u64;
            busy_first += (c.count as usize).div_ceil(64);
        }
        Ok(Self {
            classes: out.into_boxed_slice(),
            chunks: first as u32,
            busy_words: busy_first,
        })
    }

    /// Chunks in all classes.
    pub fn chunks(&self) -> u32 {
        self.chunks
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes.len()
    }

    /// Words of the free-hint bitmap, all classes (`⌈count/64⌉` each).
    pub fn busy_words(&self) -> usize {
        self.busy_words
    }

    /// The class of global chunk `index`, `None` when out of range.
    pub fn class_of(&self, index: u32) -> Option<usize> {
        self.classes
            .iter()
            .position(|c| index >= c.first && index - c.first < c.count)
    }

    /// The smallest class whose chunks hold `len` bytes (no fall-back: design O2).
    pub fn class_for_len(&self, len: u64) -> Option<usize> {
        self.classes.iter().position(|c| c.size >= len)
    }

    /// Chunk size of `class` (`< classes()`).
    pub fn chunk_size(&self, class: usize) -> u64 {
        self.classes[class].size
    }

    /// Global index range of `class` (`< classes()`).
    pub fn range(&self, class: usize) -> core::ops::Range<u32> {
        let c = &self.classes[class];
        c.first..c.first + c.count
    }
}

/// One chunk's descriptor: its word and its frozen length (layout: 16 bytes, design §1).
#[repr(C)]
#[derive(Debug)]
pub struct ChunkDesc {
    /// The chunk word ([`word`]).
    pub word: AtomicU64,
    /// The frozen length: stored by the writer before its freeze CAS, read by a joiner
    /// after its join CAS.
    pub len: AtomicU64,
}

/// A chunk just allocated: global index and the generation it was allocated in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Global chunk index.
    pub index: u32,
    /// Generation of this allocation.
    pub generation: u32,
}

/// What names a frozen buffer inside one pool (the pool identity is checked above this
/// module, against the private copy of the pool id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    /// Global chunk index.
    pub index: u32,
    /// Generation the chunk was frozen in.
    pub generation: u32,
    /// Frozen length in bytes.
    pub len: u64,
}

/// Why an operation changed nothing (except where a variant says otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A handle or argument out of range: `what` is `"index"`, `"generation"`, `"len"`,
    /// `"member"` or `"class"`.
    Forged {
        /// The field out of range.
        what: &'static str,
    },
    /// The chunk is not `FROZEN` in the handle's generation (freed, reused, or never
    /// frozen).
    Stale {
        /// Global chunk index.
        index: u32,
        /// The handle's generation.
        generation: u32,
    },
    /// The handle's length differs from the frozen length. The join was undone by a
    /// release; `freed` says whether that release freed the chunk (then the caller
    /// notifies waiters, as after any freeing release).
    WrongLen {
        /// Global chunk index.
        index: u32,
        /// The frozen length.
        frozen: u64,
        /// Whether undoing the join freed the chunk.
        freed: bool,
    },
    /// A join by a member whose bit is already set.
    AlreadyHeld {
        /// Global chunk index.
        index: u32,
    },
    /// A release (or freeze) by a member whose bit is not set: a double release.
    NotHeld {
        /// Global chunk index.
        index: u32,
    },
    /// An illegal chunk word, or one that contradicts what the caller owns.
    Corrupted {
        /// Global chunk index.
        index: u32,
        /// The word read.
        word: u64,
    },
}

/// What [`Core::adopt`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adopted {
    /// Holds of the adopted member released.
    pub released: u32,
    /// Of those, releases that freed their chunk (the caller notifies).
    pub freed: u32,
    /// Illegal chunk words seen (left alone).
    pub corrupted: u32,
}

/// What [`Core::sweep`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Free chunks whose lost token was returned.
    pub restored: u32,
    /// Free chunks seen.
    pub free: u32,
    /// Illegal chunk words seen (left alone).
    pub corrupted: u32,
}

/// The algorithm over one pool's memory: a private geometry, the chunk descriptors in
/// global index order, the bitmap words of all classes.
#[derive(Clone, Copy, Debug)]
pub struct Core<'a> {
    geo: &'a Geometry,
    chunks: &'a [ChunkDesc],
    busy: &'a [AtomicU64],
}

impl<'a> Core<'a> {
    /// The algorithm over `chunks` and `busy`, shaped by `geo`.
    ///
    /// # Panics
    ///
    /// If the lengths do not match `geo` (a caller bug: both are derived from the
    /// private geometry, never from shared memory).
    pub fn new(geo: &'a Geometry, chunks: &'a [ChunkDesc], busy: &'a [AtomicU64]) -> Self {
        assert_eq!(chunks.len(), geo.chunks() as usize, "chunk descriptors");
        assert_eq!(busy.len(), geo.busy_words(), "bitmap words");
        Self { geo, chunks, busy }
    }

    /// The geometry.
    pub fn geometry(&self) -> &'a Geometry {
        self.geo
    }

    fn tokens(&self, class: usize) -> Tokens<'a> {
        let c = &self.geo.classes[class];
        let words = (c.count as usize).div_ceil(64);
        Tokens {
            words: &self.busy[c.busy_first..c.busy_first + words],
            count: c.count,
        }
    }

    /// Returns the token of global chunk `index` (of class `class`).
    fn put_token(&self, index: u32) {
        if let Some(class) = self.geo.class_of(index) {
            self.tokens(class)
                .put(index - self.geo.classes[class].first);
        }
    }

    /// Allocates a chunk of `class` for member `m`: takes a token from the bitmap
    /// (scanning from the class-local `cursor`), then CASes the chunk's word
    /// `FREE(g, ∅) → WRITING(g+1, {m})`. A token whose chunk is not `FREE` is stale and
    /// discarded (its chunk's next `FREE` brings a new one); an illegal word is left
    /// alone with its token taken (sweeps count it). `Ok(None)` is a miss: no token
    /// led to a free chunk (the caller sweeps, recovers, or waits).
    ///
    /// Bounded: at most `2 × count` tokens are tried (stale tokens come only from
    /// sweeps and scribbles, at most one per chunk), and a CAS retry happens only when
    /// another party changed the word.
    pub fn try_alloc(&self, class: usize, m: u32, cursor: u32) -> Result<Option<Grant>, Refused> {
        check_member(m)?;
        if class >= self.geo.classes() {
            return Err(Refused::Forged { what: "class" });
        }
        let info = self.geo.classes[class];
        let tokens = self.tokens(class);
        // Each scan resumes at the word of the last token taken, so a bitmap full of
        // stale tokens (scribbled) costs O(words + count) loads per call, not
        // O(words × count).
        let mut cursor = cursor;
        for _ in 0..2 * info.count as u64 {
            let Some(c) = tokens.take(cursor) else {
                return Ok(None);
            };
            cursor = c;
            // A death here leaves a free chunk without its token (design §3 row 1).
            fault_point("pool.alloc.after_token");
            let index = info.first + c;
            let desc = &self.chunks[index as usize];
            // SYNC POINT: SeqCst, after our token `fetch_or` (module doc, "Ordering").
            let mut seen = desc.word.load(Ordering::SeqCst);
            while let Some(free) = decode(seen).filter(|w| w.phase == Phase::Free) {
                let generation = (free.generation + 1) % GEN_LIMIT;
                let next = Chunk {
                    generation,
                    phase: Phase::Writing,
                    holders: 1 << m,
                };
                // SYNC POINT: SeqCst success (acquires the last release chain, see
                // module doc); Acquire failure: the word read is re-decoded.
                match desc.word.compare_exchange(
                    seen,
                    next.encode(),
                    Ordering::SeqCst,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // A death here leaves `WRITING` with bit `m`: adoption frees it.
                        fault_point("pool.alloc.after_cas");
                        return Ok(Some(Grant { index, generation }));
                    }
                    Err(now) => seen = now,
                }
            }
            // Not free (stale token) or illegal: discard the token, pick again.
        }
        Ok(None)
    }

    /// Freezes the chunk `g` that member `m` is writing, with `len` bytes final
    /// (`len` ≤ the chunk size, else `Forged`, nothing stored): stores `len`, then CASes `WRITING(generation, {m}) → FROZEN(generation, {m})`. The caller's
    /// hold continues as the first reader's. Any other word is `Corrupted` (the chunk
    /// was ours: someone scribbled it) and nothing changes apart from `len`.
    pub fn freeze(&self, g: Grant, m: u32, len: u64) -> Result<Handle, Refused> {
        check_member(m)?;
        let class = self
            .geo
            .class_of(g.index)
            .ok_or(Refused::Forged { what: "index" })?;
        if len > self.geo.chunk_size(class) {
            return Err(Refused::Forged { what: "len" });
        }
        if g.generation >= GEN_LIMIT {
            return Err(Refused::Forged { what: "generation" });
        }
        let desc = &self.chunks[g.index as usize];
        // (A scribbled word makes the CAS below fail after this store: `len` of a chunk
        // the writer was told it owns; a joiner pinned on that chunk may then see a
        // length that fails its check (`WrongLen`), never bytes outside the chunk.)
        // SYNC POINT: Relaxed; published by the freeze CAS below (Release part of
        // SeqCst) to every joiner, whose CAS acquires it.
        desc.len.store(len, Ordering::Relaxed);
        // A death here: the chunk is never frozen, so no reader ever sees it (design §3
        // row 3, "producer killed mid-write").
        fault_point("pool.freeze.before_cas");
        let writing = Chunk {
            generation: g.generation,
            phase: Phase::Writing,
            holders: 1 << m,
        };
        let frozen = Chunk {
            phase: Phase::Frozen,
            ..writing
        };
        // SYNC POINT: SeqCst success (Release: the bytes and `len`); Acquire failure.
        desc.word
            .compare_exchange(
                writing.encode(),
                frozen.encode(),
                Ordering::SeqCst,
                Ordering::Acquire,
            )
            .map(|_| {
                fault_point("pool.freeze.after_cas");
                Handle {
                    index: g.index,
                    generation: g.generation,
                    len,
                }
            })
            .map_err(|word| Refused::Corrupted {
                index: g.index,
                word,
            })
    }

    /// Joins the frozen buffer `h` as member `m`: validates the index, generation and
    /// length against the private geometry (`Forged`), then CASes
    /// `FROZEN(h.generation, H) → FROZEN(h.generation, H ∪ {m})` (`Stale` if the word is anything
    /// else legal), then checks the frozen length (`WrongLen`, join undone).
    ///
    /// After `Ok`, bit `m` pins the chunk: it stays `FROZEN` in `h.generation` with bytes
    /// `[0, h.len)` final until `m` releases it.
    pub fn join(&self, h: Handle, m: u32) -> Result<(), Refused> {
        check_member(m)?;
        let class = self
            .geo
            .class_of(h.index)
            .ok_or(Refused::Forged { what: "index" })?;
        if h.generation >= GEN_LIMIT {
            return Err(Refused::Forged { what: "generation" });
        }
        if h.len > self.geo.chunk_size(class) {
            return Err(Refused::Forged { what: "len" });
        }
        let desc = &self.chunks[h.index as usize];
        // Relaxed: only the CAS's expected value; the CAS decides.
        let mut seen = desc.word.load(Ordering::Relaxed);
        loop {
            let w = decode(seen).ok_or(Refused::Corrupted {
                index: h.index,
                word: seen,
            })?;
            if w.phase != Phase::Frozen || w.generation != h.generation {
                return Err(Refused::Stale {
                    index: h.index,
                    generation: h.generation,
                });
            }
            if w.held_by(m) {
                return Err(Refused::AlreadyHeld { index: h.index });
            }
            let next = Chunk {
                holders: w.holders | 1 << m,
                ..w
            };
            // SYNC POINT: SeqCst success (Acquire: the writer's bytes and `len`, via the
            // freeze CAS's release sequence); Acquire failure, re-decoded.
            match desc.word.compare_exchange(
                seen,
                next.encode(),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        fault_point("pool.join.after_cas");
        // SYNC POINT: Relaxed; the join CAS acquired the writer's store (module doc),
        // and no later `len` store can happen while bit `m` pins the chunk.
        let frozen = desc.len.load(Ordering::Relaxed);
        if frozen != h.len {
            let freed = self.release(h.index, m)?;
            return Err(Refused::WrongLen {
                index: h.index,
                frozen,
                freed,
            });
        }
        Ok(())
    }

    /// Releases member `m`'s hold on chunk `index`: clears bit `m` by CAS; the CAS that
    /// clears the last bit writes `FREE(g, ∅)` and then the chunk's token is returned.
    /// Returns whether the chunk became free (the caller then notifies waiters).
    /// `NotHeld` if bit `m` is clear (double release): nothing changes.
    pub fn release(&self, index: u32, m: u32) -> Result<bool, Refused> {
        check_member(m)?;
        if index >= self.geo.chunks() {
            return Err(Refused::Forged { what: "index" });
        }
        let desc = &self.chunks[index as usize];
        // Relaxed: only the CAS's expected value; the CAS decides.
        let mut seen = desc.word.load(Ordering::Relaxed);
        loop {
            let w = decode(seen).ok_or(Refused::Corrupted { index, word: seen })?;
            if !w.held_by(m) {
                return Err(Refused::NotHeld { index });
            }
            let rest = w.holders & !(1 << m);
            let next = if rest == 0 {
                Chunk::free(w.generation)
            } else {
                // Only `FROZEN` has several holders (`WRITING` has exactly one).
                Chunk { holders: rest, ..w }
            };
            // SYNC POINT: SeqCst success (Release: our reads of the bytes happen before
            // the next writer's CAS, which acquires this RMW chain); Acquire failure.
            match desc.word.compare_exchange(
                seen,
                next.encode(),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) if rest == 0 => {
                    // A death here leaves `FREE` without a token: `sweep` restores it.
                    fault_point("pool.free.before_token");
                    self.put_token(index);
                    return Ok(true);
                }
                Ok(_) => {
                    fault_point("pool.release.after_cas");
                    return Ok(false);
                }
                Err(now) => seen = now,
            }
        }
    }

    /// Releases every hold of member entry `m`, as its new owner: the caller has taken
    /// the entry of a dead member by the endpoint claim CAS (or owns `m` and heals its
    /// own entry at open). Idempotent: a crash part-way leaves some bits set, and the
    /// next adopter of the entry clears those. Illegal words are counted, not touched.
    pub fn adopt(&self, m: u32) -> Result<Adopted, Refused> {
        check_member(m)?;
        let mut out = Adopted::default();
        for index in 0..self.geo.chunks() {
            match self.release(index, m) {
                Ok(freed) => {
                    out.released += 1;
                    out.freed += freed as u32;
                    if out.released == 1 {
                        // A death here: the next adopter of the entry clears the rest.
                        fault_point("pool.adopt.mid");
                    }
                }
                Err(Refused::NotHeld { .. }) => {}
                Err(_) => out.corrupted += 1,
            }
        }
        Ok(out)
    }

    /// Restores the tokens of `class`'s free chunks that have none (lost by a crash
    /// between a `FREE` CAS and the token's return, or between a take and its CAS).
    /// Racing a live freer or taker is harmless: returning a token twice is one token,
    /// and a token of a chunk allocated meanwhile is stale, discarded by its taker.
    pub fn sweep(&self, class: usize) -> Result<Swept, Refused> {
        if class >= self.geo.classes() {
            return Err(Refused::Forged { what: "class" });
        }
        let info = self.geo.classes[class];
        let tokens = self.tokens(class);
        let mut out = Swept::default();
        for c in 0..info.count {
            // SYNC POINT: SeqCst, in the total order of the token argument.
            let seen = self.chunks[(info.first + c) as usize]
                .word
                .load(Ordering::SeqCst);
            match decode(seen) {
                None => out.corrupted += 1,
                Some(w) if w.phase == Phase::Free => {
                    out.free += 1;
                    if tokens.is_taken(c) {
                        tokens.put(c);
                        out.restored += 1;
                    }
                }
                Some(_) => {}
            }
        }
        Ok(out)
    }

    /// Whether `class` has a token (a waiter's last check before sleeping, design §4
    /// W4). `false` for a class out of range.
    pub fn has_token(&self, class: usize) -> bool {
        class < self.geo.classes() && self.tokens(class).any()
    }

    /// The decoded word of chunk `index` (diagnostics, tests, `check_wait`).
    pub fn chunk(&self, index: u32) -> Result<Chunk, Refused> {
        let desc = self
            .chunks
            .get(index as usize)
            .ok_or(Refused::Forged { what: "index" })?;
        // Relaxed: a snapshot for diagnostics; decisions are taken by CAS elsewhere.
        let word = desc.word.load(Ordering::Relaxed);
        decode(word).ok_or(Refused::Corrupted { index, word })
    }
}

fn check_member(m: u32) -> Result<(), Refused> {
    if m < MEMBERS {
        Ok(())
    } else {
        Err(Refused::Forged { what: "member" })
    }
}

/// The memory of a heap pool (tests, loom, fuzz).
#[derive(Debug)]
struct HeapMem {
    chunks: Box<[ChunkDesc]>,
    busy: Box<[AtomicU64]>,
}

/// A pool's chunk words and bitmap on the heap, all zero (every chunk free, generation
/// 0, every token present), shared by cloning (threads play members).
#[derive(Clone, Debug)]
pub struct HeapPool {
    geo: Arc<Geometry>,
    mem: Arc<HeapMem>,
}

/// Creates a heap pool of `classes`.
///
/// # Examples
///
/// ```
/// use shmlane::ring::pool::{Class, heap};
/// let pool = heap(&[Class { size: 128, count: 2 }]).unwrap();
/// let core = pool.core();
/// let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
/// let h = core.freeze(g, 0, 100).unwrap();
/// core.join(h, 1).unwrap();
/// assert_eq!(core.release(h.index, 0), Ok(false));
/// assert_eq!(core.release(h.index, 1), Ok(true)); // the last holder frees it
/// assert!(core.join(h, 1).is_err()); // stale now
/// ```
pub fn heap(classes: &[Class]) -> Result<HeapPool, GeometryError> {
    let geo = Geometry::new(classes)?;
    let chunks = (0..geo.chunks())
        .map(|_| ChunkDesc {
            word: AtomicU64::new(0),
            len: AtomicU64::new(0),
        })
        .collect();
    let busy = (0..geo.busy_words()).map(|_| AtomicU64::new(0)).collect();
    Ok(HeapPool {
        geo: Arc::new(geo),
        mem: Arc::new(HeapMem { chunks, busy }),
    })
}

impl HeapPool {
    /// The algorithm over this pool's memory.
    pub fn core(&self) -> Core<'_> {
        Core::new(&self.geo, &self.mem.chunks, &self.mem.busy)
    }

    /// The raw chunk descriptors, for tests that scribble words (hostile memory).
    pub fn descriptors(&self) -> &[ChunkDesc] {
        &self.mem.chunks
    }

    /// The raw bitmap words, for tests that scribble them.
    pub fn bitmap(&self) -> &[AtomicU64] {
        &self.mem.busy
    }
}

/// A fault-injection point of this module (see `crate::fault`; none under loom).
#[inline(always)]
fn fault_point(name: &'static str) {
    #[cfg(not(shmlane_loom))]
    crate::fault::point(name);
    #[cfg(shmlane_loom)]
    let _ = name;
}
