//! The command line: a fixed protocol, parsed by hand.
//!
//! `openfile-helper <sockfd#> <pathname> <mode>` is the one-shot request, `--session <sockfd#>`
//! the persistent one; `--help`, `--version`, `--check` and `--explain` are the administrator's
//! commands. Nothing here may
//! panic on any argv.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use myopen::wire::{self, ArgumentError};
use nix::errno::Errno;

use crate::admin;
use crate::hardening;
use crate::privilege::Privilege;
use crate::reply::ReplySocket;
use crate::service::Service;
use crate::session;

pub(crate) const PROGRAM: &str = "openfile-helper";

/// Runs the helper on `args` (argv without the program name) and returns its exit status.
pub fn run(args: Vec<OsString>) -> ExitCode {
    if let Err(errno) = hardening::harden(request_socket_number(&args)) {
        return fail(errno, "start-up hardening failed");
    }
    let privilege = match Privilege::establish() {
        Ok(privilege) => privilege,
        Err(errno) => return fail(errno, "cannot reduce privileges"),
    };
    match args.first().map(|arg| arg.as_bytes()) {
        Some(b"--help") => admin::help(),
        Some(b"--version") => admin::version(&privilege),
        Some(b"--check") => admin::check(&args[1..], &privilege),
        Some(b"--explain") => admin::explain(&args[1..], &privilege),
        Some(b"--session") => session::run(&args[1..], &privilege),
        _ => one_shot(&args, &privilege),
    }
}

/// The inherited descriptor start-up hardening must keep: the request socket, when argv has the
/// one-shot shape. Parsing is pure, so it is safe before hardening.
fn request_socket_number(args: &[OsString]) -> Option<RawFd> {
    let socket_arg = match args {
        [flag, socket, ..] if flag.as_bytes() == wire::session::FLAG.as_bytes() => socket,
        [socket, ..] => socket,
        [] => return None,
    };
    wire::parse_socket_fd(socket_arg).ok()
}

fn one_shot(args: &[OsString], privilege: &Privilege) -> ExitCode {
    // The socket comes first, so that every later refusal can be reported on it as well.
    let socket = match args.first().map(|arg| wire::parse_socket_fd(arg)) {
        Some(Ok(raw)) => match ReplySocket::adopt(raw) {
            Ok(socket) => socket,
            Err(errno) => {
                return fail(
                    errno,
                    &format!("descriptor {raw} is not a Unix-domain socket"),
                );
            }
        },
        _ => {
            let error = wire::parse_one_shot(args)
                .err()
                .unwrap_or(ArgumentError::BadSocketNumber);
            return usage_error(None, &error);
        }
    };
    let request = match wire::parse_one_shot(args) {
        Ok(request) => request,
        Err(error) => return usage_error(Some(&socket), &error),
    };
    let service = match Service::start(privilege) {
        Ok(service) => service,
        Err(not_serving) => {
            let _ = socket.send_failure(not_serving.errno);
            return fail(not_serving.errno, &not_serving.why);
        }
    };
    // The UNP protocol carries no mode: a created file gets 0666 less the caller's umask.
    let errno = match service.handle(&request.path, request.flags, 0o666) {
        Ok(opened) => {
            // One-shot: no further open will need the capabilities, so none outlive the open.
            privilege.drop_all();
            match socket.send_opened(&opened.fd) {
                Ok(()) => return ExitCode::SUCCESS,
                Err(errno) => errno,
            }
        }
        Err(refusal) => {
            // If even the status byte cannot be sent, the exit status still carries the errno.
            let _ = socket.send_failure(refusal.errno);
            refusal.errno
        }
    };
    exit_status(errno)
}

pub(crate) fn usage_error(socket: Option<&ReplySocket>, error: &ArgumentError) -> ExitCode {
    let errno = Errno::from_raw(error.errno());
    if let Some(socket) = socket {
        let _ = socket.send_failure(errno);
    }
    let _ = writeln!(std::io::stderr(), "{PROGRAM}: {error}\n{}", admin::USAGE);
    exit_status(errno)
}

pub(crate) fn fail(errno: Errno, why: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{PROGRAM}: {why}: {}", errno.desc());
    exit_status(errno)
}

pub(crate) fn exit_status(errno: Errno) -> ExitCode {
    ExitCode::from(wire::status_for_errno(errno as i32))
}
