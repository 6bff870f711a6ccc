//! The request socket: checking what the caller handed us, and answering on it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use myopen::fdpass::send_with_fds;
use myopen::wire::{STATUS_OPENED, status_for_errno};
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, SockType, SockaddrLike, SockaddrStorage, getsockname, getsockopt, sockopt,
};
use nix::sys::stat::{SFlag, fstat};

use crate::sys;

/// One record a session client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A record of this many bytes (0: an empty one), to be decoded as a request.
    Request(usize),
    /// A record that came with descriptors (already closed): not a request, whatever its bytes.
    CarriedDescriptors,
}

/// The socket a one-shot request arrived with: an `AF_UNIX` stream or seqpacket socket.
#[derive(Debug)]
pub struct ReplySocket {
    socket: OwnedFd,
    /// Set at the first record received: whether `SO_PASSCRED` stays on for the socket's life
    /// (it has an address, as every `myopend` connection has), or is turned on around each
    /// receive only (a helper's unnamed socket pair, which sending with it on would autobind).
    credentials_kept: std::cell::OnceCell<bool>,
}

impl ReplySocket {
    /// Adopts descriptor `raw` if it is an `AF_UNIX` stream or seqpacket socket.
    ///
    /// `EBADF` if it is not open, `ENOTSOCK` if it is not a socket, `EPROTOTYPE` for any other
    /// kind of socket.
    pub fn adopt(raw: RawFd) -> Result<ReplySocket, Errno> {
        let socket = sys::adopt_inherited_fd(raw)?;
        let checked = check_unix_socket(&socket);
        // A descriptor that is not our socket still belongs to the caller's setup (it may be a
        // terminal on fd 0): leave it open rather than closing something we did not create.
        if let Err(errno) = checked {
            std::mem::forget(socket);
            return Err(errno);
        }
        Ok(ReplySocket {
            socket,
            credentials_kept: std::cell::OnceCell::new(),
        })
    }

    /// Takes `socket`, a connection `myopend` accepted on its own listening socket, and turns
    /// `SO_PASSCRED` on for the connection's life. Nothing of it is checked again: the listener
    /// checked its socket (`AF_UNIX`, `SOCK_SEQPACKET`, listening) when it bound or adopted it,
    /// an accepted connection has that socket's type and name (so the option cannot autobind
    /// it), and nothing but the listener sends on a worker's control socket. One system call
    /// where the checks and the first receive's probe made five, on every connection's path.
    pub fn from_connection(socket: OwnedFd) -> Result<ReplySocket, Errno> {
        nix::sys::socket::setsockopt(&socket, sockopt::PassCred, &true)?;
        Ok(ReplySocket {
            socket,
            credentials_kept: std::cell::OnceCell::from(true),
        })
    }

    /// The socket itself, to wait on it.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Sends status byte 0 with `fd`.
    pub fn send_opened(&self, fd: impl AsFd) -> Result<(), Errno> {
        self.send(&[STATUS_OPENED], &[fd.as_fd()])
    }

    /// Sends the status byte for `errno`, with no descriptor.
    pub fn send_failure(&self, errno: Errno) -> Result<(), Errno> {
        self.send(&[status_for_errno(errno as i32)], &[])
    }

    /// The socket's type: stream for one-shot requests, seqpacket for sessions.
    pub fn kind(&self) -> Result<SockType, Errno> {
        getsockopt(&self.socket, sockopt::SockType)
    }

    /// Receives one record of a seqpacket socket into `buffer`, closing any descriptor the caller
    /// sent along: a request never carries one, so such a record is not a request. `None` when
    /// the caller sends no more (end-of-file).
    pub fn receive(&self, buffer: &mut [u8]) -> Result<Option<Record>, Errno> {
        let kept = *self.credentials_kept.get_or_init(|| {
            // A failure leaves the option off: each receive then turns it on and off itself.
            myopen::fdpass::keep_passing_credentials(&self.socket).unwrap_or(false)
        });
        let received = if kept {
            myopen::fdpass::recv_record_passing_credentials(&self.socket, buffer, 0)
        } else {
            myopen::fdpass::recv_record(&self.socket, buffer, 0)
        };
        match received {
            Ok(None) => Ok(None),
            Ok(Some(received)) if received.discarded_fds > 0 => {
                Ok(Some(Record::CarriedDescriptors))
            }
            Ok(Some(received)) => Ok(Some(Record::Request(received.bytes))),
            // More descriptors than the room offered: all closed, the record consumed.
            Err(error)
                if error
                    .get_ref()
                    .is_some_and(|inner| inner.is::<myopen::fdpass::ControlTruncated>()) =>
            {
                Ok(Some(Record::CarriedDescriptors))
            }
            Err(error) => Err(Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))),
        }
    }

    /// Sends `data`, with `fds` attached.
    pub fn send(&self, data: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) -> Result<(), Errno> {
        send_with_fds(&self.socket, data, fds)
            .map(drop)
            .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))
    }
}

fn check_unix_socket(fd: &OwnedFd) -> Result<(), Errno> {
    let stat = fstat(fd)?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        return Err(Errno::ENOTSOCK);
    }
    let address: SockaddrStorage = getsockname(fd.as_raw_fd())?;
    if address.family() != Some(AddressFamily::Unix) {
        return Err(Errno::EPROTOTYPE);
    }
    match getsockopt(fd, sockopt::SockType)? {
        SockType::Stream | SockType::SeqPacket => Ok(()),
        _ => Err(Errno::EPROTOTYPE),
    }
}
