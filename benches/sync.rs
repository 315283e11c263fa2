//! Locks and shared values, in the same run:
//! * `lock_uncontended`: lock + unlock on one thread: shmlane `Mutex` (and its
//!   `RawMutex`), a pthread mutex with `PTHREAD_PROCESS_SHARED` in shared memory, and
//!   `std::sync::Mutex`;
//! * `lock_handoff_2p`: two processes (threads for std) each lock, increment, unlock,
//!   pinned to cores 0 and 1; time per lock;
//! * `seqlock_read`: `SharedValue<[u64; 4]>::load` while another thread stores
//!   continuously, against `std::sync::RwLock::read` under the same writer.
//!
//! `cargo bench --bench sync`; `cargo test --benches` runs each once.

use criterion::{Criterion, Throughput};
mod common;
use common::pin_to;
use shmlane::sync::{Barrier, Mutex, SharedValue};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ROLE: &str = "SHMLANE_SYNC_BENCH_ROLE";

/// A pthread mutex (process-shared) and a counter in a /dev/shm file.
struct PthreadShm {
    map: memmap2::MmapMut,
}

impl PthreadShm {
    fn path(name: &str) -> String {
        format!("/dev/shm/{name}")
    }

    fn create(name: &str) -> Self {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(Self::path(name))
            .unwrap();
        f.set_len(4096).unwrap();
        // SAFETY: a fresh file of 4096 bytes that only this bench maps.
        let map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
        let s = Self { map };
        // SAFETY: the mutex lies at the page-aligned start of the mapping, which is big
        // enough; the attribute object is initialized before use and destroyed after.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = core::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutex_init(s.mutex(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
        }
        s
    }

    fn open(name: &str) -> Self {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(Self::path(name))
            .unwrap();
        // SAFETY: the file was sized and initialized by `create`.
        let map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
        Self { map }
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        self.map.as_ptr() as *mut libc::pthread_mutex_t
    }

    fn counter(&self) -> *mut u64 {
        // SAFETY: offset 256 is inside the 4096-byte mapping, past the mutex.
        unsafe { self.map.as_ptr().add(256) as *mut u64 }
    }

    fn increment(&self) {
        // SAFETY: the mutex was initialized process-shared in this mapping; the counter
        // is only touched while it is held.
        unsafe {
            libc::pthread_mutex_lock(self.mutex());
            *self.counter() += 1;
            libc::pthread_mutex_unlock(self.mutex());
        }
    }
}

/// Child process: `n` increments of the named lock after the barrier.
fn peer(role: &str) {
    let arg = |k: &str| std::env::var(k).unwrap();
    pin_to(1);
    let n: u64 = arg("SHMLANE_SB_N").parse().unwrap();
    let barrier = Barrier::open(&arg("SHMLANE_SB_BARRIER")).unwrap();
    match role {
        "shmlane" => {
            let m = Mutex::<u64>::open(&arg("SHMLANE_SB_NAME")).unwrap();
            barrier.wait();
            for _ in 0..n {
                *m.lock().unwrap() += 1;
            }
        }
        "pthread" => {
            let p = PthreadShm::open(&arg("SHMLANE_SB_NAME"));
            barrier.wait();
            for _ in 0..n {
                p.increment();
            }
        }
        _ => panic!("unknown role {role}"),
    }
}

/// Two processes × `n` increments; returns the time per lock.
fn handoff(n: u64, pthread: bool) -> Duration {
    let id = format!("bench-sync-{}", std::process::id());
    let bname = format!("{id}-barrier");
    let barrier = Barrier::create(&bname, 2).unwrap();
    let shm = Mutex::<u64>::create(&id, 0).ok().filter(|_| !pthread);
    let pth = pthread.then(|| PthreadShm::create(&id));
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(ROLE, if pthread { "pthread" } else { "shmlane" })
        .env("SHMLANE_SB_N", n.to_string())
        .env("SHMLANE_SB_NAME", &id)
        .env("SHMLANE_SB_BARRIER", &bname)
        .spawn()
        .unwrap();
    pin_to(0);
    barrier.wait();
    let start = Instant::now();
    for _ in 0..n {
        match (&shm, &pth) {
            (Some(m), _) => *m.lock().unwrap() += 1,
            (_, Some(p)) => p.increment(),
            _ => unreachable!(),
        }
    }
    assert!(child.wait().unwrap().success());
    let d = start.elapsed();
    if let Some(m) = &shm {
        assert_eq!(*m.lock().unwrap(), 2 * n);
    }
    if let Some(p) = &pth {
        // SAFETY: both processes are done; we read the counter they incremented.
        assert_eq!(unsafe { *p.counter() }, 2 * n);
        let _ = std::fs::remove_file(PthreadShm::path(&id));
    }
    d / 2
}

fn std_handoff(n: u64) -> Duration {
    let m = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    let b = std::sync::Arc::new(std::sync::Barrier::new(2));
    let (m2, b2) = (m.clone(), b.clone());
    let t = std::thread::spawn(move || {
        pin_to(1);
        b2.wait();
        for _ in 0..n {
            *m2.lock().unwrap() += 1;
        }
    });
    pin_to(0);
    b.wait();
    let start = Instant::now();
    for _ in 0..n {
        *m.lock().unwrap() += 1;
    }
    t.join().unwrap();
    let d = start.elapsed();
    assert_eq!(*m.lock().unwrap(), 2 * n);
    d / 2
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        peer(&role);
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let mut g = c.benchmark_group("lock_uncontended");
    g.throughput(Throughput::Elements(1));
    let m = Mutex::anonymous(0u64).unwrap();
    g.bench_function("shmlane-mutex", |b| b.iter(|| *m.lock().unwrap() += 1));
    let raw = shmlane::sync::raw::RawMutex::new();
    g.bench_function("shmlane-rawmutex", |b| {
        b.iter(|| {
            black_box(raw.try_lock(1, 1));
            raw.unlock();
        })
    });
    let name = format!("bench-sync-unc-{}", std::process::id());
    let p = PthreadShm::create(&name);
    g.bench_function("pthread-process-shared", |b| b.iter(|| p.increment()));
    let _ = std::fs::remove_file(PthreadShm::path(&name));
    let s = std::sync::Mutex::new(0u64);
    g.bench_function("std-mutex", |b| b.iter(|| *s.lock().unwrap() += 1));
    g.finish();

    let mut g = c.benchmark_group("lock_handoff_2p");
    g.throughput(Throughput::Elements(1)).sample_size(10);
    g.bench_function("shmlane-mutex-processes", |b| {
        b.iter_custom(|n| handoff(n.max(10_000), false).mul_f64(n as f64 / n.max(10_000) as f64))
    });
    g.bench_function("pthread-processes", |b| {
        b.iter_custom(|n| handoff(n.max(10_000), true).mul_f64(n as f64 / n.max(10_000) as f64))
    });
    g.bench_function("std-mutex-threads", |b| {
        b.iter_custom(|n| std_handoff(n.max(10_000)).mul_f64(n as f64 / n.max(10_000) as f64))
    });
    g.finish();

    let mut g = c.benchmark_group("seqlock_read");
    g.throughput(Throughput::Elements(1));
    let v = SharedValue::anonymous([0u64; 4]).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let writer = {
        let (v, stop) = (v.clone(), stop.clone());
        std::thread::spawn(move || {
            pin_to(1);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                v.store([i; 4]).unwrap();
            }
        })
    };
    pin_to(0);
    g.bench_function("shmlane-sharedvalue-load", |b| {
        b.iter(|| {
            let x = v.load().unwrap();
            assert!(x.iter().all(|&w| w == x[0]), "torn");
        })
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let rw = std::sync::Arc::new(std::sync::RwLock::new([0u64; 4]));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let writer = {
        let (rw, stop) = (rw.clone(), stop.clone());
        std::thread::spawn(move || {
            pin_to(1);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                *rw.write().unwrap() = [i; 4];
            }
        })
    };
    g.bench_function("std-rwlock-read", |b| {
        b.iter(|| black_box(*rw.read().unwrap()))
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    g.finish();
    c.final_summary();
}
