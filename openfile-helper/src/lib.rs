//! `openfile-helper`: the half of myopen that may run privileged.
//!
//! Started by the library with a socket, a path and open flags, it checks the administrator's
//! policy, opens the path safely and passes the descriptor back (UNIX Network Programming §15.7).
//! Each job lives in its own module:
//!
//! | module | job |
//! | --- | --- |
//! | `hardening` | start-up: fds 0-2, inherited descriptors, environment, signals, core dumps |
//! | `privilege` | become the caller, keep two capabilities, raise them only around an open |
//! | `identity` | who is asking, from the kernel |
//! | `policy` | the policy engine: parse, load with P7 checks, decide (pure but for loading) |
//! | `fence` | Landlock roots drawn from the policy, and the seccomp allowlist of the request loop |
//! | `resolve` | safe resolution and open: lexical check, openat2, check the opened object, reopen |
//! | `audit` | one syslog line per decision |
//! | `reply` | the request socket and the status byte |
//! | `service` | one request start to finish: identity, policy state, open, audit |
//! | `session` | session mode: many requests over one seqpacket socket |
//! | `admin` | `--check`, `--explain`, `--version`, `--help` |
//! | `command` | the command line, parsed once and purely, before hardening |
//! | `diagnostics` | messages on stderr, output on stdout, exit statuses |
//! | `cli` | parse, harden, establish privilege, dispatch; the one-shot request |
#![deny(unsafe_code)]

// The fault-injection build's decision engine grants everything: it must never ship.
#[cfg(all(feature = "fault-injection", not(debug_assertions)))]
compile_error!("the fault-injection feature is for test builds only: it grants every request");

// What `main` and the fuzz targets use; everything else is the helper's own business.
pub mod cli;
pub mod command;
pub mod daemon;
pub mod policy;

mod admin;
mod audit;
mod config;
mod diagnostics;
mod fence;
mod hardening;
mod identity;
mod privilege;
mod reply;
mod resolve;
mod service;
mod session;
#[allow(unsafe_code)]
mod sys;

/// The system's user database as the helper reads policy names (for `examples/policy_cost.rs`).
pub use identity::SystemNames;

/// The helper's entry point, for `main`: runs the command line `args` (without the program name)
/// with every panic aborting the process at once, and returns the exit status.
///
/// A panic must not unwind through code that may hold a capability raised, nor format a message
/// or a backtrace (the caller chose `RUST_BACKTRACE`, and the environment is not yet cleared when
/// the earliest code runs): the hook aborts before either happens.
pub fn main(args: &[std::ffi::OsString]) -> u8 {
    std::panic::set_hook(Box::new(|_| std::process::abort()));
    cli::run(args).code()
}
