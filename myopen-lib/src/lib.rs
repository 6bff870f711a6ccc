//! Open files through a privileged helper and receive the descriptor over a Unix socket.
//!
//! The design is the one in *UNIX Network Programming* §15.7 (`mycat` / `my_open` /
//! `openfile`), made into a product.
//!
//! # The model
//!
//! - **What runs privileged.** Only `openfile-helper`, installed setuid root or with the file
//!   capabilities `cap_dac_read_search,cap_dac_override+p`. Your program never gains privilege:
//!   it receives one open descriptor (SCM_RIGHTS) or an errno. The helper runs as your uid and
//!   gid, holds nothing effective except around the one system call that needs it, and cannot
//!   be influenced through its environment.
//! - **What the policy decides.** The administrator's `policy.toml` (and `policy.d/*.toml`) says
//!   which users and groups may open which paths (globs), for which access (read, write, append,
//!   create, truncate) and which file types. The helper checks the path you asked for, then the
//!   object it actually reached (symlinks, `..` and races cannot escape), and logs every
//!   decision to syslog. A helper without privilege opens with your own rights and needs no
//!   policy.
//! - **What errors mean.** [`Error`] says who refused: the policy ([`Error::PolicyRefused`],
//!   `EACCES`), the system ([`Error::Os`], the errno of `open(2)`), a helper that is not
//!   installed privileged ([`Error::HelperNotPrivileged`]), or a helper that is missing, crashed
//!   or broke the protocol. It converts into [`std::io::Error`] keeping `raw_os_error()` and
//!   `kind()`, so `?` works in `io::Result` code.
//!
//! # The ways in
//!
//! - [`OpenOptions`]: `std::fs::OpenOptions` plus [`Escalate`]: by default your own rights are
//!   tried first and the helper is asked only on `EACCES`/`EPERM`.
//! - [`my_open`]: the book's call, one helper process per open.
//! - [`Session`]: one persistent helper for many opens (about 25 times cheaper per open).
//! - [`fdpass`]: the descriptor-passing primitives on their own; [`wire`]: the protocol.
//!
//! The helper is `$MYOPEN_HELPER` if set, else the path fixed at build time
//! ([`default_helper_path`]). Choosing another helper is safe: the helper, not the client,
//! enforces the policy.
//!
//! ```
//! use std::io::Read;
//! use myopen::OpenOptions;
//!
//! // Readable with your own rights: no helper is started.
//! let mut text = String::new();
//! OpenOptions::new().read(true).open("/etc/hostname")?.read_to_string(&mut text)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod daemon;
mod error;
pub mod fdpass;
mod oneshot;
mod options;
mod session;
#[allow(unsafe_code)]
mod sys;
pub mod wire;

pub use daemon::{Daemon, SOCKET_ENV, default_socket_path};
pub use error::{Error, strerror};
pub use oneshot::{HELPER_ENV, Helper, default_helper_path, my_open};
pub use options::{Escalate, OpenOptions};
pub use session::Session;
