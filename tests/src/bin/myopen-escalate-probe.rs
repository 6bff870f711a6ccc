//! `myopen-escalate-probe <helper> <always|on-denied|never> <path>`: reads `path` with
//! `myopen::OpenOptions` in that escalation mode and copies it to stdout; on failure prints
//! `errno N` (if any) and `error: ...` to stderr and exits 1.
#![deny(unsafe_code)]

use std::process::ExitCode;

use myopen::{Escalate, OpenOptions};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [helper, mode, path] = args.as_slice() else {
        eprintln!("usage: myopen-escalate-probe <helper> <always|on-denied|never> <path>");
        return ExitCode::from(2);
    };
    let escalate = match mode.to_str() {
        Some("always") => Escalate::Always,
        Some("on-denied") => Escalate::OnDenied,
        Some("never") => Escalate::Never,
        _ => return ExitCode::from(2),
    };
    match OpenOptions::new()
        .read(true)
        .escalate(escalate)
        .helper(helper)
        .open_fd(path)
    {
        Ok(fd) => {
            myopen_tests::copy_to_stdout(fd);
            ExitCode::SUCCESS
        }
        Err(error) => {
            if let Some(errno) = error.raw_os_error() {
                eprintln!("errno {errno}");
            }
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
