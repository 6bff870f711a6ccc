//! The audit log: a syslog receiver for the test build, and reading its lines.

use super::*;

pub(crate) struct AuditReceiver {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    lines: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl AuditReceiver {
    pub(crate) fn start() -> AuditReceiver {
        AuditReceiver::start_at(Path::new(LOG_SOCKET))
    }

    pub(crate) fn start_at(path: &Path) -> AuditReceiver {
        let _ = fs::remove_file(path);
        let socket = UnixDatagram::bind(path).expect("bind the audit log socket");
        chmod(path, 0o666);
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("SO_RCVTIMEO");
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, lines) = (Arc::clone(&stop), Arc::clone(&lines));
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65536];
                loop {
                    match socket.recv(&mut buffer) {
                        Ok(size) => lines
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .push(String::from_utf8_lossy(&buffer[..size]).into_owned()),
                        Err(_) if stop.load(Ordering::SeqCst) => break,
                        Err(_) => {}
                    }
                }
            })
        };
        AuditReceiver {
            path: path.to_owned(),
            stop,
            lines,
            thread: Some(thread),
        }
    }

    pub(crate) fn drain(&self) -> Vec<String> {
        // Datagrams are queued before the helper exits; give the receiver thread a moment to
        // take what is there, until nothing new arrives for a while.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut seen = usize::MAX;
        loop {
            std::thread::sleep(Duration::from_millis(60));
            let count = self.lines.lock().map(|lines| lines.len()).unwrap_or(0);
            if count == seen || Instant::now() > deadline {
                break;
            }
            seen = count;
        }
        std::mem::take(
            &mut *self
                .lines
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// The value of `key=` in an audit line: a bare word, or a `"..."` string (returned as written,
/// escapes kept, quotes removed).
pub fn audit_field(line: &str, key: &str) -> Option<String> {
    let bytes = line.as_bytes();
    let pattern = format!("{key}=");
    let mut start = 0;
    while let Some(found) = line[start..].find(&pattern) {
        let at = start + found;
        // Must start a field: beginning of the text after ": " or after a space.
        if at == 0 || bytes[at - 1] == b' ' {
            let value = &line[at + pattern.len()..];
            if let Some(quoted) = value.strip_prefix('"') {
                let mut end = None;
                let mut escaped = false;
                for (index, character) in quoted.char_indices() {
                    match character {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(index);
                            break;
                        }
                        _ => {}
                    }
                }
                return end.map(|end| quoted[..end].to_owned());
            }
            return Some(value.split(' ').next().unwrap_or("").to_owned());
        }
        start = at + pattern.len();
    }
    None
}

/// The audit lines that mention `path` (as the helper escapes it) in `path="..."`.
pub fn audit_lines_for<'a>(lines: &'a [String], path: &Path) -> Vec<&'a String> {
    let wanted = escape_like_audit(path.as_os_str());
    lines
        .iter()
        .filter(|line| audit_field(line, "path").as_deref() == Some(wanted.as_str()))
        .collect()
}

/// `path` as the audit log is expected to write it: printable ASCII as is (`"` and `\` escaped
/// with a backslash), everything else as `\xNN`.
pub fn escape_like_audit(path: &OsStr) -> String {
    let mut text = String::new();
    for &byte in path.as_bytes() {
        match byte {
            b'"' | b'\\' => {
                text.push('\\');
                text.push(char::from(byte));
            }
            0x20..=0x7e => text.push(char::from(byte)),
            _ => text.push_str(&format!("\\x{byte:02x}")),
        }
    }
    text
}

// ---------------------------------------------------------------------------------------------
// inotify

/// Opens (`IN_OPEN`) of entries of one directory, as seen by inotify.
pub struct OpenWatch {
    inotify: Inotify,
}

impl OpenWatch {
    pub(crate) fn new(dir: &Path) -> OpenWatch {
        let inotify =
            Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).expect("inotify_init1");
        inotify
            .add_watch(dir, AddWatchFlags::IN_OPEN)
            .unwrap_or_else(|errno| panic!("inotify watch {}: {errno}", dir.display()));
        OpenWatch { inotify }
    }

    /// Names opened since the previous call.
    pub fn opened(&self) -> Vec<OsString> {
        let mut names = Vec::new();
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            names.extend(events.into_iter().filter_map(|event| event.name));
        }
        names
    }
}
