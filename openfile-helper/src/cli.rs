//! The command line: a fixed protocol, parsed by hand.
//!
//! `openfile-helper <sockfd#> <pathname> <mode>` is the one-shot request; `--help` and
//! `--version` are the only other forms. Nothing here may panic on any argv.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use myopen::wire::{self, ArgumentError};
use nix::errno::Errno;

use crate::opener::open_as_caller;
use crate::privilege;
use crate::reply::ReplySocket;

const PROGRAM: &str = "openfile-helper";
const USAGE: &str =
    "usage: openfile-helper <sockfd#> <pathname> <mode>\n       openfile-helper --help | --version";

/// Runs the helper on `args` (argv without the program name) and returns its exit status.
pub fn run(args: Vec<OsString>) -> ExitCode {
    if let [only] = args.as_slice() {
        match only.as_encoded_bytes() {
            b"--help" => return print_stdout(&help_text()),
            b"--version" => {
                return print_stdout(&format!("{PROGRAM} {}\n", env!("CARGO_PKG_VERSION")));
            }
            _ => {}
        }
    }
    if let Err(errno) = privilege::become_caller() {
        return refuse(errno, "cannot drop privileges");
    }
    one_shot(&args)
}

fn one_shot(args: &[OsString]) -> ExitCode {
    // The socket comes first, so that every later refusal can be reported on it as well.
    let socket = match args.first().map(|arg| wire::parse_socket_fd(arg)) {
        Some(Ok(raw)) => match ReplySocket::adopt(raw) {
            Ok(socket) => socket,
            Err(errno) => {
                return refuse(
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

    let errno = match open_as_caller(&request.path, request.flags) {
        Ok(fd) => match socket.send_opened(&fd) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(errno) => errno,
        },
        Err(errno) => {
            // If even the status byte cannot be sent, the exit status still carries the errno.
            let _ = socket.send_failure(errno);
            errno
        }
    };
    exit_status(errno)
}

fn usage_error(socket: Option<&ReplySocket>, error: &ArgumentError) -> ExitCode {
    let errno = Errno::from_raw(error.errno());
    if let Some(socket) = socket {
        let _ = socket.send_failure(errno);
    }
    let _ = writeln!(std::io::stderr(), "{PROGRAM}: {error}\n{USAGE}");
    exit_status(errno)
}

fn refuse(errno: Errno, why: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{PROGRAM}: {why}: {}", errno.desc());
    exit_status(errno)
}

fn exit_status(errno: Errno) -> ExitCode {
    ExitCode::from(wire::status_for_errno(errno as i32))
}

fn print_stdout(text: &str) -> ExitCode {
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn help_text() -> String {
    format!(
        "{PROGRAM}: the privileged half of myopen.\n\n{USAGE}\n\n\
         Started by the myopen library (my_open, mycat), never by hand: it opens <pathname> with\n\
         the open(2) flags <mode> and passes the descriptor back over the Unix-domain socket\n\
         <sockfd#>, with one status byte (0, or the errno). The exit status is that errno.\n\
         This build opens files with the caller's own rights only.\n"
    )
}
