//! mycat: `cat` that opens files through the myopen helper when the caller's rights are not
//! enough.
#![deny(unsafe_code)]

mod copy;
mod names;
mod open;
mod report;
#[allow(unsafe_code)]
mod sys;

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::ExitCode;

use nix::errno::Errno;
use nix::sys::stat::fstat;

use crate::copy::{Copier, CopyError, Output};
use crate::names::quote;
use crate::open::Opener;
use crate::report::{report, strerror};
use mycat_cli::Cli;

/// Why one operand was not copied in full.
enum Failure {
    /// Reported as `mycat: NAME: MESSAGE`; cat goes on with the next operand.
    Input(String),
    /// Standard output failed: cat stops.
    Output(Errno),
}

fn main() -> ExitCode {
    sys::restore_default_sigpipe();
    let cli = Cli::parse_or_exit();
    let files = cli.files();
    let opener = Opener::new(cli.escalate(), cli.helper.clone(), files.len());

    let stdout = io::stdout();
    let output = match Output::new(stdout.as_fd()) {
        Ok(output) => output,
        Err(errno) => {
            report(&format!("standard output: {}", strerror(errno)));
            return ExitCode::FAILURE;
        }
    };
    let mut copier = Copier::new();
    let mut failed = false;
    for name in files {
        match cat_one(&name, &opener, &output, &mut copier) {
            Ok(()) => {}
            Err(Failure::Input(message)) => {
                report(&format!("{}: {message}", quote(&name)));
                failed = true;
            }
            // As SIGPIPE would have (it is only seen when the signal is blocked): nobody is
            // reading any more, so there is no one to tell.
            Err(Failure::Output(Errno::EPIPE)) => return ExitCode::FAILURE,
            Err(Failure::Output(errno)) => {
                report(&format!("write error: {}", strerror(errno)));
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(errno) = sys::close_stdout() {
        report(&format!("write error: {}", strerror(errno)));
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Copies one operand (`-` is standard input) to `output`.
fn cat_one(
    name: &OsStr,
    opener: &Opener,
    output: &Output<'_>,
    copier: &mut Copier,
) -> Result<(), Failure> {
    if name == "-" {
        return copy_from(io::stdin().as_fd(), output, copier);
    }
    let file: OwnedFd = opener.open(name).map_err(Failure::Input)?;
    copy_from(file.as_fd(), output, copier)
}

fn copy_from(
    input: BorrowedFd<'_>,
    output: &Output<'_>,
    copier: &mut Copier,
) -> Result<(), Failure> {
    let stat = fstat(input).map_err(|errno| Failure::Input(strerror(errno)))?;
    if output.would_loop(input, &stat) {
        return Err(Failure::Input("input file is output file".to_owned()));
    }
    match copier.copy(input, &stat, output) {
        Ok(_) => Ok(()),
        Err(CopyError::Read(errno)) => Err(Failure::Input(strerror(errno))),
        Err(CopyError::Write(errno)) => Err(Failure::Output(errno)),
    }
}
