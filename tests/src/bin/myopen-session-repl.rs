//! `myopen-session-repl <helper>`: one session; for each path read on standard input, opens it
//! and answers one line: `opened` or `errno N`. Lets a test change the world between requests
//! of the same session.
#![deny(unsafe_code)]

use std::io::{BufRead, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(helper) = std::env::args_os().nth(1) else {
        eprintln!("usage: myopen-session-repl <helper>");
        return ExitCode::from(2);
    };
    let session = myopen::Session::deferred(myopen::Helper::at(helper));
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
