//! Loader tests: real trees under /tmp with real owners and modes. They need root (to chown
//! and to create root-owned files); without it they say so loudly and pass.

use std::ffi::OsStr;
use std::fs;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::super::parse::LookupFailed;
use super::super::parse::tests::FakeResolver;
use super::*;

static NEXT_TREE: AtomicUsize = AtomicUsize::new(0);

/// `<tmp>/etc/myopen/{policy.toml, policy.d/}`, removed on drop.
struct Tree {
    root: PathBuf,
}

const GOOD_POLICY: &str =
    "[[allow]]\npath = \"/var/log/**\"\ngroups = [\"adm\"]\naccess = [\"read\"]\n";

impl Tree {
    /// `None` (after printing why) when not running as root.
    fn new() -> Option<Tree> {
        let root = std::env::temp_dir().join(format!(
            "policy-engine-load-{}-{}",
            std::process::id(),
            NEXT_TREE.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&root).ok()?;
        let tree = Tree { root };
        if fs::metadata(&tree.root).ok()?.uid() != 0 {
            myopen_tests::skip(
                "policy loader tests (they chown and create root-owned trees)",
                "needs root",
            );
            return None;
        }
        tree.chmod("", 0o755);
        tree.mkdir("etc", 0o755);
        tree.mkdir("etc/myopen", 0o755);
        tree.write("etc/myopen/policy.toml", GOOD_POLICY, 0o644);
        Some(tree)
    }

    fn path(&self, relative: &str) -> PathBuf {
        if relative.is_empty() {
            self.root.clone()
        } else {
            self.root.join(relative)
        }
    }

    fn sysconfdir(&self) -> PathBuf {
        self.path("etc")
    }

    fn chmod(&self, relative: &str, mode: u32) {
        let path = self.path(relative);
        if let Err(error) = fs::set_permissions(&path, fs::Permissions::from_mode(mode)) {
            panic!("chmod {}: {error}", path.display());
        }
    }

    fn mkdir(&self, relative: &str, mode: u32) {
        let path = self.path(relative);
        if let Err(error) = fs::create_dir(&path) {
            panic!("mkdir {}: {error}", path.display());
        }
        self.chmod(relative, mode);
    }

    fn write(&self, relative: &str, text: impl AsRef<[u8]>, mode: u32) {
        let path = self.path(relative);
        if let Err(error) = fs::write(&path, text) {
            panic!("write {}: {error}", path.display());
        }
        self.chmod(relative, mode);
    }

    fn chown(&self, relative: &str, uid: u32) {
        let path = self.path(relative);
        if let Err(error) = chown(&path, Some(uid), Some(uid)) {
            panic!("chown {}: {error}", path.display());
        }
    }

    fn symlink(&self, target: &Path, relative: &str) {
        let path = self.path(relative);
        if let Err(error) = symlink(target, &path) {
            panic!("symlink {}: {error}", path.display());
        }
    }

    fn load(&self) -> Result<LoadedPolicy, PolicyError> {
        load(&self.sysconfdir(), &FakeResolver)
    }

    /// Asserts that loading fails with exactly `<tree>/<relative>: <message>`.
    fn assert_error(&self, relative: &str, message: &str) {
        let expected = format!("{}: {message}", self.path(relative).display());
        match self.load() {
            Ok(_) => panic!("expected failure: {expected}"),
            Err(error) => assert_eq!(error.to_string(), expected),
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

#[test]
fn good_tree_loads_main_then_dropins_in_name_order() {
    let Some(tree) = Tree::new() else { return };
    tree.mkdir("etc/myopen/policy.d", 0o755);
    let dropin = |line: &str| format!("[[deny]]\npath = \"/{line}\"\n");
    tree.write("etc/myopen/policy.d/20-b.toml", dropin("b"), 0o644);
    tree.write("etc/myopen/policy.d/10-a.toml", dropin("a"), 0o600);
    tree.write("etc/myopen/policy.d/README", "not toml", 0o644);
    tree.write("etc/myopen/policy.d/.hidden.toml", "garbage [", 0o644);
    tree.write("etc/myopen/policy.d/x.toml.bak", "garbage [", 0o644);
    tree.mkdir("etc/myopen/policy.d/sub", 0o755);
    let loaded = match tree.load() {
        Ok(loaded) => loaded,
        Err(error) => panic!("{error}"),
    };
    assert_eq!(
        loaded.files,
        vec![
            tree.path("etc/myopen/policy.toml"),
            tree.path("etc/myopen/policy.d/10-a.toml"),
            tree.path("etc/myopen/policy.d/20-b.toml"),
        ]
    );
    let paths: Vec<&str> = loaded
        .policy
        .rules()
        .iter()
        .map(|rule| rule.path.as_str())
        .collect();
    assert_eq!(paths, vec!["/var/log/**", "/a", "/b"]);
}

#[test]
fn missing_policy_d_is_fine() {
    let Some(tree) = Tree::new() else { return };
    match tree.load() {
        Ok(loaded) => assert_eq!(loaded.files, vec![tree.path("etc/myopen/policy.toml")]),
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn missing_policy_toml_fails_closed() {
    let Some(tree) = Tree::new() else { return };
    let _ = fs::remove_file(tree.path("etc/myopen/policy.toml"));
    tree.assert_error(
        "etc/myopen/policy.toml",
        "missing (no policy: failing closed)",
    );
    let _ = fs::remove_dir(tree.path("etc/myopen"));
    tree.assert_error("etc/myopen", "missing (no policy: failing closed)");
}

#[test]
fn group_or_other_writable_file_is_refused() {
    let Some(tree) = Tree::new() else { return };
    for mode in [0o664, 0o646, 0o666] {
        tree.chmod("etc/myopen/policy.toml", mode);
        tree.assert_error("etc/myopen/policy.toml", "writable by group or other");
    }
    tree.chmod("etc/myopen/policy.toml", 0o644);
    tree.mkdir("etc/myopen/policy.d", 0o755);
    tree.write("etc/myopen/policy.d/a.toml", "", 0o620);
    tree.assert_error("etc/myopen/policy.d/a.toml", "writable by group or other");
}

#[test]
fn writable_directories_are_refused() {
    let Some(tree) = Tree::new() else { return };
    tree.chmod("etc/myopen", 0o757);
    tree.assert_error("etc/myopen", "writable by group or other");
    tree.chmod("etc/myopen", 0o755);
    tree.chmod("etc", 0o775);
    tree.assert_error("etc", "writable by group or other");
    tree.chmod("etc", 0o755);
    tree.mkdir("etc/myopen/policy.d", 0o777);
    tree.assert_error("etc/myopen/policy.d", "writable by group or other");
}

#[test]
fn sticky_world_writable_ancestor_is_fine_but_not_inside_the_policy_tree() {
    let Some(tree) = Tree::new() else { return };
    tree.chmod("etc", 0o1777);
    tree.chmod("", 0o1777);
    if let Err(error) = tree.load() {
        panic!("{error}");
    }
    tree.chmod("etc/myopen", 0o1777);
    tree.assert_error("etc/myopen", "writable by group or other");
    tree.chmod("etc/myopen", 0o755);
    tree.mkdir("etc/myopen/policy.d", 0o1777);
    tree.assert_error("etc/myopen/policy.d", "writable by group or other");
}

#[test]
fn user_owned_files_and_directories_are_refused() {
    let Some(tree) = Tree::new() else { return };
    tree.chown("etc/myopen/policy.toml", 1000);
    tree.assert_error("etc/myopen/policy.toml", "owned by uid 1000, not root");
    tree.chown("etc/myopen/policy.toml", 0);
    tree.chown("etc", 1000);
    tree.assert_error("etc", "owned by uid 1000, not root");
    tree.chown("etc", 0);
    // Sticky does not excuse a directory that is not root's.
    tree.chmod("", 0o1777);
    tree.chown("", 1000);
    tree.assert_error("", "owned by uid 1000, not root");
    tree.chown("", 0);
    tree.mkdir("etc/myopen/policy.d", 0o755);
    tree.write("etc/myopen/policy.d/a.toml", "", 0o644);
    tree.chown("etc/myopen/policy.d/a.toml", 1000);
    tree.assert_error("etc/myopen/policy.d/a.toml", "owned by uid 1000, not root");
}

#[test]
fn symbolic_links_are_refused() {
    let Some(tree) = Tree::new() else { return };
    // The policy file itself.
    tree.write("real.toml", GOOD_POLICY, 0o644);
    let _ = fs::remove_file(tree.path("etc/myopen/policy.toml"));
    tree.symlink(&tree.path("real.toml"), "etc/myopen/policy.toml");
    tree.assert_error("etc/myopen/policy.toml", "is a symbolic link");

    // The myopen directory.
    let _ = fs::remove_file(tree.path("etc/myopen/policy.toml"));
    tree.write("etc/myopen/policy.toml", GOOD_POLICY, 0o644);
    if let Err(error) = fs::rename(tree.path("etc/myopen"), tree.path("real-myopen")) {
        panic!("rename: {error}");
    }
    tree.symlink(&tree.path("real-myopen"), "etc/myopen");
    tree.assert_error("etc/myopen", "is a symbolic link");

    // A directory higher up (the sysconfdir itself), relative link this time.
    let _ = fs::remove_file(tree.path("etc/myopen"));
    let _ = fs::rename(tree.path("real-myopen"), tree.path("etc/myopen"));
    let _ = fs::rename(tree.path("etc"), tree.path("real-etc"));
    tree.symlink(Path::new("real-etc"), "etc");
    tree.assert_error("etc", "is a symbolic link");
    let _ = fs::remove_file(tree.path("etc"));
    let _ = fs::rename(tree.path("real-etc"), tree.path("etc"));
    if let Err(error) = tree.load() {
        panic!("restored tree should load: {error}");
    }

    // policy.d, and a drop-in.
    tree.mkdir("real-d", 0o755);
    tree.symlink(&tree.path("real-d"), "etc/myopen/policy.d");
    tree.assert_error("etc/myopen/policy.d", "is a symbolic link");
    let _ = fs::remove_file(tree.path("etc/myopen/policy.d"));
    tree.mkdir("etc/myopen/policy.d", 0o755);
    tree.symlink(&tree.path("real.toml"), "etc/myopen/policy.d/x.toml");
    tree.assert_error("etc/myopen/policy.d/x.toml", "is a symbolic link");
}

#[test]
fn oversized_file_is_refused() {
    let Some(tree) = Tree::new() else { return };
    let limit = usize::try_from(MAX_POLICY_FILE_SIZE).unwrap_or(usize::MAX);
    let mut at_limit = vec![b'#'; limit];
    tree.write("etc/myopen/policy.toml", &at_limit, 0o644);
    if let Err(error) = tree.load() {
        panic!("a file of exactly the limit should load: {error}");
    }
    at_limit.push(b'\n');
    tree.write("etc/myopen/policy.toml", &at_limit, 0o644);
    tree.assert_error(
        "etc/myopen/policy.toml",
        "larger than the 1048576-byte limit",
    );
}

#[test]
fn other_file_problems() {
    let Some(tree) = Tree::new() else { return };
    tree.write("etc/myopen/policy.toml", b"# caf\xe9\n", 0o644);
    tree.assert_error("etc/myopen/policy.toml", "is not valid UTF-8");

    let _ = fs::remove_file(tree.path("etc/myopen/policy.toml"));
    tree.mkdir("etc/myopen/policy.toml", 0o755);
    tree.assert_error("etc/myopen/policy.toml", "is not a regular file");
    let _ = fs::remove_dir(tree.path("etc/myopen/policy.toml"));

    // A FIFO must be refused without blocking the loader.
    let status = std::process::Command::new("mkfifo")
        .arg(tree.path("etc/myopen/policy.toml"))
        .status();
    assert!(status.is_ok_and(|status| status.success()), "mkfifo");
    tree.assert_error("etc/myopen/policy.toml", "is not a regular file");
    let _ = fs::remove_file(tree.path("etc/myopen/policy.toml"));

    tree.write("etc/myopen/policy.toml", GOOD_POLICY, 0o644);
    tree.write("etc/myopen/policy.d", "", 0o644);
    tree.assert_error("etc/myopen/policy.d", "is not a directory");
}

#[test]
fn parse_errors_in_dropins_name_the_dropin() {
    let Some(tree) = Tree::new() else { return };
    tree.mkdir("etc/myopen/policy.d", 0o755);
    tree.write(
        "etc/myopen/policy.d/50-x.toml",
        "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = [\"read\"]\nacess = 1\n",
        0o644,
    );
    let expected = format!(
        "{}:5: unknown key \"acess\" in [[allow]]",
        tree.path("etc/myopen/policy.d/50-x.toml").display()
    );
    assert_eq!(
        tree.load().err().map(|error| error.to_string()),
        Some(expected)
    );
}

#[test]
fn relative_sysconfdir_is_refused() {
    for sysconfdir in ["etc", "/etc/../etc"] {
        let error = load(Path::new(sysconfdir), &FakeResolver).err();
        assert_eq!(
            error.map(|error| error.to_string()),
            Some(format!(
                "{sysconfdir}/myopen: configuration directory must be an absolute path without '..'"
            ))
        );
    }
}

#[test]
fn warnings_are_returned() {
    let Some(tree) = Tree::new() else { return };
    tree.write(
        "etc/myopen/policy.toml",
        "[[allow]]\npath = \"/x\"\nusers = [\"nosuchuser\"]\naccess = [\"read\"]\n",
        0o644,
    );
    match tree.load() {
        Ok(loaded) => {
            let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
            assert_eq!(warnings.len(), 2, "{warnings:?}");
            assert!(warnings[0].starts_with(&format!(
                "{}:3: warning: unknown user \"nosuchuser\"",
                tree.path("etc/myopen/policy.toml").display()
            )));
        }
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn a_named_file_gets_the_checks_of_an_installed_one() {
    let Some(tree) = Tree::new() else { return };
    let read =
        |relative: &str| read_policy_file(&tree.path(relative)).map_err(|error| error.to_string());
    let refused = |relative: &str, message: &str| {
        assert_eq!(
            read(relative),
            Err(format!("{}: {message}", tree.path(relative).display())),
            "{relative}"
        );
    };
    tree.mkdir("staged", 0o755);
    tree.write("staged/good.toml", GOOD_POLICY, 0o600);
    assert_eq!(read("staged/good.toml").as_deref(), Ok(GOOD_POLICY));

    // A FIFO without a writer: refused at once, not waited on.
    let status = std::process::Command::new("mkfifo")
        .arg(tree.path("staged/fifo.toml"))
        .status();
    assert!(status.is_ok_and(|status| status.success()), "mkfifo");
    refused("staged/fifo.toml", "is not a regular file");

    let limit = usize::try_from(MAX_POLICY_FILE_SIZE).unwrap_or(usize::MAX);
    tree.write("staged/at-limit.toml", vec![b'#'; limit], 0o644);
    assert_eq!(
        read("staged/at-limit.toml").map(|text| text.len()),
        Ok(limit)
    );
    tree.write("staged/huge.toml", vec![b'#'; limit + 1], 0o644);
    refused("staged/huge.toml", "larger than the 1048576-byte limit");

    tree.symlink(&tree.path("staged/good.toml"), "staged/link.toml");
    refused("staged/link.toml", "is a symbolic link");
    tree.write("staged/theirs.toml", GOOD_POLICY, 0o644);
    tree.chown("staged/theirs.toml", 65534);
    refused("staged/theirs.toml", "owned by uid 65534, not root");
    tree.write("staged/open.toml", GOOD_POLICY, 0o664);
    refused("staged/open.toml", "writable by group or other");
    tree.write("staged/latin1.toml", b"# caf\xe9\n", 0o644);
    refused("staged/latin1.toml", "is not valid UTF-8");
    refused(
        "staged/missing.toml",
        "openat failed: No such file or directory",
    );
}

#[test]
fn a_busy_ancestor_directory_is_not_a_change_of_the_policy() {
    let Some(tree) = Tree::new() else { return };
    let stamp = || {
        stamp_with(&tree.sysconfdir(), &|directory, name, flags| {
            nix::fcntl::openat(directory, name, flags, nix::sys::stat::Mode::empty())
        })
        .unwrap()
    };
    // Past the settle time, so that the first stamp can be trusted to show a change.
    std::thread::sleep(SETTLE_TIME + std::time::Duration::from_millis(100));
    let before = stamp();
    // Files come and go beside the policy tree all the time (/tmp, /etc): the directories above
    // it change their times, not who owns them, their mode or which directory they are.
    tree.write("unrelated", "x", 0o644);
    tree.write("etc/unrelated", "x", 0o644);
    assert!(
        stamp().unchanged_since(&before),
        "a file created in a directory above the policy tree is not a change of the policy"
    );
    // The tree itself still counts: a new file in it is a change.
    tree.write("etc/myopen/new.toml", "", 0o644);
    assert!(
        !stamp().unchanged_since(&before),
        "a new file in the policy directory is a change"
    );
}

/// The names of [`FakeResolver`], but `adm` is gid 44.
struct AdmRenumbered;

impl NameResolver for AdmRenumbered {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        FakeResolver.uid_of(name)
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        match name {
            "adm" => Ok(Some(44)),
            _ => FakeResolver.gid_of(name),
        }
    }
}

fn own_rights(directory: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(directory, name, flags, nix::sys::stat::Mode::empty())
}

impl Tree {
    /// What `openfile-helper --compile` does: the compiled path.
    fn compile(&self) -> PathBuf {
        compile(&self.sysconfdir(), &FakeResolver).unwrap().path
    }

    fn compiled(&self) -> CompiledState {
        read_compiled_with(&self.sysconfdir(), &own_rights, &FakeResolver)
    }
}

#[test]
fn a_compiled_policy_is_used_only_while_its_files_are_unchanged() {
    let Some(tree) = Tree::new() else { return };
    assert!(matches!(tree.compiled(), CompiledState::Absent));
    assert!(!compiled_may_exist(&tree.sysconfdir()));
    let path = tree.compile();
    assert!(compiled_may_exist(&tree.sysconfdir()));
    assert_eq!(path, tree.path("etc/myopen/compiled/policy"));
    // Root's alone, whatever the sources' modes: a source hidden by its directory's mode (the
    // sudoers.d way), or made unreadable after this compile, must not be readable here.
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
    assert_eq!(
        fs::metadata(tree.path("etc/myopen/compiled"))
            .unwrap()
            .mode()
            & 0o7777,
        0o755
    );
    match tree.compiled() {
        CompiledState::Current(loaded, stamp) => {
            assert_eq!(loaded.policy.rule_count(), 1);
            assert_eq!(loaded.files, vec![tree.path("etc/myopen/policy.toml")]);
            assert!(stamp.settled());
        }
        other => panic!("expected the compiled policy to be current: {other:?}"),
    }
    // Any change the stamp covers makes it stale: here a drop-in directory appears.
    tree.mkdir("etc/myopen/policy.d", 0o755);
    assert!(matches!(tree.compiled(), CompiledState::Stale));
    // Compiled again, and then the main file rewritten in place with the same length.
    tree.compile();
    assert!(matches!(tree.compiled(), CompiledState::Current(..)));
    tree.write(
        "etc/myopen/policy.toml",
        GOOD_POLICY.replace("/var/log/", "/var/xyz/"),
        0o644,
    );
    assert!(matches!(tree.compiled(), CompiledState::Stale));
    // A name the policy uses now answered otherwise (a directory renumbered a group): stale.
    tree.compile();
    assert!(matches!(tree.compiled(), CompiledState::Current(..)));
    let renumbered = read_compiled_with(&tree.sysconfdir(), &own_rights, &AdmRenumbered);
    assert!(matches!(renumbered, CompiledState::Stale), "{renumbered:?}");
    // What --check holds it to: exactly what compiling the sources now writes. A byte changed
    // where decoding cannot tell (the last byte that still decodes as current) is caught.
    assert!(compiled_agrees_with_sources(&tree.sysconfdir(), &own_rights, &FakeResolver).unwrap());
    let original = fs::read(&path).unwrap();
    let undetected = (0..original.len()).rev().find(|&at| {
        let mut damaged = original.clone();
        damaged[at] ^= 0x01;
        tree.write("etc/myopen/compiled/policy", &damaged, 0o600);
        matches!(tree.compiled(), CompiledState::Current(..))
    });
    assert!(undetected.is_some(), "some damage decodes as current");
    assert!(!compiled_agrees_with_sources(&tree.sysconfdir(), &own_rights, &FakeResolver).unwrap());
    tree.write("etc/myopen/compiled/policy", &original, 0o600);
    assert!(matches!(tree.compiled(), CompiledState::Current(..)));
    // Compiled by another build of the helper (another parser, or format): stale, not damaged.
    let mut bytes = fs::read(&path).unwrap();
    bytes[8] ^= 1;
    tree.write("etc/myopen/compiled/policy", &bytes, 0o600);
    let another_build = tree.compiled();
    assert!(
        matches!(another_build, CompiledState::Stale),
        "{another_build:?}"
    );
    bytes[8] ^= 1;
    bytes[7] = 1;
    tree.write("etc/myopen/compiled/policy", &bytes, 0o600);
    let another_format = tree.compiled();
    assert!(
        matches!(another_format, CompiledState::Stale),
        "{another_format:?}"
    );
}

#[test]
fn a_compiled_policy_anyone_but_root_could_have_written_is_never_used() {
    let Some(tree) = Tree::new() else { return };
    tree.compile();
    let refused = |why: &str| match tree.compiled() {
        CompiledState::Refused(reason) => assert!(reason.contains(why), "{reason}"),
        other => panic!("expected a refusal ({why}): {other:?}"),
    };
    tree.chown("etc/myopen/compiled/policy", 1000);
    refused("not root");
    tree.chown("etc/myopen/compiled/policy", 0);
    tree.chmod("etc/myopen/compiled/policy", 0o664);
    refused("writable by group or other");
    tree.chmod("etc/myopen/compiled/policy", 0o644);
    tree.chmod("etc/myopen/compiled", 0o775);
    refused("writable by group or other");
    tree.chmod("etc/myopen/compiled", 0o755);
    tree.chown("etc/myopen/compiled", 1000);
    refused("not root");
    tree.chown("etc/myopen/compiled", 0);
    assert!(matches!(tree.compiled(), CompiledState::Current(..)));
    fs::rename(
        tree.path("etc/myopen/compiled/policy"),
        tree.path("etc/myopen/compiled/real"),
    )
    .unwrap();
    tree.symlink(Path::new("real"), "etc/myopen/compiled/policy");
    refused("symbolic link");
    fs::remove_file(tree.path("etc/myopen/compiled/policy")).unwrap();
    let real = fs::read(tree.path("etc/myopen/compiled/real")).unwrap();
    tree.write("etc/myopen/compiled/policy", &real[..40], 0o600);
    refused("compiled policy damaged");
}
