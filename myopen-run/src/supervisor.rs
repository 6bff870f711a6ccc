//! The supervisor: starts COMMAND under the filter, answers its opens, forwards the signals a
//! shell user sends, and ends with COMMAND's status.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use anyhow::{Context, anyhow};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::{Mode, umask};
use nix::unistd::Pid;

use myopen::Helper;

use crate::escalate::{self, Escalation};
use crate::report::Report;
use crate::request::{Triage, triage};
use crate::sys::{self, Listener, SpawnError, Stage};

/// Signals passed on to COMMAND when someone sends them to myopen-run.
const FORWARDED: [Signal; 5] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGWINCH,
    Signal::SIGQUIT,
];

/// `si_code` of a signal the kernel generated, such as the terminal's SIGINT on Ctrl-C.
const SI_KERNEL: i32 = 0x80;

/// Why myopen-run could not run COMMAND; the exit status follows env(1): 125 for our own
/// trouble, 126 for a COMMAND that cannot be executed, 127 for one that is not found.
#[derive(Debug)]
pub struct Failure {
    pub status: i32,
    pub error: anyhow::Error,
}

impl Failure {
    fn ours(error: anyhow::Error) -> Failure {
        Failure { status: 125, error }
    }
}

/// Runs `command` under the supervisor; COMMAND's exit status (128+N for a signal N).
pub fn run(command: &[OsString], helper: Helper, report: Report) -> Result<i32, Failure> {
    let sizes = sys::user_notification_sizes()
        .map_err(|errno| {
            anyhow!(
                "this kernel does not offer seccomp user notification (seccomp: {}); \
                 myopen-run needs Linux 5.14 or later with seccomp enabled, and COMMAND was not \
                 started",
                myopen::strerror(errno as i32)
            )
        })
        .map_err(Failure::ours)?;

    // Blocked before the child exists, so that none of its signals is missed; read through a
    // signalfd. The child starts with an empty mask (std resets it).
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    for signal in FORWARDED {
        signals.add(signal);
    }
    signals
        .thread_block()
        .context("blocking signals")
        .map_err(Failure::ours)?;
    let signal_fd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")
        .map_err(Failure::ours)?;

    let (program, arguments) = command
        .split_first()
        .ok_or_else(|| Failure::ours(anyhow!("no COMMAND given")))?;
    let mut child_command = Command::new(program);
    child_command.args(arguments);
    let (mut child, listener) = sys::spawn_under_filter(&mut child_command)
        .map_err(|error| spawn_failure(program, error))?;

    // The helper inherits our umask and applies it to a file it creates; the child's own umask
    // is applied before asking (see OpenCall::mode_after_umask), so ours must take nothing away.
    umask(Mode::empty());

    let listener = Arc::new(Listener::new(listener, sizes));
    let escalations = escalate::start(Arc::clone(&listener), helper, report);
    supervise(&mut child, &listener, &escalations, &signal_fd).map_err(Failure::ours)
}

fn spawn_failure(program: &OsString, error: SpawnError) -> Failure {
    let name = program.to_string_lossy();
    match error {
        SpawnError::Filter { stage, errno } => {
            let why = match (stage, errno) {
                (Stage::Filter, Errno::EBUSY) => {
                    "another seccomp listener already watches this process (myopen-run inside \
                     myopen-run, or a container runtime's)"
                        .to_owned()
                }
                (Stage::Filter, _) => "the kernel refused the seccomp filter".to_owned(),
                (Stage::NoNewPrivs, _) => "prctl(PR_SET_NO_NEW_PRIVS) failed".to_owned(),
                (Stage::Continue, _) => {
                    "this kernel cannot let a notified system call continue (Linux 5.5 or later \
                     is needed)"
                        .to_owned()
                }
                (Stage::AddFdSend, _) => {
                    "this kernel cannot hand a descriptor to a notified system call \
                     (SECCOMP_ADDFD_FLAG_SEND, Linux 5.14 or later is needed)"
                        .to_owned()
                }
                (Stage::Handover, _) => "passing the seccomp listener failed".to_owned(),
            };
            Failure::ours(anyhow!(
                "cannot run {name} under seccomp user notification: {why} ({}); {name} was not \
                 started",
                myopen::strerror(errno as i32)
            ))
        }
        SpawnError::Exec(error) => {
            let status = match error.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            };
            Failure {
                status,
                error: anyhow!("{name}: {}", strip_os_error(&error)),
            }
        }
    }
}

fn strip_os_error(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(errno) => myopen::strerror(errno),
        None => error.to_string(),
    }
}

/// The event loop: notifications and signals, until COMMAND ends. Ends then at once, also when
/// a notification is still being answered (its caller outlived COMMAND; once we are gone the
/// kernel fails its open with ENOSYS) or the helper is stuck.
fn supervise(
    child: &mut Child,
    listener: &Listener,
    escalations: &Sender<Escalation>,
    signal_fd: &SignalFd,
) -> anyhow::Result<i32> {
    let child_pid = Pid::from_raw(child.id() as i32);
    let mut listening = true;
    loop {
        if let Some(status) = child.try_wait().context("waiting for COMMAND")? {
            return Ok(exit_code(status));
        }
        let mut fds = vec![PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN)];
        if listening {
            fds.push(PollFd::new(listener.fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            result => result.context("poll")?,
        };
        let signal_ready = fds[0].any().unwrap_or(false);
        let listener_events = fds.get(1).and_then(PollFd::revents);
        drop(fds);

        if let Some(events) = listener_events {
            if events.contains(PollFlags::POLLIN) {
                answer_one(listener, escalations);
            } else if events.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                // No process is under the filter any more; COMMAND's exit is on its way.
                listening = false;
            }
        }
        if signal_ready {
            while let Ok(Some(info)) = signal_fd.read_signal() {
                forward(&info, child_pid);
            }
        }
    }
}

fn answer_one(listener: &Listener, escalations: &Sender<Escalation>) {
    let notification = match listener.receive() {
        Ok(notification) => notification,
        // Its caller was killed between poll and receive.
        Err(_) => return,
    };
    let id = notification.id;
    match triage(listener, &notification) {
        Triage::LetRun => {
            // ENOENT: the caller went away meanwhile; nothing left to answer.
            let _ = listener.let_run(id);
        }
        Triage::Gone => {}
        Triage::Escalate(call) => {
            if escalations.send(Escalation { id, call }).is_err() {
                let _ = listener.let_run(id);
            }
        }
    }
}

/// Passes a signal on to COMMAND, unless COMMAND has it already: the terminal sends Ctrl-C's
/// SIGINT (and SIGWINCH, SIGQUIT, a hangup's SIGHUP) to the whole foreground process group,
/// which COMMAND shares with us, and COMMAND signalling its own group reaches us too.
fn forward(info: &libc::signalfd_siginfo, child: Pid) {
    let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
        return;
    };
    if signal == Signal::SIGCHLD || !FORWARDED.contains(&signal) {
        return;
    }
    if info.ssi_code == SI_KERNEL || info.ssi_pid as i32 == child.as_raw() {
        return;
    }
    let _ = kill(child, signal);
}

/// COMMAND's exit status as a shell reports it: 128+N for death by signal N.
fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 125,
    }
}
