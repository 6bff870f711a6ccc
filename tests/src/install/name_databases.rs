//! The system's user and group databases replaced as `useradd` and `vipw` replace them: a new
//! file renamed over the old one, so that the path names a new inode.

use std::os::unix::fs::MetadataExt;

use super::*;

/// Replaces `database` (`/etc/passwd`, `/etc/group`) by rename with a copy of itself: the same
/// bytes, mode and owner, a new inode. The copy is written whole and synced before the rename,
/// so the path names a complete file at every moment; shadow's lock (`<database>.lock`) is held
/// meanwhile, so that a `useradd` elsewhere waits rather than losing its change or ours.
pub fn replace_by_rename(database: &Path) {
    let _lock = DatabaseLock::take(database);
    let before = fs::metadata(database)
        .unwrap_or_else(|error| panic!("stat {}: {error}", database.display()));
    let content =
        fs::read(database).unwrap_or_else(|error| panic!("read {}: {error}", database.display()));
    let copy = Leftover(database.with_file_name(format!(
        ".{}.myopen-it-{}",
        database
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("database"),
        std::process::id()
    )));
    let _ = fs::remove_file(&copy.0);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&copy.0)
        .unwrap_or_else(|error| panic!("create {}: {error}", copy.0.display()));
    file.write_all(&content)
        .and_then(|()| std::os::unix::fs::fchown(&file, Some(before.uid()), Some(before.gid())))
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(before.mode() & 0o7777)))
        .and_then(|()| file.sync_all())
        .unwrap_or_else(|error| panic!("write {}: {error}", copy.0.display()));
    drop(file);
    fs::rename(&copy.0, database).unwrap_or_else(|error| {
        panic!(
            "rename {} to {}: {error}",
            copy.0.display(),
            database.display()
        )
    });
    if let Some(directory) = database.parent() {
        let _ = fs::File::open(directory).and_then(|directory| directory.sync_all());
    }
    let after = fs::metadata(database).expect("the replaced database");
    assert_ne!(
        (after.dev(), after.ino()),
        (before.dev(), before.ino()),
        "{} names a new inode after the rename",
        database.display()
    );
    assert_eq!(
        fs::read(database).ok().as_deref(),
        Some(content.as_slice()),
        "{} kept its content",
        database.display()
    );
}

/// A copy that was never renamed into place: removed, so that no stray file stays in /etc.
struct Leftover(PathBuf);

impl Drop for Leftover {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// shadow-utils' lock on a database: `<database>.lock`, a hard link to a file holding the
/// holder's pid (commonio's scheme, which useradd, usermod and vipw honour).
struct DatabaseLock(PathBuf);

impl DatabaseLock {
    fn take(database: &Path) -> DatabaseLock {
        let mut lock = database.as_os_str().to_owned();
        lock.push(".lock");
        let lock = PathBuf::from(lock);
        let mine =
            Leftover(database.with_file_name(format!(".myopen-it-lock.{}", std::process::id())));
        fs::write(&mine.0, format!("{}\0", std::process::id()))
            .unwrap_or_else(|error| panic!("write {}: {error}", mine.0.display()));
        let started = Instant::now();
        loop {
            match fs::hard_link(&mine.0, &lock) {
                Ok(()) => return DatabaseLock(lock),
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "{} stayed locked for 30 s",
                        database.display()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("lock {}: {error}", lock.display()),
            }
        }
    }
}

impl Drop for DatabaseLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
