#![deny(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    openfile_helper::cli::run(std::env::args_os().skip(1).collect())
}
