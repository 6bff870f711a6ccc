//! The command line: a fixed protocol, parsed by hand.
//!
//! `openfile-helper <sockfd#> <pathname> <mode>` is the one-shot request; `--help`,
//! `--version`, `--check` and `--explain` are the administrator's commands. Nothing here may
//! panic on any argv.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;

use myopen::wire::{self, ArgumentError, OneShotRequest};
use nix::errno::Errno;

use crate::admin;
use crate::audit::{self, Record};
use crate::config;
use crate::hardening;
use crate::identity::{self, SystemNames};
use crate::policy::{self, FileProblem, LoadedPolicy, Policy, PolicyError};
use crate::privilege::{Installation, Need, Privilege};
use crate::reply::ReplySocket;
use crate::resolve::{self, Opened, Refusal};

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
        _ => one_shot(&args, &privilege),
    }
}

/// The inherited descriptor start-up hardening must keep: the request socket, when argv has the
/// one-shot shape. Parsing is pure, so it is safe before hardening.
fn request_socket_number(args: &[OsString]) -> Option<RawFd> {
    args.first().and_then(|arg| wire::parse_socket_fd(arg).ok())
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
    let who = match identity::caller() {
        Ok(who) => who,
        Err(errno) => {
            let _ = socket.send_failure(errno);
            return fail(errno, "cannot read the caller's identity");
        }
    };

    let outcome = serve(&request, &who, privilege);
    let user = identity::user_name(who.uid);
    let record = |granted: bool, canonical: Option<&[u8]>, rule: Option<String>, reason: &str| {
        audit::log(&Record {
            uid: who.uid,
            user: user.as_deref(),
            path: request.path.as_bytes(),
            canonical,
            flags: request.flags,
            granted,
            rule,
            reason,
        })
    };
    let errno = match outcome {
        Ok(opened) => {
            record(
                true,
                Some(&opened.canonical),
                opened.decision.rule.as_ref().map(ToString::to_string),
                unprivileged_note(privilege),
            );
            // One-shot: no further open will need the capabilities, so none travel with the answer.
            privilege.drop_all();
            match socket.send_opened(&opened.fd) {
                Ok(()) => return ExitCode::SUCCESS,
                Err(errno) => errno,
            }
        }
        Err(refusal) => {
            let rule = refusal
                .decision
                .as_ref()
                .and_then(|decision| decision.rule.as_ref())
                .map(ToString::to_string);
            record(false, refusal.canonical.as_deref(), rule, &refusal.reason);
            // If even the status byte cannot be sent, the exit status still carries the errno.
            let _ = socket.send_failure(refusal.errno);
            refusal.errno
        }
    };
    exit_status(errno)
}

fn unprivileged_note(privilege: &Privilege) -> &'static str {
    match privilege.installation() {
        Installation::Unprivileged => "helper not privileged: the caller's own rights",
        Installation::CallerIsRoot => "caller is root: root's own rights",
        Installation::SetuidRoot | Installation::Capabilities => "",
    }
}

/// Opens the request: under the policy when the helper holds privilege, with the caller's own
/// rights when it does not.
fn serve(
    request: &OneShotRequest,
    who: &policy::Identity,
    privilege: &Privilege,
) -> Result<Opened, Refusal> {
    if !privilege.installation().enforces_policy() {
        return resolve::open_checked(None, who, privilege, &request.path, request.flags);
    }
    let loaded = load_policy(privilege).map_err(|error| {
        // Fail closed (P7), and say why where the administrator or the user will see it.
        let _ = writeln!(
            std::io::stderr(),
            "{PROGRAM}: policy unusable, refusing every request: {error}"
        );
        Refusal {
            errno: Errno::EACCES,
            canonical: None,
            decision: None,
            reason: format!("policy unusable: {error}"),
        }
    })?;
    resolve::open_checked(
        Some(&loaded.policy),
        who,
        privilege,
        &request.path,
        request.flags,
    )
}

/// Loads the installed policy. The usual world-readable policy is read with the caller's own
/// rights; only a policy the caller may not read (an administrator's choice, like sudoers' 0440)
/// is read again with CAP_DAC_READ_SEARCH. Name resolution never runs with a capability raised.
pub fn load_policy(privilege: &Privilege) -> Result<LoadedPolicy, PolicyError> {
    let sysconfdir = Path::new(config::SYSCONFDIR);
    let sources = match policy::read_sources(sysconfdir) {
        Err(PolicyError::File {
            problem:
                FileProblem::Io {
                    errno: libc::EACCES,
                    ..
                },
            ..
        }) => privilege.with(Need::ReadSearch, || policy::read_sources(sysconfdir))?,
        other => other?,
    };
    Policy::from_sources(
        sources
            .iter()
            .map(|(path, text)| (path.as_path(), text.as_str())),
        &SystemNames,
    )
}

fn usage_error(socket: Option<&ReplySocket>, error: &ArgumentError) -> ExitCode {
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
