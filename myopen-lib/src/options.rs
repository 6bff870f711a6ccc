//! `OpenOptions`: `std::fs::OpenOptions`, with the helper and an escalation mode added.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::error::Error;
use crate::oneshot::Helper;
use crate::session::Session;

/// When to ask the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escalate {
    /// Always open through the helper, as the book's `mycat` does.
    Always,
    /// Open with the caller's own rights first, and ask the helper only when that fails with
    /// `EACCES` or `EPERM`: readable files cost no helper, no privilege and no audit line.
    #[default]
    OnDenied,
    /// Never ask the helper: exactly `std::fs::OpenOptions`.
    Never,
}

/// Options and flags for opening a file, possibly through the helper.
///
/// Mirrors [`std::fs::OpenOptions`]: the same builder methods, the same flag mapping, the same
/// combinations refused (with `EINVAL`, before any helper runs). Adds [`helper`](Self::helper),
/// [`session`](Self::session) and [`escalate`](Self::escalate).
///
/// ```
/// use myopen::{Escalate, OpenOptions};
///
/// // A readable file: opened directly, the helper is never started.
/// let file = OpenOptions::new().read(true).escalate(Escalate::OnDenied).open("/etc/hostname")?;
/// assert!(file.metadata()?.is_file());
///
/// // Refused exactly as std refuses it: truncate without write.
/// let error = OpenOptions::new().read(true).truncate(true).open("/etc/hostname").unwrap_err();
/// assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions<'session> {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    custom_flags: i32,
    mode: u32,
    escalate: Escalate,
    helper: Option<Helper>,
    session: Option<&'session Session>,
}

impl Default for OpenOptions<'_> {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl<'session> OpenOptions<'session> {
    /// All options off, mode 0o666, [`Escalate::OnDenied`], the helper from `MYOPEN_HELPER` or
    /// the built-in path.
    pub fn new() -> OpenOptions<'session> {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            custom_flags: 0,
            mode: 0o666,
            escalate: Escalate::default(),
            helper: None,
            session: None,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Open for appending (implies writing).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Truncate to length 0 (needs write, and not append).
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs write or append).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Create the file, failing if it exists (`O_CREAT | O_EXCL`; needs write or append).
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// Extra `open(2)` flags; the access mode bits are ignored, as std ignores them. The helper
    /// refuses flags it does not understand (`O_PATH`, `O_TMPFILE`, ...) with `EINVAL`.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// Permission bits for a file this open creates, before the umask. Through the helper, set-id
    /// and sticky bits are never applied, and a one-shot helper (the UNP protocol carries no
    /// mode) always uses 0o666.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// When to ask the helper (default [`Escalate::OnDenied`]).
    pub fn escalate(&mut self, escalate: Escalate) -> &mut Self {
        self.escalate = escalate;
        self
    }

    /// Use the helper program at `program` instead of `MYOPEN_HELPER` or the built-in path.
    pub fn helper(&mut self, program: impl AsRef<Path>) -> &mut Self {
        self.helper = Some(Helper::at(program.as_ref()));
        self
    }

    /// Ask through `session` (one persistent helper) instead of starting a helper per open.
    pub fn session(&mut self, session: &'session Session) -> &mut Self {
        self.session = Some(session);
        self
    }

    /// The `open(2)` flags these options stand for, refused exactly where std refuses them (kind
    /// `InvalidInput`, std's message).
    pub fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) if self.truncate || self.create || self.create_new => {
                return Err(invalid(NEEDS_WRITE));
            }
            (false, false, false) => {
                return Err(invalid(
                    "must specify at least one of read, write, or append access",
                ));
            }
        };
        match (self.write, self.append) {
            (false, false) if self.truncate || self.create || self.create_new => {
                return Err(invalid(NEEDS_WRITE));
            }
            (_, true) if self.truncate && !self.create_new => return Err(invalid(NEEDS_WRITE)),
            _ => {}
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
        };
        Ok(libc::O_CLOEXEC | access | creation | (self.custom_flags & !libc::O_ACCMODE))
    }

    /// Opens `path` as a [`File`].
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        self.open_fd(path).map(File::from).map_err(io::Error::from)
    }

    /// Opens `path`, returning the descriptor and, on failure, the library's typed [`Error`].
    pub fn open_fd(&self, path: impl AsRef<Path>) -> Result<OwnedFd, Error> {
        let path = path.as_ref();
        let flags = self.flags().map_err(|source| Error::Local {
            context: "open options",
            source,
        })?;
        match self.escalate {
            Escalate::Never => self.open_directly(path, flags),
            Escalate::Always => self.open_through_helper(path, flags),
            Escalate::OnDenied => match self.open_directly(path, flags) {
                Err(error) if matches!(error.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                    self.open_through_helper(path, flags)
                }
                result => result,
            },
        }
    }

    fn open_directly(&self, path: &Path, flags: i32) -> Result<OwnedFd, Error> {
        let mode = Mode::from_bits_truncate(self.mode & 0o7777);
        loop {
            match open(path, OFlag::from_bits_retain(flags), mode) {
                Err(Errno::EINTR) => continue,
                Ok(fd) => return Ok(fd),
                Err(errno) => {
                    return Err(Error::Os {
                        path: path.to_owned(),
                        errno: errno as i32,
                    });
                }
            }
        }
    }

    fn open_through_helper(&self, path: &Path, flags: i32) -> Result<OwnedFd, Error> {
        match (self.session, &self.helper) {
            (Some(session), _) => session.open_with_mode(path, flags, self.mode),
            (None, Some(helper)) => helper.open(path, flags),
            (None, None) => crate::session::open_once(
                crate::Daemon::from_env().as_ref(),
                &Helper::from_env(),
                path,
                flags,
                self.mode,
            ),
        }
    }
}

const NEEDS_WRITE: &str = "creating or truncating a file requires write or append access";

/// std's refusal of an impossible combination: `InvalidInput`, with std's own words.
fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Setter = fn(&mut std::fs::OpenOptions, bool) -> &mut std::fs::OpenOptions;
    type OurSetter = for<'a> fn(&'a mut OpenOptions<'static>, bool) -> &'a mut OpenOptions<'static>;

    /// Every combination of the five booleans: where std refuses, we refuse with the same errno;
    /// where std opens, our flags open the same way (checked by opening for real, below).
    #[test]
    fn refusals_match_std_for_every_combination() {
        let dir = tempfile::tempdir().unwrap();
        let std_setters: [Setter; 6] = [
            std::fs::OpenOptions::read,
            std::fs::OpenOptions::write,
            std::fs::OpenOptions::append,
            std::fs::OpenOptions::truncate,
            std::fs::OpenOptions::create,
            std::fs::OpenOptions::create_new,
        ];
        let our_setters: [OurSetter; 6] = [
            OpenOptions::read,
            OpenOptions::write,
            OpenOptions::append,
            OpenOptions::truncate,
            OpenOptions::create,
            OpenOptions::create_new,
        ];
        for combination in 0..64u32 {
            let mut theirs = std::fs::OpenOptions::new();
            let mut ours = OpenOptions::new();
            ours.escalate(Escalate::Never);
            for bit in 0..6 {
                let on = combination & (1 << bit) != 0;
                std_setters[bit](&mut theirs, on);
                our_setters[bit](&mut ours, on);
            }
            let path = dir.path().join(format!("file-{combination}"));
            let outcome = |result: io::Result<File>| {
                result
                    .map(|_| ())
                    .map_err(|error| (error.kind(), error.raw_os_error(), error.to_string()))
            };
            let expected = outcome(theirs.open(&path));
            let _ = std::fs::remove_file(&path);
            let actual = outcome(ours.open(&path));
            assert_eq!(actual, expected, "combination {combination:06b}");
        }
    }

    #[test]
    fn flag_mapping_table() {
        // (read, write, append, truncate, create, create_new, custom flags) -> open(2) flags
        let options = |[read, write, append, truncate, create, create_new]: [bool; 6],
                       custom: i32| {
            let mut options = OpenOptions::new();
            options
                .read(read)
                .write(write)
                .append(append)
                .truncate(truncate)
                .create(create)
                .create_new(create_new)
                .custom_flags(custom);
            options
        };
        let (t, f) = (true, false);
        let cases = [
            ([t, f, f, f, f, f], 0, libc::O_RDONLY),
            ([f, t, f, f, f, f], 0, libc::O_WRONLY),
            ([t, t, f, f, f, f], 0, libc::O_RDWR),
            ([f, f, t, f, f, f], 0, libc::O_WRONLY | libc::O_APPEND),
            ([t, f, t, f, f, f], 0, libc::O_RDWR | libc::O_APPEND),
            ([f, t, f, f, t, f], 0, libc::O_WRONLY | libc::O_CREAT),
            ([f, t, f, t, f, f], 0, libc::O_WRONLY | libc::O_TRUNC),
            (
                [f, t, f, t, t, f],
                0,
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            ),
            (
                [f, t, f, f, f, t],
                0,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            ),
            (
                [t, f, f, f, f, f],
                libc::O_NOFOLLOW | libc::O_RDWR,
                libc::O_RDONLY | libc::O_NOFOLLOW,
            ),
        ];
        for (switches, custom, expected) in cases {
            let flags = options(switches, custom).flags().unwrap();
            assert_eq!(
                flags,
                expected | libc::O_CLOEXEC,
                "{switches:?} custom {custom:#o}"
            );
        }
    }

    #[test]
    fn never_escalate_is_std() {
        let error = OpenOptions::new()
            .read(true)
            .escalate(Escalate::Never)
            .open("/nonexistent/x")
            .unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
    }
}
