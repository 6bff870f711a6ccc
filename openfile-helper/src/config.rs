//! Build-time configuration, like autotools' sysconfdir. Fixed when the helper is compiled:
//! nothing at run time (environment, argv) changes which policy governs a privileged open.

use std::path::{Path, PathBuf};

/// `$MYOPEN_SYSCONFDIR` at build time, `/etc` by default.
pub const SYSCONFDIR: &str = match option_env!("MYOPEN_SYSCONFDIR") {
    Some(dir) => dir,
    None => "/etc",
};

/// Where audit records go: the syslog datagram socket, `/dev/log` unless the build says otherwise
/// (the test builds point it at a socket of their own).
pub const SYSLOG_SOCKET: &str = match option_env!("MYOPEN_SYSLOG_SOCKET") {
    Some(path) => path,
    None => "/dev/log",
};

/// `$SYSCONFDIR/myopen`: holds `policy.toml` and `policy.d/`.
pub fn policy_dir() -> PathBuf {
    Path::new(SYSCONFDIR).join("myopen")
}
