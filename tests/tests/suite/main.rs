//! The end-to-end suite: one test binary, one module per subject (uutils' `tests/tests.rs`
//! shape), so the harness links once and the privileged installs are made once per run.
//!
//! Test files that change process-wide state stay binaries of their own beside this one:
//! `no_leaks`, `session` and `session_load` count the process's descriptors and children,
//! `session_fork` forks the test process, `sigchld_ignored` ignores SIGCHLD for the whole
//! process, and `privileged_installs` swaps the panic hook.

mod capi;
mod daemon;
mod helper_argv;
mod helper_failures;
mod interop;
mod library;
mod my_open;
mod mycat;
mod mycat_copy;
mod mycat_escalation;
mod mycat_fallbacks;
mod myopen_run;
mod packaging;
mod privileged;
mod privileged_admin;
mod privileged_attacks;
mod privileged_audit;
mod privileged_fail_closed;
mod privileged_fence;
mod privileged_open_path;
mod privileged_session;
mod privileged_state;
