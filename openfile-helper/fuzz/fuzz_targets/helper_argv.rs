//! Arbitrary bytes as the helper's command line (split on NUL, as argv arrives): parsing must
//! never panic, and every refusal must map to an errno in 1..=255.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use myopen::wire::{parse_one_shot, status_for_errno};

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = data.split(|&byte| byte == 0).map(|arg| OsString::from_vec(arg.to_vec())).collect();
    match parse_one_shot(&args) {
        Ok(request) => {
            assert!(request.socket_fd >= 0);
            assert!(!request.path.is_empty());
        }
        Err(error) => {
            let errno = error.errno();
            assert!((1..=255).contains(&errno));
            assert_eq!(i32::from(status_for_errno(errno)), errno);
            let _ = error.to_string();
        }
    }
});
