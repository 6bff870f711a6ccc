//! Copying one input to standard output: the fastest system call the pair of descriptors
//! allows, falling back to the next one when the kernel refuses it, and to read/write last.

use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, copy_file_range, fcntl, splice};
use nix::sys::sendfile::sendfile64;
use nix::sys::stat::{FileStat, SFlag, fstat};
use nix::unistd::{Whence, lseek, read, write};

/// Big enough that a 1 GiB file costs few system calls, small enough to keep memory flat.
pub const BUFFER_SIZE: usize = 128 * 1024;

/// The most one in-kernel copy call is asked to move: the kernel caps each call near 2 GiB, and
/// a bound keeps the count within `off_t` and `ssize_t` everywhere.
const KERNEL_CHUNK: usize = 1 << 30;

/// The errors that mean "this call does not work for these descriptors" rather than "the copy
/// failed": the next method then carries on from the current file position.
const UNSUPPORTED: [Errno; 5] = [
    Errno::EINVAL,
    Errno::ENOSYS,
    Errno::EXDEV,
    Errno::EOPNOTSUPP,
    // copy_file_range on an output it cannot write in place (O_APPEND, opened read-only): the
    // read/write path reports the real problem, if there is one, with the right side named.
    Errno::EBADF,
];

/// Which side of a copy failed: the input is reported with its name, the output as a write error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyError {
    Read(Errno),
    Write(Errno),
}

/// What standard output is, looked at once before the first file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A regular file written at its file position: copy_file_range, then sendfile.
    RegularFile,
    /// A regular file opened with O_APPEND, which copy_file_range, splice and sendfile refuse.
    AppendingFile,
    /// A pipe: the input's pages can be spliced straight into it.
    Pipe,
    /// Anything else (/dev/null, a socket, a terminal): sendfile.
    Other,
}

/// Standard output, with what the copy needs to know about it.
pub struct Output<'fd> {
    fd: BorrowedFd<'fd>,
    kind: OutputKind,
    device: u64,
    inode: u64,
}

impl<'fd> Output<'fd> {
    /// Examines `fd`; an error here is GNU cat's `standard output: ...`.
    pub fn new(fd: BorrowedFd<'fd>) -> Result<Output<'fd>, Errno> {
        let stat = fstat(fd)?;
        let kind = match file_type(&stat) {
            SFlag::S_IFREG => {
                let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
                if flags.contains(OFlag::O_APPEND) {
                    OutputKind::AppendingFile
                } else {
                    OutputKind::RegularFile
                }
            }
            SFlag::S_IFIFO => {
                grow_pipe(fd);
                OutputKind::Pipe
            }
            _ => OutputKind::Other,
        };
        Ok(Output {
            fd,
            kind,
            device: stat.st_dev,
            inode: stat.st_ino,
        })
    }

    /// GNU cat's "input file is output file": copying a file into itself while unread bytes
    /// remain would grow it for ever. Pipes and sockets never loop; a file whose unread part is
    /// empty (`cat f > f` after truncation) copies nothing and is fine.
    pub fn would_loop(&self, input: BorrowedFd<'_>, input_stat: &FileStat) -> bool {
        let kind = file_type(input_stat);
        if kind == SFlag::S_IFIFO || kind == SFlag::S_IFSOCK {
            return false;
        }
        if (input_stat.st_dev, input_stat.st_ino) != (self.device, self.inode) {
            return false;
        }
        // As GNU: an unseekable input counts as position -1, so it loops unless empty.
        let position = lseek(input, 0, Whence::SeekCur).unwrap_or(-1);
        position < input_stat.st_size
    }
}

/// One way of moving bytes from the input to the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    CopyFileRange,
    Splice,
    Sendfile,
}

/// The in-kernel methods worth trying for this input and output, best first; read/write follows
/// them all. Only a regular file or a block device can feed splice or sendfile from its page
/// cache. copy_file_range trusts the input's size, so a regular file that reports size 0 (most of
/// /proc and /sys, which do have content) is never given to it.
pub fn plan(input_stat: &FileStat, output: OutputKind) -> &'static [Method] {
    let kind = file_type(input_stat);
    let from_page_cache = kind == SFlag::S_IFREG || kind == SFlag::S_IFBLK;
    let sized = kind == SFlag::S_IFREG && input_stat.st_size > 0;
    match output {
        _ if !from_page_cache => &[],
        OutputKind::RegularFile if sized => &[Method::CopyFileRange, Method::Sendfile],
        OutputKind::RegularFile => &[Method::Sendfile],
        OutputKind::AppendingFile => &[],
        OutputKind::Pipe => &[Method::Splice],
        OutputKind::Other => &[Method::Sendfile],
    }
}

/// Copies inputs to one output, keeping the read/write buffer (allocated on first need) across
/// files.
pub struct Copier {
    buffer: Vec<u8>,
}

enum Stop {
    /// The kernel refused the method for these descriptors: try the next one.
    Unsupported,
    Failed(CopyError),
}

impl Copier {
    pub fn new() -> Copier {
        Copier { buffer: Vec::new() }
    }

    /// Copies everything from `input`'s current position to the output; returns the bytes moved.
    /// A method the kernel refuses hands over to the next one at the position reached, so no byte
    /// is sent twice; any other failure ends the copy and is returned, whatever was written.
    pub fn copy(
        &mut self,
        input: BorrowedFd<'_>,
        input_stat: &FileStat,
        output: &Output<'_>,
    ) -> Result<u64, CopyError> {
        let mut copied = 0u64;
        for method in plan(input_stat, output.kind) {
            match in_kernel(*method, input, output.fd, &mut copied) {
                Ok(()) => return Ok(copied),
                Err(Stop::Unsupported) => {}
                Err(Stop::Failed(error)) => return Err(error),
            }
        }
        if self.buffer.is_empty() {
            self.buffer = vec![0; BUFFER_SIZE];
        }
        read_write(input, output.fd, &mut self.buffer, &mut copied)?;
        Ok(copied)
    }
}

/// Runs one in-kernel method to end of input, retrying EINTR and short transfers.
fn in_kernel(
    method: Method,
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
    copied: &mut u64,
) -> Result<(), Stop> {
    loop {
        // No offsets: the kernel advances both file positions, so whichever method comes next
        // (or the next cat of the same descriptor) starts exactly where this one stopped.
        let moved = match method {
            Method::CopyFileRange => copy_file_range(input, None, output, None, KERNEL_CHUNK),
            Method::Splice => splice(
                input,
                None,
                output,
                None,
                KERNEL_CHUNK,
                SpliceFFlags::SPLICE_F_MOVE,
            ),
            Method::Sendfile => sendfile64(output, input, None, KERNEL_CHUNK),
        };
        match moved {
            Ok(0) => return Ok(()),
            Ok(count) => *copied += count as u64,
            Err(Errno::EINTR) => {}
            Err(errno) if UNSUPPORTED.contains(&errno) => return Err(Stop::Unsupported),
            Err(errno) => return Err(Stop::Failed(blame(errno))),
        }
    }
}

/// Which side an in-kernel call's errno belongs to: these are what writing can fail with and
/// reading cannot; anything else (EIO above all) is the input's.
fn blame(errno: Errno) -> CopyError {
    match errno {
        Errno::EPIPE
        | Errno::ENOSPC
        | Errno::EDQUOT
        | Errno::EFBIG
        | Errno::EAGAIN
        | Errno::ECONNRESET
        | Errno::ENOTCONN
        | Errno::EDESTADDRREQ
        | Errno::EROFS => CopyError::Write(errno),
        other => CopyError::Read(other),
    }
}

/// The portable copy, through `buffer`, retrying EINTR and short writes.
fn read_write(
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
    buffer: &mut [u8],
    copied: &mut u64,
) -> Result<(), CopyError> {
    loop {
        let filled = match read(input, buffer) {
            Ok(0) => return Ok(()),
            Ok(filled) => filled,
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(CopyError::Read(errno)),
        };
        write_all(output, &buffer[..filled], copied).map_err(CopyError::Write)?;
    }
}

fn write_all(output: BorrowedFd<'_>, mut bytes: &[u8], copied: &mut u64) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match write(output, bytes) {
            Ok(0) => return Err(Errno::EIO),
            Ok(written) => {
                *copied += written as u64;
                bytes = bytes.get(written..).unwrap_or_default();
            }
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// How much a pipe on standard output is grown to hold: the default 64 KiB makes the reader
/// and mycat wake each other sixteen times as often. 1 MiB is the most an unprivileged process
/// may ask for by default (`/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: i32 = 1 << 20;

/// Best effort: a pipe that stays small (limits, another kernel) only costs speed.
fn grow_pipe(fd: BorrowedFd<'_>) {
    if fcntl(fd, FcntlArg::F_GETPIPE_SZ).is_ok_and(|size| size < PIPE_SIZE) {
        let _ = fcntl(fd, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    }
}

fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}
