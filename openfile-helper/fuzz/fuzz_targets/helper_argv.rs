//! Arbitrary bytes as the helper's command line (split on NUL, as argv arrives): parsing must
//! never panic, every refusal must map to an errno in 1..=255, and only a request keeps an
//! inherited descriptor.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use myopen::wire::status_for_errno;
use openfile_helper::command::Command;

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = data
        .split(|&byte| byte == 0)
        .map(|arg| OsString::from_vec(arg.to_vec()))
        .collect();
    let command = Command::parse(&args);
    match &command {
        Command::OneShot { socket, request } => {
            assert!(*socket >= 0);
            match request {
                Ok(request) => assert!(!request.path.is_empty() && request.socket_fd == *socket),
                Err(error) => assert_eq!(i32::from(status_for_errno(error.errno())), error.errno()),
            }
        }
        Command::Session { socket } => assert!(*socket >= 0),
        Command::BadRequest(error) => {
            let errno = error.errno();
            assert!((1..=255).contains(&errno));
            assert_eq!(i32::from(status_for_errno(errno)), errno);
            let _ = error.to_string();
        }
        Command::BadUsage(why) => assert!(!why.is_empty()),
        Command::Check { .. }
        | Command::Compile
        | Command::Explain { .. }
        | Command::Help
        | Command::Version => {}
    }
    assert_eq!(
        command.inherited_socket().is_some(),
        matches!(command, Command::OneShot { .. } | Command::Session { .. })
    );
});
