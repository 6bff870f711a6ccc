//! `myopen-env-probe <path>`: reads `path` with `myopen::my_open` (helper from MYOPEN_HELPER)
//! and copies it to stdout; prints the error and exits 1 on failure.
#![deny(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: myopen-env-probe <path>");
        return ExitCode::from(2);
    };
    match myopen::my_open(&path, libc::O_RDONLY) {
        Ok(fd) => {
            myopen_tests::copy_to_stdout(fd);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
