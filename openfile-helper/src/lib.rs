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
//! | `resolve` | safe resolution and open: lexical check, openat2, check the opened object, reopen |
//! | `audit` | one syslog line per decision |
//! | `reply` | the request socket and the status byte |
//! | `service` | one request start to finish: identity, policy state, open, audit |
//! | `session` | session mode: many requests over one seqpacket socket |
//! | `admin` | `--check`, `--explain`, `--version`, `--help` |
//! | `cli` | argv dispatch and the one-shot request |
#![deny(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod cli;
pub mod config;
pub mod hardening;
pub mod identity;
pub mod policy;
pub mod privilege;
pub mod reply;
pub mod resolve;
pub mod service;
pub mod session;
#[allow(unsafe_code)]
mod sys;
