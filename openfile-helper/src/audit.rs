//! The audit log (P8): one syslog line per decision, facility authpriv, `key=value` fields.
//!
//! Records are sent as datagrams straight to the syslog socket (`/dev/log` unless the build says
//! otherwise) rather than through syslog(3), so that no libc logging state, locale or environment
//! is involved, and a missing socket costs nothing: the decision stands either way.

use std::fmt::Write;
use std::os::unix::net::UnixDatagram;

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

/// Sends records to syslog over one datagram socket, opened once per helper process.
#[derive(Debug)]
pub struct Auditor {
    socket: Option<UnixDatagram>,
    pid: u32,
}

impl Auditor {
    /// An auditor; without a socket (descriptor limit reached) records are dropped silently.
    /// The socket never blocks: a syslog daemon that stopped reading (its queue full) must not
    /// stop the helper from answering.
    pub fn new() -> Auditor {
        let socket = UnixDatagram::unbound()
            .ok()
            .filter(|socket| socket.set_nonblocking(true).is_ok());
        Auditor {
            socket,
            pid: std::process::id(),
        }
    }

    /// Sends `record`. Failures are ignored on purpose: without a syslog daemon the decision
    /// still stands, and nothing here may stop the helper from answering.
    pub fn log(&self, record: &Record<'_>) {
        if let Some(socket) = &self.socket {
            let _ = socket.send_to(record.datagram(self.pid).as_bytes(), SYSLOG_SOCKET);
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

    #[test]
    fn logging_without_a_syslog_socket_does_not_fail() {
        Auditor::new().log(&record(true));
    }
}
