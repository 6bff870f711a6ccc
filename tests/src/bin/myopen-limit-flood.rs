//! `myopen-limit-flood <session-pid> <milliseconds>`: for that long, lowers the soft descriptor
//! limit of the `openfile-helper` child of `<session-pid>` to small values at random moments, as
//! a caller may do to its own helper (same uid). Prints how many changes took effect.
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use myopen_tests::{helper_child_of, set_soft_file_limit};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [session, milliseconds] = args.as_slice() else {
        eprintln!("usage: myopen-limit-flood <session-pid> <milliseconds>");
        return ExitCode::from(2);
    };
    let (Ok(session), Ok(milliseconds)) = (session.parse::<u32>(), milliseconds.parse::<u64>())
    else {
        eprintln!("myopen-limit-flood: numbers expected");
        return ExitCode::from(2);
    };
    let deadline = Instant::now() + Duration::from_millis(milliseconds);
    let mut state = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |now| now.as_nanos() as u64 | 1);
    let mut random = move || {
        // xorshift: timing noise only, no need for a crate.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut helper = helper_child_of(session);
    let mut changes = 0u64;
    while Instant::now() < deadline {
        match helper.map(|pid| set_soft_file_limit(pid, 3 + random() % 10)) {
            Some(Ok(())) => changes += 1,
            // Gone (a helper that died of it is replaced on the session's next request).
            _ => helper = helper_child_of(session),
        }
        std::thread::sleep(Duration::from_micros(random() % 3_000));
    }
    println!("{changes}");
    ExitCode::SUCCESS
}
