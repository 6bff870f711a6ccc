//! `myopen-session-client <helper> <path>`: starts a session, opens `path` once, prints the
//! helper's pid and `ready`, then waits for the test to kill it (the helper must then exit).
#![deny(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [helper, path] = args.as_slice() else {
        eprintln!("usage: myopen-session-client <helper> <path>");
        return ExitCode::from(2);
    };
    let session = match myopen::Session::with_helper(myopen::Helper::at(helper)) {
        Ok(session) => session,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = session.open(path, libc::O_RDONLY) {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    let pid = session.helper_pid().unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{pid}\nready");
    let _ = std::io::stdout().flush();
    std::thread::sleep(std::time::Duration::from_secs(120));
    ExitCode::SUCCESS
}
