//! The escalations: one worker thread that asks the helper (through one deferred
//! `myopen::Session`) and answers the child. A thread of its own, so that a slow or stuck helper
//! never keeps the supervisor from noticing that COMMAND has ended.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use myopen::{Error, Helper, Session};

use crate::report::{Report, describe_flags};
use crate::request::{Kind, OpenCall};
use crate::sys::Listener;

/// One open the child's own rights could not do.
pub struct Escalation {
    pub id: u64,
    pub call: OpenCall,
}

/// Starts the worker; escalations sent to the returned channel are answered in order.
pub fn start(listener: Arc<Listener>, helper: Helper, report: Report) -> Sender<Escalation> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || serve(&listener, Session::deferred(helper), report, receiver));
    sender
}

fn serve(listener: &Listener, session: Session, report: Report, requests: Receiver<Escalation>) {
    for Escalation { id, call } in requests {
        let pid = call.pid();
        let Ok(path) = call.absolute_path() else {
            // The child's directory has no name we can read: its own open decides.
            let _ = listener.let_run(id);
            continue;
        };
        let flags = call.flags;
        match ask(&session, &path, &call) {
            Ok(fd) if call.kind == Kind::Access => {
                if listener.succeed(id, 0).is_ok() {
                    report.verbose(format_args!(
                        "pid {pid}: {}: the helper would open it ({}): access granted",
                        path.display(),
                        describe_flags(flags)
                    ));
                }
                drop(fd);
            }
            Ok(fd) => {
                let cloexec = flags & libc::O_CLOEXEC != 0;
                if listener.hand_over(id, fd.as_fd(), cloexec).is_ok() {
                    report.verbose(format_args!(
                        "pid {pid}: {}: opened through the helper ({})",
                        path.display(),
                        describe_flags(flags)
                    ));
                }
            }
            // The helper's answer, with its errno, is the child's answer: its own message
            // ("Permission denied") is then the one its user knows.
            Err(error @ (Error::PolicyRefused { errno, .. } | Error::Os { errno, .. })) => {
                if listener.fail(id, errno).is_ok() {
                    report.verbose(format_args!("pid {pid}: {error}"));
                }
            }
            // A helper without privilege could do no more than the child's own open did: its
            // errno is the child's, and the user hears once why nothing was escalated.
            Err(error @ Error::HelperNotPrivileged { errno, .. }) => {
                report.helper_trouble(&error);
                let _ = listener.fail(id, errno);
            }
            // The helper could not be asked (missing, crashed, broken): the child's own open
            // runs and fails as it would have without myopen-run.
            Err(error) => {
                report.helper_trouble(&error);
                let _ = listener.let_run(id);
            }
        }
    }
}

/// Asks the helper for `call`. An open that may create a file first asks without `O_CREAT`, and
/// with it only if the file turns out not to exist: the policy's `create` is about making new
/// files, and `tee -a` or a shell's `>>` on an existing log should need no more than `append`.
fn ask(session: &Session, path: &std::path::Path, call: &OpenCall) -> Result<OwnedFd, Error> {
    let (flags, mode) = (call.flags, call.mode_after_umask());
    if flags & libc::O_CREAT != 0 && flags & libc::O_EXCL == 0 {
        match session.open_with_mode(path, flags & !libc::O_CREAT, mode) {
            Err(Error::Os {
                errno: libc::ENOENT,
                ..
            }) => {}
            result => return result,
        }
    }
    session.open_with_mode(path, flags, mode)
}
