//! The wire format shared by the library and `openfile-helper`: one definition for both sides.
//!
//! These are protocol internals, public so that the helper (and the book's C programs' tests)
//! can share them. They are not part of the library's stable API: the types and constants here
//! follow the protocol, and may change with it between minor versions.
//!
//! One-shot protocol (UNIX Network Programming §15.7, so the book's C client and helper interoperate
//! with ours unchanged):
//!
//! ```text
//! openfile-helper <sockfd#> <pathname> <mode>
//! ```
//!
//! - `sockfd#`: decimal number of an inherited `AF_UNIX` stream or seqpacket socket;
//! - `mode`: decimal `open(2)` flags;
//! - success: one data byte `0` carrying the descriptor (SCM_RIGHTS), exit status 0;
//! - failure: one data byte holding the errno (1..=255), no descriptor, exit status = that errno.
//!
//! The book's own helper sends nothing on failure and only exits with the errno, so a client must
//! also accept end-of-file followed by a non-zero exit status.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;

/// The status byte that accompanies a passed descriptor.
pub const STATUS_OPENED: u8 = 0;

/// `PATH_MAX` including the terminating NUL, as the kernel counts it.
pub const PATH_MAX: usize = libc::PATH_MAX as usize;

/// The kernel's `O_LARGEFILE` bit. libc defines the constant as 0 on 64-bit targets, where the
/// kernel sets the bit itself, but a 32-bit-minded client may still pass the real value.
pub const O_LARGEFILE_KERNEL: i32 = 0o100_000;

/// Open flags the helper understands; anything else is refused with `EINVAL`.
pub const ACCEPTED_FLAGS: i32 = ACCESS_MODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NOFOLLOW
    | libc::O_NONBLOCK
    | libc::O_CLOEXEC
    | libc::O_NOCTTY
    | libc::O_DIRECTORY
    | O_LARGEFILE_KERNEL;

/// The kernel's access-mode bits of open(2) flags (O_RDONLY, O_WRONLY, O_RDWR). Not
/// `libc::O_ACCMODE`: musl's includes `O_SEARCH` (`O_PATH`), which the helper refuses.
pub const ACCESS_MODE: i32 = 0o3;

/// Checks `flags` against [`ACCEPTED_FLAGS`]; `O_ACCMODE` of 3 is not an access mode either.
pub fn validate_open_flags(flags: i32) -> Result<(), UnsupportedFlags> {
    let unknown = flags & !ACCEPTED_FLAGS;
    if unknown != 0 || flags & ACCESS_MODE == ACCESS_MODE {
        return Err(UnsupportedFlags { flags, unknown });
    }
    Ok(())
}

/// Open flags outside what the helper understands (`O_PATH`, `O_TMPFILE`, `O_DIRECT`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedFlags {
    /// The flags as requested.
    pub flags: i32,
    /// The bits that are not understood (0 when only the access mode is invalid).
    pub unknown: i32,
}

impl fmt::Display for UnsupportedFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unknown == 0 {
            write!(
                f,
                "open flags {:#o}: access mode 3 is not read, write or read-write",
                self.flags
            )
        } else {
            write!(
                f,
                "open flags {:#o}: unsupported bits {:#o}",
                self.flags, self.unknown
            )
        }
    }
}

/// The status byte for a failure with `errno`: errno values outside 1..=255 cannot be expressed
/// in a byte or an exit status, so they become 255, as the book's helper does.
pub fn status_for_errno(errno: i32) -> u8 {
    u8::try_from(errno)
        .ok()
        .filter(|&byte| byte != STATUS_OPENED)
        .unwrap_or(u8::MAX)
}

/// Parses a number the way the protocol writes it: plain ASCII decimal digits only. A sign,
/// spaces, a hex prefix, an empty string or overflow are all refused.
pub fn parse_decimal(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.iter().try_fold(0u32, |value, &digit| {
        value.checked_mul(10)?.checked_add(u32::from(digit - b'0'))
    })
}

/// The three arguments that follow the program name in a one-shot request.
pub fn one_shot_args(socket_fd: i32, path: &OsStr, flags: i32) -> [OsString; 3] {
    [
        socket_fd.to_string().into(),
        path.to_owned(),
        flags.to_string().into(),
    ]
}

/// A parsed one-shot request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneShotRequest {
    /// The inherited socket to answer on.
    pub socket_fd: i32,
    /// The path exactly as the caller sent it (bytes, not necessarily UTF-8).
    pub path: OsString,
    /// `open(2)` flags, already checked by [`validate_open_flags`].
    pub flags: i32,
}

/// Why a one-shot command line was refused; each maps to the errno the helper exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgumentError {
    /// Not exactly three arguments.
    WrongCount(usize),
    /// The socket number is not plain decimal or does not fit a descriptor.
    BadSocketNumber,
    /// The flags are not plain decimal or do not fit an `int`.
    BadFlagsNumber,
    /// The flags hold bits the helper does not understand.
    UnsupportedFlags(UnsupportedFlags),
    /// The path is empty (as for `open("")`).
    EmptyPath,
    /// The path does not fit in `PATH_MAX` bytes with its terminating NUL.
    PathTooLong(usize),
}

impl ArgumentError {
    /// The errno the helper reports for this refusal.
    pub fn errno(&self) -> i32 {
        match self {
            ArgumentError::EmptyPath => libc::ENOENT,
            ArgumentError::PathTooLong(_) => libc::ENAMETOOLONG,
            _ => libc::EINVAL,
        }
    }
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgumentError::WrongCount(count) => write!(f, "expected 3 arguments, got {count}"),
            ArgumentError::BadSocketNumber => {
                f.write_str("socket descriptor is not a plain decimal number")
            }
            ArgumentError::BadFlagsNumber => {
                f.write_str("open flags are not a plain decimal number")
            }
            ArgumentError::UnsupportedFlags(flags) => flags.fmt(f),
            ArgumentError::EmptyPath => f.write_str("empty path"),
            ArgumentError::PathTooLong(length) => {
                write!(
                    f,
                    "path of {length} bytes is longer than PATH_MAX ({PATH_MAX})"
                )
            }
        }
    }
}

/// The checks every request gets, on every side, before anything else looks at it: a path that
/// is not empty and fits `PATH_MAX` with its NUL, and flags the helper understands. The library
/// applies them before sending, the helper to what arrives (one-shot or session).
pub fn check_request(path: &[u8], flags: i32) -> Result<(), ArgumentError> {
    check_path(path)?;
    validate_open_flags(flags).map_err(ArgumentError::UnsupportedFlags)
}

/// The path's half of [`check_request`].
fn check_path(path: &[u8]) -> Result<(), ArgumentError> {
    if path.is_empty() {
        return Err(ArgumentError::EmptyPath);
    }
    if path.len() >= PATH_MAX {
        return Err(ArgumentError::PathTooLong(path.len()));
    }
    Ok(())
}

/// Parses the socket number alone, so that later errors can still be reported on the socket.
pub fn parse_socket_fd(arg: &OsStr) -> Result<i32, ArgumentError> {
    parse_decimal(arg.as_bytes())
        .and_then(|number| i32::try_from(number).ok())
        .ok_or(ArgumentError::BadSocketNumber)
}

/// Parses `<sockfd#> <pathname> <mode>` (the arguments after the program name).
///
/// ```
/// use myopen::wire::{ArgumentError, one_shot_args, parse_one_shot};
///
/// let args = one_shot_args(3, "/etc/hosts".as_ref(), libc::O_RDONLY);
/// assert_eq!(parse_one_shot(&args).unwrap().path, "/etc/hosts");
/// let bad = ["3".into(), "/etc/hosts".into(), "0x0".into()];
/// assert_eq!(parse_one_shot(&bad), Err(ArgumentError::BadFlagsNumber));
/// ```
pub fn parse_one_shot(args: &[OsString]) -> Result<OneShotRequest, ArgumentError> {
    let [socket_arg, path, flags_arg] = args else {
        return Err(ArgumentError::WrongCount(args.len()));
    };
    let socket_fd = parse_socket_fd(socket_arg)?;
    // check_request in two halves around the flags' parse: an empty path is ENOENT whatever
    // the flags say.
    check_path(path.as_bytes())?;
    let flags = parse_decimal(flags_arg.as_bytes())
        .and_then(|number| i32::try_from(number).ok())
        .ok_or(ArgumentError::BadFlagsNumber)?;
    validate_open_flags(flags).map_err(ArgumentError::UnsupportedFlags)?;
    Ok(OneShotRequest {
        socket_fd,
        path: path.clone(),
        flags,
    })
}

/// The session protocol: one helper process serving many opens over one `SOCK_SEQPACKET` socket,
/// started as `openfile-helper --session <sockfd#>`. Packets keep requests apart, so a malformed
/// one can never desynchronise the stream; the helper still checks every length against the
/// packet it actually received.
///
/// - the helper first sends a [`Hello`](session::Hello);
/// - each request is one packet: [`SessionRequest`](session::SessionRequest) (12-byte header, then the path);
/// - each reply is one packet of [`REPLY_LEN`](session::REPLY_LEN) bytes, status then [`Origin`](session::Origin), carrying the
///   descriptor when the status is 0;
/// - a request the helper cannot parse is answered with `EINVAL` and [`Origin::Request`](session::Origin::Request), and the
///   helper then ends the session; end-of-file ends it too;
/// - a request the server can no longer judge, though a new server could, is answered with
///   [`Reply::restart`](session::Reply::restart), and the server then ends the session: the
///   client starts a new one and sends that request again, once.
pub mod session {
    use super::{ArgumentError, PATH_MAX, STATUS_OPENED, check_request, status_for_errno};

    /// The flag that starts a helper in session mode.
    pub const FLAG: &str = "--session";

    /// Protocol version; the hello carries it.
    pub const VERSION: u8 = 1;

    const MAGIC: [u8; 4] = *b"MYOS";

    /// Bytes in a hello packet.
    pub const HELLO_LEN: usize = 6;

    /// Bytes before the path in a request.
    pub const HEADER_LEN: usize = 12;

    /// The largest request: header plus the longest path `open(2)` accepts.
    pub const MAX_REQUEST_LEN: usize = HEADER_LEN + PATH_MAX - 1;

    /// Bytes in a reply.
    pub const REPLY_LEN: usize = 2;

    /// What the helper says first: the protocol version and whether it holds privilege.
    ///
    /// `myopend` may send a [`Reply::Refused`] record (origin [`Origin::System`]) in place of the
    /// hello and close the connection: it will not serve this connection (`EUSERS`: the
    /// caller's uid has too many connections; `EAGAIN`: every worker is busy; `EPERM`: the
    /// daemon cannot serve anyone).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Hello {
        /// [`VERSION`] of the helper.
        pub version: u8,
        /// Whether the helper can open more than its caller (and so enforces the policy).
        pub privileged: bool,
    }

    impl Hello {
        /// The packet.
        pub fn encode(&self) -> [u8; HELLO_LEN] {
            let [m0, m1, m2, m3] = MAGIC;
            [m0, m1, m2, m3, self.version, u8::from(self.privileged)]
        }

        /// Parses a hello packet; `None` if it is not one.
        pub fn decode(packet: &[u8]) -> Option<Hello> {
            match packet {
                [m0, m1, m2, m3, version, privileged]
                    if [*m0, *m1, *m2, *m3] == MAGIC && *privileged <= 1 =>
                {
                    Some(Hello {
                        version: *version,
                        privileged: *privileged == 1,
                    })
                }
                _ => None,
            }
        }
    }

    /// One open request.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SessionRequest<'a> {
        /// `open(2)` flags.
        pub flags: i32,
        /// Permission bits for a file the request creates (set-id and sticky bits are dropped).
        pub mode: u32,
        /// The path, bytes.
        pub path: &'a [u8],
    }

    impl SessionRequest<'_> {
        /// The packet: flags, mode and path length as little-endian u32, then the path.
        pub fn encode(&self) -> Vec<u8> {
            let mut packet = Vec::with_capacity(HEADER_LEN + self.path.len());
            packet.extend_from_slice(&self.flags.to_le_bytes());
            packet.extend_from_slice(&self.mode.to_le_bytes());
            packet.extend_from_slice(
                &u32::try_from(self.path.len())
                    .unwrap_or(u32::MAX)
                    .to_le_bytes(),
            );
            packet.extend_from_slice(self.path);
            packet
        }

        /// Parses a request packet, trusting no length in it.
        pub fn decode(packet: &[u8]) -> Result<SessionRequest<'_>, FrameError> {
            let Some((header, path)) = packet.split_first_chunk::<HEADER_LEN>() else {
                return Err(FrameError::Malformed("shorter than the request header"));
            };
            let field = |index: usize| {
                let mut bytes = [0u8; 4];
                bytes.copy_from_slice(&header[index * 4..index * 4 + 4]);
                u32::from_le_bytes(bytes)
            };
            let (flags, mode, length) = (field(0) as i32, field(1), field(2));
            if usize::try_from(length).ok() != Some(path.len()) {
                return Err(FrameError::Malformed(
                    "path length does not match the packet",
                ));
            }
            if path.contains(&0) {
                return Err(FrameError::Malformed("path contains a NUL byte"));
            }
            check_request(path, flags).map_err(FrameError::Argument)?;
            Ok(SessionRequest {
                flags,
                mode: mode & 0o777,
                path,
            })
        }
    }

    /// Why a request packet was refused.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum FrameError {
        /// Well framed, but a value the helper refuses (answered; the session goes on).
        Argument(ArgumentError),
        /// Not a request at all (answered with `EINVAL`; the helper ends the session).
        Malformed(&'static str),
    }

    impl FrameError {
        /// The errno the helper answers with.
        pub fn errno(&self) -> i32 {
            match self {
                FrameError::Argument(error) => error.errno(),
                FrameError::Malformed(_) => libc::EINVAL,
            }
        }
    }

    impl std::fmt::Display for FrameError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                FrameError::Argument(error) => error.fmt(f),
                FrameError::Malformed(why) => write!(f, "malformed request: {why}"),
            }
        }
    }

    /// Where a failure in a reply comes from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Origin {
        /// The system refused (or the open succeeded, with status 0).
        System = 0,
        /// The policy refused (status `EACCES`).
        Policy = 1,
        /// The request itself was refused.
        Request = 2,
    }

    impl Origin {
        /// Parses the origin byte.
        pub fn from_byte(byte: u8) -> Option<Origin> {
            match byte {
                0 => Some(Origin::System),
                1 => Some(Origin::Policy),
                2 => Some(Origin::Request),
                _ => None,
            }
        }
    }

    /// What a reply packet says: its [`REPLY_LEN`] bytes are the status (0, or the errno) and
    /// the [`Origin`]. The descriptor of an [`Reply::Opened`] travels with the packet.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Reply {
        /// Opened; the packet carries the descriptor.
        Opened,
        /// Refused.
        Refused {
            /// The errno, 1..=255.
            errno: u8,
            /// Who refused.
            origin: Origin,
        },
    }

    impl Reply {
        /// A refusal with `errno`, which is folded into a status byte as for the one-shot
        /// protocol.
        pub fn refused(errno: i32, origin: Origin) -> Reply {
            Reply::Refused {
                errno: status_for_errno(errno),
                origin,
            }
        }

        /// The restart reply: this server can judge no more requests, and ends the session after
        /// this reply; a new server can (its fence reaches a name database this one's no longer
        /// does, once /etc/passwd or /etc/group was replaced by rename). Nothing was opened. The
        /// client starts a new session and sends the same request again, once: the new server
        /// judges it under the policy of its own start. `ESTALE` with [`Origin::Request`], which
        /// no other reply carries, so that a client that predates it still ends the session (as
        /// after any [`Origin::Request`]) and reports `ESTALE`; its next request starts anew.
        pub fn restart() -> Reply {
            Reply::refused(libc::ESTALE, Origin::Request)
        }

        /// Whether this is [`Reply::restart`].
        pub fn is_restart(&self) -> bool {
            *self == Reply::restart()
        }

        /// The packet.
        pub fn encode(&self) -> [u8; REPLY_LEN] {
            match self {
                Reply::Opened => [STATUS_OPENED, Origin::System as u8],
                Reply::Refused { errno, origin } => [*errno, *origin as u8],
            }
        }

        /// Parses a reply packet that arrived with `descriptors` descriptors; the error says
        /// what is wrong with it.
        pub fn decode(packet: &[u8], descriptors: usize) -> Result<Reply, String> {
            match (packet, descriptors) {
                ([STATUS_OPENED, 0], 1) => Ok(Reply::Opened),
                ([status, origin], 0) if *status != STATUS_OPENED => Origin::from_byte(*origin)
                    .map(|origin| Reply::Refused {
                        errno: *status,
                        origin,
                    })
                    .ok_or_else(|| format!("unknown origin byte {origin}")),
                (bytes, descriptors) => {
                    Err(format!("reply {bytes:?} with {descriptors} descriptor(s)"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"4294967295"), Some(u32::MAX));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"0x10",
            b"4294967296",
            b"99999999999",
            b"1e3",
            b"\xff",
        ] {
            assert_eq!(
                parse_decimal(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn args_round_trip() {
        let formatted = one_shot_args(7, OsStr::new("/etc/hosts"), libc::O_RDONLY);
        let parsed = parse_one_shot(&formatted).unwrap();
        assert_eq!(
            parsed,
            OneShotRequest {
                socket_fd: 7,
                path: "/etc/hosts".into(),
                flags: 0
            }
        );
    }

    #[test]
    fn garbage_argument_table() {
        let long_path = format!("/{}", "a".repeat(PATH_MAX));
        let cases: &[(&[&str], ArgumentError)] = &[
            (&[], ArgumentError::WrongCount(0)),
            (&["0", "/x"], ArgumentError::WrongCount(2)),
            (&["0", "/x", "0", "extra"], ArgumentError::WrongCount(4)),
            (&["zero", "/x", "0"], ArgumentError::BadSocketNumber),
            (&["-1", "/x", "0"], ArgumentError::BadSocketNumber),
            (&["2147483648", "/x", "0"], ArgumentError::BadSocketNumber),
            (&["0", "", "0"], ArgumentError::EmptyPath),
            (
                &["0", &long_path, "0"],
                ArgumentError::PathTooLong(long_path.len()),
            ),
            (&["0", "/x", "rw"], ArgumentError::BadFlagsNumber),
            (&["0", "/x", "0x1"], ArgumentError::BadFlagsNumber),
            (&["0", "/x", "2147483648"], ArgumentError::BadFlagsNumber),
            (
                &["0", "/x", "3"],
                ArgumentError::UnsupportedFlags(UnsupportedFlags {
                    flags: 3,
                    unknown: 0,
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_one_shot(&args(input)).as_ref(),
                Err(expected),
                "{input:?}"
            );
        }
    }

    #[test]
    fn unsupported_flags_are_refused_with_einval() {
        for flag in [
            libc::O_PATH,
            libc::O_TMPFILE,
            libc::O_DIRECT,
            libc::O_NOATIME,
            libc::O_SYNC,
            libc::O_ASYNC,
        ] {
            let error = validate_open_flags(libc::O_RDONLY | flag).unwrap_err();
            assert_ne!(error.unknown, 0, "{flag:#o}");
            assert_eq!(ArgumentError::UnsupportedFlags(error).errno(), libc::EINVAL);
        }
    }

    #[test]
    fn design_flags_are_accepted() {
        for flag in [
            libc::O_RDONLY,
            libc::O_WRONLY | libc::O_APPEND,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
            libc::O_RDONLY | libc::O_DIRECTORY | O_LARGEFILE_KERNEL,
        ] {
            assert_eq!(validate_open_flags(flag), Ok(()), "{flag:#o}");
        }
    }

    #[test]
    fn session_request_round_trip_and_hostile_frames() {
        use session::{FrameError, HEADER_LEN, SessionRequest};
        let request = SessionRequest {
            flags: libc::O_RDONLY,
            mode: 0o640,
            path: b"/etc/hosts",
        };
        assert_eq!(
            SessionRequest::decode(&request.encode()),
            Ok(request.clone())
        );

        let setid = SessionRequest {
            mode: 0o6755,
            ..request.clone()
        }
        .encode();
        assert_eq!(
            SessionRequest::decode(&setid).unwrap().mode,
            0o755,
            "set-id bits are dropped"
        );

        let mut lying = request.encode();
        lying[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            SessionRequest::decode(&lying),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            SessionRequest::decode(&lying[..HEADER_LEN - 1]),
            Err(FrameError::Malformed(_))
        ));
        let with_nul = SessionRequest {
            path: b"/etc\0/hosts",
            ..request.clone()
        }
        .encode();
        assert!(matches!(
            SessionRequest::decode(&with_nul),
            Err(FrameError::Malformed(_))
        ));
        let long = vec![b'a'; PATH_MAX];
        let too_long = SessionRequest {
            path: &long,
            ..request.clone()
        }
        .encode();
        assert_eq!(
            SessionRequest::decode(&too_long).unwrap_err().errno(),
            libc::ENAMETOOLONG
        );
        let bad_flags = SessionRequest {
            flags: libc::O_PATH,
            ..request
        }
        .encode();
        assert_eq!(
            SessionRequest::decode(&bad_flags).unwrap_err().errno(),
            libc::EINVAL
        );
    }

    #[test]
    fn replies_round_trip_and_garbled_ones_are_named() {
        use session::{Origin, Reply};
        for reply in [
            Reply::Opened,
            Reply::refused(libc::EACCES, Origin::Policy),
            Reply::refused(libc::ENOENT, Origin::System),
            Reply::refused(libc::EINVAL, Origin::Request),
            Reply::restart(),
        ] {
            let descriptors = usize::from(reply == Reply::Opened);
            assert_eq!(Reply::decode(&reply.encode(), descriptors), Ok(reply));
        }
        // The restart reply is one packet, told apart from every other refusal.
        assert!(Reply::decode(&Reply::restart().encode(), 0).is_ok_and(|reply| reply.is_restart()));
        assert!(!Reply::refused(libc::EINVAL, Origin::Request).is_restart());
        assert!(!Reply::refused(libc::ESTALE, Origin::System).is_restart());
        assert!(!Reply::refused(libc::ESTALE, Origin::Policy).is_restart());
        // Errnos a byte cannot hold fold as in the one-shot protocol; 0 is never a refusal.
        assert_eq!(
            Reply::refused(4096, Origin::System),
            Reply::Refused {
                errno: 255,
                origin: Origin::System
            }
        );
        assert_eq!(
            Reply::refused(0, Origin::System),
            Reply::Refused {
                errno: 255,
                origin: Origin::System
            }
        );
        for (packet, descriptors) in [
            (&[0u8, 0][..], 0),
            (&[13, 1], 1),
            (&[13, 9], 0),
            (&[0], 1),
            (&[13, 1, 0], 0),
            (&[], 0),
        ] {
            assert!(
                Reply::decode(packet, descriptors).is_err(),
                "{packet:?} with {descriptors}"
            );
        }
    }

    #[test]
    fn one_request_check_for_every_side() {
        assert_eq!(check_request(b"", 0), Err(ArgumentError::EmptyPath));
        let long = vec![b'a'; PATH_MAX];
        assert_eq!(
            check_request(&long, 0),
            Err(ArgumentError::PathTooLong(PATH_MAX))
        );
        assert!(matches!(
            check_request(b"/x", libc::O_PATH),
            Err(ArgumentError::UnsupportedFlags(_))
        ));
        assert_eq!(check_request(b"/x", libc::O_RDWR | libc::O_CREAT), Ok(()));
    }

    #[test]
    fn hello_round_trip() {
        use session::Hello;
        for privileged in [false, true] {
            let hello = Hello {
                version: session::VERSION,
                privileged,
            };
            assert_eq!(Hello::decode(&hello.encode()), Some(hello));
        }
        assert_eq!(Hello::decode(b"MYOS\x01\x07"), None);
        assert_eq!(Hello::decode(b"\x00\x00"), None);
    }

    #[test]
    fn status_byte_for_errno() {
        assert_eq!(status_for_errno(libc::ENOENT), libc::ENOENT as u8);
        assert_eq!(status_for_errno(255), 255);
        assert_eq!(status_for_errno(0), 255, "0 would read as success");
        assert_eq!(status_for_errno(-5), 255);
        assert_eq!(status_for_errno(4000), 255);
    }
}
