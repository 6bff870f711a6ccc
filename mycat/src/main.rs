//! mycat: `cat` that opens files through the myopen helper.
#![deny(unsafe_code)]

mod copy;
mod names;
#[allow(unsafe_code)]
mod sys;

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use myopen::Helper;
use nix::errno::Errno;

use crate::copy::{BUFFER_SIZE, CopyError, copy};
use crate::names::quote;

/// Concatenate FILE(s) to standard output, opening each through the myopen helper.
///
/// With no FILE, or when FILE is -, read standard input.
#[derive(Parser, Debug)]
#[command(name = "mycat", version, about)]
struct Cli {
    /// Use the helper program at PATH (default: $MYOPEN_HELPER, else the installed one).
    #[arg(long, value_name = "PATH")]
    helper: Option<PathBuf>,

    /// Ignored, for compatibility with cat (output is never buffered).
    #[arg(short = 'u')]
    unbuffered: bool,

    /// Files to concatenate, in order.
    #[arg(value_name = "FILE")]
    files: Vec<OsString>,
}

fn main() -> ExitCode {
    sys::restore_default_sigpipe();
    let cli = Cli::parse();
    let helper = cli.helper.map(Helper::at).unwrap_or_else(Helper::from_env);
    let files = if cli.files.is_empty() {
        vec![OsString::from("-")]
    } else {
        cli.files
    };

    let stdout = io::stdout();
    let output = stdout.as_fd();
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut failed = false;
    for name in &files {
        let result = if name == "-" {
            copy(io::stdin().as_fd(), output, &mut buffer)
        } else {
            match open(&helper, name) {
                Ok(fd) => copy(&fd, output, &mut buffer),
                Err(message) => {
                    report(&format!("{}: {message}", quote(name)));
                    failed = true;
                    continue;
                }
            }
        };
        match result {
            Ok(_) => {}
            Err(CopyError::Read(errno)) => {
                report(&format!("{}: {}", quote(name), errno.desc()));
                failed = true;
            }
            // As SIGPIPE would have: nobody is reading any more, so there is no one to tell.
            Err(CopyError::Write(Errno::EPIPE)) => return ExitCode::FAILURE,
            Err(CopyError::Write(errno)) => {
                report(&format!("write error: {}", errno.desc()));
                return ExitCode::FAILURE;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Opens `name` for reading through the helper; the error text is what follows `mycat: NAME: `.
fn open(helper: &Helper, name: &OsString) -> Result<OwnedFd, String> {
    helper
        .open(name, libc::O_RDONLY)
        .map_err(|error| match error {
            myopen::Error::Os { errno, .. } => myopen::strerror(errno).to_owned(),
            other => other.to_string(),
        })
}

fn report(message: &str) {
    let _ = writeln!(io::stderr(), "mycat: {message}");
}
