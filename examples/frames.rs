//! Zero-copy frames between two processes (issue 14): a producer fills 64 MiB frames
//! with a pattern in place, in chunks of an anonymous buffer [`Pool`], and sends each
//! one with a [`BufSender`]; a consumer process (this binary re-executed) receives them
//! with a [`BufReceiver`], verifies each frame's checksum in place and prints the
//! throughput. No frame byte is ever copied: only a 24-byte handle crosses the pipe.
//!
//! Python would pickle each frame through `mp.Queue` (two copies), or hand
//! `shared_memory.SharedMemory` names around and manage their lifetime by hand.
//!
//! ```text
//! cargo run --release --example frames                            # 64 frames of 64 MiB
//! cargo run --release --example frames -- --frames 8 --size-mib 4 # the small run CI does
//! ```
//!
//! Frame layout, in `u64` words: `[checksum, frame number, pattern...]`; the checksum
//! (a Fletcher-style sum) covers every word after the first.

use shmlane::carrier::{BufReceiver, BufSender};
use shmlane::error::BufRecvError;
use shmlane::pipe::Pipe;
use shmlane::pool::{BufHandle, Class, Pool};
use std::process::Command;
use std::time::Instant;

const POOL_KEY: &str = "FRAMES_POOL";
const PIPE_KEY: &str = "FRAMES_PIPE";
/// Frames in flight at most: the pool's chunk count (the producer waits for a free one).
const CHUNKS: usize = 4;

fn checksum(words: &[u64]) -> u64 {
    let (mut a, mut b) = (0u64, 0u64);
    for &w in words {
        a = a.wrapping_add(w);
        b = b.wrapping_add(a);
    }
    a ^ b.rotate_left(32)
}

fn pattern(frame: u64, word: usize) -> u64 {
    (frame.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ word as u64
}

/// `--frames N --size-mib M` (defaults 64 and 64).
fn args() -> Result<(u64, usize), String> {
    let (mut frames, mut size_mib) = (64u64, 64usize);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--frames" => frames = v.parse().map_err(|e| format!("--frames: {e}"))?,
            "--size-mib" => size_mib = v.parse().map_err(|e| format!("--size-mib: {e}"))?,
            _ => return Err(format!("unknown argument {a} (--frames N --size-mib M)")),
        }
    }
    if size_mib == 0 {
        return Err("--size-mib must be at least 1".into());
    }
    Ok((frames, size_mib))
}

fn consumer() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::from_env(POOL_KEY)?;
    let mut rx = BufReceiver::new(&pool, Pipe::<BufHandle>::from_env(PIPE_KEY)?.receiver()?);
    let (mut frames, mut bytes) = (0u64, 0u64);
    let mut t0 = None;
    loop {
        let buf = match rx.recv() {
            Ok(buf) => buf,
            Err(BufRecvError::Disconnected) => break,
            Err(e) => return Err(e.into()),
        };
        if t0.is_none() {
            t0 = Some(Instant::now()); // rates from the first frame's arrival on
        } else {
            bytes += buf.len() as u64;
        }
        let words = buf.as_slice_of::<u64>()?; // in place, in shared memory
        if words.len() < 2 || words[1] != frames || checksum(&words[1..]) != words[0] {
            return Err(format!("frame {frames}: bad checksum or sequence").into());
        }
        frames += 1;
    } // each `buf` dropped here: its chunk goes back to the pool
    let secs = t0.map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!(
        "consumer {}: {frames} frames verified in place, {:.2} GiB/s, {:.0} frames/s ({} lost)",
        std::process::id(),
        bytes as f64 / (1u64 << 30) as f64 / secs,
        frames.saturating_sub(1) as f64 / secs,
        rx.lost(),
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("consumer") {
        return consumer();
    }
    let (frames, size_mib) = args()?;
    let size = size_mib << 20;
    let pool = Pool::anonymous(&[Class {
        size,
        count: CHUNKS,
    }])?;
    let pipe = Pipe::<BufHandle>::anonymous(CHUNKS.next_power_of_two())?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("consumer");
    pool.inherit(&mut cmd, POOL_KEY)?;
    let mut child = pipe.spawn_with(&mut cmd, PIPE_KEY)?;
    let mut tx = BufSender::new(&pool, pipe.sender()?);

    let t0 = Instant::now();
    for f in 0..frames {
        // Waits (asleep) while all CHUNKS frames are in flight; the pool lets go of the
        // frames the consumer has taken (the sender registered its holds with it).
        let mut buf = pool.alloc(size)?;
        let words = buf.as_mut_slice_of::<u64>()?;
        words[1] = f;
        for (i, w) in words.iter_mut().enumerate().skip(2) {
            *w = pattern(f, i);
        }
        words[0] = checksum(&words[1..]);
        tx.send(buf.freeze())?;
    }
    drop(tx); // end of stream: the consumer's recv is Disconnected after the last frame
    let status = child.wait()?;
    let secs = t0.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("consumer failed: {status}").into());
    }
    println!(
        "producer: {frames} frames of {size_mib} MiB filled and sent in {secs:.3} s \
         ({:.2} GiB/s end to end)",
        (frames * size as u64) as f64 / (1u64 << 30) as f64 / secs,
    );
    Ok(())
}
