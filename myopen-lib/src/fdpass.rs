//! Passing open descriptors over a Unix-domain socket (SCM_RIGHTS).
//!
//! The rules here are the ones the classic texts teach the hard way:
//! - a descriptor always travels with at least one data byte, because a receiver cannot tell a
//!   zero-length message from end-of-file;
//! - the receiver always offers room for descriptors: a plain `read` of a message that carries one
//!   makes the kernel close it silently;
//! - received descriptors are close-on-exec from the moment they exist (`MSG_CMSG_CLOEXEC`), so a
//!   `fork` + `exec` in another thread can never inherit them;
//! - if the control data was truncated (`MSG_CTRUNC`) the message is unusable: every descriptor
//!   that did arrive is closed and the call fails;
//! - descriptors beyond what the caller asked for are closed, and counted.
//!
//! On a stream socket a message that carries descriptors is a barrier: data sent before it may be
//! merged into the same receive, data sent after it never is.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, MsgFlags, UnixAddr, getsockname, sendmsg, setsockopt, sockopt,
};

use crate::sys;

/// One received message: how many bytes landed in the buffer and the descriptors kept.
#[derive(Debug)]
pub struct Received {
    /// Bytes written into the caller's buffer; 0 means the peer closed the connection.
    pub bytes: usize,
    /// Descriptors received, at most as many as asked for; each is close-on-exec.
    pub fds: Vec<OwnedFd>,
    /// Descriptors that arrived beyond what was asked for; they have already been closed.
    pub discarded_fds: usize,
}

/// The error inside the [`io::Error`] a receive returns when the control data was truncated
/// (`MSG_CTRUNC`): the sender passed more descriptors than there was room for. A receiver that
/// must answer such a message (a server refusing it) finds it with
/// `error.get_ref().and_then(|inner| inner.downcast_ref::<ControlTruncated>())`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlTruncated {
    /// The room offered, in descriptors.
    pub expected: usize,
    /// How many arrived (all of them already closed).
    pub arrived: usize,
}

impl std::fmt::Display for ControlTruncated {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "control message truncated (MSG_CTRUNC): the sender passed more descriptors than the \
             {} expected; the {} that arrived were closed",
            self.expected, self.arrived
        )
    }
}

impl std::error::Error for ControlTruncated {}

/// Sends `data` and passes `fds` with it, in one `sendmsg`.
///
/// ```
/// use std::os::fd::AsFd;
/// use myopen::fdpass::{recv_with_fds, send_with_fds};
/// use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
///
/// let (left, right) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)?;
/// let file = std::fs::File::open("/etc/hostname")?;
/// send_with_fds(&left, b"\0", &[file.as_fd()])?;
///
/// let mut status = [0u8; 1];
/// let received = recv_with_fds(&right, &mut status, 1)?;
/// assert_eq!((received.bytes, received.fds.len()), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Fails with `InvalidInput` when descriptors are to be sent without data. Uses `MSG_NOSIGNAL`, so
/// a vanished peer is an `EPIPE` error, never a `SIGPIPE`. `EINTR` is retried. Returns the number
/// of data bytes sent; the descriptors travel with the first of them.
pub fn send_with_fds(socket: impl AsFd, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    if data.is_empty() && !fds.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a descriptor must travel with at least one data byte",
        ));
    }
    let raw_fds: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let rights = [ControlMessage::ScmRights(&raw_fds)];
    let control: &[ControlMessage<'_>] = if raw_fds.is_empty() { &[] } else { &rights };
    let iov = [IoSlice::new(data)];
    let socket = socket.as_fd();
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            control,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
            Ok(sent) => return Ok(sent),
        }
    }
}

/// Receives one message into `buf`, keeping at most `max_fds` descriptors.
///
/// ```
/// use std::os::fd::AsFd;
/// use myopen::fdpass::{recv_with_fds, send_with_fds};
/// use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
///
/// let (left, right) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)?;
/// let file = std::fs::File::open("/etc/hostname")?;
/// send_with_fds(&left, b"x", &[file.as_fd()])?;
/// // Asking for no descriptor: the one sent is closed here, not leaked.
/// let received = recv_with_fds(&right, &mut [0u8; 1], 0)?;
/// assert_eq!((received.fds.len(), received.discarded_fds), (0, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Room for at least one descriptor is always offered, even when `max_fds` is 0, so that a
/// descriptor nobody asked for is closed here rather than leaked or silently dropped unseen.
/// A truncated control message (`MSG_CTRUNC`) is an error, after every descriptor that did
/// arrive has been closed.
pub fn recv_with_fds(socket: impl AsFd, buf: &mut [u8], max_fds: usize) -> io::Result<Received> {
    receive(socket.as_fd(), buf, max_fds, false).map(|(received, _)| received)
}

/// Receives one record from a `SOCK_SEQPACKET` socket as [`recv_with_fds`] does, telling an empty
/// record from end-of-file: `None` when the peer has closed its end or shut down its sending
/// side and every record has been read.
///
/// Both read as 0 bytes, and neither `MSG_EOR` (Linux never sets it on `AF_UNIX`) nor `poll` (a
/// peer that sends an empty record and then shuts down looks like one that only shut down) tells
/// them apart. With `SO_PASSCRED` on, the kernel attaches `SCM_CREDENTIALS` to every record it
/// delivers, an empty one too, and to nothing at end-of-file (unix(7)). The option is on only for
/// the receive: a socket that sends with it on gets bound to an autobind address.
///
/// ```
/// use myopen::fdpass::{recv_record, send_with_fds};
/// use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
///
/// let (left, right) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
/// send_with_fds(&left, b"", &[])?;
/// drop(left);
/// let mut buffer = [0u8; 4];
/// assert_eq!(recv_record(&right, &mut buffer, 0)?.map(|record| record.bytes), Some(0));
/// assert!(recv_record(&right, &mut buffer, 0)?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn recv_record(
    socket: impl AsFd,
    buf: &mut [u8],
    max_fds: usize,
) -> io::Result<Option<Received>> {
    let socket = socket.as_fd();
    setsockopt(&socket, sockopt::PassCred, &true)?;
    let received = receive(socket, buf, max_fds, true);
    let cleared = setsockopt(&socket, sockopt::PassCred, &false);
    let (received, credentials) = received?;
    cleared?;
    Ok((received.bytes > 0 || credentials).then_some(received))
}

/// Turns `SO_PASSCRED` on for the rest of the life of `socket`, a `SOCK_SEQPACKET` socket, when
/// that is harmless: when the socket has an address (a connection accepted from a bound listener
/// shares the listener's), since only a socket without one gets autobound when it sends with
/// the option on. Returns whether it did; then [`recv_record_passing_credentials`] tells an
/// empty record from end-of-file with one system call, where [`recv_record`] needs three.
///
/// ```
/// use myopen::fdpass::keep_passing_credentials;
/// use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
///
/// let (_left, right) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
/// // Unnamed: it would be autobound at its next send, so the option stays off.
/// assert!(!keep_passing_credentials(&right)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn keep_passing_credentials(socket: impl AsFd) -> io::Result<bool> {
    let socket = socket.as_fd();
    let name: UnixAddr = getsockname(socket.as_raw_fd())?;
    if name.is_unnamed() {
        return Ok(false);
    }
    setsockopt(&socket, sockopt::PassCred, &true)?;
    Ok(true)
}

/// [`recv_record`] for a socket on which [`keep_passing_credentials`] turned `SO_PASSCRED` on:
/// the receive alone, the option left as it is.
pub fn recv_record_passing_credentials(
    socket: impl AsFd,
    buf: &mut [u8],
    max_fds: usize,
) -> io::Result<Option<Received>> {
    let (received, credentials) = receive(socket.as_fd(), buf, max_fds, true)?;
    Ok((received.bytes > 0 || credentials).then_some(received))
}

/// [`recv_with_fds`], with room for credentials when `credentials` is set; whether they came.
fn receive(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
    credentials: bool,
) -> io::Result<(Received, bool)> {
    let raw = sys::recvmsg_with_fds(socket, buf, max_fds.max(1), credentials)?;
    let arrived = raw.fds.len();
    if raw.control_truncated {
        drop(raw.fds);
        return Err(io::Error::other(ControlTruncated {
            expected: max_fds,
            arrived,
        }));
    }
    let mut fds = raw.fds;
    let discarded_fds = fds.len().saturating_sub(max_fds);
    fds.truncate(max_fds);
    Ok((
        Received {
            bytes: raw.bytes,
            fds,
            discarded_fds,
        },
        raw.credentials,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    use nix::unistd::{pipe2, read, write};

    fn stream_pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair")
    }

    /// A pipe whose read end reports whether any copy of the write end is still open anywhere in
    /// this process: a leak check that parallel tests cannot disturb.
    fn leak_probe() -> (OwnedFd, OwnedFd) {
        pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe2")
    }

    fn every_write_end_closed(read_end: &OwnedFd) -> bool {
        let mut byte = [0u8; 1];
        match read(read_end, &mut byte) {
            Ok(0) => true,
            Err(Errno::EAGAIN) => false,
            other => panic!("unexpected read result {other:?}"),
        }
    }

    #[test]
    fn round_trip_passes_a_working_descriptor() {
        let (left, right) = stream_pair();
        let (read_end, write_end) = leak_probe();
        assert_eq!(send_with_fds(&left, b"x", &[write_end.as_fd()]).unwrap(), 1);
        drop(write_end);

        let mut buf = [0u8; 8];
        let received = recv_with_fds(&right, &mut buf, 1).unwrap();
        assert_eq!(
            (
                received.bytes,
                &buf[..1],
                received.fds.len(),
                received.discarded_fds
            ),
            (1, &b"x"[..], 1, 0)
        );

        write(&received.fds[0], b"hello").unwrap();
        let mut out = [0u8; 5];
        assert_eq!(read(&read_end, &mut out).unwrap(), 5);
        assert_eq!(&out, b"hello");
    }

    #[test]
    fn received_descriptors_are_close_on_exec() {
        let (left, right) = stream_pair();
        let (_read_end, write_end) = pipe2(OFlag::empty()).unwrap();
        assert!(
            !FdFlag::from_bits_truncate(fcntl(&write_end, FcntlArg::F_GETFD).unwrap())
                .contains(FdFlag::FD_CLOEXEC)
        );
        send_with_fds(&left, b"x", &[write_end.as_fd()]).unwrap();
        let received = recv_with_fds(&right, &mut [0u8; 1], 1).unwrap();
        let flags = FdFlag::from_bits_truncate(fcntl(&received.fds[0], FcntlArg::F_GETFD).unwrap());
        assert!(flags.contains(FdFlag::FD_CLOEXEC));
    }

    #[test]
    fn descriptor_without_data_is_refused_before_sending() {
        let (left, _right) = stream_pair();
        let (_read_end, write_end) = leak_probe();
        let error = send_with_fds(&left, b"", &[write_end.as_fd()]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn descriptor_is_a_barrier_in_the_stream() {
        let (left, right) = stream_pair();
        let (_read_end, write_end) = leak_probe();
        send_with_fds(&left, b"a", &[]).unwrap();
        send_with_fds(&left, b"b", &[write_end.as_fd()]).unwrap();
        send_with_fds(&left, b"c", &[]).unwrap();

        let mut buf = [0u8; 16];
        let first = recv_with_fds(&right, &mut buf, 1).unwrap();
        assert_eq!(
            &buf[..first.bytes],
            b"ab",
            "data before the descriptor merges into its message"
        );
        assert_eq!(first.fds.len(), 1);
        let second = recv_with_fds(&right, &mut buf, 1).unwrap();
        assert_eq!(
            &buf[..second.bytes],
            b"c",
            "data after the descriptor is never merged across it"
        );
        assert!(second.fds.is_empty());
    }

    #[test]
    fn receiver_that_asks_for_no_descriptor_does_not_leak_it() {
        let (left, right) = stream_pair();
        let (read_end, write_end) = leak_probe();
        send_with_fds(&left, b"x", &[write_end.as_fd()]).unwrap();
        drop(write_end);
        let received = recv_with_fds(&right, &mut [0u8; 1], 0).unwrap();
        assert_eq!(
            (received.bytes, received.fds.len(), received.discarded_fds),
            (1, 0, 1)
        );
        assert!(every_write_end_closed(&read_end));
    }

    #[test]
    fn descriptors_beyond_the_asked_number_are_closed() {
        let (left, right) = stream_pair();
        let (read_end, write_end) = leak_probe();
        let (_other_read, other_write) = leak_probe();
        // Two descriptors fit the control space of one, because CMSG_SPACE rounds up (the
        // CMSG_LEN-versus-CMSG_SPACE point of the Postfix notes).
        send_with_fds(&left, b"x", &[other_write.as_fd(), write_end.as_fd()]).unwrap();
        drop(write_end);
        let received = recv_with_fds(&right, &mut [0u8; 1], 1).unwrap();
        assert_eq!((received.fds.len(), received.discarded_fds), (1, 1));
        assert!(
            every_write_end_closed(&read_end),
            "the surplus descriptor was leaked"
        );
    }

    #[test]
    fn truncated_control_data_is_an_error_and_closes_what_arrived() {
        let (left, right) = stream_pair();
        let (read_end, write_end) = leak_probe();
        let copies = [write_end.as_fd(); 5];
        send_with_fds(&left, b"x", &copies).unwrap();
        drop(write_end);
        let error = recv_with_fds(&right, &mut [0u8; 1], 1).unwrap_err();
        assert!(error.to_string().contains("MSG_CTRUNC"), "{error}");
        // How many fit depends on the control buffer's alignment padding, not on what was asked.
        let truncated = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ControlTruncated>())
            .expect("a server can tell this error from others, to answer the message");
        assert_eq!(truncated.expected, 1);
        assert!(truncated.arrived < 5, "{truncated:?}");
        assert!(
            every_write_end_closed(&read_end),
            "a descriptor from the truncated message leaked"
        );
    }

    #[test]
    fn many_descriptors_in_one_message() {
        let (left, right) = stream_pair();
        let probes: Vec<_> = (0..10).map(|_| leak_probe()).collect();
        let write_ends: Vec<_> = probes.iter().map(|(_, w)| w.as_fd()).collect();
        send_with_fds(&left, b"many", &write_ends).unwrap();
        let received = recv_with_fds(&right, &mut [0u8; 4], 10).unwrap();
        assert_eq!((received.bytes, received.fds.len()), (4, 10));
        for (fd, (read_end, _)) in received.fds.iter().zip(&probes) {
            write(fd, b"!").unwrap();
            let mut byte = [0u8; 1];
            assert_eq!(
                read(read_end, &mut byte).unwrap(),
                1,
                "descriptors arrive in the order sent"
            );
        }
    }

    #[test]
    fn a_record_is_told_from_end_of_file_and_the_socket_is_left_as_it_was() {
        use nix::sys::socket::{Shutdown, UnixAddr, getsockname, getsockopt, shutdown};
        let (left, right) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        let (read_end, write_end) = leak_probe();
        send_with_fds(&left, b"x", &[write_end.as_fd()]).unwrap();
        drop(write_end);
        send_with_fds(&left, b"", &[]).unwrap();
        shutdown(left.as_raw_fd(), Shutdown::Write).unwrap();

        let mut buffer = [0u8; 4];
        let with_fd = recv_record(&right, &mut buffer, 0)
            .unwrap()
            .expect("a record");
        assert_eq!((with_fd.bytes, with_fd.discarded_fds), (1, 1));
        assert!(every_write_end_closed(&read_end), "the descriptor leaked");
        let empty = recv_record(&right, &mut buffer, 0).unwrap();
        assert_eq!(
            empty.map(|record| record.bytes),
            Some(0),
            "the empty record"
        );
        assert!(recv_record(&right, &mut buffer, 0).unwrap().is_none());

        assert!(!getsockopt(&right, sockopt::PassCred).unwrap());
        send_with_fds(&right, b"reply", &[]).unwrap();
        let name: UnixAddr = getsockname(right.as_raw_fd()).unwrap();
        assert!(name.is_unnamed(), "sending did not autobind: {name:?}");
    }

    #[test]
    fn a_socket_with_an_address_keeps_passing_credentials_and_one_without_is_left_alone() {
        use nix::sys::socket::{Shutdown, UnixAddr, bind, getsockname, getsockopt, shutdown};
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("named");
        // As a connection accepted from a bound listener is: a socket with a name.
        let (client, accepted) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        bind(accepted.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();

        assert!(keep_passing_credentials(&accepted).unwrap());
        send_with_fds(&client, b"x", &[]).unwrap();
        send_with_fds(&client, b"", &[]).unwrap();
        shutdown(client.as_raw_fd(), Shutdown::Write).unwrap();
        let mut buffer = [0u8; 4];
        let record = |buffer: &mut [u8]| {
            recv_record_passing_credentials(&accepted, buffer, 0)
                .unwrap()
                .map(|record| record.bytes)
        };
        assert_eq!(record(&mut buffer), Some(1));
        assert_eq!(record(&mut buffer), Some(0), "the empty record");
        assert_eq!(record(&mut buffer), None, "end-of-file");
        assert!(getsockopt(&accepted, sockopt::PassCred).unwrap());
        send_with_fds(&accepted, b"reply", &[]).unwrap();
        let name: UnixAddr = getsockname(accepted.as_raw_fd()).unwrap();
        assert_eq!(name.path(), Some(path.as_path()), "still its own name");

        let (_left, right) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        assert!(!keep_passing_credentials(&right).unwrap());
        assert!(!getsockopt(&right, sockopt::PassCred).unwrap());
    }

    #[test]
    fn end_of_file_is_zero_bytes_and_no_descriptor() {
        let (left, right) = stream_pair();
        drop(left);
        let received = recv_with_fds(&right, &mut [0u8; 1], 1).unwrap();
        assert_eq!((received.bytes, received.fds.len()), (0, 0));
    }

    #[test]
    fn sending_to_a_closed_peer_is_epipe_not_sigpipe() {
        let (left, right) = stream_pair();
        drop(right);
        let error = send_with_fds(&left, b"x", &[]).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EPIPE));
    }

    #[test]
    fn works_on_seqpacket_sockets() {
        let (left, right) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (_read_end, write_end) = leak_probe();
        send_with_fds(&left, b"\0", &[write_end.as_fd()]).unwrap();
        let received = recv_with_fds(&right, &mut [0u8; 4], 1).unwrap();
        assert_eq!((received.bytes, received.fds.len()), (1, 1));
    }
}
