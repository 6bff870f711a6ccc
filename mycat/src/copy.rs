//! Copying one input to standard output.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::{read, write};

/// Big enough that a 1 GiB file costs few system calls, small enough to keep memory flat.
pub const BUFFER_SIZE: usize = 128 * 1024;

/// Which side of a copy failed: the input is reported with its name, the output as a write error.
#[derive(Debug)]
pub enum CopyError {
    Read(Errno),
    Write(Errno),
}

/// Copies everything from `input` to `output` through `buffer`, retrying `EINTR` and short writes.
pub fn copy(input: impl AsFd, output: BorrowedFd<'_>, buffer: &mut [u8]) -> Result<u64, CopyError> {
    let mut total = 0u64;
    loop {
        let filled = match read(input.as_fd(), buffer) {
            Ok(0) => return Ok(total),
            Ok(filled) => filled,
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(CopyError::Read(errno)),
        };
        write_all(output, &buffer[..filled]).map_err(CopyError::Write)?;
        total += filled as u64;
    }
}

fn write_all(output: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match write(output, bytes) {
            Ok(0) => return Err(Errno::EIO),
            Ok(written) => bytes = &bytes[written..],
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}
