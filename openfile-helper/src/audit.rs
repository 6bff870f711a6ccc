//! The audit log (P8): one syslog line per decision, facility authpriv, `key=value` fields.
//!
//! Records are sent as datagrams straight to the syslog socket (`/dev/log` unless the build says
//! otherwise) rather than through syslog(3), so that no libc logging state, locale or environment
//! is involved. A grant's record must go out before the open takes effect ([`Delivery::Required`]):
//! the helper waits for syslog up to [`DELIVERY_BOUND`] and refuses the request when the record
//! cannot be delivered. Other records are sent if syslog takes them at once.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use myopen::wire::O_LARGEFILE_KERNEL;
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, send};

use crate::config::SYSLOG_SOCKET;

/// Longest path, in bytes before escaping, that a record shows; longer ones are cut and marked.
pub const MAX_LOGGED_PATH: usize = 512;

/// How long one record may wait for syslog (its queue full, its socket missing or being replaced
/// by a restart, no descriptor for ours) before the helper gives up on it. A grant whose record
/// cannot go out within this is refused; no request waits longer than this for syslog.
pub const DELIVERY_BOUND: Duration = Duration::from_secs(1);

/// Between two tries at a syslog socket that is missing or refuses, within [`DELIVERY_BOUND`].
const RETRY_PAUSE: Duration = Duration::from_millis(25);

const FACILITY_AUTHPRIV: u8 = 10;
const SEVERITY_WARNING: u8 = 4;
const SEVERITY_NOTICE: u8 = 5;

/// What a record says happened: its `decision=` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Granted; the record is written before the open takes effect.
    Granted,
    /// Refused before anything was granted.
    Denied,
    /// Granted (its record went out), then not served: the open or creation failed.
    Failed,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Granted => "granted",
            Verdict::Denied => "denied",
            Verdict::Failed => "failed",
        }
    }
}

/// One decision, as it will be logged.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The caller's real uid.
    pub uid: u32,
    /// The caller's login name, when the user database knows it.
    pub user: Option<&'a str>,
    /// The path as requested (bytes, possibly not UTF-8).
    pub path: &'a [u8],
    /// The lexically cleaned path, when the policy refused that.
    pub cleaned: Option<&'a [u8]>,
    /// The canonical path of the object actually opened, when it got that far.
    pub canonical: Option<&'a [u8]>,
    /// How far a failed resolution got.
    pub reached: Option<&'a [u8]>,
    /// The open flags requested.
    pub flags: i32,
    /// What happened.
    pub verdict: Verdict,
    /// The deciding rule as `file:line`, if a rule decided.
    pub rule: Option<String>,
    /// Why, in words (for refusals and failures).
    pub reason: &'a str,
    /// The connection's peer process, when a `myopend` worker decided (`mode=daemon`).
    pub daemon_peer: Option<DaemonPeer>,
}

/// The process at the other end of a `myopend` connection, as the kernel named it at connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaemonPeer {
    /// `SO_PEERCRED`'s pid, in the daemon's pid namespace.
    pub pid: i32,
    /// The inode number of the peer's pidfd (`SO_PEERPIDFD`, Linux 6.5; pidfs, 6.9), which
    /// names one process for the whole boot where a pid is reused; systemd's journal records the
    /// same number as `_PIDFDID`. `None` on kernels without it.
    pub pidfd_id: Option<u64>,
}

impl Record<'_> {
    /// The message part of the syslog line: `decision=... uid=... user=... path="..." ...`.
    pub fn message(&self) -> String {
        let mut line = String::with_capacity(256);
        let _ = write!(
            line,
            "decision={} uid={} user={} path=\"{}\"",
            self.verdict.word(),
            self.uid,
            self.user
                .map(|name| escape(name.as_bytes()))
                .unwrap_or_else(|| "?".to_owned()),
            escape(self.path),
        );
        for (key, value) in [
            ("cleaned", self.cleaned),
            ("canonical", self.canonical),
            ("reached", self.reached),
        ] {
            if let Some(value) = value {
                let _ = write!(line, " {key}=\"{}\"", escape(value));
            }
        }
        let _ = write!(
            line,
            " flags={} rule={}",
            flags_in_words(self.flags),
            self.rule.as_deref().unwrap_or("none")
        );
        // The kernel fence this process is under (issue 12); none is drawn before Service::start.
        if let Some(fence) = crate::fence::current() {
            let _ = write!(line, " fence={}", fence.summary());
        }
        if !self.reason.is_empty() {
            let _ = write!(line, " reason=\"{}\"", escape(self.reason.as_bytes()));
        }
        if let Some(peer) = self.daemon_peer {
            let _ = write!(line, " mode=daemon peer_pid={}", peer.pid);
            if let Some(id) = peer.pidfd_id {
                let _ = write!(line, " peer_pidfd_id={id}");
            }
        }
        line
    }

    /// The whole datagram from process `pid`: `<PRI>openfile-helper[PID]: message`. The
    /// receiving daemon adds the time stamp, so no time zone or locale is consulted here.
    pub fn datagram(&self, pid: u32) -> String {
        let severity = match self.verdict {
            Verdict::Granted => SEVERITY_NOTICE,
            Verdict::Denied | Verdict::Failed => SEVERITY_WARNING,
        };
        format!(
            "<{}>openfile-helper[{}]: {}",
            FACILITY_AUTHPRIV * 8 + severity,
            pid,
            self.message()
        )
    }
}

/// How hard [`Auditor::log`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The record must reach syslog (a grant the policy made): waits up to [`DELIVERY_BOUND`],
    /// and an error when it cannot.
    Required,
    /// Sent if syslog takes it at once (a refusal, what became of a grant, a grant of no more
    /// than the caller's own rights): the decision stands without it, and waiting would only
    /// delay the answer.
    BestEffort,
}

/// A record that did not reach syslog.
#[derive(Debug)]
pub struct Undelivered {
    destination: PathBuf,
    waited: Duration,
    cause: io::Error,
}

impl fmt::Display for Undelivered {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "its audit record could not be sent to {} within {:?}: {}",
            self.destination.display(),
            self.waited,
            self.cause
        )
    }
}

/// Sends records to syslog over one datagram socket, opened once per helper process and
/// connected to the syslog socket, so that a session's records do not each pay for a path lookup.
#[derive(Debug)]
pub struct Auditor {
    /// `None` while no descriptor could be had for it (a limit the caller set): created again
    /// before each record until it exists.
    socket: RefCell<Option<UnixDatagram>>,
    destination: PathBuf,
    pid: u32,
    connected: Cell<bool>,
    /// While syslog is absent, when a best-effort record may try connecting again: not on every
    /// record.
    next_attempt: Cell<Option<Instant>>,
}

/// How long to wait before looking for an absent syslog socket again for a best-effort record.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

impl Auditor {
    /// An auditor sending to the build's syslog socket.
    pub fn new() -> Auditor {
        Auditor::to(SYSLOG_SOCKET)
    }

    /// An auditor sending to the datagram socket at `destination`.
    pub fn to(destination: impl Into<PathBuf>) -> Auditor {
        Auditor {
            socket: RefCell::new(UnixDatagram::unbound().ok()),
            destination: destination.into(),
            pid: std::process::id(),
            connected: Cell::new(false),
            next_attempt: Cell::new(None),
        }
    }

    /// Sends `record`, trying as hard as `delivery` says. Never waits longer than
    /// [`DELIVERY_BOUND`]; a syslog that restarted is connected to again.
    pub fn log(&self, record: &Record<'_>, delivery: Delivery) -> Result<(), Undelivered> {
        let started = Instant::now();
        let deadline = match delivery {
            Delivery::Required => started + DELIVERY_BOUND,
            Delivery::BestEffort => started,
        };
        let undelivered = |cause: io::Error| Undelivered {
            destination: self.destination.clone(),
            waited: deadline - started,
            cause,
        };
        if delivery == Delivery::BestEffort
            && !self.connected.get()
            && self.next_attempt.get().is_some_and(|next| started < next)
        {
            // Syslog was absent a moment ago: do not even format a record nobody will read.
            return Err(undelivered(io::ErrorKind::NotConnected.into()));
        }
        let datagram = record.datagram(self.pid);
        loop {
            let error = match self.send(datagram.as_bytes(), deadline) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            let now = Instant::now();
            if now >= deadline {
                if !self.connected.get() {
                    self.next_attempt.set(Some(now + RECONNECT_INTERVAL));
                }
                return Err(undelivered(error));
            }
            // A full queue was already waited on in `send`; anything else (a restart in
            // progress, no descriptor) is looked at again shortly.
            if error.kind() != io::ErrorKind::WouldBlock {
                std::thread::sleep(RETRY_PAUSE.min(deadline - now));
            }
        }
    }

    /// One try: a socket (created if it is missing), connected (again, after a restart), and the
    /// datagram sent, waiting for room in syslog's queue until `deadline` at most.
    fn send(&self, datagram: &[u8], deadline: Instant) -> io::Result<()> {
        let mut slot = self.socket.borrow_mut();
        if slot.is_none() {
            self.connected.set(false);
            *slot = Some(UnixDatagram::unbound()?);
        }
        let Some(socket) = slot.as_ref() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if !self.connected.get() {
            socket.connect(&self.destination)?;
            self.connected.set(true);
            self.next_attempt.set(None);
            return send_before(socket, datagram, deadline);
        }
        match send_before(socket, datagram, deadline) {
            Err(error)
                if !matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                // The daemon restarted or went away: connect afresh, once.
                self.connected.set(false);
                socket.connect(&self.destination)?;
                self.connected.set(true);
                send_before(socket, datagram, deadline)
            }
            result => result,
        }
    }
}

impl Default for Auditor {
    fn default() -> Self {
        Auditor::new()
    }
}

/// Sends `datagram` on the connected `socket`; while syslog's queue is full, waits for room
/// until `deadline` (`WouldBlock` after it).
fn send_before(socket: &UnixDatagram, datagram: &[u8], deadline: Instant) -> io::Result<()> {
    match send(socket.as_raw_fd(), datagram, MsgFlags::MSG_DONTWAIT) {
        Ok(_) => return Ok(()),
        Err(Errno::EAGAIN) => {}
        Err(errno) => return Err(errno.into()),
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    socket.set_write_timeout(Some(remaining))?;
    socket.send(datagram).map(drop)
}

/// `flags` in words, as the audit log prints them: `O_WRONLY|O_CREAT|O_TRUNC`. Bits without a
/// name are shown in octal.
fn flags_in_words(flags: i32) -> String {
    let access = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let named = [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (O_LARGEFILE_KERNEL, "O_LARGEFILE"),
    ];
    let mut words = vec![access.to_owned()];
    let mut rest = flags & !libc::O_ACCMODE;
    for (bit, name) in named {
        if rest & bit == bit {
            words.push(name.to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        words.push(format!("{rest:#o}"));
    }
    words.join("|")
}

/// Printable ASCII stays as it is; `"` and `\` are backslash-escaped; control characters, other
/// bytes above 0x7e and bytes that are not UTF-8 become `\xNN`. Input longer than
/// [`MAX_LOGGED_PATH`] is cut, with `...` appended.
pub fn escape(bytes: &[u8]) -> String {
    let (shown, cut) = if bytes.len() > MAX_LOGGED_PATH {
        (&bytes[..MAX_LOGGED_PATH], true)
    } else {
        (bytes, false)
    };
    let mut escaped = String::with_capacity(shown.len() + 8);
    for &byte in shown {
        match byte {
            b'"' | b'\\' => {
                escaped.push('\\');
                escaped.push(char::from(byte));
            }
            0x20..=0x7e => escaped.push(char::from(byte)),
            _ => {
                let _ = write!(escaped, "\\x{byte:02x}");
            }
        }
    }
    if cut {
        escaped.push_str("...");
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_as_words() {
        assert_eq!(flags_in_words(libc::O_RDONLY), "O_RDONLY");
        assert_eq!(
            flags_in_words(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(
            flags_in_words(libc::O_RDWR | libc::O_APPEND | libc::O_NOFOLLOW),
            "O_RDWR|O_APPEND|O_NOFOLLOW"
        );
        assert_eq!(
            flags_in_words(libc::O_RDONLY | libc::O_PATH),
            "O_RDONLY|0o10000000"
        );
    }

    fn record(granted: bool) -> Record<'static> {
        Record {
            uid: 1001,
            user: Some("alice"),
            path: b"/var/log/../log/syslog",
            cleaned: None,
            canonical: Some(b"/var/log/syslog"),
            reached: None,
            flags: libc::O_RDONLY,
            verdict: if granted {
                Verdict::Granted
            } else {
                Verdict::Denied
            },
            rule: Some("/etc/myopen/policy.toml:3".to_owned()),
            reason: "",
            daemon_peer: None,
        }
    }

    #[test]
    fn a_daemon_workers_line_names_the_mode_and_the_peer() {
        let line = Record {
            daemon_peer: Some(DaemonPeer {
                pid: 4242,
                pidfd_id: Some(9000),
            }),
            ..record(true)
        }
        .message();
        assert!(
            line.ends_with(" mode=daemon peer_pid=4242 peer_pidfd_id=9000"),
            "{line}"
        );
        let without_pidfd = Record {
            daemon_peer: Some(DaemonPeer {
                pid: 4242,
                pidfd_id: None,
            }),
            ..record(true)
        }
        .message();
        assert!(
            without_pidfd.ends_with(" mode=daemon peer_pid=4242"),
            "{without_pidfd}"
        );
        assert!(!record(true).message().contains("mode="));
    }

    #[test]
    fn grant_line_has_every_field() {
        assert_eq!(
            record(true).message(),
            "decision=granted uid=1001 user=alice path=\"/var/log/../log/syslog\" \
             canonical=\"/var/log/syslog\" flags=O_RDONLY rule=/etc/myopen/policy.toml:3"
        );
        assert!(
            record(true)
                .datagram(7)
                .starts_with("<85>openfile-helper[7]: ")
                || record(true).datagram(7).starts_with("<85>openfile-helper[")
        );
    }

    #[test]
    fn denial_is_a_warning_with_a_reason() {
        let denial = Record {
            rule: None,
            canonical: None,
            reason: "no rule allows it",
            ..record(false)
        };
        assert_eq!(
            denial.message(),
            "decision=denied uid=1001 user=alice path=\"/var/log/../log/syslog\" flags=O_RDONLY rule=none \
             reason=\"no rule allows it\""
        );
        assert!(denial.datagram(7).starts_with("<84>openfile-helper["));
    }

    #[test]
    fn control_characters_and_non_utf8_are_escaped() {
        assert_eq!(
            escape(b"/tmp/a\nb\x1b[31m\xff\"\\"),
            "/tmp/a\\x0ab\\x1b[31m\\xff\\\"\\\\"
        );
        let line = Record {
            path: b"/x\ndecision=granted",
            ..record(false)
        }
        .message();
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(
            line.matches("decision=").count(),
            2,
            "the injected text stays inside the quoted path"
        );
        assert!(line.starts_with("decision=denied"));
    }

    #[test]
    fn long_paths_are_cut() {
        let long = vec![b'a'; 5000];
        let escaped = escape(&long);
        assert_eq!(escaped.len(), MAX_LOGGED_PATH + 3);
        assert!(escaped.ends_with("..."));
    }

    fn receive(receiver: &UnixDatagram) -> Option<String> {
        let mut buffer = [0u8; 2048];
        receiver
            .recv(&mut buffer)
            .ok()
            .map(|length| String::from_utf8_lossy(&buffer[..length]).into_owned())
    }

    fn listen(path: &std::path::Path) -> UnixDatagram {
        let _ = std::fs::remove_file(path);
        let receiver = UnixDatagram::bind(path).unwrap();
        receiver.set_nonblocking(true).unwrap();
        receiver
    }

    #[test]
    fn refusals_show_the_cleaned_path_and_how_far_resolution_got() {
        let lexical = Record {
            path: b"/data/allowed/./././../secret",
            cleaned: Some(b"/data/secret"),
            canonical: None,
            rule: None,
            reason: "no rule",
            ..record(false)
        };
        assert_eq!(
            lexical.message(),
            "decision=denied uid=1001 user=alice path=\"/data/allowed/./././../secret\" \
             cleaned=\"/data/secret\" flags=O_RDONLY rule=none reason=\"no rule\""
        );
        let unresolved = Record {
            canonical: None,
            reached: Some(b"/root/missing"),
            ..lexical.clone()
        };
        assert!(
            unresolved
                .message()
                .contains(" reached=\"/root/missing\" flags="),
            "{}",
            unresolved.message()
        );
        let failed = Record {
            verdict: Verdict::Failed,
            ..record(true)
        };
        assert!(failed.message().starts_with("decision=failed "));
        assert!(failed.datagram(7).starts_with("<84>"), "a warning");
    }

    /// Fills `receiver`'s queue from another socket, as any user can fill /dev/log.
    fn flood(path: &std::path::Path) {
        let flooder = UnixDatagram::unbound().unwrap();
        flooder.connect(path).unwrap();
        flooder.set_nonblocking(true).unwrap();
        while flooder.send(b"flood").is_ok() {}
    }

    #[test]
    fn one_connection_survives_a_syslog_restart_and_an_absence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let auditor = Auditor::to(&path);
        let best_effort = |record: &Record<'_>| auditor.log(record, Delivery::BestEffort);

        let daemon = listen(&path);
        best_effort(&record(true)).unwrap();
        assert!(receive(&daemon).unwrap().contains("decision=granted"));

        // The daemon restarts: a new socket at the same path. The first send fails, the auditor
        // reconnects and the record still arrives.
        drop(daemon);
        let restarted = listen(&path);
        best_effort(&record(false)).unwrap();
        assert!(receive(&restarted).unwrap().contains("decision=denied"));

        // Gone: best-effort records are dropped, and the next attempt waits (no lookup per
        // record).
        drop(restarted);
        std::fs::remove_file(&path).unwrap();
        assert!(best_effort(&record(false)).is_err());
        let back = listen(&path);
        assert!(best_effort(&record(false)).is_err());
        assert_eq!(
            receive(&back),
            None,
            "no reconnect attempt before the interval"
        );
        // A record that must go out looks at once.
        auditor.log(&record(true), Delivery::Required).unwrap();
        assert!(receive(&back).unwrap().contains("decision=granted"));
        drop(back);
        std::fs::remove_file(&path).unwrap();
        assert!(best_effort(&record(false)).is_err());
        let back = listen(&path);
        std::thread::sleep(RECONNECT_INTERVAL + Duration::from_millis(50));
        best_effort(&record(true)).unwrap();
        assert!(receive(&back).is_some(), "found again after the interval");
    }

    #[test]
    fn a_socket_that_could_not_be_created_is_created_before_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let daemon = listen(&path);
        let auditor = Auditor::to(&path);
        // As when the caller's descriptor limit left none for it at start.
        *auditor.socket.borrow_mut() = None;
        auditor.log(&record(true), Delivery::Required).unwrap();
        assert!(receive(&daemon).unwrap().contains("decision=granted"));
    }

    #[test]
    fn a_full_queue_is_waited_on_within_the_bound_and_no_longer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let daemon = listen(&path);
        flood(&path);
        let auditor = Auditor::to(&path);

        let started = Instant::now();
        assert!(auditor.log(&record(false), Delivery::BestEffort).is_err());
        assert!(
            started.elapsed() < DELIVERY_BOUND / 2,
            "a best-effort record does not wait"
        );

        let started = Instant::now();
        let error = auditor.log(&record(true), Delivery::Required).unwrap_err();
        let waited = started.elapsed();
        assert!(
            waited >= DELIVERY_BOUND && waited < DELIVERY_BOUND + Duration::from_millis(500),
            "waited {waited:?}"
        );
        assert!(error.to_string().contains("could not be sent"), "{error}");

        // Syslog catches up while the record waits: it goes out.
        let reader = std::thread::spawn(move || {
            std::thread::sleep(DELIVERY_BOUND / 4);
            let mut lines = Vec::new();
            let deadline = Instant::now() + DELIVERY_BOUND * 2;
            while Instant::now() < deadline {
                lines.extend(receive(&daemon));
            }
            lines
        });
        auditor.log(&record(true), Delivery::Required).unwrap();
        let lines = reader.join().unwrap();
        assert!(
            lines.iter().any(|line| line.contains("decision=granted")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_record_that_must_go_out_waits_for_a_restarting_syslog() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let auditor = Auditor::to(&path);

        let started = Instant::now();
        assert!(auditor.log(&record(true), Delivery::Required).is_err());
        let waited = started.elapsed();
        assert!(
            waited >= DELIVERY_BOUND && waited < DELIVERY_BOUND + Duration::from_millis(500),
            "no syslog: waited {waited:?}"
        );

        let binder = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(DELIVERY_BOUND / 4);
                listen(&path)
            })
        };
        auditor.log(&record(true), Delivery::Required).unwrap();
        assert!(receive(&binder.join().unwrap()).is_some());
    }

    #[test]
    fn without_a_syslog_socket_a_refusal_still_stands_and_a_grant_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let auditor = Auditor::to(dir.path().join("no-syslog-here"));
        // Best effort: the loss is reported (a refusal stands regardless) without waiting.
        let started = Instant::now();
        assert!(auditor.log(&record(false), Delivery::BestEffort).is_err());
        assert!(started.elapsed() < DELIVERY_BOUND / 2);
        // Required: the record cannot go out within the bound, so the grant must be refused.
        let started = Instant::now();
        let undelivered = auditor.log(&record(true), Delivery::Required).unwrap_err();
        assert!(started.elapsed() >= DELIVERY_BOUND, "{undelivered}");
        assert!(started.elapsed() < DELIVERY_BOUND * 3, "{undelivered}");
    }
}
