//! The helper from start to finish: parse the command line, harden, establish privilege, run the
//! command. Every other module is reached from here; nothing depends on this one.

use std::ffi::OsString;
use std::os::fd::RawFd;

use myopen::wire::OneShotRequest;

use crate::admin;
use crate::command::Command;
use crate::diagnostics::{Exit, adopt_request_socket, fail, refuse_arguments};
use crate::hardening;
use crate::privilege::Privilege;
use crate::service::{Extent, Service};
use crate::session;

/// Runs the helper on `args` (argv without the program name) and returns its exit status.
pub fn run(args: &[OsString]) -> Exit {
    // Parsing is pure, so it may come before hardening; hardening needs to know which inherited
    // descriptor to keep.
    let command = Command::parse(args);
    if let Err(errno) = hardening::harden(command.inherited_socket().as_slice()) {
        return fail(errno, "start-up hardening failed");
    }
    let privilege = match Privilege::establish() {
        Ok(privilege) => privilege,
        Err(errno) => return fail(errno, "cannot reduce privileges"),
    };
    match command {
        Command::Help => admin::help(),
        Command::Version => admin::version(&privilege),
        Command::Check { file } => admin::check(file.as_deref(), &privilege),
        Command::Compile => admin::compile(&privilege),
        Command::Explain { user, access, path } => {
            admin::explain(user.as_deref(), access, &path, &privilege)
        }
        Command::Session { socket } => session::run(socket, &privilege),
        Command::OneShot { socket, request } => one_shot(socket, request, &privilege),
        Command::BadRequest(error) => refuse_arguments(None, &error),
        Command::BadUsage(why) => crate::diagnostics::usage(&why),
    }
}

fn one_shot(
    raw: RawFd,
    request: Result<OneShotRequest, myopen::wire::ArgumentError>,
    privilege: &Privilege,
) -> Exit {
    // The socket comes first, so that every later refusal can be reported on it as well.
    let socket = match adopt_request_socket(raw) {
        Ok(socket) => socket,
        Err(exit) => return exit,
    };
    let request = match request {
        Ok(request) => request,
        Err(error) => return refuse_arguments(Some(&socket), &error),
    };
    let service = match Service::start(privilege, Extent::OneRequest) {
        Ok(service) => service,
        Err(not_serving) => {
            let _ = socket.send_failure(not_serving.errno);
            return fail(not_serving.errno, &not_serving.why);
        }
    };
    // The UNP protocol carries no mode: a created file gets 0666 less the caller's umask.
    let outcome = service.handle(&request.path, request.flags, 0o666);
    // One request, then the process exits: its policy (a few small allocations per rule) is not
    // freed piece by piece, which cost a large policy a tenth of its load. Sessions and daemon
    // workers drop theirs on every reread.
    std::mem::forget(service);
    let errno = match outcome {
        Ok(opened) => {
            // One-shot: no further open will need the capabilities, so none outlive the open.
            privilege.drop_all();
            match socket.send_opened(&opened.fd) {
                Ok(()) => return Exit::SUCCESS,
                Err(errno) => errno,
            }
        }
        Err(refusal) => {
            // If even the status byte cannot be sent, the exit status still carries the errno.
            let _ = socket.send_failure(refusal.errno);
            refusal.errno
        }
    };
    Exit::for_errno(errno)
}
