//! Seed: a port of this Python `multiprocessing` program (a producer sends big arrays to
//! a consumer process, which sums them):
//!
//! ```text
//! def consumer(q, out):
//!     total = 0
//!     while (a := q.get()) is not None:
//!         total += int(a.sum())
//!     out.put(total)
//! q, out = mp.Queue(maxsize=4), mp.Queue()
//! p = mp.Process(target=consumer, args=(q, out)); p.start()
//! for i in range(32):
//!     a = np.full(1 << 20, i, dtype=np.uint64)   # 8 MiB each
//!     expect += int(a.sum()); q.put(a)
//! q.put(None)
//! assert out.get() == expect; p.join(); print("ok", expect)
//! ```
//!
//! shmlane: the arrays are chunks of a `pool::Pool` (4 chunks of 8 MiB, the
//! `maxsize=4`), written in place by the parent and read in place by the child as
//! `&[u64]`; only a 24-byte handle crosses the pipe (`carrier::BufSender` /
//! `BufReceiver`), never the 8 MiB. No `None` sentinel: dropping the sender ends the
//! stream, and the child's `recv` returns `Disconnected` after the last array. The
//! total comes back on a second pipe (`out`). The child is this binary run again
//! with the argument `consumer`.
//!
//! ```text
//! cargo run --release --example seed_big_arrays
//! ```

use shmlane::carrier::{BufReceiver, BufSender};
use shmlane::error::BufRecvError;
use shmlane::pipe::Pipe;
use shmlane::pool::{BufHandle, Class, Pool};
use std::process::Command;

const POOL: &str = "SEED_BIG_POOL";
const Q: &str = "SEED_BIG_Q";
const OUT: &str = "SEED_BIG_OUT";
const LEN: usize = 1 << 20; // u64s per array
const BYTES: usize = LEN * std::mem::size_of::<u64>(); // 8 MiB
const ARRAYS: u64 = 32;

fn consumer() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::from_env(POOL)?;
    let mut q = BufReceiver::new(&pool, Pipe::<BufHandle>::from_env(Q)?.receiver()?);
    let mut out = Pipe::<u64>::from_env(OUT)?.sender()?;
    let mut total = 0u64;
    loop {
        let a = match q.recv() {
            Ok(a) => a,
            Err(BufRecvError::Disconnected) => break, // the producer is done
            Err(e) => return Err(e.into()),
        };
        total += a.as_slice_of::<u64>()?.iter().sum::<u64>(); // read in place
    }
    out.send(total)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("consumer") {
        return consumer();
    }
    let pool = Pool::anonymous(&[Class {
        size: BYTES,
        count: 4,
    }])?;
    let q = Pipe::<BufHandle>::anonymous(4)?;
    let out = Pipe::<u64>::anonymous(2)?;

    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("consumer");
    pool.inherit(&mut cmd, POOL)?;
    q.inherit(&mut cmd, Q)?;
    out.inherit(&mut cmd, OUT)?;
    let mut child = cmd.spawn()?;

    let mut tx = BufSender::new(&pool, q.sender()?);
    let mut expect = 0u64;
    for i in 0..ARRAYS {
        let mut a = tx.alloc(BYTES)?; // waits while all 4 chunks are in use
        a.as_mut_slice_of::<u64>()?.fill(i); // np.full(1 << 20, i)
        expect += i * LEN as u64;
        tx.send(a.freeze())?;
    }
    drop(tx); // q.put(None)

    let total = out.receiver()?.recv()?;
    assert_eq!(total, expect);
    assert!(child.wait()?.success(), "the consumer failed");
    println!("ok {total}");
    Ok(())
}
