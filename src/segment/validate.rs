//! Validation of a segment header read from (untrusted) bytes. Pure: no system calls,
//! so it runs under Miri and as a fuzz target.

use crate::error::OpenError;
use crate::layout::{
    ElemDesc, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_ELEM_ALIGN, SegmentHeader, SegmentKind,
    TYPE_NAME_LEN, ring_stride, total_len,
};
use crate::ring::spsc::MAX_CAPACITY;
use zerocopy::FromBytes;

/// What an opener expects to find.
///
/// # Examples
///
/// ```
/// use shmlane::layout::{ElemDesc, SegmentKind};
/// use shmlane::segment::Expect;
/// let e = Expect { kind: SegmentKind::Pipe, elem: ElemDesc::of::<u64>(), capacity: None };
/// assert_eq!(e.kind.rings(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Segment kind.
    pub kind: SegmentKind,
    /// Element type.
    pub elem: ElemDesc,
    /// Slots per ring, if the opener requires a specific capacity.
    pub capacity: Option<u64>,
}

/// Builds the header a creator writes.
pub(crate) fn new_header(
    expect: &Expect,
    capacity: u64,
    creator: crate::platform::identity::Identity,
) -> Option<SegmentHeader> {
    let rings = expect.kind.rings();
    let size = u64::from(expect.elem.size);
    let align = u64::from(expect.elem.align);
    Some(SegmentHeader {
        magic: MAGIC,
        version: FORMAT_VERSION,
        kind: expect.kind as u32,
        total_len: total_len(expect.kind, capacity, size, align)?,
        header_len: HEADER_LEN as u32,
        rings,
        capacity,
        elem_size: expect.elem.size,
        elem_align: expect.elem.align,
        type_fingerprint: expect.elem.fingerprint,
        type_name: expect.elem.name_bytes(),
        creator_pid: creator.pid,
        param: 0,
        creator_start: creator.start,
        ring_offset: HEADER_LEN,
        ring_stride: ring_stride(expect.kind, capacity, size, align)?,
    })
}

fn name_of(bytes: &[u8; TYPE_NAME_LEN]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(TYPE_NAME_LEN);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Checks `bytes` (the start of a segment whose file is `file_len` bytes) against
/// `expect`, field by field, and returns the parsed header.
///
/// Every check compares against a value derived independently of the checked field,
/// so after success: `ring_offset + rings × ring_stride == total_len == file_len`, and
/// each ring's slots (`capacity × elem_size`) fit within its stride.
///
/// # Examples
///
/// ```
/// use shmlane::layout::{ElemDesc, SegmentKind};
/// use shmlane::segment::{Expect, validate_header};
/// let e = Expect { kind: SegmentKind::Pipe, elem: ElemDesc::of::<u64>(), capacity: None };
/// assert!(validate_header(&[0u8; 16], 16, &e).is_err()); // truncated
/// ```
pub fn validate_header(
    bytes: &[u8],
    file_len: u64,
    expect: &Expect,
) -> Result<SegmentHeader, OpenError> {
    if file_len < HEADER_LEN || (bytes.len() as u64) < HEADER_LEN {
        return Err(OpenError::Truncated {
            expected: HEADER_LEN,
            found: file_len.min(bytes.len() as u64),
        });
    }
    let (h, _) = SegmentHeader::read_from_prefix(bytes).map_err(|_| OpenError::Truncated {
        expected: HEADER_LEN,
        found: bytes.len() as u64,
    })?;
    if h.magic != MAGIC {
        return Err(OpenError::BadMagic {
            expected: MAGIC,
            found: h.magic,
        });
    }
    if h.version != FORMAT_VERSION {
        return Err(OpenError::VersionMismatch {
            expected: FORMAT_VERSION,
            found: h.version,
        });
    }
    if h.kind != expect.kind as u32 {
        return Err(OpenError::KindMismatch {
            expected: expect.kind as u32,
            found: h.kind,
        });
    }
    if h.total_len != file_len {
        return Err(OpenError::LengthMismatch {
            header: h.total_len,
            file: file_len,
        });
    }
    let min_capacity = if expect.kind == SegmentKind::Queue {
        2
    } else {
        1
    };
    let (pow2, max) = match expect.kind {
        SegmentKind::Pool => (true, u64::from(crate::ring::pool::MAX_CHUNKS)),
        k => (h.capacity.is_power_of_two() || k.is_object(), MAX_CAPACITY),
    };
    if !pow2 || h.capacity > max || h.capacity < min_capacity {
        return Err(OpenError::InvalidCapacity {
            found: h.capacity,
            expected: match expect.kind {
                SegmentKind::Queue => crate::error::QUEUE_CAPACITY,
                SegmentKind::Pool => crate::error::POOL_CHUNKS,
                k if k.is_object() => crate::error::OBJECT_LEN,
                _ => crate::error::RING_CAPACITY,
            },
        });
    }
    if let Some(want) = expect.capacity
        && want != h.capacity
    {
        return Err(OpenError::CapacityMismatch {
            expected: want,
            found: h.capacity,
        });
    }
    if h.elem_size != expect.elem.size {
        return Err(OpenError::ElementSizeMismatch {
            expected: expect.elem.size,
            found: h.elem_size,
        });
    }
    if h.elem_align != expect.elem.align || u64::from(h.elem_align) > MAX_ELEM_ALIGN {
        return Err(OpenError::ElementAlignMismatch {
            expected: expect.elem.align,
            found: h.elem_align,
        });
    }
    if h.type_fingerprint != expect.elem.fingerprint {
        return Err(OpenError::TypeMismatch {
            expected: expect.elem.name.to_owned(),
            found: name_of(&h.type_name),
        });
    }
    let mismatch = |field, expected: u64, found: u64| {
        if expected == found {
            Ok(())
        } else {
            Err(OpenError::LayoutMismatch {
                field,
                expected,
                found,
            })
        }
    };
    mismatch("header_len", HEADER_LEN, u64::from(h.header_len))?;
    mismatch("rings", u64::from(expect.kind.rings()), u64::from(h.rings))?;
    mismatch("ring_offset", HEADER_LEN, h.ring_offset)?;
    if expect.kind == SegmentKind::Pool {
        // A pool's length derives from its class table, checked after mapping
        // (`validate_pool`); here only the one region's extent.
        let stride = h.total_len.checked_sub(HEADER_LEN).unwrap_or(u64::MAX);
        mismatch("ring_stride", stride, h.ring_stride)?;
    } else {
        let (size, align) = (u64::from(h.elem_size), u64::from(h.elem_align));
        let stride = ring_stride(expect.kind, h.capacity, size, align).unwrap_or(u64::MAX);
        mismatch("ring_stride", stride, h.ring_stride)?;
        let total = total_len(expect.kind, h.capacity, size, align).unwrap_or(u64::MAX);
        mismatch("total_len", total, h.total_len)?;
    }
    if usize::try_from(h.total_len).is_err() {
        return Err(OpenError::LayoutMismatch {
            field: "total_len",
            expected: usize::MAX as u64,
            found: h.total_len,
        });
    }
    Ok(h)
}

/// Checks a pool's class table (`bytes`: the opener's private copy of the
/// [`PoolInfo`](crate::layout::PoolInfo) area) against its validated header `h`:
/// 32 members, `classes == param`, `1..=8` classes, sizes positive multiples of 128 and
/// strictly increasing, counts ≥ 1, `Σ count == capacity`, and the length derived from
/// the table equal to `total_len`. Each failure is a
/// [`LayoutMismatch`](OpenError::LayoutMismatch) naming its field and both values.
/// Returns the table and its geometry.
pub(crate) fn validate_pool(
    bytes: &[u8],
    h: &SegmentHeader,
) -> Result<(crate::layout::PoolInfo, crate::ring::pool::Geometry), OpenError> {
    use crate::layout::{POOL_MAX_CLASSES, POOL_MEMBERS, PoolInfo};
    use crate::ring::pool::{CHUNK_ALIGN, Class, Geometry, mapped::PoolLayout};
    let bad = |field, expected: u64, found: u64| OpenError::LayoutMismatch {
        field,
        expected,
        found,
    };
    let (info, _) = PoolInfo::read_from_prefix(bytes)
        .map_err(|_| bad("pool info length", 256, bytes.len() as u64))?;
    if info.members as usize != POOL_MEMBERS {
        return Err(bad(
            "pool members",
            POOL_MEMBERS as u64,
            info.members.into(),
        ));
    }
    if info.classes != h.param {
        return Err(bad(
            "pool classes (header param)",
            h.param.into(),
            info.classes.into(),
        ));
    }
    let k = info.classes as usize;
    if k == 0 || k > POOL_MAX_CLASSES {
        return Err(bad("pool classes", POOL_MAX_CLASSES as u64, k as u64));
    }
    let mut classes = Vec::with_capacity(k);
    let (mut prev, mut sum) = (0u64, 0u64);
    for c in &info.class[..k] {
        if c.chunk_size <= prev {
            return Err(bad(
                "pool chunk size (increasing)",
                prev + CHUNK_ALIGN,
                c.chunk_size,
            ));
        }
        if !c.chunk_size.is_multiple_of(CHUNK_ALIGN) {
            let up = c
                .chunk_size
                .div_ceil(CHUNK_ALIGN)
                .saturating_mul(CHUNK_ALIGN);
            return Err(bad("pool chunk size (multiple of 128)", up, c.chunk_size));
        }
        let max = u64::from(crate::ring::pool::MAX_CHUNKS);
        if c.count == 0 || c.count > max {
            return Err(bad("pool class count", c.count.clamp(1, max), c.count));
        }
        sum += c.count;
        prev = c.chunk_size;
        classes.push(Class {
            size: c.chunk_size,
            count: c.count as u32,
        });
    }
    if sum != h.capacity {
        return Err(bad("pool chunks (sum of counts)", h.capacity, sum));
    }
    let geo = Geometry::new(&classes).map_err(|_| bad("pool classes", h.capacity, sum))?;
    let total = PoolLayout::new(&geo).map_or(u64::MAX, |l| l.total);
    if total != h.total_len {
        return Err(bad("total_len (pool classes)", total, h.total_len));
    }
    Ok((info, geo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::identity::Identity;
    use zerocopy::IntoBytes;

    fn expect<T>(kind: SegmentKind) -> Expect {
        Expect {
            kind,
            elem: ElemDesc::of::<T>(),
            capacity: None,
        }
    }

    fn image(e: &Expect, cap: u64) -> (Vec<u8>, u64) {
        let h = new_header(e, cap, Identity { pid: 1, start: 2 }).unwrap();
        let mut v = vec![0u8; HEADER_LEN as usize];
        v[..h.as_bytes().len()].copy_from_slice(h.as_bytes());
        (v, h.total_len)
    }

    #[test]
    fn accepts_own_header() {
        let e = expect::<u64>(SegmentKind::Pipe);
        let (img, len) = image(&e, 1024);
        let h = validate_header(&img, len, &e).unwrap();
        assert_eq!(h.capacity, 1024);
        assert!(
            validate_header(
                &img,
                len,
                &Expect {
                    capacity: Some(1024),
                    ..e
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn each_mismatch_has_its_own_error() {
        let e = expect::<u64>(SegmentKind::Pipe);
        let (img, len) = image(&e, 64);
        let err = |bytes: &[u8], len, ex: &Expect| validate_header(bytes, len, ex).unwrap_err();
        assert!(matches!(
            err(&img[..100], len, &e),
            OpenError::Truncated { .. }
        ));
        assert!(matches!(
            err(&img, 10, &e),
            OpenError::Truncated { found: 10, .. }
        ));
        assert!(matches!(
            err(&img, len + 1, &e),
            OpenError::LengthMismatch { .. }
        ));
        assert!(matches!(
            err(
                &img,
                len,
                &Expect {
                    capacity: Some(128),
                    ..e
                }
            ),
            OpenError::CapacityMismatch {
                expected: 128,
                found: 64
            }
        ));
        assert!(matches!(
            err(&img, len, &expect::<u32>(SegmentKind::Pipe)),
            OpenError::ElementSizeMismatch {
                expected: 4,
                found: 8
            }
        ));
        assert!(matches!(
            err(&img, len, &expect::<[u32; 2]>(SegmentKind::Pipe)),
            OpenError::ElementAlignMismatch {
                expected: 4,
                found: 8
            }
        ));
        assert!(matches!(
            err(&img, len, &expect::<i64>(SegmentKind::Pipe)),
            OpenError::TypeMismatch { ref expected, ref found } if expected == "i64" && found == "u64"
        ));
        assert!(matches!(
            err(&img, len, &expect::<u64>(SegmentKind::Duplex)),
            OpenError::KindMismatch {
                expected: 2,
                found: 1
            }
        ));
        let mut bad = img.clone();
        bad[0] = b'X';
        assert!(matches!(err(&bad, len, &e), OpenError::BadMagic { .. }));
        let mut bad = img.clone();
        bad[8..12].copy_from_slice(&99u32.to_ne_bytes());
        assert!(matches!(
            err(&bad, len, &e),
            OpenError::VersionMismatch {
                expected: FORMAT_VERSION,
                found: 99
            }
        ));
        let mut bad = img.clone();
        bad[32..40].copy_from_slice(&48u64.to_ne_bytes()); // capacity field
        assert!(matches!(
            err(&bad, len, &e),
            OpenError::InvalidCapacity { found: 48, .. }
        ));
        let mut bad = img.clone();
        bad[144..152].copy_from_slice(&8u64.to_ne_bytes()); // ring_stride
        assert!(matches!(
            err(&bad, len, &e),
            OpenError::LayoutMismatch {
                field: "ring_stride",
                ..
            }
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let e = expect::<u64>(SegmentKind::Pipe);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..if cfg!(miri) { 20 } else { 2000 } {
            let mut buf = vec![0u8; 256];
            for b in &mut buf {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            if round % 2 == 0 {
                buf[..8].copy_from_slice(&MAGIC); // get past the first check sometimes
            }
            assert!(validate_header(&buf, x % 100_000, &e).is_err());
        }
    }
}
