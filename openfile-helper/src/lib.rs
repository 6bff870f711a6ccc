//! `openfile-helper`: the half of myopen that may run privileged.
//!
//! Started by the library with a socket, a path and open flags, it opens the path and passes the
//! descriptor back (UNIX Network Programming §15.7). Each job lives in its own module.
#![deny(unsafe_code)]

pub mod cli;
pub mod opener;
pub mod privilege;
pub mod reply;
#[allow(unsafe_code)]
mod sys;
