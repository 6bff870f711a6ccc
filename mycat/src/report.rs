//! Diagnostics on standard error, worded as GNU cat words them.

use std::io::{self, Write};

use nix::errno::Errno;

/// The GNU C library's text for `errno` in the C locale ("Input/output error"), as GNU cat prints
/// it, whichever C library mycat is linked with: `make install` links mycat with musl (its
/// start-up runs no CPUID, see BENCHMARKS.md), whose own texts differ for a dozen errors ("I/O
/// error", "Symbolic link loop"), and scripts match on cat's words.
pub fn strerror(errno: Errno) -> String {
    match glibc_text(errno as i32) {
        Some(text) => text.to_owned(),
        None => format!("Unknown error {}", errno as i32),
    }
}

/// glibc 2.36's `strerror` table for Linux's errno values (all of them: Linux never assigned 41
/// and 58).
fn glibc_text(errno: i32) -> Option<&'static str> {
    Some(match errno {
        0 => "Success",
        libc::EPERM => "Operation not permitted",
        libc::ENOENT => "No such file or directory",
        libc::ESRCH => "No such process",
        libc::EINTR => "Interrupted system call",
        libc::EIO => "Input/output error",
        libc::ENXIO => "No such device or address",
        libc::E2BIG => "Argument list too long",
        libc::ENOEXEC => "Exec format error",
        libc::EBADF => "Bad file descriptor",
        libc::ECHILD => "No child processes",
        libc::EAGAIN => "Resource temporarily unavailable",
        libc::ENOMEM => "Cannot allocate memory",
        libc::EACCES => "Permission denied",
        libc::EFAULT => "Bad address",
        libc::ENOTBLK => "Block device required",
        libc::EBUSY => "Device or resource busy",
        libc::EEXIST => "File exists",
        libc::EXDEV => "Invalid cross-device link",
        libc::ENODEV => "No such device",
        libc::ENOTDIR => "Not a directory",
        libc::EISDIR => "Is a directory",
        libc::EINVAL => "Invalid argument",
        libc::ENFILE => "Too many open files in system",
        libc::EMFILE => "Too many open files",
        libc::ENOTTY => "Inappropriate ioctl for device",
        libc::ETXTBSY => "Text file busy",
        libc::EFBIG => "File too large",
        libc::ENOSPC => "No space left on device",
        libc::ESPIPE => "Illegal seek",
        libc::EROFS => "Read-only file system",
        libc::EMLINK => "Too many links",
        libc::EPIPE => "Broken pipe",
        libc::EDOM => "Numerical argument out of domain",
        libc::ERANGE => "Numerical result out of range",
        libc::EDEADLK => "Resource deadlock avoided",
        libc::ENAMETOOLONG => "File name too long",
        libc::ENOLCK => "No locks available",
        libc::ENOSYS => "Function not implemented",
        libc::ENOTEMPTY => "Directory not empty",
        libc::ELOOP => "Too many levels of symbolic links",
        libc::ENOMSG => "No message of desired type",
        libc::EIDRM => "Identifier removed",
        libc::ECHRNG => "Channel number out of range",
        libc::EL2NSYNC => "Level 2 not synchronized",
        libc::EL3HLT => "Level 3 halted",
        libc::EL3RST => "Level 3 reset",
        libc::ELNRNG => "Link number out of range",
        libc::EUNATCH => "Protocol driver not attached",
        libc::ENOCSI => "No CSI structure available",
        libc::EL2HLT => "Level 2 halted",
        libc::EBADE => "Invalid exchange",
        libc::EBADR => "Invalid request descriptor",
        libc::EXFULL => "Exchange full",
        libc::ENOANO => "No anode",
        libc::EBADRQC => "Invalid request code",
        libc::EBADSLT => "Invalid slot",
        libc::EBFONT => "Bad font file format",
        libc::ENOSTR => "Device not a stream",
        libc::ENODATA => "No data available",
        libc::ETIME => "Timer expired",
        libc::ENOSR => "Out of streams resources",
        libc::ENONET => "Machine is not on the network",
        libc::ENOPKG => "Package not installed",
        libc::EREMOTE => "Object is remote",
        libc::ENOLINK => "Link has been severed",
        libc::EADV => "Advertise error",
        libc::ESRMNT => "Srmount error",
        libc::ECOMM => "Communication error on send",
        libc::EPROTO => "Protocol error",
        libc::EMULTIHOP => "Multihop attempted",
        libc::EDOTDOT => "RFS specific error",
        libc::EBADMSG => "Bad message",
        libc::EOVERFLOW => "Value too large for defined data type",
        libc::ENOTUNIQ => "Name not unique on network",
        libc::EBADFD => "File descriptor in bad state",
        libc::EREMCHG => "Remote address changed",
        libc::ELIBACC => "Can not access a needed shared library",
        libc::ELIBBAD => "Accessing a corrupted shared library",
        libc::ELIBSCN => ".lib section in a.out corrupted",
        libc::ELIBMAX => "Attempting to link in too many shared libraries",
        libc::ELIBEXEC => "Cannot exec a shared library directly",
        libc::EILSEQ => "Invalid or incomplete multibyte or wide character",
        libc::ERESTART => "Interrupted system call should be restarted",
        libc::ESTRPIPE => "Streams pipe error",
        libc::EUSERS => "Too many users",
        libc::ENOTSOCK => "Socket operation on non-socket",
        libc::EDESTADDRREQ => "Destination address required",
        libc::EMSGSIZE => "Message too long",
        libc::EPROTOTYPE => "Protocol wrong type for socket",
        libc::ENOPROTOOPT => "Protocol not available",
        libc::EPROTONOSUPPORT => "Protocol not supported",
        libc::ESOCKTNOSUPPORT => "Socket type not supported",
        libc::EOPNOTSUPP => "Operation not supported",
        libc::EPFNOSUPPORT => "Protocol family not supported",
        libc::EAFNOSUPPORT => "Address family not supported by protocol",
        libc::EADDRINUSE => "Address already in use",
        libc::EADDRNOTAVAIL => "Cannot assign requested address",
        libc::ENETDOWN => "Network is down",
        libc::ENETUNREACH => "Network is unreachable",
        libc::ENETRESET => "Network dropped connection on reset",
        libc::ECONNABORTED => "Software caused connection abort",
        libc::ECONNRESET => "Connection reset by peer",
        libc::ENOBUFS => "No buffer space available",
        libc::EISCONN => "Transport endpoint is already connected",
        libc::ENOTCONN => "Transport endpoint is not connected",
        libc::ESHUTDOWN => "Cannot send after transport endpoint shutdown",
        libc::ETOOMANYREFS => "Too many references: cannot splice",
        libc::ETIMEDOUT => "Connection timed out",
        libc::ECONNREFUSED => "Connection refused",
        libc::EHOSTDOWN => "Host is down",
        libc::EHOSTUNREACH => "No route to host",
        libc::EALREADY => "Operation already in progress",
        libc::EINPROGRESS => "Operation now in progress",
        libc::ESTALE => "Stale file handle",
        libc::EUCLEAN => "Structure needs cleaning",
        libc::ENOTNAM => "Not a XENIX named type file",
        libc::ENAVAIL => "No XENIX semaphores available",
        libc::EISNAM => "Is a named type file",
        libc::EREMOTEIO => "Remote I/O error",
        libc::EDQUOT => "Disk quota exceeded",
        libc::ENOMEDIUM => "No medium found",
        libc::EMEDIUMTYPE => "Wrong medium type",
        libc::ECANCELED => "Operation canceled",
        libc::ENOKEY => "Required key not available",
        libc::EKEYEXPIRED => "Key has expired",
        libc::EKEYREVOKED => "Key has been revoked",
        libc::EKEYREJECTED => "Key was rejected by service",
        libc::EOWNERDEAD => "Owner died",
        libc::ENOTRECOVERABLE => "State not recoverable",
        libc::ERFKILL => "Operation not possible due to RF-kill",
        libc::EHWPOISON => "Memory page has hardware error",
        _ => return None,
    })
}

/// Prints `mycat: MESSAGE`.
pub fn report(message: &str) {
    let _ = writeln!(io::stderr(), "mycat: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_glibc_ones_whatever_the_c_library() {
        assert_eq!(strerror(Errno::EIO), "Input/output error");
        assert_eq!(strerror(Errno::EACCES), "Permission denied");
        assert_eq!(strerror(Errno::ENOSPC), "No space left on device");
        assert_eq!(strerror(Errno::EISDIR), "Is a directory");
        // Where musl's words differ from glibc's.
        assert_eq!(strerror(Errno::ELOOP), "Too many levels of symbolic links");
        assert_eq!(strerror(Errno::EMFILE), "Too many open files");
        assert_eq!(strerror(Errno::ENAMETOOLONG), "File name too long");
        assert_eq!(strerror(Errno::EDQUOT), "Disk quota exceeded");
    }

    /// Where the C library is glibc, the table is its table, value for value.
    #[cfg(target_env = "gnu")]
    #[test]
    fn table_matches_the_running_glibc() {
        for errno in (0..=133).filter(|errno| ![41, 58].contains(errno)) {
            let expected = myopen::strerror(errno);
            assert_eq!(strerror(Errno::from_raw(errno)), expected, "errno {errno}");
        }
    }
}
