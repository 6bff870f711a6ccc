//! The caller's side of `bench/user-case.sh`: run as an unprivileged user, it times each
//! operation of each case given on the command line, in that order, and prints one line per
//! case: the case's name, a tab, then every operation's time in nanoseconds.
//!
//!     myopen-bench-client <file> <count> <session-seconds> <kind>=<name>=<program>...
//!
//! Kinds: `oneshot` (our `my_open` through helper `program`), `book` (the book's C `my_open`,
//! fork + exec of `program`, from tests/c/), `spawn` (spawn `program` with no arguments and reap
//! it: the floor under any one-shot open), `session` (one `Session` with helper `program`, then
//! opens for `session-seconds`, so that whatever a session does once a second is in the figures).
//! Every open is of `file`, read-only, and must succeed: a refusal ends the run with an error,
//! so a figure never silently measures a refusal.
#![deny(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use myopen::{Helper, Session};
use myopen_tests::c_my_open;

/// Session opens not timed at the start: the first few pay for page faults and a cold cache.
const SESSION_WARM_UP: usize = 100;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let [file, count, seconds, cases @ ..] = args.as_slice() else {
        eprintln!(
            "usage: myopen-bench-client <file> <count> <session-seconds> <kind>=<name>=<program>..."
        );
        return ExitCode::from(2);
    };
    let (Some(count), Some(seconds)) = (number(count), number(seconds)) else {
        eprintln!("myopen-bench-client: count and session-seconds must be decimal numbers");
        return ExitCode::from(2);
    };
    let file = Path::new(file);
    for case in cases {
        let Some((kind, name, program)) = split_case(case) else {
            eprintln!("myopen-bench-client: {case:?} is not <kind>=<name>=<program>");
            return ExitCode::from(2);
        };
        let times = match kind {
            "oneshot" => oneshot(program, file, count),
            "book" => book(program, file, count),
            "spawn" => spawn(program, count),
            "session" => session(
                program,
                file,
                Duration::from_secs(u64::try_from(seconds).unwrap_or(u64::MAX)),
            ),
            other => Err(format!("unknown kind {other:?}")),
        };
        match times {
            Ok(times) => println!("{name}\t{}", join(&times)),
            Err(why) => {
                eprintln!("myopen-bench-client: {name}: {why}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn number(text: &OsStr) -> Option<usize> {
    text.to_str()?.parse().ok()
}

fn split_case(case: &OsStr) -> Option<(&str, &str, &OsStr)> {
    let text = case.to_str()?;
    let (kind, rest) = text.split_once('=')?;
    let (name, program) = rest.split_once('=')?;
    Some((kind, name, OsStr::new(program)))
}

fn join(times: &[u128]) -> String {
    let mut line = String::with_capacity(times.len() * 8);
    for (position, time) in times.iter().enumerate() {
        let separator = if position == 0 { "" } else { " " };
        let _ = write!(line, "{separator}{time}");
    }
    line
}

/// Runs `operation` `count` times, timing each run.
fn timed(
    count: usize,
    mut operation: impl FnMut() -> Result<(), String>,
) -> Result<Vec<u128>, String> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        operation()?;
        times.push(start.elapsed().as_nanos());
    }
    Ok(times)
}

fn oneshot(helper: &OsStr, file: &Path, count: usize) -> Result<Vec<u128>, String> {
    let helper = Helper::at(helper);
    timed(count, || {
        helper
            .open(file, libc::O_RDONLY)
            .map(drop)
            .map_err(|error| format!("{}: {error}", file.display()))
    })
}

fn book(helper: &OsStr, file: &Path, count: usize) -> Result<Vec<u128>, String> {
    let helper = CString::new(helper.as_bytes()).map_err(|_| "helper path has a NUL byte")?;
    let c_file = CString::new(file.as_os_str().as_bytes()).map_err(|_| "path has a NUL byte")?;
    timed(count, || {
        c_my_open(&helper, &c_file, libc::O_RDONLY)
            .map(drop)
            .map_err(|errno| format!("{}: errno {errno}", file.display()))
    })
}

fn spawn(program: &OsStr, count: usize) -> Result<Vec<u128>, String> {
    timed(count, || {
        let status = Command::new(program)
            .stdin(Stdio::null())
            .status()
            .map_err(|error| format!("{}: {error}", Path::new(program).display()))?;
        status
            .success()
            .then_some(())
            .ok_or_else(|| format!("{}: {status}", Path::new(program).display()))
    })
}

fn session(helper: &OsStr, file: &Path, duration: Duration) -> Result<Vec<u128>, String> {
    let session = Session::with_helper(Helper::at(helper)).map_err(|error| error.to_string())?;
    let open = || {
        session
            .open(file, libc::O_RDONLY)
            .map(drop)
            .map_err(|error| format!("{}: {error}", file.display()))
    };
    for _ in 0..SESSION_WARM_UP {
        open()?;
    }
    let deadline = Instant::now() + duration;
    let mut times = Vec::new();
    while Instant::now() < deadline {
        let start = Instant::now();
        open()?;
        times.push(start.elapsed().as_nanos());
    }
    Ok(times)
}
