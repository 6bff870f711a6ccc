//! The wire format shared by the library and `openfile-helper`: one definition for both sides.
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
pub const ACCEPTED_FLAGS: i32 = libc::O_ACCMODE
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

/// Checks `flags` against [`ACCEPTED_FLAGS`]; `O_ACCMODE` of 3 is not an access mode either.
pub fn validate_open_flags(flags: i32) -> Result<(), UnsupportedFlags> {
    let unknown = flags & !ACCEPTED_FLAGS;
    if unknown != 0 || flags & libc::O_ACCMODE == libc::O_ACCMODE {
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

/// `flags` in words, as the audit log prints them: `O_WRONLY|O_CREAT|O_TRUNC`. Bits without a
/// name are shown in octal.
pub fn flags_in_words(flags: i32) -> String {
    let access = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let named = [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (O_LARGEFILE_KERNEL, "O_LARGEFILE"),
    ];
    let mut words = vec![access.to_owned()];
    let mut rest = flags & !libc::O_ACCMODE;
    for (bit, name) in named {
        if rest & bit == bit {
            words.push(name.to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        words.push(format!("{rest:#o}"));
    }
    words.join("|")
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

/// Parses the socket number alone, so that later errors can still be reported on the socket.
pub fn parse_socket_fd(arg: &OsStr) -> Result<i32, ArgumentError> {
    parse_decimal(arg.as_bytes())
        .and_then(|number| i32::try_from(number).ok())
        .ok_or(ArgumentError::BadSocketNumber)
}

/// Parses `<sockfd#> <pathname> <mode>` (the arguments after the program name).
pub fn parse_one_shot(args: &[OsString]) -> Result<OneShotRequest, ArgumentError> {
    let [socket_arg, path, flags_arg] = args else {
        return Err(ArgumentError::WrongCount(args.len()));
    };
    let socket_fd = parse_socket_fd(socket_arg)?;
    if path.is_empty() {
        return Err(ArgumentError::EmptyPath);
    }
    if path.len() >= PATH_MAX {
        return Err(ArgumentError::PathTooLong(path.len()));
    }
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
    fn flags_read_as_words() {
        assert_eq!(flags_in_words(libc::O_RDONLY), "O_RDONLY");
        assert_eq!(
            flags_in_words(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(
            flags_in_words(libc::O_RDWR | libc::O_APPEND | libc::O_NOFOLLOW),
            "O_RDWR|O_APPEND|O_NOFOLLOW"
        );
        assert_eq!(
            flags_in_words(libc::O_RDONLY | libc::O_PATH),
            "O_RDONLY|0o10000000"
        );
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
