//! What a file looked like, to show a refused request changed nothing.

use super::*;

/// Content, modification time and size of a file, to show that a refused request left it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    content: Vec<u8>,
    modified: std::time::SystemTime,
    changed: (i64, i64),
}

impl FileState {
    /// Sets the file's mtime to 2001 (so any write shows) and records its state.
    pub fn capture(path: impl AsRef<Path>) -> FileState {
        let path = path.as_ref();
        let old = std::time::UNIX_EPOCH + Duration::from_secs(978_307_200);
        fs::File::open(path)
            .and_then(|file| file.set_modified(old))
            .unwrap_or_else(|error| panic!("set mtime of {}: {error}", path.display()));
        FileState::now(path)
    }

    /// The file's state now.
    pub fn now(path: impl AsRef<Path>) -> FileState {
        use std::os::unix::fs::MetadataExt;
        let path = path.as_ref();
        let meta =
            fs::metadata(path).unwrap_or_else(|error| panic!("stat {}: {error}", path.display()));
        FileState {
            content: fs::read(path).unwrap_or_default(),
            modified: meta.modified().expect("mtime"),
            changed: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Fails the test if `path` changed since this state was captured.
    pub fn assert_unchanged(&self, path: impl AsRef<Path>, what: &str) {
        let now = FileState::now(path.as_ref());
        assert_eq!(
            String::from_utf8_lossy(&now.content),
            String::from_utf8_lossy(&self.content),
            "{what}: content of {} changed",
            path.as_ref().display()
        );
        assert_eq!(
            now,
            *self,
            "{what}: {} was modified",
            path.as_ref().display()
        );
    }
}
