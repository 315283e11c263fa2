//! Checks on sync objects that used to let wrong things through: one object type
//! opening another's segment, out-of-range semaphore and barrier parameters.

mod common;

use common::unique;
use shmlane::error::{CreateError, OpenError};
use shmlane::layout::SegmentKind;
use shmlane::sync::raw::RawEvent;
use shmlane::sync::{Barrier, Condvar, Event, Mutex, Semaphore, Shared, SharedArray, SharedValue};

/// Every object type, as (kind, create a named one, open a name as this type).
type Create = fn(&str) -> Box<dyn std::any::Any>;
type Open = fn(&str) -> Result<(), OpenError>;

fn object_types() -> Vec<(SegmentKind, Create, Open)> {
    vec![
        (
            SegmentKind::SharedArray,
            |n| Box::new(SharedArray::<u64>::create(n, &[1]).unwrap()),
            |n| SharedArray::<u64>::open(n).map(drop),
        ),
        (
            SegmentKind::Mutex,
            |n| Box::new(Mutex::<u64>::create(n, 1).unwrap()),
            |n| Mutex::<u64>::open(n).map(drop),
        ),
        (
            SegmentKind::SharedValue,
            |n| Box::new(SharedValue::<u64>::create(n, 1).unwrap()),
            |n| SharedValue::<u64>::open(n).map(drop),
        ),
        (
            SegmentKind::SharedState,
            |n| Box::new(Shared::<RawEvent>::create(n).unwrap()),
            |n| Shared::<RawEvent>::open(n).map(drop),
        ),
        (
            SegmentKind::Condvar,
            |n| Box::new(Condvar::create(n).unwrap()),
            |n| Condvar::open(n).map(drop),
        ),
        (
            SegmentKind::Semaphore,
            |n| Box::new(Semaphore::create(n, 1, 1).unwrap()),
            |n| Semaphore::open(n).map(drop),
        ),
        (
            SegmentKind::Event,
            |n| Box::new(Event::create(n).unwrap()),
            |n| Event::open(n).map(drop),
        ),
        (
            SegmentKind::Barrier,
            |n| Box::new(Barrier::create(n, 1).unwrap()),
            |n| Barrier::open(n).map(drop),
        ),
    ]
}

/// Each object type opens only its own segments: every other type's open of it fails
/// with a kind mismatch naming both kinds (before: `Mutex<u64>` opened a
/// `SharedArray<u64>`, `SharedValue<u64>` a `Mutex<u64>`, `Shared<RawEvent>` an
/// `Event`).
#[test]
fn each_object_type_opens_only_its_own_kind() {
    let types = object_types();
    for (made_kind, create, open_same) in &types {
        let name = unique("kind");
        let _made = create(&name);
        open_same(&name).expect("same type opens");
        for (want_kind, _, open) in &types {
            if want_kind == made_kind {
                continue;
            }
            match open(&name) {
                Err(OpenError::KindMismatch { expected, found }) => {
                    assert_eq!(
                        (expected, found),
                        (*want_kind as u32, *made_kind as u32),
                        "{want_kind:?} opening {made_kind:?}"
                    );
                    let msg = OpenError::KindMismatch { expected, found }.to_string();
                    let (w, m) = (SegmentKind::name_of(expected), SegmentKind::name_of(found));
                    assert!(msg.contains(w) && msg.contains(m), "{msg}");
                }
                other => panic!("{want_kind:?} opening a {made_kind:?}: {other:?}"),
            }
        }
    }
}

/// A semaphore's initial count above its bound is refused, not clamped (before: a
/// semaphore of bound 2 made with 5 units silently held 2).
#[test]
fn semaphore_initial_above_bound_is_refused() {
    for r in [
        Semaphore::anonymous(5, 2),
        Semaphore::create(&unique("sem5"), 5, 2),
    ] {
        assert!(
            matches!(
                r,
                Err(CreateError::InvalidParameter {
                    param: "initial count",
                    value: 5,
                    ..
                })
            ),
            "{r:?}"
        );
    }
    let s = Semaphore::anonymous(2, 2).unwrap();
    assert_eq!((s.value(), s.max()), (2, 2));
    assert_eq!(Semaphore::anonymous(0, 0).unwrap().value(), 0);
}

/// A barrier of zero parties is refused (before: it became a barrier of one).
#[test]
fn barrier_of_no_parties_is_refused() {
    for r in [Barrier::anonymous(0), Barrier::create(&unique("bar0"), 0)] {
        assert!(
            matches!(
                r,
                Err(CreateError::InvalidParameter {
                    param: "party count",
                    value: 0,
                    ..
                })
            ),
            "{r:?}"
        );
    }
    assert_eq!(Barrier::anonymous(1).unwrap().parties(), 1);
}

/// A barrier header that says 0 parties (never written by `create`: a damaged or
/// foreign header) is refused on open instead of being read as a barrier of one.
#[test]
fn barrier_header_of_no_parties_is_refused_on_open() {
    use shmlane::layout::ElemDesc;
    use shmlane::segment::{Expect, Segment};
    let name = unique("bar0hdr");
    let expect = Expect {
        kind: SegmentKind::Barrier,
        elem: ElemDesc::of::<shmlane::sync::raw::RawBarrier>(),
        capacity: None,
    };
    let _seg = Segment::create_with(&name, &expect, 1, 0).unwrap();
    assert!(matches!(
        Barrier::open(&name),
        Err(OpenError::LayoutMismatch {
            expected: 1,
            found: 0,
            ..
        })
    ));
}
