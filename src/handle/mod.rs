//! The constructor set shared by every handle kind (pipes, duplexes, queues and every
//! object of [`crate::sync`]), from one macro.
//!
//! | constructor | what it does |
//! |---|---|
//! | `create(name, params..)` | a new named segment (`AlreadyExists` if the name is taken) |
//! | `open(name)` | the named segment, validated (kind, element type, header) |
//! | `open_with(name, OpenOptions)` | `open`, accepting foreign files or requiring a capacity |
//! | `open_or_create(name, params..)` | `open`, else `create`; an existing one must match `params`' fixed part |
//! | `anonymous(params..)` | a new unnamed segment (a sealed memfd) |
//! | `from_fd(fd)` | an anonymous segment from a descriptor (see `AsFd`) |
//! | `from_env(key)` | the anonymous segment a parent registered with `inherit(cmd, key)` |
//! | `inherit(&self, cmd, key)` | registers this handle with a `Command` (any number per command) |
//! | `spawn_with(&self, cmd, key)` | `inherit` + `cmd.spawn()`: the one-object shortcut |
//! | `persist(&self)` | keeps a named segment's name after the creator's handles are gone |
//!
//! `params` are the kind's creation arguments: a ring's capacity, an array's initial
//! elements, a value's or mutex's initial value, a semaphore's initial count and bound, a
//! barrier's party count, nothing for events, condvars and `Shared<S>`. A kind provides
//! [`Handle`] plus two inherent functions, `build` (create from `params`) and
//! `made_with` (does an existing segment match `params`), and invokes
//! [`constructors!`]; everything else is generated here, so every kind has the same set
//! with the same meaning. Every handle also implements `AsFd` (the fd `from_fd` takes).
//!
//! There is no `open_with_capacity`: a required capacity is an
//! [`OpenOptions`](crate::segment::OpenOptions) (`OpenOptions::new().capacity(n)`), so
//! the set stays the same for kinds without a capacity.

use crate::error::{CreateError, OpenError};
use crate::segment::{Expect, Segment};

pub(crate) mod inherit;

/// What a handle kind tells the shared constructors of [`constructors!`].
pub(crate) trait Handle: Sized {
    /// What an opener of this kind requires (kind and element type, any capacity).
    fn expect() -> Expect;

    /// This kind's handle over an opened segment (already validated against
    /// [`expect`](Self::expect)): claims what a handle of the kind claims (a queue's
    /// member entry, an object's user entry) and checks kind-specific header fields.
    fn opened(seg: Segment) -> Result<Self, OpenError>;

    /// The segment the handle maps.
    fn segment_of(&self) -> &Segment;
}

/// Creates a named (`Some(name)`) or anonymous segment with the header's `param`.
pub(crate) fn create_segment(
    name: Option<&str>,
    expect: &Expect,
    capacity: u64,
    param: u32,
) -> Result<Segment, CreateError> {
    match name {
        Some(n) => Segment::create_with(n, expect, capacity, param),
        None => Segment::create_anonymous_with(expect, capacity, param),
    }
}

/// Opens the named segment as `H`, or creates it with `create` if no segment has the
/// name; `made_with` checks that an existing one was made with the caller's fixed
/// parameters. Retries the race between a failed open and a failed create.
pub(crate) fn open_or_create<H: Handle>(
    name: &str,
    made_with: impl Fn(&H) -> Result<(), OpenError>,
    create: impl Fn() -> Result<H, CreateError>,
) -> Result<H, OpenError> {
    for _ in 0..16 {
        match open_with::<H>(name, crate::segment::OpenOptions::new()) {
            Err(OpenError::DoesNotExist(_)) => {}
            Ok(h) => return made_with(&h).map(|()| h),
            Err(e) => return Err(e),
        }
        match create() {
            Err(CreateError::AlreadyExists(_)) => continue,
            Err(CreateError::Io { op, source }) => return Err(OpenError::Io { op, source }),
            Err(CreateError::Claim(c)) => return Err(OpenError::Claim(c)),
            Err(e) => {
                return Err(OpenError::Io {
                    op: "create",
                    source: std::io::Error::other(e),
                });
            }
            Ok(h) => return Ok(h),
        }
    }
    Err(OpenError::DoesNotExist(name.to_owned()))
}

/// Opens the named segment as `H`.
pub(crate) fn open_with<H: Handle>(
    name: &str,
    options: crate::segment::OpenOptions,
) -> Result<H, OpenError> {
    H::opened(Segment::open_with(name, &H::expect(), options)?)
}

/// Opens the anonymous segment behind `fd` as `H`.
pub(crate) fn from_fd<H: Handle>(fd: rustix::fd::OwnedFd) -> Result<H, OpenError> {
    H::opened(Segment::from_fd(fd, &H::expect())?)
}

/// `Err(CapacityMismatch)` unless the segment has `want` slots per ring (elements).
pub(crate) fn same_capacity(seg: &Segment, want: usize) -> Result<(), OpenError> {
    let found = seg.header().capacity;
    if found == want as u64 {
        Ok(())
    } else {
        Err(OpenError::CapacityMismatch {
            expected: want as u64,
            found,
        })
    }
}

/// Generates the constructor set (see the [module](self) docs) for one handle kind,
/// with a doc example per constructor written for that kind.
///
/// `ex` is the kind's path as an example names it (`shmlane::pipe::Pipe::<u64>`), `tag`
/// a word for segment names, `args(..)` example creation arguments, `made` what
/// `params` mean (the end of "Creates a named X ...").
macro_rules! constructors {
    (
        impl[$($g:tt)*] $ty:ty {
            what: $what:literal,
            ex: $ex:literal,
            params: ($($p:ident: $pty:ty),*),
            args: ($($a:expr),*),
            made: $made:literal $(,)?
        }
    ) => {
        impl<$($g)*> $ty {
            #[doc = concat!("Creates a named ", $what, " ", $made, ".")]
            ///
            /// Fails with `AlreadyExists` if a segment that is in use has the name (one
            /// whose processes are all dead is replaced). The creating process's last
            /// handle removes the name when dropped, unless
            /// [`persist`](Self::persist) was called.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let name = format!(\"doc-", $what, "-create-{}\", std::process::id());")]
            #[doc = concat!("let h = ", $ex, "::create(&name", $(", ", stringify!($a),)* ")?;")]
            #[doc = concat!("assert!(", $ex, "::create(&name", $(", ", stringify!($a),)* ").is_err()); // taken")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn create(name: &str, $($p: $pty),*) -> Result<Self, $crate::error::CreateError> {
                Self::build(Some(name), $($p),*)
            }

            #[doc = concat!("Opens the named ", $what, " that `create` made (in any process).")]
            ///
            /// Checks the segment's kind (another kind is refused with `KindMismatch`),
            /// its element type and every header field; accepts any capacity (see
            /// [`open_with`](Self::open_with)). Refuses a file another user owns or
            /// others may write (`Untrusted`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let name = format!(\"doc-", $what, "-open-{}\", std::process::id());")]
            #[doc = concat!("let a = ", $ex, "::create(&name", $(", ", stringify!($a),)* ")?;")]
            #[doc = concat!("let b = ", $ex, "::open(&name)?; // usually in another process")]
            #[doc = concat!("assert!(", $ex, "::open(\"doc-no-such-segment\").is_err());")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn open(name: &str) -> Result<Self, $crate::error::OpenError> {
                $crate::handle::open_with(name, $crate::segment::OpenOptions::new())
            }

            /// [`open`](Self::open) with [`OpenOptions`](crate::segment::OpenOptions):
            /// accept a segment file another user owns or others may write (refused by
            /// default), or require a capacity (slots per ring, an array's length).
            ///
            /// # Examples
            ///
            /// ```
            /// use shmlane::segment::OpenOptions;
            #[doc = concat!("let name = format!(\"doc-", $what, "-open-with-{}\", std::process::id());")]
            #[doc = concat!("let a = ", $ex, "::create(&name", $(", ", stringify!($a),)* ")?;")]
            #[doc = concat!("let b = ", $ex, "::open_with(&name, OpenOptions::new().allow_foreign(true))?;")]
            #[doc = concat!("assert!(", $ex, "::open_with(&name, OpenOptions::new().capacity(1 << 30)).is_err());")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn open_with(
                name: &str,
                options: $crate::segment::OpenOptions,
            ) -> Result<Self, $crate::error::OpenError> {
                $crate::handle::open_with(name, options)
            }

            #[doc = concat!("Opens the named ", $what, ", or creates it ", $made, " if no segment has the name;")]
            /// retries the race between a failed open and a failed create.
            ///
            /// An existing segment must have been made with the same fixed parameters
            /// (capacity or length: `CapacityMismatch`; a semaphore's bound, a barrier's
            /// parties: `LayoutMismatch`); its current contents are kept, not reset.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let name = format!(\"doc-", $what, "-ooc-{}\", std::process::id());")]
            #[doc = concat!("let a = ", $ex, "::open_or_create(&name", $(", ", stringify!($a),)* ")?; // creates")]
            #[doc = concat!("let b = ", $ex, "::open_or_create(&name", $(", ", stringify!($a),)* ")?; // opens")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn open_or_create(
                name: &str,
                $($p: $pty),*
            ) -> Result<Self, $crate::error::OpenError> {
                $crate::handle::open_or_create(
                    name,
                    |h: &Self| h.made_with($($p),*),
                    || Self::build(Some(name), $($p),*),
                )
            }

            #[doc = concat!("Creates an anonymous ", $what, " ", $made, ": no name, nothing to")]
            /// clean up. Hand it to child processes with [`inherit`](Self::inherit) (or
            /// [`spawn_with`](Self::spawn_with)), or its descriptor (`AsFd`) to any
            /// process, which opens it with [`from_fd`](Self::from_fd).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let h = ", $ex, "::anonymous(", stringify!($($a),*), ")?;")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn anonymous($($p: $pty),*) -> Result<Self, $crate::error::CreateError> {
                Self::build(None, $($p),*)
            }

            #[doc = concat!("Opens an anonymous ", $what, " from a file descriptor (received over a")]
            /// Unix socket, or a duplicate of a handle's, see `AsFd`), validated as
            /// [`open`](Self::open) validates; the memfd must be sealed against
            /// shrinking (`NotSealed`).
            ///
            /// # Examples
            ///
            /// ```
            /// use std::os::fd::AsFd;
            #[doc = concat!("let h = ", $ex, "::anonymous(", stringify!($($a),*), ")?;")]
            #[doc = concat!("let again = ", $ex, "::from_fd(h.as_fd().try_clone_to_owned()?)?;")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn from_fd(fd: rustix::fd::OwnedFd) -> Result<Self, $crate::error::OpenError> {
                $crate::handle::from_fd(fd)
            }

            #[doc = concat!("Opens the anonymous ", $what, " a parent registered with")]
            /// [`inherit`](Self::inherit)`(cmd, key)` (or `spawn_with`): validates the
            /// descriptor named by the environment variable `key` as [`from_fd`](Self::from_fd)
            /// does, then takes ownership of it. Once per key and process: a second call
            /// fails with `NoInheritedFd`, as do an unset variable, a number that is no
            /// open inherited descriptor (below 3, or close-on-exec: a grandchild that
            /// inherited only the variable) and a descriptor that fails validation; those
            /// descriptors are left open, never closed.
            ///
            /// # Examples
            ///
            /// ```
            /// // In a child spawned after `h.inherit(&mut cmd, "MY_KEY")`:
            #[doc = concat!("// let h = ", $ex, "::from_env(\"MY_KEY\")?;")]
            #[doc = concat!("assert!(", $ex, "::from_env(\"DOC_KEY_NOT_SET\").is_err());")]
            /// ```
            pub fn from_env(key: &str) -> Result<Self, $crate::error::OpenError> {
                $crate::handle::inherit::take(key, Self::from_fd)
            }

            /// Registers this handle with `cmd`: every child `cmd` spawns inherits a
            /// descriptor of the segment, named by the environment variable `key`, and
            /// opens it with [`from_env`](Self::from_env)`(key)`. Register any number of
            /// handles under distinct keys, then spawn.
            ///
            /// The descriptor `cmd` keeps is a duplicate: it stays valid if this handle
            /// is dropped before the spawn, is closed when `cmd` is dropped, and is
            /// close-on-exec in this process (children spawned by other threads or
            /// other commands never get it). A key already set on `cmd` is refused
            /// (`AlreadyExists`), as is a key no environment variable can have
            /// (`InvalidInput`). Call it after any `cmd.env_clear()`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let h = ", $ex, "::anonymous(", stringify!($($a),*), ")?;")]
            /// let mut cmd = std::process::Command::new("true");
            /// h.inherit(&mut cmd, "DOC_KEY")?;
            /// assert!(h.inherit(&mut cmd, "DOC_KEY").is_err()); // one handle per key
            /// assert!(cmd.spawn()?.wait()?.success());
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn inherit(
                &self,
                cmd: &mut std::process::Command,
                key: &str,
            ) -> std::io::Result<()> {
                use $crate::handle::Handle as _;
                $crate::handle::inherit::register(self.segment_of().fd(), cmd, key)
            }

            /// Spawns `cmd` with this handle inherited under `key`: the one-object
            /// shortcut for [`inherit`](Self::inherit) + `cmd.spawn()`. A `cmd` that
            /// already passes this handle under `key` (an earlier `spawn_with` or
            /// `inherit`: one `Command` reused for several children) is spawned as it
            /// is; another handle under `key` is refused (`AlreadyExists`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let h = ", $ex, "::anonymous(", stringify!($($a),*), ")?;")]
            /// let mut child = h.spawn_with(&mut std::process::Command::new("true"), "DOC_KEY")?;
            /// assert!(child.wait()?.success());
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn spawn_with(
                &self,
                cmd: &mut std::process::Command,
                key: &str,
            ) -> std::io::Result<std::process::Child> {
                use $crate::handle::Handle as _;
                if !$crate::handle::inherit::registered(self.segment_of().fd(), cmd, key) {
                    self.inherit(cmd, key)?;
                }
                cmd.spawn()
            }

            /// Keeps a named segment's name after this process's handles are gone (no
            /// effect on an anonymous one).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let name = format!(\"doc-", $what, "-persist-{}\", std::process::id());")]
            #[doc = concat!("let a = ", $ex, "::create(&name", $(", ", stringify!($a),)* ")?;")]
            /// a.persist();
            /// drop(a);
            #[doc = concat!("let b = ", $ex, "::open(&name)?; // still there")]
            /// # drop(b);
            /// # std::fs::remove_file(format!("/dev/shm/shmlane.{name}"))?;
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn persist(&self) {
                use $crate::handle::Handle as _;
                self.segment_of().persist();
            }
        }

        impl<$($g)*> std::os::fd::AsFd for $ty {
            /// The segment's file descriptor (for [`from_fd`](Self::from_fd) in another
            /// process).
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                use $crate::handle::Handle as _;
                self.segment_of().fd()
            }
        }
    };
}
pub(crate) use constructors;

/// [`Handle`] and [`constructors!`] for a ring handle (pipe, duplex, queue; their
/// `params` are a capacity), plus its `capacity` and `segment`. The plain form is for a
/// handle that is just the segment; `joined` for one that defines `join(Arc<Segment>)`.
macro_rules! ring_handle {
    ($ty:ident, $kind:expr, $what:literal, $ex:literal, $made:literal) => {
        impl<T: Pod + Send> $ty<T> {
            fn join(seg: std::sync::Arc<Segment>) -> Result<Self, $crate::error::ClaimError> {
                Ok(Self {
                    seg,
                    _t: std::marker::PhantomData,
                })
            }
        }
        $crate::handle::ring_handle!($ty, $kind, $what, $ex, $made, joined);
    };
    ($ty:ident, $kind:expr, $what:literal, $ex:literal, $made:literal, joined) => {
        impl<T: Pod + Send> $crate::handle::Handle for $ty<T> {
            fn expect() -> $crate::segment::Expect {
                $crate::segment::Expect {
                    kind: $kind,
                    elem: $crate::layout::ElemDesc::of::<T>(),
                    capacity: None,
                }
            }

            fn opened(seg: Segment) -> Result<Self, $crate::error::OpenError> {
                Ok(Self::join(std::sync::Arc::new(seg))?)
            }

            fn segment_of(&self) -> &Segment {
                &self.seg
            }
        }

        impl<T: Pod + Send> $ty<T> {
            fn build(
                name: Option<&str>,
                capacity: usize,
            ) -> Result<Self, $crate::error::CreateError> {
                use $crate::handle::Handle as _;
                let seg =
                    $crate::handle::create_segment(name, &Self::expect(), capacity as u64, 0)?;
                Ok(Self::join(std::sync::Arc::new(seg))?)
            }

            fn made_with(&self, capacity: usize) -> Result<(), $crate::error::OpenError> {
                $crate::handle::same_capacity(&self.seg, capacity)
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

        $crate::handle::constructors! {
            impl[T: Pod + Send] $ty<T> {
                what: $what,
                ex: $ex,
                params: (capacity: usize),
                args: (16),
                made: $made,
            }
        }
    };
}
pub(crate) use ring_handle;
