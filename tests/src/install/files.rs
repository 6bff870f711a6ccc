//! Files, directories and ownership in the test trees.

use super::*;

/// Owner of a file the harness creates: root, or a test user (uid and primary gid).
pub fn owner_ids(owner: Option<&TestUser>) -> (u32, u32) {
    owner.map_or((0, 0), |user| (user.uid, user.gid))
}

/// chmod(2), panicking on failure.
pub fn chmod(path: impl AsRef<Path>, mode: u32) {
    let path = path.as_ref();
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|error| panic!("chmod {mode:o} {}: {error}", path.display()));
}

/// lchown(2) to `owner` (None: root), panicking on failure.
pub fn chown(path: impl AsRef<Path>, owner: Option<&TestUser>) {
    let (uid, gid) = owner_ids(owner);
    chown_ids(path, uid, gid);
}

/// lchown(2) to numeric ids, panicking on failure.
pub fn chown_ids(path: impl AsRef<Path>, uid: u32, gid: u32) {
    let path = path.as_ref();
    lchown(path, Some(uid), Some(gid))
        .unwrap_or_else(|error| panic!("chown {uid}:{gid} {}: {error}", path.display()));
}

/// Copies an executable with install(1) in a child process (no write descriptor on an executable
/// ever exists in this process: see `install_executable` in lib.rs).
pub(crate) fn install_program(source: &Path, destination: &Path, mode: &str) {
    let output = run(Command::new("install")
        .args(["-m", mode])
        .arg(source)
        .arg(destination));
    assert!(
        output.status.success(),
        "install -m {mode} {} {}: {}",
        source.display(),
        destination.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Makes `path` a root-owned directory with `mode`; replaces whatever else is there.
pub(crate) fn root_dir(path: &Path, mode: u32) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => fs::remove_file(path).expect("remove non-directory"),
        Err(_) => {
            fs::create_dir(path).unwrap_or_else(|error| panic!("mkdir {}: {error}", path.display()))
        }
    }
    chown(path, None);
    chmod(path, mode);
}

pub(crate) fn remove_tree(path: &Path) {
    match fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => panic!("rm -r {}: {error}", path.display()),
    }
}

pub(crate) fn install_helpers() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let root = Path::new(IT_ROOT);
        root_dir(&root.join("libexec"), 0o755);
        root_dir(&root.join("bin"), 0o755);
        for install in [Install::Setuid, Install::Caps, Install::Plain] {
            let path = install.helper();
            install_helper_copy(&path);
            match install {
                Install::Setuid => chmod(&path, 0o4755),
                Install::Caps => {
                    set_file_capabilities(&path, "cap_dac_read_search,cap_dac_override+p");
                    chmod(&path, 0o755);
                }
                Install::Plain | Install::Daemon | Install::DaemonActivated => chmod(&path, 0o755),
            }
        }
        install_program(&mycat_binary(), &it_mycat(), "0755");
        install_program(&workspace_binary("myopen-probe"), &it_probe(), "0755");
        install_program(
            &workspace_binary("myopen-daemon-connect"),
            &it_daemon_connect(),
            "0755",
        );
    });
}
