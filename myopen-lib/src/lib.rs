//! Open files through a privileged helper and receive the descriptor over a Unix socket.
//!
//! The design is the one in UNIX Network Programming §15.7: [`my_open`] creates a socket pair,
//! runs `openfile-helper` (installed setuid root or with file capabilities), and receives either
//! an open descriptor (SCM_RIGHTS) or an errno. The helper decides, from an administrator's
//! policy, whether the caller may open the path; the library only asks.
#![deny(unsafe_code)]

mod error;
pub mod fdpass;
mod oneshot;
mod options;
mod session;
#[allow(unsafe_code)]
mod sys;
pub mod wire;

pub use error::{Error, strerror};
pub use oneshot::{HELPER_ENV, Helper, default_helper_path, my_open};
pub use options::{Escalate, OpenOptions};
pub use session::Session;
