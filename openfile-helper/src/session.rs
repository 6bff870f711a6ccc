//! Session mode: `openfile-helper --session <sockfd#>` serves many requests over one
//! `SOCK_SEQPACKET` socket, each with every check a one-shot request gets, until the client
//! closes its end. The framing is `myopen::wire::session`; no length in a request is trusted.

use std::ffi::OsStr;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use myopen::wire::session::{
    FrameError, Hello, MAX_REQUEST_LEN, Origin, Reply, SessionRequest, VERSION,
};
use nix::errno::Errno;
use nix::sys::socket::SockType;

use crate::diagnostics::{Exit, adopt_request_socket, complain, fail};
use crate::privilege::Privilege;
use crate::reply::{Record, ReplySocket};
use crate::service::{Extent, Service};

/// Serves a session on inherited descriptor `raw`.
pub fn run(raw: RawFd, privilege: &Privilege) -> Exit {
    let socket = match adopt_request_socket(raw) {
        Ok(socket) => socket,
        Err(exit) => return exit,
    };
    // Only packets keep requests apart; on a stream a bad length would desynchronise everything.
    if socket.kind() != Ok(SockType::SeqPacket) {
        return fail(Errno::EPROTOTYPE, "a session needs a SOCK_SEQPACKET socket");
    }
    let service = match Service::start(privilege, Extent::Requests) {
        Ok(service) => service,
        Err(not_serving) => return fail(not_serving.errno, &not_serving.why),
    };
    serve_session(&socket, &service, privilege, &|| Ok(true))
}

/// The session protocol on `socket` for `service`, until the client closes its end: the hello,
/// then one reply per request, one descriptor per reply. The helper's session mode and every
/// `myopend` worker run this one loop. `ready` is asked before each request is read: `Ok(true)`
/// when one can be read, `Ok(false)` to end the session quietly (the worker's idle timeout and
/// shutdown), an errno to end it with that status.
pub fn serve_session(
    socket: &ReplySocket,
    service: &Service<'_>,
    privilege: &Privilege,
    ready: &dyn Fn() -> Result<bool, Errno>,
) -> Exit {
    let hello = Hello {
        version: VERSION,
        privileged: privilege.standing().governed_by_policy(),
    };
    if let Err(errno) = socket.send(&hello.encode(), &[]) {
        return Exit::for_errno(errno);
    }

    // One byte more than the largest request, so that an oversized packet shows as truncated.
    let mut packet = vec![0u8; MAX_REQUEST_LEN + 1];
    loop {
        match ready() {
            Ok(true) => {}
            Ok(false) => return Exit::SUCCESS,
            Err(errno) => return Exit::for_errno(errno),
        }
        // An empty record is not the end: it is answered as malformed, like any frame too short.
        let length = match socket.receive(&mut packet) {
            Ok(None) => return Exit::SUCCESS,
            Ok(Some(Record::Request(length))) => length,
            Ok(Some(Record::CarriedDescriptors)) => {
                // Refused, not served: the framing is intact, so the session goes on.
                complain("request refused: it carried a descriptor (requests carry none)");
                match reply(socket, Errno::EINVAL, Origin::Request) {
                    Ok(()) => continue,
                    Err(errno) => return Exit::for_errno(errno),
                }
            }
            Err(errno) => return Exit::for_errno(errno),
        };
        let answered = match SessionRequest::decode(&packet[..length.min(MAX_REQUEST_LEN + 1)]) {
            Ok(_) if length > MAX_REQUEST_LEN => {
                end_session(socket, "request larger than any valid one")
            }
            Ok(request) => serve(socket, service, &request),
            Err(FrameError::Malformed(why)) => end_session(socket, why),
            Err(FrameError::Argument(error)) => {
                reply(socket, Errno::from_raw(error.errno()), Origin::System).map(|()| Next::Serve)
            }
        };
        match answered {
            Ok(Next::Serve) => continue,
            Ok(Next::Malformed) => return Exit::for_errno(Errno::EINVAL),
            // Answered with the restart reply: ending is the whole point, not a failure.
            Ok(Next::Restart) => return Exit::SUCCESS,
            Err(errno) => return Exit::for_errno(errno),
        }
    }
}

/// What the session does after a request was answered.
enum Next {
    /// Read the next request.
    Serve,
    /// End with EINVAL: the client is not speaking the protocol.
    Malformed,
    /// End quietly: the request was answered with [`Reply::restart`], this process can serve
    /// no more, and the client starts a new session.
    Restart,
}

fn serve(
    socket: &ReplySocket,
    service: &Service<'_>,
    request: &SessionRequest<'_>,
) -> Result<Next, Errno> {
    match service.handle(OsStr::from_bytes(request.path), request.flags, request.mode) {
        Ok(opened) => socket.send(
            &Reply::Opened.encode(),
            &[std::os::fd::AsFd::as_fd(&opened.fd)],
        )?,
        Err(refusal) if refusal.ends_serving => {
            socket.send(&Reply::restart().encode(), &[])?;
            return Ok(Next::Restart);
        }
        Err(refusal) => {
            let origin = if refusal.by_policy {
                Origin::Policy
            } else {
                Origin::System
            };
            reply(socket, refusal.errno, origin)?;
        }
    }
    Ok(Next::Serve)
}

fn reply(socket: &ReplySocket, errno: Errno, origin: Origin) -> Result<(), Errno> {
    socket.send(&Reply::refused(errno as i32, origin).encode(), &[])
}

/// Answers a request that cannot be parsed, and ends the session: the client is not speaking the
/// protocol, so nothing more it sends can be trusted.
fn end_session(socket: &ReplySocket, why: &str) -> Result<Next, Errno> {
    complain(&format!("session ended: {why}"));
    reply(socket, Errno::EINVAL, Origin::Request)?;
    Ok(Next::Malformed)
}
