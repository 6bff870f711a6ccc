//! `myopen-restarting-helper --session 0`: a stand-in session helper that answers with the
//! restart reply, for the library's retry. It takes its orders from the name it is installed
//! under, so that nothing in the environment is needed: `restart-always`: every request is
//! answered with the restart reply; `restart-first`: the first helper started answers its first
//! request so and exits, every later one serves as a plain helper would: a path containing
//! `denied` refused by the policy (EACCES), any other opened with the helper's own rights. Each
//! start appends a line to `<program>.log`, so that a test counts the helpers started.
#![deny(unsafe_code)]

use std::io::Write;
use std::os::fd::AsFd;
use std::process::ExitCode;

use myopen::fdpass::{recv_with_fds, send_with_fds};
use myopen::wire::session::{Hello, MAX_REQUEST_LEN, Origin, Reply, SessionRequest, VERSION};

fn main() -> ExitCode {
    let Ok(program) = std::env::current_exe() else {
        return ExitCode::from(2);
    };
    let mode = program
        .file_name()
        .and_then(std::ffi::OsStr::to_str)
        .unwrap_or("")
        .to_owned();
    let log = program.with_extension("log");
    let earlier = std::fs::read_to_string(&log)
        .map(|text| text.lines().count())
        .unwrap_or(0);
    let logged = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| writeln!(file, "{}", std::process::id()));
    if logged.is_err() {
        return ExitCode::from(2);
    }
    let restarting = mode == "restart-always" || (mode == "restart-first" && earlier == 0);
    let stdin = std::io::stdin();
    let socket = stdin.as_fd();
    let hello = Hello {
        version: VERSION,
        privileged: true,
    };
    if send_with_fds(socket, &hello.encode(), &[]).is_err() {
        return ExitCode::FAILURE;
    }
    let mut packet = vec![0u8; MAX_REQUEST_LEN + 1];
    loop {
        let length = match recv_with_fds(socket, &mut packet, 0) {
            Ok(received) if received.bytes > 0 => received.bytes,
            _ => return ExitCode::SUCCESS,
        };
        let Ok(request) = SessionRequest::decode(&packet[..length]) else {
            return ExitCode::FAILURE;
        };
        if restarting {
            let _ = send_with_fds(socket, &Reply::restart().encode(), &[]);
            return ExitCode::SUCCESS;
        }
        let path = std::ffi::OsStr::new(std::str::from_utf8(request.path).unwrap_or(""));
        let sent = if request.path.windows(6).any(|window| window == b"denied") {
            send_with_fds(
                socket,
                &Reply::refused(libc::EACCES, Origin::Policy).encode(),
                &[],
            )
        } else {
            match std::fs::File::open(path) {
                Ok(file) => send_with_fds(socket, &Reply::Opened.encode(), &[file.as_fd()]),
                Err(error) => send_with_fds(
                    socket,
                    &Reply::refused(error.raw_os_error().unwrap_or(libc::EIO), Origin::System)
                        .encode(),
                    &[],
                ),
            }
        };
        if sent.is_err() {
            return ExitCode::FAILURE;
        }
    }
}
