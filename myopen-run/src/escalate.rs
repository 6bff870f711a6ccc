//! The escalations: one worker thread that asks the helper (through one deferred
//! `myopen::Session`) and answers the child. A thread of its own, so that a slow or stuck helper
//! never keeps the supervisor from noticing that COMMAND has ended.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use myopen::{Error, Helper, Session};

use crate::report::{Report, describe_flags};
use crate::request::OpenCall;
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
        match session.open_with_mode(&path, flags, call.mode_after_umask()) {
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
            Err(
                error @ (Error::PolicyRefused { errno, .. }
                | Error::Os { errno, .. }
                | Error::HelperNotPrivileged { errno, .. }),
            ) => {
                if listener.fail(id, errno).is_ok() {
                    report.verbose(format_args!("pid {pid}: {error}"));
                }
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
