//! `myopen-session-repl <helper>`: one session; for each path read on standard input, opens it
//! and answers one line: `opened` or `errno N`. Lets a test change the world between requests
//! of the same session. `<helper>` may be `daemon:SOCKET`: the session is then a connection to
//! `myopend` at SOCKET (and no helper of its own).
#![deny(unsafe_code)]

use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(helper) = std::env::args_os().nth(1) else {
        eprintln!("usage: myopen-session-repl <helper>");
        return ExitCode::from(2);
    };
    let session = match helper.as_encoded_bytes().strip_prefix(b"daemon:") {
        Some(socket) => myopen::Session::deferred_with_daemon(
            Some(myopen::Daemon::at(std::ffi::OsStr::from_bytes(socket))),
            myopen::Helper::at("/nonexistent"),
        ),
        None => myopen::Session::deferred(myopen::Helper::at(helper)),
    };
    let mut stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let Ok(path) = line else { break };
        let answer = match session.open(&path, libc::O_RDONLY) {
            Ok(_) => "opened".to_owned(),
            Err(error) => format!("errno {}", error.raw_os_error().unwrap_or(0)),
        };
        if writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    ExitCode::SUCCESS
}
