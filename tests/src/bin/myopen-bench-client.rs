//! The caller's side of `bench/user-case.sh`: run as an unprivileged user, it times each
//! operation of each case given on the command line, in that order, and prints one line per
//! case: the case's name, a tab, then every operation's time in nanoseconds.
//!
//!     myopen-bench-client <file> <count> <session-seconds> <kind>=<name>=<program>[=<file>]...
//!
//! Kinds: `oneshot` (our `my_open` through helper `program`), `book` (the book's C `my_open`,
//! fork + exec of `program`, from tests/c/), `spawn` (spawn `program` with no arguments and reap
//! it: the floor under any one-shot open), `session` (one `Session` with helper `program`, then
//! opens for `session-seconds`, so that whatever a session does once a second is in the figures),
//! `daemon` (one connection to the `myopend` socket `program`, then opens for `session-seconds`),
//! `connect` (`count` times: connect to the `myopend` socket `program`, hello, one open, close),
//! `connect-paced` (the same with an untimed pause of [`PACE`] before each, so that the daemon
//! has refilled its pool of idle workers, as it has between programs that each open one file),
//! `floor` (the session floor: `fd-floor` at `program` as a child on a socket pair, then opens
//! for `session-seconds`; it opens with the caller's own rights, so give it a readable file).
//! Every open is of `file` (or the case's own `<file>`), read-only, and must succeed: a refusal
//! ends the run with an error, so a figure never silently measures a refusal, and a daemon case
//! that was served by anything but the daemon is an error too.
#![deny(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use myopen::fdpass::{recv_with_fds, send_with_fds};
use myopen::{Daemon, Helper, Session};
use myopen_tests::c_my_open;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

/// Opens not timed at the start of a persistent case (session, daemon, floor): the first few pay
/// for page faults and a cold cache.
const WARM_UP: usize = 100;

/// Runs not timed at the start of a counted case (oneshot, book, spawn). bench/user-case.sh
/// compiles a policy, which waits 2 s for the stamp to settle, just before some cases and not
/// others: the first spawns after an idle CPU ran up to 15% slower and made a compiled policy
/// look that much dearer than a parsed one.
const COUNTED_WARM_UP: usize = 20;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let [file, count, seconds, cases @ ..] = args.as_slice() else {
        eprintln!(
            "usage: myopen-bench-client <file> <count> <session-seconds> \
             <kind>=<name>=<program>[=<file>]..."
        );
        return ExitCode::from(2);
    };
    let (Some(count), Some(seconds)) = (number(count), number(seconds)) else {
        eprintln!("myopen-bench-client: count and session-seconds must be decimal numbers");
        return ExitCode::from(2);
    };
    let duration = Duration::from_secs(u64::try_from(seconds).unwrap_or(u64::MAX));
    for case in cases {
        let Some((kind, name, program, own_file)) = split_case(case) else {
            eprintln!("myopen-bench-client: {case:?} is not <kind>=<name>=<program>[=<file>]");
            return ExitCode::from(2);
        };
        let file = Path::new(own_file.unwrap_or(file));
        let times = match kind {
            "oneshot" => oneshot(program, file, count),
            "book" => book(program, file, count),
            "spawn" => spawn(program, count),
            "session" => session(program, file, duration),
            "daemon" => daemon(program, file, duration),
            "connect" => connect(program, file, count, Duration::ZERO),
            "connect-paced" => connect(program, file, count, PACE),
            "floor" => floor(program, file, duration),
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

fn split_case(case: &OsStr) -> Option<(&str, &str, &OsStr, Option<&OsStr>)> {
    let text = case.to_str()?;
    let (kind, rest) = text.split_once('=')?;
    let (name, rest) = rest.split_once('=')?;
    let (program, file) = match rest.split_once('=') {
        Some((program, file)) => (program, Some(OsStr::new(file))),
        None => (rest, None),
    };
    Some((kind, name, OsStr::new(program), file))
}

fn join(times: &[u128]) -> String {
    let mut line = String::with_capacity(times.len() * 8);
    for (position, time) in times.iter().enumerate() {
        let separator = if position == 0 { "" } else { " " };
        let _ = write!(line, "{separator}{time}");
    }
    line
}

/// After [`COUNTED_WARM_UP`] untimed runs, runs `operation` `count` times, timing each run.
fn timed(
    count: usize,
    mut operation: impl FnMut() -> Result<(), String>,
) -> Result<Vec<u128>, String> {
    for _ in 0..COUNTED_WARM_UP {
        operation()?;
    }
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
    if session.through_daemon() != Some(false) {
        return Err("the session is not served by a helper of its own".to_owned());
    }
    opens_for(duration, || {
        session
            .open(file, libc::O_RDONLY)
            .map(drop)
            .map_err(|error| format!("{}: {error}", file.display()))
    })
}

/// A helper that cannot be there: a daemon case that falls back to spawning fails loudly.
const NO_HELPER: &str = "/nonexistent/myopen-bench-no-helper";

fn daemon(socket: &OsStr, file: &Path, duration: Duration) -> Result<Vec<u128>, String> {
    let session = Session::with_daemon(Some(Daemon::at(socket)), Helper::at(NO_HELPER))
        .map_err(|error| error.to_string())?;
    if session.through_daemon() != Some(true) {
        return Err(format!(
            "{}: not served by the daemon",
            Path::new(socket).display()
        ));
    }
    opens_for(duration, || {
        session
            .open(file, libc::O_RDONLY)
            .map(drop)
            .map_err(|error| format!("{}: {error}", file.display()))
    })
}

/// What a program that needs one privileged open pays with a daemon: connect, the hello, the
/// open, and closing the connection (the worker sees end-of-file and exits).
/// The pause before each `connect-paced` connection: the daemon forks a replacement worker after
/// each hand-over, a few hundred microseconds; this leaves it ample time.
const PACE: Duration = Duration::from_millis(5);

fn connect(socket: &OsStr, file: &Path, count: usize, pace: Duration) -> Result<Vec<u128>, String> {
    let daemon = Daemon::at(socket);
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        std::thread::sleep(pace);
        let start = Instant::now();
        daemon
            .open(file, libc::O_RDONLY)
            .map(drop)
            .map_err(|error| format!("{}: {error}", file.display()))?;
        times.push(start.elapsed().as_nanos());
    }
    Ok(times)
}

/// The least a persistent server could cost per open: `fd-floor` receives the path, opens it
/// with no policy and no checks, and sends the descriptor back.
fn floor(program: &OsStr, file: &Path, duration: Duration) -> Result<Vec<u128>, String> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|errno| format!("socketpair: {errno}"))?;
    let mut child = Command::new(program)
        .stdin(Stdio::from(theirs))
        .spawn()
        .map_err(|error| format!("{}: {error}", Path::new(program).display()))?;
    let path = file.as_os_str().as_bytes();
    let times = opens_for(duration, || {
        send_with_fds(ours.as_fd(), path, &[]).map_err(|error| format!("send: {error}"))?;
        let mut status = [0u8; 1];
        let mut received = recv_with_fds(ours.as_fd(), &mut status, 1)
            .map_err(|error| format!("receive: {error}"))?;
        match (received.bytes, received.fds.pop()) {
            (1, Some(fd)) if status[0] == 0 => {
                drop(fd);
                Ok(())
            }
            _ => Err(format!(
                "{}: the floor could not open it (status {})",
                file.display(),
                status[0]
            )),
        }
    });
    // End-of-file ends the floor; reap it whatever the result.
    drop(ours);
    let _ = child.wait();
    times
}

/// After [`WARM_UP`] untimed opens, times `open` again and again for `duration`.
fn opens_for(
    duration: Duration,
    mut open: impl FnMut() -> Result<(), String>,
) -> Result<Vec<u128>, String> {
    for _ in 0..WARM_UP {
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
