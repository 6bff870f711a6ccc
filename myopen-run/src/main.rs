//! myopen-run: runs an unmodified program (less, tail -f, grep, zcat, a script) so that the
//! files the myopen policy grants you open for it, through the helper, while everything else
//! runs with your own rights.
//!
//! COMMAND runs under a seccomp filter that sends its opens to this process. An open its own
//! rights allow continues untouched; one they refuse (EACCES, EPERM) is asked of the helper,
//! whose descriptor, or errno, becomes the result of COMMAND's system call. myopen-run holds no
//! privilege and decides nothing: the helper's policy is the only judge.
#![deny(unsafe_code)]

mod escalate;
mod report;
mod request;
mod supervisor;
#[allow(unsafe_code)]
mod sys;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use myopen::Helper;

/// Run COMMAND so that files the myopen policy grants you open for it through the helper.
///
/// COMMAND cannot gain privilege through setuid programs (it runs with no_new_privs).
#[derive(Parser, Debug)]
#[command(name = "myopen-run", version, about)]
struct Cli {
    /// Use the helper program at PATH (default: $MYOPEN_HELPER, else the installed one).
    #[arg(long, value_name = "PATH")]
    helper: Option<PathBuf>,

    /// Print each open asked of the helper, and its answer, on standard error.
    #[arg(short, long)]
    verbose: bool,

    /// The program to run and its arguments.
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        num_args = 1..
    )]
    command: Vec<OsString>,
}

fn main() {
    let cli = Cli::try_parse().unwrap_or_else(|error| {
        // Like env(1): 125 for a usage error, so it cannot be mistaken for COMMAND's status.
        let status = if error.use_stderr() { 125 } else { 0 };
        let _ = error.print();
        std::process::exit(status)
    });
    let helper = cli.helper.map(Helper::at).unwrap_or_else(Helper::from_env);
    let status = match supervisor::run(&cli.command, helper, report::Report::new(cli.verbose)) {
        Ok(status) => status,
        Err(failure) => {
            eprintln!("myopen-run: {:#}", failure.error);
            failure.status
        }
    };
    // At once, without waiting for an escalation still in progress (see supervisor::supervise).
    std::process::exit(status)
}
