//! The floor for the session benchmark: a persistent child that receives a path, opens it and
//! sends the descriptor back, with no policy and no checks. `fd-floor` serves on fd 0
//! (SOCK_SEQPACKET) until end-of-file.
#![deny(unsafe_code)]

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use myopen::fdpass::{recv_with_fds, send_with_fds};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

fn main() {
    let stdin = std::io::stdin();
    let socket: BorrowedFd<'_> = stdin.as_fd();
    let mut packet = vec![0u8; 4096];
    loop {
        let Ok(received) = recv_with_fds(socket, &mut packet, 0) else {
            return;
        };
        if received.bytes == 0 {
            return;
        }
        let path = OsStr::from_bytes(&packet[..received.bytes]);
        let sent = match open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) {
            Ok(fd) => send_with_fds(socket, &[0], &[fd.as_fd()]),
            Err(errno) => send_with_fds(socket, &[errno as u8], &[]),
        };
        if sent.is_err() {
            return;
        }
    }
}
