//! Opening one operand: directly, through the helper, or directly first and through the helper
//! only when the kernel says no (the library's escalation modes).

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use std::cell::Cell;

use myopen::{Escalate, Helper, OpenOptions, Session};
use nix::errno::Errno;

use crate::report::strerror;

/// Opens operands for reading.
pub struct Opener {
    escalate: Escalate,
    helper: Helper,
    /// Whether `--helper` chose the helper: then the daemon is never asked.
    helper_chosen: bool,
    /// With several operands, every one that needs the helper goes through one helper process,
    /// started when the first one needs it.
    session: Option<Session>,
    /// Set when the helper turned out not to speak the session protocol (such as the book's own
    /// helper): from then on each open starts a helper of its own.
    one_shot_only: Cell<bool>,
}

impl Opener {
    /// `escalate`: when to ask the helper; `helper`: which one (default: `$MYOPEN_HELPER`, else
    /// the installed one); `operands`: how many files there are to open.
    ///
    /// Without `--helper`, `myopend` is asked first when it answers (the library's preference).
    pub fn new(escalate: Escalate, helper: Option<PathBuf>, operands: usize) -> Opener {
        let helper_chosen = helper.is_some();
        let helper = helper.map(Helper::at).unwrap_or_else(Helper::from_env);
        let daemon = if helper_chosen {
            None
        } else {
            myopen::Daemon::from_env()
        };
        let session = (operands > 1 && escalate != Escalate::Never)
            .then(|| Session::deferred_with_daemon(daemon, helper.clone()));
        Opener {
            escalate,
            helper,
            helper_chosen,
            session,
            one_shot_only: Cell::new(false),
        }
    }

    fn options(&self, through_session: bool) -> OpenOptions<'_> {
        let mut options = OpenOptions::new();
        options.read(true).escalate(self.escalate);
        if self.helper_chosen {
            options.helper(self.helper.program());
        }
        if let Some(session) = self.session.as_ref().filter(|_| through_session) {
            options.session(session);
        }
        options
    }

    fn open_fd(&self, path: &OsStr) -> Result<OwnedFd, myopen::Error> {
        if self.one_shot_only.get() {
            return self.options(false).open_fd(path);
        }
        match self.options(true).open_fd(path) {
            Err(myopen::Error::Protocol { .. }) if self.session.is_some() => {
                self.one_shot_only.set(true);
                self.options(false).open_fd(path)
            }
            result => result,
        }
    }

    /// Opens `path` for reading. The error is the text that follows `mycat: NAME: `: the C
    /// library's words, as GNU cat prints them, with ` (policy)` when the helper's policy is what
    /// refused; a helper that could not run is named, in the library's words.
    pub fn open(&self, path: &OsStr) -> Result<OwnedFd, String> {
        self.open_fd(path).map_err(|error| match error {
            myopen::Error::PolicyRefused { errno, .. } => {
                format!("{} (policy)", strerror(Errno::from_raw(errno)))
            }
            // An unprivileged helper could do no more than the direct open did: the refusal is
            // the file system's, worded as cat words it.
            myopen::Error::Os { errno, .. } | myopen::Error::HelperNotPrivileged { errno, .. } => {
                strerror(Errno::from_raw(errno))
            }
            other => other.to_string(),
        })
    }
}
