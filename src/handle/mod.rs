//! Constructors shared by every segment-backed handle type (pipes, duplexes, queues).

pub(crate) mod inherit;

/// Generates the constructors shared by every segment-backed handle type.
macro_rules! segment_handle {
    // A handle that is just the segment: joining cannot fail.
    ($ty:ident, $kind:expr) => {
        impl<T: Pod + Send> $ty<T> {
            fn from_segment(seg: Segment) -> Result<Self, crate::error::ClaimError> {
                Ok(Self {
                    seg: std::sync::Arc::new(seg),
                    _t: std::marker::PhantomData,
                })
            }
        }
        $crate::handle::segment_handle!($ty, $kind, joined);
    };
    // A handle that defines `from_segment` itself (claims something in the segment).
    ($ty:ident, $kind:expr, joined) => {
        impl<T: Pod + Send> $ty<T> {
            fn join_segment<E: From<crate::error::ClaimError>>(
                seg: Result<Segment, E>,
            ) -> Result<Self, E> {
                Self::from_segment(seg?).map_err(E::from)
            }

            fn expect(capacity: Option<u64>) -> Expect {
                Expect {
                    kind: $kind,
                    elem: ElemDesc::of::<T>(),
                    capacity,
                }
            }

            /// Creates a named segment with `capacity` slots per ring (a power of two).
            pub fn create(name: &str, capacity: usize) -> Result<Self, CreateError> {
                Self::join_segment(Segment::create(name, &Self::expect(None), capacity as u64))
            }

            /// Opens a named segment of any capacity, checking kind and element type.
            pub fn open(name: &str) -> Result<Self, OpenError> {
                Self::join_segment(Segment::open(name, &Self::expect(None)))
            }

            /// [`open`](Self::open) with
            /// [`OpenOptions`](crate::segment::OpenOptions): e.g. accept a segment
            /// file another user owns or others may write (refused by default).
            pub fn open_with(
                name: &str,
                options: crate::segment::OpenOptions,
            ) -> Result<Self, OpenError> {
                Self::join_segment(Segment::open_with(name, &Self::expect(None), options))
            }

            /// Opens a named segment that must have exactly `capacity` slots per ring.
            pub fn open_with_capacity(name: &str, capacity: usize) -> Result<Self, OpenError> {
                Self::join_segment(Segment::open(name, &Self::expect(Some(capacity as u64))))
            }

            /// Opens the named segment, or creates it if it does not exist yet.
            /// Retries the open/create race.
            pub fn open_or_create(name: &str, capacity: usize) -> Result<Self, OpenError> {
                for _ in 0..16 {
                    match Self::open_with_capacity(name, capacity) {
                        Err(OpenError::DoesNotExist(_)) => {}
                        other => return other,
                    }
                    match Self::create(name, capacity) {
                        Err(CreateError::AlreadyExists(_)) => continue,
                        Err(CreateError::Io { op, source }) => {
                            return Err(OpenError::Io { op, source });
                        }
                        Err(CreateError::Claim(c)) => return Err(OpenError::Claim(c)),
                        Err(e) => {
                            return Err(OpenError::Io {
                                op: "create",
                                source: std::io::Error::other(e),
                            });
                        }
                        Ok(s) => return Ok(s),
                    }
                }
                Err(OpenError::DoesNotExist(name.to_owned()))
            }

            /// Creates an anonymous segment (pass it to a child with `spawn_with`).
            pub fn anonymous(capacity: usize) -> Result<Self, CreateError> {
                Self::join_segment(Segment::create_anonymous(
                    &Self::expect(None),
                    capacity as u64,
                ))
            }

            /// Opens an anonymous segment from a received file descriptor.
            pub fn from_fd(fd: rustix::fd::OwnedFd) -> Result<Self, OpenError> {
                Self::join_segment(Segment::from_fd(fd, &Self::expect(None)))
            }

            /// Opens the anonymous segment a parent passed with `spawn_with(.., key)`.
            pub fn from_env(key: &str) -> Result<Self, OpenError> {
                Self::from_fd(inherit::take(key)?)
            }

            /// Spawns `cmd` with this segment inherited; the child calls `from_env(key)`.
            pub fn spawn_with(
                &self,
                cmd: &mut std::process::Command,
                key: &str,
            ) -> std::io::Result<std::process::Child> {
                inherit::spawn_with(self.seg.fd(), cmd, key)
            }

            /// Keeps a named segment's name after every handle of this process is gone.
            pub fn persist(&self) {
                self.seg.persist();
            }

            /// Slots per ring.
            pub fn capacity(&self) -> usize {
                self.seg.header().capacity as usize
            }

            /// The underlying segment.
            pub fn segment(&self) -> &Segment {
                &self.seg
            }
        }
    };
}
pub(crate) use segment_handle;
