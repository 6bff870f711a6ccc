//! The command line: cat's own options plus the choice of when to ask the helper.
//!
//! A library of its own so that the shell completions (packaging/completions) are generated from
//! exactly the options mycat parses.
#![deny(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use myopen::Escalate;

/// Concatenate FILE(s) to standard output, asking the myopen helper for files you may not open.
///
/// With no FILE, or when FILE is -, read standard input.
#[derive(Parser, Debug)]
#[command(name = "mycat", version, about)]
pub struct Cli {
    /// Use the helper program at PATH (default: $MYOPEN_HELPER, else the installed one).
    #[arg(long, value_name = "PATH")]
    pub helper: Option<PathBuf>,

    /// Open every file through the helper, as the book's mycat does.
    #[arg(long, conflicts_with = "no_helper")]
    pub always_helper: bool,

    /// Never use the helper: open files with your own rights only.
    #[arg(long)]
    pub no_helper: bool,

    /// Ignored, for compatibility with cat (output is never buffered).
    #[arg(short = 'u', action = clap::ArgAction::Count)]
    pub unbuffered: u8,

    /// Files to concatenate, in order.
    #[arg(value_name = "FILE")]
    pub files: Vec<OsString>,
}

impl Cli {
    /// Parses the arguments; a usage error exits with status 1 as cat's does (clap would use 2).
    pub fn parse_or_exit() -> Cli {
        Cli::try_parse().unwrap_or_else(|error| {
            let status = if error.use_stderr() { 1 } else { 0 };
            let _ = error.print();
            std::process::exit(status)
        })
    }

    /// When to ask the helper: by default only after the caller's own open failed with EACCES
    /// or EPERM, so readable files cost no helper process and leave no audit line.
    pub fn escalate(&self) -> Escalate {
        if self.always_helper {
            Escalate::Always
        } else if self.no_helper {
            Escalate::Never
        } else {
            Escalate::OnDenied
        }
    }

    /// The operands, `-` (standard input) when there are none.
    pub fn files(&self) -> Vec<OsString> {
        if self.files.is_empty() {
            vec![OsString::from("-")]
        } else {
            self.files.clone()
        }
    }
}
