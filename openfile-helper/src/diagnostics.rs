//! What the helper tells whoever started it: messages on stderr under the program's name, output
//! on stdout, and the exit status. Every module reports through here, so this module depends on
//! nothing but the reply socket.

use std::io::Write;

use myopen::wire::{self, ArgumentError};
use nix::errno::Errno;

use crate::reply::ReplySocket;

/// The name messages go out under.
pub const PROGRAM: &str = "openfile-helper";

/// The synopsis printed with usage errors and `--help`.
pub const USAGE: &str = "usage: openfile-helper <sockfd#> <pathname> <mode>\n       \
    openfile-helper --check [POLICY-FILE]\n       \
    openfile-helper --compile\n       \
    openfile-helper --explain [--user NAME] [--access WORDS] PATH\n       \
    openfile-helper --help | --version";

/// The helper's exit status. A request's status is its errno (the book's protocol: the caller
/// may read it from `waitpid` when no status byte arrived); an administrator's command exits
/// 0, 1, or 2 for a usage error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(u8);

impl Exit {
    /// Done, or allowed.
    pub const SUCCESS: Exit = Exit(0);
    /// An administrator's command found a problem.
    pub const FAILURE: Exit = Exit(1);
    /// An administrator's command was used wrongly.
    pub const USAGE: Exit = Exit(2);

    /// The status for a request refused with `errno`.
    pub fn for_errno(errno: Errno) -> Exit {
        Exit(wire::status_for_errno(errno as i32))
    }

    /// [`Exit::SUCCESS`] if `ok`, else [`Exit::FAILURE`].
    pub fn success_if(ok: bool) -> Exit {
        if ok { Exit::SUCCESS } else { Exit::FAILURE }
    }

    /// The number for the C runtime.
    pub fn code(self) -> u8 {
        self.0
    }
}

/// Writes `text` to stdout; a failure to write is a failure of the command.
pub fn say(text: &str) -> Exit {
    let mut stdout = std::io::stdout();
    Exit::success_if(
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .is_ok(),
    )
}

/// `openfile-helper: <line>` on stderr. Ignores a failure: stderr may be closed (it is then
/// /dev/null, by start-up hardening) or a pipe nobody reads.
pub fn complain(line: &str) {
    let _ = writeln!(std::io::stderr(), "{PROGRAM}: {line}");
}

/// Says why a request failed and exits with its errno.
pub fn fail(errno: Errno, why: &str) -> Exit {
    complain(&format!("{why}: {}", myopen::strerror(errno as i32)));
    Exit::for_errno(errno)
}

/// Says why an administrator's command failed and exits 1.
pub fn fail_with(why: &str) -> Exit {
    complain(why);
    Exit::FAILURE
}

/// Says how an administrator's command is used and exits 2.
pub fn usage(why: &str) -> Exit {
    complain(&format!("{why}\n{USAGE}"));
    Exit::USAGE
}

/// The inherited socket `raw` a request came with, or, when it is not a Unix-domain socket, the
/// exit that says so (with its errno: there is nothing to answer on).
pub fn adopt_request_socket(raw: std::os::fd::RawFd) -> Result<ReplySocket, Exit> {
    ReplySocket::adopt(raw).map_err(|errno| {
        fail(
            errno,
            &format!("descriptor {raw} is not a Unix-domain socket"),
        )
    })
}

/// Refuses a request whose arguments are wrong: the status byte on `socket` when there is one,
/// the reason and the synopsis on stderr, the errno as exit status.
pub fn refuse_arguments(socket: Option<&ReplySocket>, error: &ArgumentError) -> Exit {
    let errno = Errno::from_raw(error.errno());
    if let Some(socket) = socket {
        let _ = socket.send_failure(errno);
    }
    complain(&format!("{error}\n{USAGE}"));
    Exit::for_errno(errno)
}
