//! Seed: "Interprocess Communication and Data Serialization", sections II.B (Data
//! Serialization: Pickle and Ctypes) and IV (shared memory objects: "shared variables
//! of different data types, such as integers, floats, and arrays").
//!
//! * **ctypes**: a C-compatible struct (`ctypes.Structure`) is a `#[repr(C)]` struct
//!   deriving `Pod`; it travels through a typed `Pipe<Reading>` as its bytes, no
//!   encoding step.
//! * **pickle**: there is no serde/pickle layer yet (issue 15: serde messages). The
//!   docs' nearest: "your own encoding in a `ByteQueue`" -- here a record with a
//!   variable-length name and a variable-length list of floats, encoded by hand.
//! * **Value / Array of several types**: the child writes a summary struct into a
//!   `SharedValue<Summary>` (`Value` of a ctypes struct) and the floats it got into a
//!   `SharedArray<f64>` (`Array('d', n)`).
//!
//! One child gets all four objects on one `Command`.
//!
//! ```text
//! cargo run --example seed_serialization
//! ```

use shmlane::pipe::Pipe;
use shmlane::queue::ByteQueue;
use shmlane::sync::{SharedArray, SharedValue};
use std::process::Command;

const READINGS: &str = "SEED_READINGS";
const RECORDS: &str = "SEED_RECORDS";
const SUMMARY: &str = "SEED_SUMMARY";
const FLOATS: &str = "SEED_FLOATS";

/// `class Reading(ctypes.Structure): _fields_ = [("sensor", c_uint32), ("value",
/// c_double), ("samples", c_float * 4)]` -- with the padding ctypes would insert
/// after `sensor` named, since a `Pod` may not have unnamed padding.
#[derive(Clone, Copy, Debug, PartialEq, shmlane::Pod, shmlane::Zeroable)]
#[bytemuck(crate = "shmlane::bytemuck")]
#[repr(C)]
struct Reading {
    sensor: u32,
    _pad: u32,
    value: f64,
    samples: [f32; 4],
}

#[derive(Clone, Copy, Debug, PartialEq, shmlane::Pod, shmlane::Zeroable)]
#[bytemuck(crate = "shmlane::bytemuck")]
#[repr(C)]
struct Summary {
    readings: u64,
    value_sum: f64,
    records: u64,
    name_bytes: u64,
}

/// A "pickled" record: `{"name": str, "values": [float]}`.
#[derive(Debug, PartialEq)]
struct Record {
    name: String,
    values: Vec<f64>,
}

impl Record {
    /// `pickle.dumps`: u16 name length, name, u16 count, little-endian f64s.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&(self.values.len() as u16).to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// `pickle.loads`.
    fn decode(b: &[u8]) -> Result<Record, Box<dyn std::error::Error>> {
        let take = |b: &[u8], at: usize, n: usize| {
            b.get(at..at + n).ok_or("short record").map(<[u8]>::to_vec)
        };
        let len = u16::from_le_bytes(take(b, 0, 2)?.try_into().unwrap()) as usize;
        let name = String::from_utf8(take(b, 2, len)?)?;
        let count = u16::from_le_bytes(take(b, 2 + len, 2)?.try_into().unwrap()) as usize;
        let values = (0..count)
            .map(|i| take(b, 4 + len + 8 * i, 8).map(|v| f64::from_le_bytes(v.try_into().unwrap())))
            .collect::<Result<_, _>>()?;
        Ok(Record { name, values })
    }
}

fn records() -> Vec<Record> {
    vec![
        Record {
            name: "alpha".into(),
            values: vec![1.5, 2.5],
        },
        Record {
            name: "a much longer name".into(),
            values: vec![],
        },
        Record {
            name: "γ".into(),
            values: vec![0.25; 10],
        },
    ]
}

fn child() -> Result<(), Box<dyn std::error::Error>> {
    let mut readings = Pipe::<Reading>::from_env(READINGS)?.receiver()?;
    let mut recs = ByteQueue::<256>::from_env(RECORDS)?;
    let summary = SharedValue::<Summary>::from_env(SUMMARY)?;
    let floats = SharedArray::<f64>::from_env(FLOATS)?;

    let mut s = Summary {
        readings: 0,
        value_sum: 0.0,
        records: 0,
        name_bytes: 0,
    };
    for r in readings.iter() {
        assert_eq!(r.samples, [r.sensor as f32; 4]);
        s.readings += 1;
        s.value_sum += r.value;
    }
    let mut buf = Vec::new();
    let mut all_values = Vec::new();
    for expected in records() {
        recs.get_bytes(&mut buf)?;
        let r = Record::decode(&buf)?;
        assert_eq!(r, expected);
        s.records += 1;
        s.name_bytes += r.name.len() as u64;
        all_values.extend(r.values);
    }
    let mut f = floats.lock().map_err(|_| "lock")?;
    f[..all_values.len()].copy_from_slice(&all_values);
    drop(f);
    summary.store(s)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("child") {
        return child();
    }
    let readings = Pipe::<Reading>::anonymous(16)?;
    let mut recs = ByteQueue::<256>::anonymous(4)?;
    let summary = SharedValue::<Summary>::anonymous(shmlane::Zeroable::zeroed())?;
    let floats = SharedArray::<f64>::zeroed(16)?;

    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("child");
    readings.inherit(&mut cmd, READINGS)?;
    recs.inherit(&mut cmd, RECORDS)?;
    summary.inherit(&mut cmd, SUMMARY)?;
    floats.inherit(&mut cmd, FLOATS)?;
    let mut child = cmd.spawn()?;

    let mut tx = readings.sender()?;
    for sensor in 0..100u32 {
        tx.send(Reading {
            sensor,
            _pad: 0,
            value: f64::from(sensor) * 0.5,
            samples: [sensor as f32; 4],
        })?;
    }
    drop(tx); // end of the readings
    for r in records() {
        recs.put_bytes(&r.encode())?;
    }
    assert!(child.wait()?.success(), "the child failed");

    let s = summary.load()?;
    println!("parent: child's summary: {s:?}");
    assert_eq!(
        s,
        Summary {
            readings: 100,
            value_sum: 2475.0,
            records: 3,
            name_bytes: 5 + 18 + 2
        }
    );
    let f = floats.to_vec()?;
    println!("parent: floats the child unpickled: {:?}", &f[..12]);
    assert_eq!(f[..2], [1.5, 2.5]);
    assert_eq!(f[2..12], [0.25; 10]);
    assert!(f[12..].iter().all(|&x| x == 0.0));
    Ok(())
}
