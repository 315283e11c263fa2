//! Zero-copy buffers: loan a chunk of shared memory, write it in place, send a small
//! handle, read it in place (issue 14; design `docs/design/buffer-pool.md`).
//!
//! A [`Pool`] is one segment (kind 13) of chunks in up to 8 size classes. Every chunk
//! has one word, `generation | phase | holders`, and allocation, freeze, every join and
//! every release is one CAS on it (`ring::pool`); a process holds a chunk through one
//! bit (its member entry's) however many views it has (a local count per chunk), and
//! the holds of a dead process are released by whoever adopts its entry ([`Pool::recover`],
//! run on an allocation miss, at most once per 50 ms tick).
//!
//! # Examples
//!
//! ```
//! use shmlane::pool::{Class, Pool};
//! let pool = Pool::anonymous(&[Class { size: 4096, count: 4 }])?;
//! let mut buf = pool.alloc(100)?;
//! buf.fill(7);
//! let frozen = buf.freeze();
//! let h = frozen.handle(); // 24 bytes of `Pod`: send it over any pipe or queue
//! let seen = pool.open_handle(h)?; // in the receiving process, its own `Pool`
//! assert_eq!(&seen[..], &[7u8; 100][..]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | Python | shmlane |
//! |---|---|
//! | `shared_memory.SharedMemory(create=True, size=n)` + pickling a name | [`Pool::alloc`] → [`BufMut`] → [`BufMut::freeze`] → [`Buf::handle`] sent as a `Pod` value |
//! | `SharedMemory(name)` in the reader | [`Pool::open_handle`] → [`Buf`] (read-only, in place) |

mod buf;
#[cfg(all(test, not(miri)))]
mod tests;

use crate::error::{
    AllocError, AllocTimeoutError, CreateError, HandleError, OpenError, PoolCorrupted,
    TryAllocError,
};
use crate::layout::{PoolInfo, SegmentKind};
use crate::platform::identity::{self, Identity};
use crate::primitive::{AtomicU32, AtomicUsize, Ordering};
use crate::ring::endpoint;
use crate::ring::pool::mapped::MappedPool;
use crate::ring::pool::{BlockError, Core, Grant, Handle, Refused};
use crate::segment::Segment;
use crate::wait::{TICK, WaitMode};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One size class of a pool: `count` chunks of `size` bytes each.
///
/// `size` is a positive multiple of 128 (chunks are 128-aligned, so a typed view of any
/// `Pod` type of alignment ≤ 128 fits); classes are listed in strictly increasing size.
/// A table that breaks a rule is refused with `CreateError::InvalidParameter`.
///
/// # Examples
///
/// ```
/// use shmlane::{CreateError, pool::{Class, Pool}};
/// let small_and_large = [Class { size: 4096, count: 8 }, Class { size: 1 << 20, count: 2 }];
/// let pool = Pool::anonymous(&small_and_large)?;
/// assert_eq!(pool.stats().classes, small_and_large);
/// assert!(matches!(
///     Pool::anonymous(&[Class { size: 100, count: 1 }]),
///     Err(CreateError::InvalidParameter { .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    /// Chunk size in bytes.
    pub size: usize,
    /// Number of chunks.
    pub count: usize,
}

/// What names one frozen buffer in one pool: 24 bytes of plain data that travel over
/// any pipe or queue. Validated on use ([`Pool::open_handle`]): a forged, stale or
/// foreign handle is a typed error, never a read of another buffer's bytes.
///
/// # Examples
///
/// ```
/// use shmlane::{error::HandleError, pool::{Class, Pool}};
/// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
/// let buf = pool.alloc(8)?.freeze();
/// let h = buf.handle();
/// assert_eq!((h.pool, h.len), (pool.id(), 8));
/// let forged = shmlane::pool::BufHandle { len: 9, ..h };
/// assert!(matches!(pool.open_handle(forged), Err(HandleError::Forged { what: "len" })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BufHandle {
    /// The pool's identity (random, fixed at create).
    pub pool: u64,
    /// Global chunk index.
    pub index: u32,
    /// The chunk's generation when it was frozen.
    pub generation: u32,
    /// Frozen length in bytes.
    pub len: u64,
}

/// Counters and occupancy of a pool ([`Pool::stats`]).
///
/// # Examples
///
/// ```
/// use shmlane::pool::{Class, Pool};
/// let pool = Pool::anonymous(&[Class { size: 128, count: 2 }])?;
/// let held = pool.alloc(1)?;
/// assert_eq!(pool.stats().free, vec![1]);
/// drop(held);
/// assert_eq!(pool.stats().free, vec![2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Chunks per class (the class table).
    pub classes: Vec<Class>,
    /// Free chunks per class now (a scan; racy while others allocate).
    pub free: Vec<usize>,
    /// Holds of dead processes released so far, by anyone.
    pub reclaimed: u64,
    /// Sweeps run (on a miss, and each tick of a blocked alloc).
    pub sweeps: u64,
}

/// A buffer pool in one shared-memory segment. `Clone + Send + Sync`: clones share one
/// member entry of the pool (one of 32: at most 32 processes, or `open`s, at a time).
///
/// # Examples
///
/// ```
/// use shmlane::pool::{Class, Pool};
/// let pool = Pool::anonymous(&[Class { size: 4096, count: 2 }])?;
/// let other = pool.clone(); // same member entry, e.g. for another thread
/// let buf = other.alloc(4096)?.freeze();
/// assert_eq!(pool.open_handle(buf.handle())?.len(), 4096);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pool {
    inner: Arc<Inner>,
    mode: WaitMode,
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        // Relaxed: a count of this process's handles, read only by their drops.
        self.inner.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: self.inner.clone(),
            mode: self.mode,
        }
    }
}

impl Drop for Pool {
    /// The last handle drops the transit holds already taken and, if nothing but
    /// transit holds is left, orphans those (see `Inner::linger`).
    fn drop(&mut self) {
        // AcqRel: the last dropper sees every other handle's registrations.
        if self.inner.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.linger();
        }
    }
}

/// What this process holds of one chunk: how many views, of which generation and
/// frozen length. `count == 0`: nothing (bit `m` is clear, as far as we know).
#[derive(Clone, Copy, Debug, Default)]
struct LocalHold {
    count: u32,
    generation: u32,
    /// `u64::MAX` while the chunk is being written (`BufMut`): not joinable.
    len: u64,
}

const WRITING: u64 = u64::MAX;

/// Holds this process keeps for buffers in flight (a carrier's transit holds, design
/// §5) and can judge itself: the pool asks each registered source to drop those whose
/// handles were taken wherever it would otherwise wait for a free (an allocation miss,
/// each poll and tick of a blocked allocation), so a blocked [`Pool::alloc`] is never
/// kept waiting by holds of its own process that nobody needs any more.
pub(crate) trait TransitSource: Send + Sync {
    /// Drops the holds whose handles were taken (or will never be); returns how many.
    /// `thorough`: also the costlier checks (the taker's liveness), at most about once
    /// per tick; otherwise a few loads.
    fn release_taken(&self, thorough: bool) -> usize;

    /// Holds still kept.
    fn in_flight(&self) -> usize;
}

/// The registered transit sources (see [`TransitSource`]).
#[derive(Default)]
struct Transit {
    /// Non-zero while any source is registered: the allocation paths skip the lock.
    count: AtomicUsize,
    sources: Mutex<Vec<Arc<dyn TransitSource>>>,
    /// Calls of `Inner::linger` not yet looked at: the caller that moves it from 0
    /// runs the passes, the others (other threads, and the views a pass drops
    /// itself) only add theirs, and the runner passes again until none is new.
    lingering: AtomicUsize,
}

/// The process-local half of a pool handle, under the local lock.
struct Local {
    holds: Box<[LocalHold]>,
    /// When `try_alloc`'s miss last ran a recovery (at most one per [`TICK`]).
    last_recover: Option<Instant>,
    /// Set once the transit holds left by the last `Pool` handle were orphaned (see
    /// `Inner::linger`): a view dropped from then on releases no bit (there is none
    /// but those holds', and they were handed to the vacant entry).
    orphaned: bool,
}

/// The member entries this process's handles own, per pool (keyed by the segment
/// file's device and inode, not by anything in shared memory): a mask per pool
/// (several `Pool`s of one pool in one process, e.g. `from_fd` twice, own different
/// entries). Held across each claim and its insertion, each release and its removal,
/// and each recovery's judging and claiming: an entry naming this process outside its
/// pool's mask is then known false (design §3 "Hostile memory").
static OWNED: Mutex<Vec<(PoolKey, u32)>> = Mutex::new(Vec::new());

/// A pool's key in `OWNED`.
type PoolKey = (u64, u64);

fn owned() -> MutexGuard<'static, Vec<(PoolKey, u32)>> {
    // Only masks updated in single statements: still exact after a panic elsewhere.
    OWNED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key of `seg`'s pool in `OWNED`: its file's device and inode (the same for every
/// mapping of one pool); `(u64::MAX, pool_id)` if `fstat` fails.
fn key_of(seg: &Segment, pool_id: u64) -> PoolKey {
    use std::os::unix::fs::MetadataExt;
    seg.fd()
        .try_clone_to_owned()
        .and_then(|fd| std::fs::File::from(fd).metadata())
        .map_or((u64::MAX, pool_id), |md| (md.dev(), md.ino()))
}

/// Marks (`own`) or unmarks entry `m` of pool `id` as one of this process's.
fn set_owned(list: &mut Vec<(PoolKey, u32)>, id: PoolKey, m: u32, own: bool) {
    let i = match list.iter().position(|&(p, _)| p == id) {
        Some(i) => i,
        None => {
            list.push((id, 0));
            list.len() - 1
        }
    };
    if own {
        list[i].1 |= 1 << m;
    } else {
        list[i].1 &= !(1 << m);
    }
    if list[i].1 == 0 {
        list.swap_remove(i);
    }
}

/// One opened pool: the segment, the mapped view, the private class table, our member
/// entry, the local holds.
struct Inner {
    view: MappedPool,
    info: PoolInfo,
    /// Our member entry and the word our claim stored.
    m: u32,
    word: u64,
    /// This pool's key in `OWNED`.
    key: PoolKey,
    local: Mutex<Local>,
    cursor: AtomicU32,
    /// `Pool` handles (clones) alive in this process.
    handles: AtomicUsize,
    /// This process's transit holds, by source (lock order: this, a source's lock,
    /// `local`).
    transit: Transit,
    /// Test hook: blocked allocations drain the transit sources only on polls that
    /// follow a notify (`Pool::drain_transit_only_when_notified`).
    /// Set: the hook is on, and the flag says a take's notify woke nobody (the
    /// class's epoch did not move; the hold-back then ends, see `alloc_until`). Shared
    /// by the pools of one test (the taker's and the allocator's).
    #[cfg(test)]
    only_notified: std::sync::OnceLock<Arc<std::sync::atomic::AtomicBool>>,
    /// Declared last: unlinks the creator's name after everything above is dropped.
    seg: Segment,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("id", &format_args!("{:#x}", self.info.pool_id))
            .field("member", &self.m)
            .field("segment", &self.seg.name())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Every view held an `Arc` of us, so none is left and our bit is clear in every
        // chunk word, or belongs to orphaned transit holds (`linger` released the entry
        // and its record already: a second release could clear the record of another
        // handle of this process that has since claimed the same entry).
        if self.local().orphaned {
            return;
        }
        let mut owned = owned();
        endpoint::release(&self.view.members()[self.m as usize], self.word);
        set_owned(&mut owned, self.key, self.m, false);
    }
}

impl Inner {
    fn core(&self) -> Core<'_> {
        self.view.core()
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        // A panic while holding it leaves counts that are still this process's best
        // knowledge: go on with them.
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The eventcount of the class of chunk `index`.
    fn wait_of(&self, index: u32) -> &crate::wait::EventCount {
        self.view
            .wait(self.view.geometry().class_of(index).unwrap_or(0))
    }

    /// Wakes the waiters of the class of chunk `index`.
    fn wake_class_of(&self, index: u32) {
        if let Some(class) = self.view.geometry().class_of(index) {
            self.view.wait(class).notify_fenced();
        }
    }

    /// Whether this is a process other than the one that opened this handle (a
    /// `fork`ed child): our member entry, and so bit `m`, are the parent's.
    fn forked(&self) -> bool {
        identity::current().pid != endpoint::pid(self.word)
    }

    fn count_corrupt(&self) {
        // Relaxed: a statistic.
        self.view.state().corrupt.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops one local view of chunk `index` (see `release_view`); once every `Pool`
    /// handle is gone, also looks whether only transit holds are left (`linger`).
    fn drop_view(&self, index: u32) {
        self.release_view(index);
        // Relaxed: if the last `Pool::drop` ran its `linger` before our release, its
        // `fetch_sub` is ordered before that `linger`'s `local` lock, which is ordered
        // before ours in `release_view`, so this load sees 0 and we look again; if
        // after, that `linger` saw our release. One load of a process-local counter
        // per view: no fence, no shared-memory access.
        if self.handles.load(Ordering::Relaxed) == 0 {
            self.linger();
        }
    }

    /// Drops one local view of chunk `index`; the last one releases bit `m` (and wakes
    /// the class's waiters if that freed the chunk). A contradiction (no local hold,
    /// or the word says bit `m` is clear) changes nothing and is counted as corruption.
    fn release_view(&self, index: u32) {
        let mut local = self.local();
        let Some(hold) = local.holds.get_mut(index as usize) else {
            return;
        };
        if hold.count == 0 {
            drop(local);
            self.count_corrupt();
            return;
        }
        hold.count -= 1;
        if hold.count > 0 || local.orphaned {
            return;
        }
        // A `fork`ed child's copy of a view: bit `m` is the parent's (design §3 "fork").
        if self.forked() {
            return;
        }
        let class = self.view.geometry().class_of(index).unwrap_or(0);
        let core = self.core();
        let result = core.release_and_wake(index, self.m, self.view.wait(class));
        drop(local);
        if result.is_err() {
            self.count_corrupt();
        }
    }

    /// Releases the holds of dead members (see [`Pool::recover`]), of entries that
    /// name this process though none of its handles owns them, and our own bit where
    /// we hold no view ([`release_strays`](Self::release_strays)).
    fn recover(&self) -> usize {
        let mut freed = self.release_strays();
        let owned = owned();
        let ours = owned
            .iter()
            .find(|&&(key, _)| key == self.key)
            .map_or(0, |&(_, mask)| mask);
        freed += self.view.recover_owning(
            identity::current(),
            Some(self.m),
            Some(ours),
            identity::is_alive,
        );
        drop(owned);
        freed
    }

    /// Releases bit `m` from the `FROZEN` chunk words that have it where this process
    /// holds no view (count 0): only a scribble sets it there, and we own entry `m`, so
    /// we may clear it. Under the local lock, so no join of ours races (a join sets the
    /// bit and the count under it). `WRITING` words are left alone: an allocation of
    /// ours sets the bit before it records the count. Each is counted as corruption;
    /// returns the chunks freed (their waiters woken). Not in a `fork`ed child (bit
    /// `m` is the parent's).
    fn release_strays(&self) -> usize {
        use crate::ring::pool::word::Phase;
        if self.forked() {
            return 0;
        }
        let local = self.local();
        let core = self.core();
        let mut freed = 0;
        for (index, hold) in (0u32..).zip(local.holds.iter()) {
            if hold.count != 0 {
                continue;
            }
            let Ok(c) = core.chunk(index) else { continue };
            if c.phase != Phase::Frozen || !c.held_by(self.m) {
                continue;
            }
            self.count_corrupt();
            if let Ok(true) = core.release_and_wake(index, self.m, self.wait_of(index)) {
                freed += 1;
            }
        }
        drop(local);
        freed
    }

    /// Asks every registered transit source to drop the holds whose handles were
    /// taken (see [`TransitSource`]); forgets the sources nobody else keeps once they
    /// are empty (a departed sender's). Returns the holds dropped.
    fn release_transit(&self, thorough: bool) -> usize {
        // Relaxed: a hint that saves the lock when nothing is registered. A source
        // registered by this thread (the usual case: a sender then its allocations)
        // is seen in program order; one registered by another thread is seen once
        // the store is visible here (at the latest on a later poll or tick: the store
        // is made before any of that source's holds exist, under the registry lock).
        if self.transit.count.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let mut sources = self
            .transit
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // The sources' holds drop under their own lock, which takes `local` (lock
        // order: registry, source, local; nobody takes them the other way).
        let released = sources.iter().map(|s| s.release_taken(thorough)).sum();
        Self::prune(&mut sources);
        // Relaxed: a hint (see above); updated under the registry lock.
        self.transit.count.store(sources.len(), Ordering::Relaxed);
        released
    }

    /// Called once no `Pool` handle is left (the last `Pool::drop`, then each view
    /// dropped after it): drops the transit holds already taken and, if holds remain
    /// but no other view of this process (no `Buf` or `BufMut` of the user: the local
    /// counts add up to the holds), **orphans** them: the holds are dropped without
    /// releasing their bits, and our member entry is released (→ `closed`), so those
    /// bits belong to a vacant entry. Another member's recovery (on its allocation
    /// misses and ticks, and `gc`) adopts them; until then a handle still in the pipe
    /// is deliverable, as a dead sender's is (then the receiver counts it `lost`).
    ///
    /// Why not keep the holds: every sender and `Pool` handle of this process is gone,
    /// so nothing here would ever look at them again (the held `Buf`s keep `Inner`
    /// alive, a cycle) and the entry stays `attached` to a live process, which no
    /// recovery adopts: the chunks would be held until the process exits. Orphaning
    /// breaks the cycle and hands the holds to the protocol that already releases a
    /// dead process's, with no thread and no cost per message.
    ///
    /// While the user still has views, their bits must stay: then nothing is
    /// orphaned, and the drop of the last such view comes back here. One thread runs
    /// it at a time; a caller that finds it running (another thread, or a hold that
    /// this very call drops) only counts itself, and the runner passes again.
    fn linger(&self) {
        // AcqRel/Acquire: one atomic orders the callers and the runner (a caller's
        // add is either seen by the runner's final CAS, which then fails and passes
        // again, or comes after it and finds 0: it runs itself). What a pass reads is
        // under the registry and `local` locks.
        if self.transit.lingering.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        let mut seen = 1;
        loop {
            self.linger_once();
            match self.transit.lingering.compare_exchange(
                seen,
                0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => seen = now,
            }
        }
    }

    /// One pass of [`linger`](Self::linger).
    fn linger_once(&self) {
        let mut sources = self
            .transit
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if sources.is_empty() {
            return;
        }
        // Drops the holds already taken (their views' drops only count a call).
        sources.iter().for_each(|s| {
            s.release_taken(true);
        });
        Self::prune(&mut sources);
        // Relaxed: see `release_transit`.
        self.transit.count.store(sources.len(), Ordering::Relaxed);
        if sources.is_empty() {
            return;
        }
        // No carrier is left (each keeps a `Pool` handle), so nobody adds or drops a
        // hold while we hold the registry: the count is exact.
        let holds: u64 = sources.iter().map(|s| s.in_flight() as u64).sum();
        let mut local = self.local();
        let views: u64 = local.holds.iter().map(|h| u64::from(h.count)).sum();
        if views != holds {
            // The user's views live (and a clone needs one): their last drop is back.
            return;
        }
        local.orphaned = true;
        drop(local);
        let orphans = std::mem::take(&mut *sources);
        // Relaxed: see `release_transit`.
        self.transit.count.store(0, Ordering::Relaxed);
        drop(sources);
        // Each hold's drop decrements its local count and releases no bit.
        drop(orphans);
        // A process may die here: the entry is `attached` to a dead process, adopted
        // the same way. The record of the entries this process owns changes with the
        // release, under its lock (as in `Drop`), so no recover of ours judges between.
        let mut owned = owned();
        endpoint::release(&self.view.members()[self.m as usize], self.word);
        set_owned(&mut owned, self.key, self.m, false);
    }

    /// Forgets the sources that are empty and kept by nobody else.
    fn prune(sources: &mut Vec<Arc<dyn TransitSource>>) {
        sources.retain(|s| Arc::strong_count(s) > 1 || s.in_flight() > 0);
    }

    /// The local record of a fresh allocation; `Err` (the chunk released again) if we
    /// already counted views of that chunk: a contradiction with the word we just CASed.
    fn granted(&self, g: Grant) -> Result<(), PoolCorrupted> {
        let mut local = self.local();
        let hold = &mut local.holds[g.index as usize];
        if hold.count != 0 {
            drop(local);
            let core = self.core();
            let class = self.view.geometry().class_of(g.index).unwrap_or(0);
            let _ = core.release_and_wake(g.index, self.m, self.view.wait(class));
            self.count_corrupt();
            return Err(PoolCorrupted {
                index: g.index,
                word: core.chunk(g.index).map_or(0, |c| c.encode()),
            });
        }
        *hold = LocalHold {
            count: 1,
            generation: g.generation,
            len: WRITING,
        };
        Ok(())
    }
}

/// Converts a class table to the algorithm's, refusing what it cannot express.
fn geometry_of(classes: &[Class]) -> Result<crate::ring::pool::Geometry, CreateError> {
    use crate::ring::pool::{Class as C, Geometry, GeometryError};
    let invalid = |param, value: u64, reason| CreateError::InvalidParameter {
        param,
        value,
        reason,
    };
    let mut table = Vec::with_capacity(classes.len());
    for c in classes {
        let count = u32::try_from(c.count)
            .map_err(|_| invalid("class count", c.count as u64, "above 2^20 chunks"))?;
        table.push(C {
            size: c.size as u64,
            count,
        });
    }
    Geometry::new(&table).map_err(|e| match e {
        GeometryError::Classes(n) => invalid("classes", n as u64, "a pool has 1 to 8 classes"),
        GeometryError::Size { size, .. } => invalid(
            "class size",
            size,
            "sizes are positive multiples of 128, strictly increasing",
        ),
        GeometryError::Count { .. } => invalid("class count", 0, "each class has a chunk"),
        GeometryError::Total(n) => invalid("chunks", n, "a pool has at most 2^20 chunks"),
    })
}

/// 64 random bits for a new pool's identity: the kernel's random source, else (no
/// `/dev/urandom`) a hash of the process, the time and a per-process random key.
fn random_id() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_ne_bytes(b);
    }
    use std::hash::BuildHasher;
    let me = identity::current();
    std::collections::hash_map::RandomState::new().hash_one((
        me.pid,
        me.start,
        std::time::SystemTime::now(),
    ))
}

impl crate::handle::Handle for Pool {
    fn expect() -> crate::segment::Expect {
        crate::segment::Expect {
            kind: SegmentKind::Pool,
            elem: crate::layout::pool_elem(),
            capacity: None,
        }
    }

    fn opened(seg: Segment) -> Result<Self, OpenError> {
        Self::join(seg)
    }

    fn segment_of(&self) -> &Segment {
        &self.inner.seg
    }
}

crate::handle::constructors! {
    impl[] Pool {
        what: "pool",
        ex: "shmlane::pool::Pool",
        params: (classes: &[Class]),
        args: (&[shmlane::pool::Class { size: 4096, count: 4 }]),
        made: "with these size classes (every page reserved now; a bad table is refused with `InvalidParameter`)",
    }
}

impl Pool {
    fn build(name: Option<&str>, classes: &[Class]) -> Result<Self, CreateError> {
        let geo = geometry_of(classes)?;
        let table: Vec<_> = (0..geo.classes())
            .map(|c| crate::ring::pool::Class {
                size: geo.chunk_size(c),
                count: geo.range(c).len() as u32,
            })
            .collect();
        let info = crate::ring::pool::mapped::info_of(random_id(), &table);
        let seg = Segment::create_pool(name, &info, &geo)?;
        Self::join(seg).map_err(|e| match e {
            OpenError::Claim(c) => CreateError::Claim(c),
            e => CreateError::Io {
                op: "join the new pool",
                source: std::io::Error::other(e),
            },
        })
    }

    /// An existing pool must have exactly this class table.
    fn made_with(&self, classes: &[Class]) -> Result<(), OpenError> {
        let have = self.classes();
        let mismatch = |field, expected: usize, found: usize| OpenError::LayoutMismatch {
            field,
            expected: expected as u64,
            found: found as u64,
        };
        if have.len() != classes.len() {
            return Err(mismatch("pool classes", classes.len(), have.len()));
        }
        for (want, found) in classes.iter().zip(&have) {
            if want.size != found.size {
                return Err(mismatch("pool class size", want.size, found.size));
            }
            if want.count != found.count {
                return Err(mismatch("pool class count", want.count, found.count));
            }
        }
        Ok(())
    }

    /// Claims a member entry, clears our bit from every chunk word (design §3: none
    /// legitimately; a taken-over dead member's holds, or a scribble, otherwise).
    fn join(seg: Segment) -> Result<Self, OpenError> {
        let (info, view) = seg.pool().ok_or(OpenError::LayoutMismatch {
            field: "total_len (pool classes)",
            expected: seg.header().total_len,
            found: 0,
        })?;
        let me: Identity = identity::current();
        let key = key_of(&seg, info.pool_id);
        // The claim and its record in `OWNED` under one lock (see `OWNED`).
        let mut owned = owned();
        let (m, word) = endpoint::claim_any(view.members(), me, identity::is_alive)?;
        set_owned(&mut owned, key, m as u32, true);
        drop(owned);
        let chunks = view.geometry().chunks() as usize;
        let inner = Inner {
            view,
            info,
            m: m as u32,
            word,
            key,
            local: Mutex::new(Local {
                holds: vec![LocalHold::default(); chunks].into_boxed_slice(),
                last_recover: None,
                orphaned: false,
            }),
            cursor: AtomicU32::new(0),
            handles: AtomicUsize::new(1),
            transit: Transit::default(),
            #[cfg(test)]
            only_notified: std::sync::OnceLock::new(),
            seg,
        };
        // A death between the claim and here leaves our entry attached with bits the
        // next adopter clears (design §3 row 11).
        if let Ok(a) = inner.core().adopt(inner.m) {
            let state = inner.view.state();
            // Relaxed: statistics.
            state
                .reclaimed
                .fetch_add(u64::from(a.released), Ordering::Relaxed);
            state
                .corrupt
                .fetch_add(u64::from(a.corrupted), Ordering::Relaxed);
            if a.freed > 0 {
                inner.view.wake_all();
            }
        }
        Ok(Self {
            inner: Arc::new(inner),
            mode: WaitMode::default(),
        })
    }

    /// The class table.
    fn classes(&self) -> Vec<Class> {
        let geo = self.inner.view.geometry();
        (0..geo.classes())
            .map(|c| Class {
                size: geo.chunk_size(c) as usize,
                count: geo.range(c).len(),
            })
            .collect()
    }

    /// The class for `len` bytes, or `(len, largest chunk size)`.
    fn class_for(&self, len: usize) -> Result<usize, (usize, usize)> {
        let geo = self.inner.view.geometry();
        geo.class_for_len(len as u64).ok_or_else(|| {
            let max = geo.chunk_size(geo.classes() - 1) as usize;
            (len, max)
        })
    }

    fn cursor(&self) -> u32 {
        // Relaxed: only spreads allocators over the bitmap.
        self.inner.cursor.load(Ordering::Relaxed)
    }

    /// Turns a fresh grant into a `BufMut`.
    fn lease(&self, g: Grant, len: usize) -> Result<BufMut, PoolCorrupted> {
        self.inner.granted(g)?;
        // Relaxed: a hint (see `cursor`).
        self.inner
            .cursor
            .store(g.index.wrapping_add(1), Ordering::Relaxed);
        Ok(BufMut {
            inner: self.inner.clone(),
            grant: g,
            len,
            frozen: false,
        })
    }

    fn sweep(&self, class: usize) {
        let core = self.inner.core();
        if let Ok(s) = core.sweep(class) {
            let state = self.inner.view.state();
            // Relaxed: statistics.
            state.sweeps.fetch_add(1, Ordering::Relaxed);
            state
                .corrupt
                .fetch_add(u64::from(s.corrupted), Ordering::Relaxed);
        }
    }

    /// A buffer of `len` bytes from the smallest class that fits; waits (on the futex,
    /// no polling) while every chunk of that class is held by a live process. Each
    /// ≤ 50 ms tick of the wait sweeps the class and recovers dead holders' chunks.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{error::AllocError, pool::{Class, Pool}};
    /// let pool = Pool::anonymous(&[Class { size: 256, count: 1 }])?;
    /// let mut buf = pool.alloc(10)?;
    /// buf.copy_from_slice(b"0123456789");
    /// assert!(matches!(pool.alloc(257), Err(AllocError::TooLarge { len: 257, max: 256 })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn alloc(&self, len: usize) -> Result<BufMut, AllocError> {
        self.alloc_until(len, None).map_err(|e| match e {
            AllocTimeoutError::TooLarge { len, max } => AllocError::TooLarge { len, max },
            AllocTimeoutError::Corrupted(c) => AllocError::Corrupted(c),
            AllocTimeoutError::Forked => AllocError::Forked,
            AllocTimeoutError::Timeout => unreachable!("no deadline"),
        })
    }

    /// [`alloc`](Self::alloc) without waiting: on a miss, sweeps the class (a token
    /// lost by a crash) and, at most once per 50 ms per handle, recovers dead holders'
    /// chunks, then fails with `Exhausted`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{error::TryAllocError, pool::{Class, Pool}};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// let held = pool.try_alloc(1)?;
    /// assert!(matches!(pool.try_alloc(1), Err(TryAllocError::Exhausted)));
    /// drop(held);
    /// pool.try_alloc(1)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_alloc(&self, len: usize) -> Result<BufMut, TryAllocError> {
        let class = self
            .class_for(len)
            .map_err(|(len, max)| TryAllocError::TooLarge { len, max })?;
        // Our bit is the parent's: a chunk taken under it would never be released.
        if self.inner.forked() {
            return Err(TryAllocError::Forked);
        }
        let core = self.inner.core();
        let corrupted = |r: Refused| match r {
            Refused::Corrupted { index, word } => PoolCorrupted { index, word },
            _ => PoolCorrupted {
                index: u32::MAX,
                word: 0,
            },
        };
        for round in 0..3 {
            if let Some(g) = core
                .try_alloc(class, self.inner.m, self.cursor())
                .map_err(corrupted)?
            {
                return Ok(self.lease(g, len)?);
            }
            match round {
                0 => {
                    self.inner.release_transit(true);
                    self.sweep(class);
                }
                1 => {
                    let now = Instant::now();
                    let mut local = self.inner.local();
                    if local.last_recover.is_some_and(|t| now < t + TICK) {
                        break;
                    }
                    local.last_recover = Some(now);
                    drop(local);
                    self.inner.recover();
                }
                _ => {}
            }
        }
        Err(TryAllocError::Exhausted)
    }

    /// [`alloc`](Self::alloc), waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{error::AllocTimeoutError, pool::{Class, Pool}};
    /// use std::time::Duration;
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// let held = pool.alloc(1)?;
    /// let r = pool.alloc_timeout(1, Duration::from_millis(1));
    /// assert!(matches!(r, Err(AllocTimeoutError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn alloc_timeout(
        &self,
        len: usize,
        timeout: Duration,
    ) -> Result<BufMut, AllocTimeoutError> {
        self.alloc_until(len, crate::wait::deadline_after(timeout))
    }

    fn alloc_until(
        &self,
        len: usize,
        deadline: Option<Instant>,
    ) -> Result<BufMut, AllocTimeoutError> {
        let class = self
            .class_for(len)
            .map_err(|(len, max)| AllocTimeoutError::TooLarge { len, max })?;
        // Our bit is the parent's: a chunk taken under it would never be released.
        if self.inner.forked() {
            return Err(AllocTimeoutError::Forked);
        }
        let core = self.inner.core();
        // A token now: the fast path. On a miss, this process's taken transit holds
        // go first (they may be what holds the class), then the blocking loop, which
        // drops them again on every poll: a taker notifies the class after its take.
        if let Ok(Some(g)) = core.try_alloc(class, self.inner.m, self.cursor()) {
            return Ok(self.lease(g, len)?);
        }
        self.inner.release_transit(true);
        // Test hook (`drain_transit_only_when_notified`): hold the drains back until
        // the class's epoch moved (a notify woke a sleeper) since the wait began, or
        // a take's notify woke nobody (we were between two sleeps).
        #[cfg(test)]
        let epoch = || {
            let ec = self.inner.view.wait(class);
            let key = ec.prepare_wait_fenced();
            ec.cancel_wait();
            key
        };
        #[cfg(test)]
        let started = epoch();
        // Relaxed: a test's setting, made before this call.
        #[cfg(test)]
        let held_back = || {
            self.inner
                .only_notified
                .get()
                .is_some_and(|unseen| !unseen.load(Ordering::SeqCst) && epoch() == started)
        };
        #[cfg(not(test))]
        let held_back = || false;
        let mut on_miss = |_slow: bool| !held_back() && self.inner.release_transit(false) > 0;
        let mut on_tick = || {
            if !held_back() {
                self.inner.release_transit(true);
            }
            // Relaxed: a statistic (the tick's sweep follows in `alloc_blocking`).
            self.inner
                .view
                .state()
                .sweeps
                .fetch_add(1, Ordering::Relaxed);
            self.inner.recover();
        };
        let g = core
            .alloc_blocking_draining(
                class,
                self.inner.m,
                self.cursor(),
                self.inner.view.wait(class),
                self.mode,
                deadline,
                &mut on_miss,
                &mut on_tick,
            )
            .map_err(|e| match e {
                BlockError::TimedOut => AllocTimeoutError::Timeout,
                BlockError::Corrupted { index, word } => {
                    AllocTimeoutError::Corrupted(PoolCorrupted { index, word })
                }
            })?;
        Ok(self.lease(g, len)?)
    }

    /// The frozen buffer `h` names, validated and joined (this process becomes a holder):
    /// `Foreign` for another pool's handle, `Forged` for an index, generation or length
    /// out of range (or a length that differs from the frozen one), `Stale` for a chunk
    /// that is not frozen in the handle's generation (freed, reused, never frozen).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{error::HandleError, pool::{Class, Pool}};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// let buf = pool.alloc(3)?.freeze();
    /// let h = buf.handle();
    /// let again = pool.open_handle(h)?; // a second view, here in the same process
    /// drop((buf, again)); // the chunk is free now
    /// assert!(matches!(pool.open_handle(h), Err(HandleError::Stale { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_handle(&self, h: BufHandle) -> Result<Buf, HandleError> {
        let id = self.inner.info.pool_id;
        if h.pool != id {
            return Err(HandleError::Foreign {
                expected: id,
                found: h.pool,
            });
        }
        let inner = &self.inner;
        // Our bit is the parent's: a join under it would never be released.
        if inner.forked() {
            return Err(HandleError::Forked);
        }
        let geo = inner.view.geometry();
        let class = geo
            .class_of(h.index)
            .ok_or(HandleError::Forged { what: "index" })?;
        if h.generation >= crate::ring::pool::word::GEN_LIMIT {
            return Err(HandleError::Forged { what: "generation" });
        }
        if h.len > geo.chunk_size(class) {
            return Err(HandleError::Forged { what: "len" });
        }
        let stale = HandleError::Stale {
            index: h.index,
            generation: h.generation,
        };
        let mut local = inner.local();
        let hold = &mut local.holds[h.index as usize];
        if hold.count > 0 {
            // We hold this chunk: it is pinned in the generation we hold.
            if hold.len == WRITING || hold.generation != h.generation {
                return Err(stale);
            }
            if hold.len != h.len {
                return Err(HandleError::Forged { what: "len" });
            }
            hold.count += 1;
        } else {
            let core = inner.core();
            let handle = Handle {
                index: h.index,
                generation: h.generation,
                len: h.len,
            };
            match core.join(handle, inner.m) {
                Ok(()) => {
                    *hold = LocalHold {
                        count: 1,
                        generation: h.generation,
                        len: h.len,
                    };
                }
                Err(Refused::Stale { .. }) => return Err(stale),
                Err(Refused::Forged { what }) => return Err(HandleError::Forged { what }),
                Err(Refused::WrongLen { freed, .. }) => {
                    drop(local);
                    if freed {
                        inner.wake_class_of(h.index);
                    }
                    return Err(HandleError::Forged { what: "len" });
                }
                Err(Refused::Corrupted { index, word }) => {
                    return Err(PoolCorrupted { index, word }.into());
                }
                // Bit `m` set with no local view (join), or clear while undoing a
                // join: contradicts what this process holds.
                Err(Refused::AlreadyHeld { index } | Refused::NotHeld { index }) => {
                    let word = core.chunk(index).map_or(0, |c| c.encode());
                    return Err(PoolCorrupted { index, word }.into());
                }
            }
        }
        drop(local);
        Ok(Buf {
            inner: inner.clone(),
            index: h.index,
            generation: h.generation,
            len: h.len as usize,
        })
    }

    /// Whether this handle was opened by another process (this is a `fork`ed child):
    /// then its allocations and joins are refused with `Forked`.
    pub(crate) fn forked(&self) -> bool {
        self.inner.forked()
    }

    /// Releases the holds of dead processes now (their member entries are adopted,
    /// their bits cleared, the entries released); returns the chunks that freed. Runs
    /// by itself on an allocation miss (at most once per 50 ms) and each tick of a
    /// blocked allocation; a live process's holds, however old, are never touched.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// assert_eq!(pool.recover()?, 0); // nobody died
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recover(&self) -> Result<usize, PoolCorrupted> {
        Ok(self.inner.recover())
    }

    /// Occupancy and counters (also drops this process's transit holds already taken).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 3 }])?;
    /// let s = pool.stats();
    /// assert_eq!((s.free, s.reclaimed), (vec![3], 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.inner.release_transit(true);
        let core = self.inner.core();
        let geo = self.inner.view.geometry();
        let free = (0..geo.classes())
            .map(|c| {
                geo.range(c)
                    .filter(|&i| {
                        core.chunk(i)
                            .is_ok_and(|w| w.phase == crate::ring::pool::word::Phase::Free)
                    })
                    .count()
            })
            .collect();
        let state = self.inner.view.state();
        PoolStats {
            classes: self.classes(),
            free,
            // Relaxed: statistics.
            reclaimed: state.reclaimed.load(Ordering::Relaxed),
            sweeps: state.sweeps.load(Ordering::Relaxed),
        }
    }

    /// How a blocked `alloc` of this handle waits (its clones keep theirs).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{WaitMode, pool::{Class, Pool}};
    /// let mut pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// pool.set_wait_mode(WaitMode::Spin);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.mode = mode;
    }

    /// This pool's identity (the `pool` field of its handles): random, fixed at create,
    /// the same in every process that opens the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let a = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// let b = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// assert_ne!(a.id(), b.id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self) -> u64 {
        self.inner.info.pool_id
    }

    /// Sleepers announced on class `class`'s eventcount (tests: wait until an
    /// allocator is asleep).
    #[cfg(test)]
    pub(crate) fn class_sleepers(&self, class: usize) -> u32 {
        self.inner.view.wait(class).sleepers()
    }

    /// Test hook: a blocked allocation drops no transit holds (on its polls or ticks)
    /// until the epoch of its class's eventcount has moved since it began, that is,
    /// until a notify woke a sleeper, or a take's notify moved no epoch (the waiter was
    /// between two sleeps, or the notify went elsewhere); so a test can tell that the
    /// take notified at all.
    /// Call it on the taker's pool too, with the same `unseen`.
    #[cfg(test)]
    pub(crate) fn drain_transit_only_when_notified(
        &self,
        unseen: &Arc<std::sync::atomic::AtomicBool>,
    ) {
        let _ = self.inner.only_notified.set(unseen.clone());
    }

    /// Registers `source`, whose holds this pool drops once taken wherever it would
    /// otherwise wait for a free (see [`TransitSource`]). The pool keeps it while
    /// anyone else does or it has holds: a departed sender leaves its source here
    /// until its last handle is taken. If every handle of this pool (and every view of
    /// the user) is dropped while holds remain, those holds are orphaned to the vacant
    /// member entry, which another member's recovery adopts (`Inner::linger`).
    pub(crate) fn register_transit(&self, source: Arc<dyn TransitSource>) {
        let mut sources = self
            .inner
            .transit
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Inner::prune(&mut sources);
        sources.push(source);
        // Relaxed: see `release_transit`.
        self.inner
            .transit
            .count
            .store(sources.len(), Ordering::Relaxed);
    }

    /// Forgets `source` if it has no holds (a carrier dropped with nothing in flight;
    /// otherwise the pool keeps it until its holds are taken).
    pub(crate) fn forget_transit(&self, source: &dyn TransitSource) {
        let mut sources = self
            .inner
            .transit
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sources.retain(|s| !std::ptr::addr_eq(Arc::as_ptr(s), source) || s.in_flight() > 0);
        // Relaxed: see `release_transit`.
        self.inner
            .transit
            .count
            .store(sources.len(), Ordering::Relaxed);
    }

    /// Wakes the allocators waiting on `buf`'s class: its taker calls this after the
    /// take is committed, since the sender's process may be blocked in an allocation
    /// that only the release of its transit hold of `buf` can satisfy (a fence and a
    /// load; a system call only if someone sleeps).
    pub(crate) fn notify_taken(&self, buf: &Buf) {
        #[cfg(test)]
        if let Some(unseen) = self.inner.only_notified.get() {
            let ec = self
                .inner
                .view
                .wait(self.inner.view.geometry().class_of(buf.index).unwrap_or(0));
            let epoch = || {
                let key = ec.prepare_wait_fenced();
                ec.cancel_wait();
                key
            };
            let before = epoch();
            self.inner.wake_class_of(buf.index);
            if epoch() == before {
                // Nobody was asleep to wake (the waiter was between two sleeps).
                unseen.store(true, Ordering::SeqCst);
            }
            return;
        }
        self.inner.wake_class_of(buf.index);
    }

    /// `buf` as a view of this handle's member entry: `buf` itself if it is one (a
    /// pointer compare), else a join of its handle here, `buf` dropped after (it was
    /// a view of another `Pool` of the same pool in this process, its own entry). A
    /// carrier keeps its transit holds as views of its own pool's entry: `linger`
    /// counts them against that entry's views, and they must not outlive it unseen.
    /// A join that fails (a `fork`ed child) gives `buf` back unchanged.
    pub(crate) fn own_view(&self, buf: Buf) -> Buf {
        if Arc::ptr_eq(&buf.inner, &self.inner) {
            return buf;
        }
        self.open_handle(buf.handle()).unwrap_or(buf)
    }

    /// Keeps `buf` until `consumed()` returns true (a one-hold [`TransitSource`]).
    #[cfg(test)]
    pub(crate) fn park(&self, buf: Buf, consumed: Box<dyn Fn() -> bool + Send + Sync>) {
        struct Parked {
            hold: Mutex<Option<Buf>>,
            consumed: Box<dyn Fn() -> bool + Send + Sync>,
        }
        impl TransitSource for Parked {
            fn release_taken(&self, _: bool) -> usize {
                let mut hold = self.hold.lock().unwrap_or_else(|e| e.into_inner());
                if hold.is_some() && (self.consumed)() {
                    *hold = None;
                    return 1;
                }
                0
            }
            fn in_flight(&self) -> usize {
                let hold = self.hold.lock().unwrap_or_else(|e| e.into_inner());
                usize::from(hold.is_some())
            }
        }
        self.register_transit(Arc::new(Parked {
            hold: Mutex::new(Some(buf)),
            consumed,
        }));
    }
}

/// A chunk loaned for writing: `&mut [u8]` of the requested length, in place in shared
/// memory. Dropping it returns the chunk unseen; [`freeze`](Self::freeze) publishes it.
///
/// # Examples
///
/// ```
/// use shmlane::pool::{Class, Pool};
/// let pool = Pool::anonymous(&[Class { size: 4096, count: 1 }])?;
/// let mut buf = pool.alloc(16)?;
/// buf[..4].copy_from_slice(b"abcd");
/// drop(buf); // never frozen: the chunk is free again, nobody saw it
/// assert_eq!(pool.stats().free, vec![1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BufMut {
    inner: Arc<Inner>,
    grant: Grant,
    len: usize,
    /// Set by `freeze`: the hold lives on in the `Buf`.
    frozen: bool,
}

/// A frozen buffer: read-only, in place. Clones share this process's hold; the chunk
/// returns to the pool when every holder (in every process) has dropped it.
///
/// # Examples
///
/// ```
/// use shmlane::pool::{Class, Pool};
/// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
/// let a = pool.alloc(5)?.freeze();
/// let b = a.clone();
/// drop(a);
/// assert_eq!(b.len(), 5); // still held by `b`
/// drop(b);
/// assert_eq!(pool.stats().free, vec![1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Buf {
    inner: Arc<Inner>,
    index: u32,
    generation: u32,
    len: usize,
}
