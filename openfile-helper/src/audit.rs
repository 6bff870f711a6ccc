//! The audit log (P8): one syslog line per decision, facility authpriv, `key=value` fields.
//!
//! Records are sent as datagrams straight to the syslog socket (`/dev/log` unless the build says
//! otherwise) rather than through syslog(3), so that no libc logging state, locale or environment
//! is involved, and a missing socket costs nothing: the decision stands either way.

use std::cell::Cell;
use std::fmt::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use myopen::wire::flags_in_words;

use crate::config::SYSLOG_SOCKET;

/// Longest path, in bytes before escaping, that a record shows; longer ones are cut and marked.
pub const MAX_LOGGED_PATH: usize = 512;

const FACILITY_AUTHPRIV: u8 = 10;
const SEVERITY_WARNING: u8 = 4;
const SEVERITY_NOTICE: u8 = 5;

/// One decision, as it will be logged.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The caller's real uid.
    pub uid: u32,
    /// The caller's login name, when the user database knows it.
    pub user: Option<&'a str>,
    /// The path as requested (bytes, possibly not UTF-8).
    pub path: &'a [u8],
    /// The canonical path of the object actually opened, when it got that far.
    pub canonical: Option<&'a [u8]>,
    /// The open flags requested.
    pub flags: i32,
    /// Whether the open was granted.
    pub granted: bool,
    /// The deciding rule as `file:line`, if a rule decided.
    pub rule: Option<String>,
    /// Why, in words (for refusals and failures).
    pub reason: &'a str,
}

impl Record<'_> {
    /// The message part of the syslog line: `decision=... uid=... user=... path="..." ...`.
    pub fn message(&self) -> String {
        let mut line = String::with_capacity(256);
        let _ = write!(
            line,
            "decision={} uid={} user={} path=\"{}\"",
            if self.granted { "granted" } else { "denied" },
            self.uid,
            self.user
                .map(|name| escape(name.as_bytes()))
                .unwrap_or_else(|| "?".to_owned()),
            escape(self.path),
        );
        if let Some(canonical) = self.canonical {
            let _ = write!(line, " canonical=\"{}\"", escape(canonical));
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
        line
    }

    /// The whole datagram from process `pid`: `<PRI>openfile-helper[PID]: message`. The
    /// receiving daemon adds the time stamp, so no time zone or locale is consulted here.
    pub fn datagram(&self, pid: u32) -> String {
        let severity = if self.granted {
            SEVERITY_NOTICE
        } else {
            SEVERITY_WARNING
        };
        format!(
            "<{}>openfile-helper[{}]: {}",
            FACILITY_AUTHPRIV * 8 + severity,
            pid,
            self.message()
        )
    }
}

/// Sends records to syslog over one datagram socket, opened once per helper process and
/// connected to the syslog socket, so that a session's records do not each pay for a path lookup.
#[derive(Debug)]
pub struct Auditor {
    socket: Option<UnixDatagram>,
    destination: PathBuf,
    pid: u32,
    connected: Cell<bool>,
    /// While syslog is absent, when to try connecting again: not on every record.
    next_attempt: Cell<Option<Instant>>,
}

/// How long to wait before looking for an absent syslog socket again.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

impl Auditor {
    /// An auditor; without a socket (descriptor limit reached) records are dropped silently.
    /// The socket never blocks: a syslog daemon that stopped reading (its queue full) must not
    /// stop the helper from answering.
    pub fn new() -> Auditor {
        Auditor::to(SYSLOG_SOCKET)
    }

    /// An auditor sending to the datagram socket at `destination`.
    pub fn to(destination: impl Into<PathBuf>) -> Auditor {
        let socket = UnixDatagram::unbound()
            .ok()
            .filter(|socket| socket.set_nonblocking(true).is_ok());
        Auditor {
            socket,
            destination: destination.into(),
            pid: std::process::id(),
            connected: Cell::new(false),
            next_attempt: Cell::new(None),
        }
    }

    /// Sends `record`. Failures are ignored on purpose: without a syslog daemon the decision
    /// still stands, and nothing here may stop the helper from answering.
    pub fn log(&self, record: &Record<'_>) {
        let Some(socket) = &self.socket else { return };
        let now = Instant::now();
        if !self.connected.get() && self.next_attempt.get().is_some_and(|next| now < next) {
            // Syslog was absent a moment ago: do not even format a record nobody will read.
            return;
        }
        let datagram = record.datagram(self.pid);
        if self.connected.get() {
            match socket.send(datagram.as_bytes()) {
                // A full queue drops the record, as syslog(3) would.
                Ok(_) => return,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return,
                // The daemon restarted or went away: connect afresh below.
                Err(_) => self.connected.set(false),
            }
        }
        if socket.connect(&self.destination).is_ok() {
            self.connected.set(true);
            self.next_attempt.set(None);
            let _ = socket.send(datagram.as_bytes());
        } else {
            self.next_attempt.set(Some(now + RECONNECT_INTERVAL));
        }
    }
}

impl Default for Auditor {
    fn default() -> Self {
        Auditor::new()
    }
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

    fn record(granted: bool) -> Record<'static> {
        Record {
            uid: 1001,
            user: Some("alice"),
            path: b"/var/log/../log/syslog",
            canonical: Some(b"/var/log/syslog"),
            flags: libc::O_RDONLY,
            granted,
            rule: Some("/etc/myopen/policy.toml:3".to_owned()),
            reason: "",
        }
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
    fn one_connection_survives_a_syslog_restart_and_an_absence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let auditor = Auditor::to(&path);

        let daemon = listen(&path);
        auditor.log(&record(true));
        assert!(receive(&daemon).unwrap().contains("decision=granted"));

        // The daemon restarts: a new socket at the same path. The first send fails, the auditor
        // reconnects and the record still arrives.
        drop(daemon);
        let restarted = listen(&path);
        auditor.log(&record(false));
        assert!(receive(&restarted).unwrap().contains("decision=denied"));

        // Gone: records are dropped, and the next attempt waits (no lookup per record).
        drop(restarted);
        std::fs::remove_file(&path).unwrap();
        auditor.log(&record(true));
        let back = listen(&path);
        auditor.log(&record(true));
        assert_eq!(
            receive(&back),
            None,
            "no reconnect attempt before the interval"
        );
        std::thread::sleep(RECONNECT_INTERVAL + Duration::from_millis(50));
        auditor.log(&record(true));
        assert!(receive(&back).is_some(), "found again after the interval");
    }

    #[test]
    fn logging_without_a_syslog_socket_does_not_fail() {
        Auditor::new().log(&record(true));
    }
}
