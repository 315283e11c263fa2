//! # shmlane — inter-process communication over shared memory
//!
//! Pipes, queues, shared arrays and values, and locks for processes on one Linux
//! machine, in the spirit of Python's `multiprocessing`, without pickling, a manager
//! process or a system call per message: values are `bytemuck::Pod` types copied into
//! mmap'd segments (named in `/dev/shm`, or anonymous and handed to a child), pipes and
//! queues are lock-free rings there, and a process that waits sleeps on a futex.
//!
//! Every object is a *handle* to a segment, made one of two ways:
//! * **named**: `create(name, ..)` in one process, `open(name)` in any other (also
//!   `open_or_create`); the name is removed when its creator drops its last handle,
//!   unless `persist()` was called;
//!   A named object lives as long as its creator's handles (or until `shmlane gc`
//!   after `persist()`): open it while the creator is still there.
//! * **anonymous**: `anonymous(..)`, then `inherit(&mut cmd, key)` registers it with a
//!   `std::process::Command` (any number of objects, one key each), `cmd.spawn()`
//!   starts the child with their file descriptors inherited, and the child calls
//!   `from_env(key)` for each. `spawn_with(&mut cmd, key)` is `inherit` + `spawn` for
//!   a child that needs one object. This is what passing objects in
//!   `Process(args=(q, lock, arr))` does in Python.
//!
//! If a process dies, pipes, queues and locks never leave their peers hanging: a
//! pipe's survivor reads what was sent and then `Disconnected`, a queue keeps working
//! for the others, and a lock whose holder died is handed to the next locker with
//! `OwnerDied` (Python's `Lock` stays locked forever in that case). A semaphore unit or
//! a barrier arrival of a process that died is not given back (as in Python): wait on
//! those with a timeout if a party may die.
//!
//! ## Coming from `multiprocessing`
//!
//! | Python | shmlane | notes |
//! |---|---|---|
//! | `Pipe(duplex=False)` | [`pipe::Pipe`] → [`pipe::Sender`] + [`pipe::Receiver`]; in one process [`pipe::channel`] | one `Pod` type per pipe; one sender and one receiver |
//! | `Pipe()` (duplex, the default) | [`pipe::Duplex`] → two [`pipe::DuplexEnd`]s; in one process [`pipe::duplex`] | |
//! | `Connection.send_bytes` / `recv_bytes` | [`pipe::Sender`]`<u8>` is `io::Write`, [`pipe::Receiver`]`<u8>` is `io::Read` + `io::BufRead` | a byte stream; for whole messages see [`queue::ByteQueue`] |
//! | `Queue(maxsize)`, `SimpleQueue()` | [`queue::Queue`] | any number of producers and consumers in any processes; `close()` replaces one sentinel per worker; always bounded: the capacity is a power of two ≥ 2 |
//! | `JoinableQueue` (`task_done`, `join`) | not yet (no issue filed) | close the [`queue::Queue`] and wait for the workers to exit |
//! | pickled objects in a queue or pipe | not yet (issue 15: serde messages) | today: a `#[repr(C)]` `Pod` struct, or your own encoding in a [`queue::ByteQueue`] (messages up to a fixed size) |
//! | `Value('d', 0.0)` | [`sync::SharedValue`] | a seqlock: readers never block the writer |
//! | `Array('i', [0, 1, 2])` | [`sync::SharedArray`] | `lock()` gives `&mut [T]` |
//! | `RawValue`, `RawArray` (no lock) | none: [`sync::SharedValue`] (lock-free readers) and [`sync::SharedArray`] (has a lock) | or your own `#[repr(C)]` struct of [`sync::raw`] words in a [`sync::Shared`] |
//! | `Lock()` | [`sync::Mutex`] (`Mutex<()>` for a bare lock) | holds its data (`Mutex<T>`, like `std::sync::Mutex`); robust (`OwnerDied`); `m.lock().or_else(LockError::into_guard)?` accepts a dead holder's data in a function returning `Box<dyn Error>` |
//! | `RLock()` | not yet (no issue filed) | [`sync::Mutex`] is not reentrant |
//! | `Semaphore(n)`, `BoundedSemaphore(n)` | [`sync::Semaphore`] | always bounded: `anonymous(initial, max)` |
//! | `Event()` | [`sync::Event`] | |
//! | `Condition(lock)` | [`sync::Condvar`] with a [`sync::MutexGuard`] | |
//! | `Barrier(n)` | [`sync::Barrier`] | |
//! | `Manager().Lock()`, `.Value()`, `.Array()`, `.Queue()`, … | the objects above | no manager process: every object lives in shared memory |
//! | `Manager().Namespace()` | [`sync::SharedValue`] of your own `Pod` struct, or [`sync::Shared`] | |
//! | `Manager().dict()` | not yet (issue 16: `SharedMap`) | |
//! | `Manager().list()` | fixed length: [`sync::SharedArray`]; growable: not yet (no issue filed) | |
//! | `Process(target=f, args=(q, lock, arr))` | not yet (issue 15) | today: `std::process::Command`, each object's `inherit(&mut cmd, key)` and `cmd.spawn()` in the parent, `from_env(key)` in the child (examples below) |
//! | `Pool(n)`, `pool.map(f, xs)` | not yet (issue 15) | today: a [`queue::Queue`] of tasks drained by worker processes (example below) |
//! | `connection.Listener` / `Client` | a named [`pipe::Duplex`] (one connection: no `accept`) or [`queue::Queue`]: `create(name)` on one side, `open(name)` on the other, after the create (an `open` before it fails with `DoesNotExist`) | request/response RPC: not yet (issue 16) |
//! | `shared_memory.SharedMemory(name, size)` | one buffer with a lock: [`sync::SharedArray`]`<u8>`: `create_zeroed(name, size)`; many buffers: a [`pool::Pool`] of chunks | a [`pool::Buf`] view can never outlive its segment (Python's segfaults when one does) |
//! | big buffers (frames, tensors) through `Queue`/`Pipe` (pickled, copied twice) | [`carrier::BufSender::alloc`] (a chunk of a [`pool::Pool`]), write in place, `freeze()`, [`carrier::BufSender::send`]; [`carrier::BufReceiver::recv`] reads in place | zero-copy: a 24-byte [`pool::BufHandle`] crosses; `examples/frames.rs` |
//! | `shared_memory.ShareableList` | [`sync::SharedArray`] | one `Pod` type, fixed length |
//! | `resource_tracker` (unlinks leaked segments) | a named segment is unlinked when its creator drops it; [`segment::list`] and [`segment::gc`] (`shmlane ls`, `shmlane gc`) find and remove what only dead processes used | `shmlane stat`, `shmlane rm`: not yet (issue 16) |
//! | `os.mkfifo(path)` | [`pipe::Pipe::create`] / [`pipe::Pipe::open`] | |
//!
//! How a process waits is a [`WaitMode`] on each pipe end or queue handle: `Blocking`
//! (the default: spin briefly, then sleep on the futex), `Spin` (busy-poll, lowest
//! latency) or `Sleep` (sleep at once, least CPU).
//!
//! ## Examples
//!
//! Each example runs its own binary again as the child: the child finds the key in its
//! environment, the parent does not (in your program, pass an argument such as
//! `worker` instead, as the crate's `examples/` do).
//!
//! A pipe from a child to its parent (Python: `Pipe()`, `Process(target=f,
//! args=(child_conn,))`, `parent_conn.recv()`):
//!
//! ```standalone_crate
//! use shmlane::pipe::Pipe;
//! use std::process::Command;
//!
//! const KEY: &str = "SHMLANE_DOC_PIPE";
//! if std::env::var_os(KEY).is_some() {
//!     // The child: sends three values and exits (its sender goes with it).
//!     let mut tx = Pipe::<u64>::from_env(KEY)?.sender()?;
//!     for x in [42, 7, 1] {
//!         tx.send(x)?;
//!     }
//!     return Ok(());
//! }
//! let pipe = Pipe::<u64>::anonymous(1024)?;
//! let mut child = pipe.spawn_with(&mut Command::new(std::env::current_exe()?), KEY)?;
//! let mut rx = pipe.receiver()?;
//! // `iter` ends when the sender is gone and everything it sent has been received.
//! let got: Vec<u64> = rx.iter().collect();
//! assert_eq!(got, [42, 7, 1]);
//! assert!(child.wait()?.success());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A queue drained by three worker processes (Python: `Queue()`, three `Process`es
//! looping on `q.get()` until a sentinel). Each task goes to exactly one worker;
//! `close()` instead of sentinels: the workers drain what is left, then their `iter`
//! ends. The workers print their results, and the parent reads their output:
//!
//! ```standalone_crate
//! use shmlane::queue::Queue;
//! use std::process::{Command, Stdio};
//!
//! const KEY: &str = "SHMLANE_DOC_TASKS";
//! if std::env::var_os(KEY).is_some() {
//!     // A worker.
//!     let mut tasks = Queue::<u64>::from_env(KEY)?;
//!     for n in tasks.iter() {
//!         println!("{n} {}", n * n);
//!     }
//!     return Ok(());
//! }
//! let mut tasks = Queue::<u64>::anonymous(64)?;
//! let workers: Vec<_> = (0..3)
//!     .map(|_| {
//!         let mut cmd = Command::new(std::env::current_exe()?);
//!         tasks.spawn_with(cmd.stdout(Stdio::piped()), KEY)
//!     })
//!     .collect::<Result<_, _>>()?;
//! for n in 0..10 {
//!     tasks.put(n)?;
//! }
//! tasks.close()?;
//! let mut results = Vec::new();
//! for worker in workers {
//!     let out = worker.wait_with_output()?;
//!     assert!(out.status.success());
//!     for line in String::from_utf8(out.stdout)?.lines() {
//!         let (n, square) = line.split_once(' ').ok_or("bad line")?;
//!         results.push((n.parse::<u64>()?, square.parse::<u64>()?));
//!     }
//! }
//! results.sort();
//! assert_eq!(results, (0..10).map(|n| (n, n * n)).collect::<Vec<_>>());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A lock and an array (Python: `Array('i', [0, 1, 2, 3, 4])`, three `Process`es
//! adding 1 to every element under `arr.get_lock()`):
//!
//! ```standalone_crate
//! use shmlane::sync::{LockError, SharedArray};
//! use std::process::Command;
//!
//! const KEY: &str = "SHMLANE_DOC_ARRAY";
//! if std::env::var_os(KEY).is_some() {
//!     let arr = SharedArray::<i32>::from_env(KEY)?;
//!     // `Err(OwnerDied(guard))` would say that another worker died holding the lock
//!     // (the lock is ours anyway); `into_guard` takes the data as it is.
//!     let mut guard = arr.lock().or_else(LockError::into_guard)?;
//!     for x in guard.iter_mut() {
//!         *x += 1;
//!     }
//!     return Ok(());
//! }
//! let arr = SharedArray::<i32>::anonymous(&[0, 1, 2, 3, 4])?;
//! let workers: Vec<_> = (0..3)
//!     .map(|_| arr.spawn_with(&mut Command::new(std::env::current_exe()?), KEY))
//!     .collect::<Result<_, _>>()?;
//! for mut worker in workers {
//!     assert!(worker.wait()?.success());
//! }
//! assert_eq!(arr.to_vec()?, [3, 4, 5, 6, 7]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Several objects for one child (Python: `Process(target=worker, args=(tasks, lock,
//! totals))`): register each with `inherit` under its own key, then spawn once:
//!
//! ```standalone_crate
//! use shmlane::queue::Queue;
//! use shmlane::sync::{LockError, Mutex, SharedArray};
//! use std::process::Command;
//!
//! if std::env::var_os("TASKS").is_some() {
//!     // The child: squares each task into its slot of the array, counting under the lock.
//!     let mut tasks = Queue::<u64>::from_env("TASKS")?;
//!     let count = Mutex::<u64>::from_env("COUNT")?;
//!     let squares = SharedArray::<u64>::from_env("SQUARES")?;
//!     for t in tasks.iter() {
//!         squares.lock().or_else(LockError::into_guard)?[t as usize] = t * t;
//!         *count.lock().or_else(LockError::into_guard)? += 1;
//!     }
//!     return Ok(());
//! }
//! let mut tasks = Queue::<u64>::anonymous(16)?;
//! let count = Mutex::anonymous(0u64)?;
//! let squares = SharedArray::<u64>::zeroed(8)?;
//! let mut cmd = Command::new(std::env::current_exe()?);
//! tasks.inherit(&mut cmd, "TASKS")?;
//! count.inherit(&mut cmd, "COUNT")?;
//! squares.inherit(&mut cmd, "SQUARES")?;
//! let mut child = cmd.spawn()?;
//! for t in 0..8 {
//!     tasks.put(t)?;
//! }
//! tasks.close()?;
//! assert!(child.wait()?.success());
//! assert_eq!(*count.lock().or_else(LockError::into_guard)?, 8);
//! assert_eq!(squares.to_vec()?, [0, 1, 4, 9, 16, 25, 36, 49]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Within one process (threads), the same objects work as they are; see each module's
//! examples ([`pipe`], [`queue`], [`sync`]). Measured figures and the commands that
//! made them: `docs/benchmarks.md`.
//!
//! ## Architecture
//!
//! Layers, bottom to top; a module imports only strictly lower ranks (checked by
//! `scripts/check-layers.sh`; the map is next to the `mod` lines in `src/lib.rs`):
//! `primitive` (0), `platform` (1), [`wait`] (2), `lock` (3), `layout` (4), [`error`]
//! (5), [`ring`] (6), [`segment`] (7), `handle` (8), [`pipe`], [`queue`], [`sync`],
//! [`stats`], [`pool`] (9), [`carrier`] (10). The modules without a link are public only with the unstable
//! `internals` feature. See `docs/architecture.md` for the public API surface, the
//! header format and the wake-up argument.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::unnecessary_safety_comment)]
// Under loom only the syscall-free core is built for the model checks; the waiting
// driver and helpers that only the pipe layer calls are then unused.
#![cfg_attr(shmlane_loom, allow(dead_code))]

// The layers, bottom to top. A module may name (`crate::…`) only modules of a strictly
// lower rank; `scripts/check-layers.sh` (in the test command) reads the ranks from the
// `// rank` lines below and fails on an import that points sideways or upward. The same
// map, with what each layer holds, is in docs/architecture.md.
//
// rank 0: platform primitives: the loom shim (atomics, UnsafeCell, fences), futex,
// membarrier, backoff, the process-wide futex/proc counters; named fault points
#[cfg(not(shmlane_loom))]
#[allow(dead_code)] // points are added where a protocol needs one
mod fault;
mod primitive;
// rank 1: process identity (`Identity`) and liveness, the wipe-on-fork page, the death
// watcher
mod platform;
// rank 2: futex waiting: eventcount, epoch, `block_on`, `WaitMode`, `TimedOut`
pub mod wait;
// rank 3: the lock words that `layout` embeds: robust mutex, condvar, semaphore, event,
// barrier, seqlock, `LocalLock`, `SyncState`
#[cfg(feature = "internals")]
pub mod lock;
#[cfg(not(feature = "internals"))]
mod lock;
// rank 4: the shared-memory ABI (`#[repr(C)]` header and control blocks)
#[cfg(feature = "internals")]
pub mod layout;
#[cfg(not(feature = "internals"))]
mod layout;
// rank 5: every error type
pub mod error;
// rank 6: SPSC and MPMC rings, the endpoint claim protocol, frames
pub mod ring;
// rank 7: segment files, validation, lifecycle, stale/gc
#[cfg(not(shmlane_loom))]
pub mod segment;
// rank 8: constructors shared by every handle kind, fd inheritance
#[cfg(not(shmlane_loom))]
mod handle;
// rank 9: the API
#[cfg(not(shmlane_loom))]
pub mod pipe;
#[cfg(not(shmlane_loom))]
pub mod pool;
#[cfg(not(shmlane_loom))]
pub mod queue;
pub mod stats;
pub mod sync;
// rank 10: pipes that carry pool buffers (they use `pipe` and `pool`, both rank 9)
#[cfg(not(shmlane_loom))]
pub mod carrier;

// The errors of every constructor; the per-call errors are in `shmlane::error`.
pub use error::{CreateError, OpenError};
pub use wait::WaitMode;

/// The `bytemuck` crate shmlane builds on, for the derives' `crate` attribute: see
/// [`Pod`].
pub use bytemuck;
/// The element types of pipes, queues and shared objects are plain old data: any bit
/// pattern is a valid value and nothing points anywhere (another process writes them).
/// Derive it, with `#[repr(C)]` and
/// `#[bytemuck(crate = "shmlane::bytemuck")]` (the derives name `::bytemuck` unless
/// told; the attribute is needed when your crate depends only on shmlane):
///
/// ```
/// #[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
/// #[bytemuck(crate = "shmlane::bytemuck")]
/// #[repr(C)]
/// struct Sample {
///     a: u32,
///     _pad: u32, // explicit: f64 is 8-aligned, so 4 bytes would sit here unnamed
///     b: f64,
///     c: [f32; 3],
///     _tail: u32, // and 4 at the end, to round the size up to a multiple of 8
/// }
/// let (mut tx, mut rx) = shmlane::pipe::channel::<Sample>(4)?;
/// tx.send(Sample { a: 1, _pad: 0, b: 2.0, c: [3.0; 3], _tail: 0 })?;
/// assert_eq!(rx.recv()?.b, 2.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # No padding
///
/// A `Pod` struct may not have padding bytes (they hold no value, so a copy could
/// leak or carry garbage). The struct one writes first has some, and fails to derive
/// ("derive(Pod) was applied to a type with padding": 4 bytes after `a`, 4 after `c`):
///
/// ```compile_fail
/// #[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
/// #[bytemuck(crate = "shmlane::bytemuck")]
/// #[repr(C)]
/// struct Sample {
///     a: u32,
///     b: f64,
///     c: [f32; 3],
/// }
/// ```
///
/// Name the padding, as above, or order the fields from the most aligned down so that
/// none is needed (here 8 + 12 + 4 = 24 bytes, a multiple of 8):
///
/// ```
/// #[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
/// #[bytemuck(crate = "shmlane::bytemuck")]
/// #[repr(C)]
/// struct Sample {
///     b: f64,
///     c: [f32; 3],
///     a: u32,
/// }
/// assert_eq!(std::mem::size_of::<Sample>(), 24);
/// ```
pub use bytemuck::Pod;
/// All-zero is a valid value (required by [`Pod`]; derive both).
pub use bytemuck::Zeroable;
