//! Packaging: `make install` / `uninstall` into a staging tree, the .deb installed for real
//! (dpkg -i, a test user reading through the policy, dpkg --purge leaving nothing), lintian, the
//! .rpm inspected, the man pages linted, the default policy, the completions, `make demo`.
//!
//! The tests that touch the system need root (CI is root) and say `SKIPPED (needs root)`
//! otherwise; they hold the same lock as the privileged tests and undo what they did on the way
//! out, also when they fail.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use myopen_tests::install::{
    ALICE, ETC, IT_ROOT, LOG_SOCKET, Outcome, SystemSyslog, alice, allow_rule, bob, chmod,
    command_as, probe_helper_output, run_as, stop_daemon, users,
};
use myopen_tests::packaging::{
    SYSTEM_PATHS, capabilities, has_helper_capabilities, have, last_line, make, make_ok,
    mode_owner, root_or_skip, run_within, skip, system_build, system_lock, text, workspace_root,
};
use myopen_tests::{Scratch, run, workspace_binary};

const HELPER: &str = "/usr/libexec/openfile-helper";
const MYCAT: &str = "/usr/bin/mycat";

/// Every file and directory a system install creates, relative to the root, with its mode,
/// except the helper (whose mode depends on the privilege).
const INSTALLED: [(&str, u32); 17] = [
    ("usr/bin/mycat", 0o755),
    ("usr/bin/myopen-run", 0o755),
    ("usr/share/man/man1/myopen-run.1", 0o644),
    ("etc/myopen", 0o755),
    ("etc/myopen/policy.d", 0o755),
    ("etc/myopen/policy.toml", 0o644),
    ("usr/share/man/man1/mycat.1", 0o644),
    ("usr/share/man/man5/myopen-policy.5", 0o644),
    ("usr/share/man/man8/openfile-helper.8", 0o644),
    ("usr/share/bash-completion/completions/mycat", 0o644),
    ("usr/share/zsh/site-functions/_mycat", 0o644),
    ("usr/share/fish/vendor_completions.d/mycat.fish", 0o644),
    ("usr/lib/libmyopen.so.0.1.0", 0o644),
    ("usr/lib/libmyopen.a", 0o644),
    ("usr/lib/pkgconfig/myopen.pc", 0o644),
    ("usr/include/myopen.h", 0o644),
    ("usr/share/man/man3/my_open.3", 0o644),
];

fn output_of(program: &str, args: &[&str]) -> String {
    text(&run_within(
        Command::new(program).args(args),
        Duration::from_secs(120),
    ))
}

// ---------------------------------------------------------------------------------------------
// make install / uninstall

fn staged_install(destdir: &Path, privilege: &str) -> String {
    let mut args = vec![
        "install".to_owned(),
        format!("DESTDIR={}", destdir.display()),
        format!("PRIVILEGE={privilege}"),
    ];
    args.extend(SYSTEM_PATHS.iter().map(|&variable| variable.to_owned()));
    text(&make_ok(args))
}

fn staged_uninstall(destdir: &Path) -> String {
    let mut args = vec![
        "uninstall".to_owned(),
        format!("DESTDIR={}", destdir.display()),
    ];
    args.extend(SYSTEM_PATHS.iter().map(|&variable| variable.to_owned()));
    text(&make_ok(args))
}

#[test]
fn make_install_destdir_stages_the_tree_with_modes_keeps_the_policy_and_uninstalls() {
    let Some(()) = root_or_skip(
        "make_install_destdir_stages_the_tree_with_modes_keeps_the_policy_and_uninstalls",
    ) else {
        return;
    };
    let _lock = system_lock();
    system_build();
    let scratch = Scratch::new();
    let stage = scratch.path().join("stage");

    // setuid: the helper is root's, mode 4755, without capabilities.
    let log = staged_install(&stage, "setuid");
    for (relative, mode) in INSTALLED {
        let path = stage.join(relative);
        assert_eq!(
            mode_owner(&path),
            (mode, 0, 0),
            "{}: mode and owner (install log:\n{log})",
            path.display()
        );
    }
    let helper = stage.join("usr/libexec/openfile-helper");
    assert_eq!(mode_owner(&helper), (0o4755, 0, 0), "setuid helper");
    assert_eq!(
        capabilities(&helper),
        "",
        "a setuid helper has no file capabilities"
    );
    assert_eq!(
        fs::read(stage.join("etc/myopen/policy.toml")).expect("staged policy"),
        fs::read(workspace_root().join("packaging/policy.toml")).expect("default policy"),
        "the staged policy is the default one"
    );
    let listing = run(Command::new("find").arg(&stage).args(["-type", "f"]));
    let files = String::from_utf8_lossy(&listing.stdout).lines().count();
    assert_eq!(
        files,
        INSTALLED.len() - 2 + 1,
        "nothing else installed:\n{}",
        String::from_utf8_lossy(&listing.stdout)
    );

    // caps over it: capabilities instead of the setuid bit (or setuid with a message where the
    // file system cannot hold capabilities); an edited policy is kept.
    fs::write(
        stage.join("etc/myopen/policy.toml"),
        "# edited by the administrator\n",
    )
    .expect("edit the staged policy");
    let log = staged_install(&stage, "caps");
    let (mode, uid, _) = mode_owner(&helper);
    if has_helper_capabilities(&helper) {
        assert_eq!(
            (mode, uid),
            (0o755, 0),
            "helper with capabilities: 0755 root"
        );
    } else {
        assert!(
            log.contains("falling back to setuid root") && mode == 0o4755,
            "no capabilities and no setuid fallback: mode {mode:o}, log:\n{log}"
        );
    }
    assert!(
        log.contains("kept the existing policy"),
        "the install says it kept the policy:\n{log}"
    );
    assert_eq!(
        fs::read_to_string(stage.join("etc/myopen/policy.toml")).expect("policy"),
        "# edited by the administrator\n",
        "make install overwrote an existing policy"
    );

    // uninstall: everything goes but the edited policy, and it says so.
    let log = staged_uninstall(&stage);
    assert!(
        log.contains("kept"),
        "uninstall names the kept policy:\n{log}"
    );
    let listing = run(Command::new("find").arg(&stage).args(["-type", "f"]));
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        stage.join("etc/myopen/policy.toml").display().to_string(),
        "only the edited policy is left"
    );

    // A default policy is removed with the rest, and no privileged helper is ever left.
    fs::remove_file(stage.join("etc/myopen/policy.toml")).expect("rm policy");
    staged_install(&stage, "setuid");
    staged_uninstall(&stage);
    let listing = run(Command::new("find").arg(&stage).args(["-type", "f"]));
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        "",
        "files left after uninstalling"
    );
    assert!(!stage.join("etc/myopen").exists(), "empty /etc/myopen left");
}

/// A nosuid tmpfs mounted for the test; unmounted on drop.
struct NosuidMount {
    path: PathBuf,
}

impl Drop for NosuidMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn make_install_refuses_a_privileged_helper_on_a_nosuid_mount() {
    let Some(()) = root_or_skip("make_install_refuses_a_privileged_helper_on_a_nosuid_mount")
    else {
        return;
    };
    let _lock = system_lock();
    system_build();
    let scratch = Scratch::new();
    let path = scratch.path().join("nosuid");
    fs::create_dir(&path).expect("mkdir mount point");
    let mounted = run(Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "nosuid,mode=0755,size=64m",
            "myopen-test",
        ])
        .arg(&path));
    if !mounted.status.success() {
        skip(
            "make_install_refuses_a_privileged_helper_on_a_nosuid_mount",
            &format!("cannot mount a tmpfs here: {}", text(&mounted).trim()),
        );
        return;
    }
    let _mount = NosuidMount { path: path.clone() };

    for privilege in ["caps", "setuid"] {
        let mut args = vec![
            "install".to_owned(),
            format!("DESTDIR={}", path.display()),
            format!("PRIVILEGE={privilege}"),
        ];
        args.extend(SYSTEM_PATHS.iter().map(|&variable| variable.to_owned()));
        let output = make(&args);
        let log = text(&output);
        assert!(
            !output.status.success(),
            "PRIVILEGE={privilege} on nosuid succeeded:\n{log}"
        );
        assert!(
            log.contains("nosuid") && log.contains("usr/libexec"),
            "the refusal names the mount option and the directory:\n{log}"
        );
        assert!(
            !path.join("usr/libexec/openfile-helper").exists(),
            "a helper was installed despite the refusal"
        );
    }
    // Unprivileged, it installs.
    staged_install(&path, "none");
    let helper = path.join("usr/libexec/openfile-helper");
    assert_eq!(mode_owner(&helper).0, 0o755);
    assert_eq!(capabilities(&helper), "");
}

// ---------------------------------------------------------------------------------------------
// .deb

fn built_deb() -> PathBuf {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        system_build();
        let output = make_ok(["deb", "TARGET_DIR=target/pkg"]);
        let deb = PathBuf::from(last_line(&output));
        assert!(
            deb.is_file() && deb.extension().is_some_and(|extension| extension == "deb"),
            "make deb did not print the package's path:\n{}",
            text(&output)
        );
        deb
    })
    .clone()
}

fn dpkg_installed(package: &str) -> bool {
    let output = run(Command::new("dpkg-query").args([
        "--show",
        "--showformat=${db:Status-Status}",
        package,
    ]));
    String::from_utf8_lossy(&output.stdout).trim() == "installed"
}

/// Purges the package and removes the test's data when the test ends, however it ends.
struct InstalledDeb {
    data: PathBuf,
}

impl Drop for InstalledDeb {
    fn drop(&mut self) {
        let _ = run(Command::new("dpkg").args(["--purge", "myopen"]));
        let _ = fs::remove_dir_all(&self.data);
    }
}

#[test]
fn deb_installs_a_privileged_helper_that_serves_the_policy_and_purges_without_a_trace() {
    let name = "deb_installs_a_privileged_helper_that_serves_the_policy_and_purges_without_a_trace";
    let Some(()) = root_or_skip(name) else {
        return;
    };
    let _lock = system_lock();
    // The packaged helper logs to /dev/log and serves no grant whose record cannot go out.
    let _syslog = SystemSyslog::ensure();
    let deb = built_deb();
    if dpkg_installed("myopen") {
        eprintln!("{name}: myopen was installed before the test (an earlier run?); purging it");
        let _ = run(Command::new("dpkg").args(["--purge", "myopen"]));
    }
    let data = PathBuf::from("/tmp/myopen-pkg-test");
    let _ = fs::remove_dir_all(&data);
    let installed = InstalledDeb { data: data.clone() };

    let output = run(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(
        output.status.success(),
        "dpkg -i {}:\n{}",
        deb.display(),
        text(&output)
    );
    assert!(dpkg_installed("myopen"));

    // The helper: capabilities (or the setuid fallback), root's, nothing else privileged.
    let helper = Path::new(HELPER);
    let (mode, uid, gid) = mode_owner(helper);
    if has_helper_capabilities(helper) {
        assert_eq!((mode, uid, gid), (0o755, 0, 0), "helper with capabilities");
    } else {
        assert_eq!(
            (mode, uid, gid),
            (0o4755, 0, 0),
            "helper without capabilities must be setuid root: {}",
            text(&output)
        );
    }
    assert_eq!(mode_owner(Path::new(MYCAT)), (0o755, 0, 0));
    assert_eq!(
        mode_owner(Path::new("/etc/myopen/policy.toml")),
        (0o644, 0, 0)
    );
    assert_eq!(mode_owner(Path::new("/etc/myopen/policy.d")), (0o755, 0, 0));
    let conffiles =
        run(Command::new("dpkg-query").args(["--show", "--showformat=${Conffiles}", "myopen"]));
    assert!(
        String::from_utf8_lossy(&conffiles.stdout).contains("/etc/myopen/policy.toml"),
        "policy.toml is a conffile: {}",
        text(&conffiles)
    );
    for page in [
        "man1/mycat.1.gz",
        "man5/myopen-policy.5.gz",
        "man8/openfile-helper.8.gz",
    ] {
        assert!(
            Path::new("/usr/share/man").join(page).is_file(),
            "{page} installed"
        );
    }
    let check = run(Command::new(HELPER).arg("--check"));
    assert!(
        check.status.success(),
        "openfile-helper --check on the installed default policy:\n{}",
        text(&check)
    );

    // A root-only file allowed by a drop-in for alice, another one allowed to nobody.
    fs::create_dir(&data).expect("mkdir data");
    chmod(&data, 0o755);
    let allowed = data.join("allowed.txt");
    let secret = data.join("secret.txt");
    fs::write(&allowed, "allowed by policy.d\n").expect("write");
    fs::write(&secret, "nobody's\n").expect("write");
    chmod(&allowed, 0o600);
    chmod(&secret, 0o600);
    let dropin = Path::new("/etc/myopen/policy.d/50-packaging-test.toml");
    fs::write(
        dropin,
        format!(
            "[[allow]]\npath = \"{}\"\nusers = [\"{}\"]\naccess = [\"read\"]\n",
            allowed.display(),
            alice().name
        ),
    )
    .expect("write the drop-in");
    chmod(dropin, 0o644);

    let alice = alice();
    let version = run_as(&alice, HELPER, ["--version"]);
    let version_text = text(&version);
    assert!(
        version_text.contains("privilege: governed (file capabilities")
            || version_text.contains("privilege: governed (setuid root"),
        "the installed helper is privileged for a user:\n{version_text}"
    );
    let read = run_as(&alice, MYCAT, [&allowed]);
    assert!(
        read.status.success(),
        "alice's mycat on the allowed file:\n{}",
        text(&read)
    );
    assert_eq!(
        String::from_utf8_lossy(&read.stdout),
        "allowed by policy.d\n"
    );

    let denied = run_as(&alice, MYCAT, [&secret]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
    assert_eq!(
        String::from_utf8_lossy(&denied.stderr).trim(),
        format!("mycat: {}: Permission denied (policy)", secret.display())
    );
    assert!(denied.stdout.is_empty());
    let other_user = run_as(&bob(), MYCAT, [&allowed]);
    assert_eq!(
        other_user.status.code(),
        Some(1),
        "bob is not in the drop-in: {}",
        text(&other_user)
    );
    assert!(other_user.stdout.is_empty());

    // Purge: nothing of the package is left, the drop-in directory included.
    let purge = run(Command::new("dpkg").args(["--purge", "myopen"]));
    assert!(purge.status.success(), "dpkg --purge:\n{}", text(&purge));
    assert!(!dpkg_installed("myopen"));
    let listing = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for line in String::from_utf8_lossy(&listing.stdout).lines() {
        let Some(entry) = line.split_whitespace().last() else {
            continue;
        };
        let path = Path::new(entry.trim_start_matches('.'));
        let is_shared_dir = line.starts_with('d')
            && !path.starts_with("/etc/myopen")
            && !path.starts_with("/usr/share/doc/myopen");
        if path.as_os_str().is_empty() || path == Path::new("/") || is_shared_dir {
            continue;
        }
        assert!(
            fs::symlink_metadata(path).is_err(),
            "{} is left after dpkg --purge",
            path.display()
        );
    }
    assert!(
        !Path::new("/etc/myopen").exists(),
        "/etc/myopen left after purge"
    );
    drop(installed);
}

#[test]
fn deb_is_lintian_clean_with_the_expected_contents() {
    let Some(()) = root_or_skip("deb_is_lintian_clean_with_the_expected_contents") else {
        return;
    };
    assert!(
        have("lintian"),
        "lintian is missing: make deps (scripts/install-deps.sh) installs it"
    );
    let _lock = system_lock();
    let deb = built_deb();
    let lintian = output_of(
        "lintian",
        &[
            "--display-info",
            "--pedantic",
            "--tag-display-limit",
            "0",
            &deb.display().to_string(),
        ],
    );
    // Errors and warnings fail; the info tags hardening-no-fortify-functions (Rust does not use
    // glibc's _FORTIFY_SOURCE wrappers) and package-supports-alternative-init-but-no-init.d-script
    // (without systemd the capability helper serves) are explained in packaging/README.md.
    let problems: Vec<&str> = lintian
        .lines()
        .filter(|line| line.starts_with("E:") || line.starts_with("W:"))
        .collect();
    assert!(problems.is_empty(), "lintian:\n{lintian}");
    for line in lintian
        .lines()
        .filter(|line| line.starts_with("I:") || line.starts_with("P:"))
    {
        assert!(
            line.contains("hardening-no-fortify-functions")
                || is_machine_code_misspelling(line)
                || line.contains("package-supports-alternative-init-but-no-init.d-script"),
            "a lintian tag that packaging/README.md does not justify: {line}"
        );
    }

    let contents = output_of("dpkg-deb", &["--contents", &deb.display().to_string()]);
    for (expected, mode) in [
        ("./usr/libexec/openfile-helper", "-rwxr-xr-x root/root"),
        ("./usr/bin/mycat", "-rwxr-xr-x root/root"),
        ("./etc/myopen/policy.toml", "-rw-r--r-- root/root"),
        ("./etc/myopen/policy.d/", "drwxr-xr-x root/root"),
        (
            "./usr/share/man/man5/myopen-policy.5.gz",
            "-rw-r--r-- root/root",
        ),
        (
            "./usr/share/zsh/vendor-completions/_mycat",
            "-rw-r--r-- root/root",
        ),
    ] {
        assert!(
            contents
                .lines()
                .any(|line| line.starts_with(mode) && line.ends_with(expected)),
            "{expected} ({mode}) in the .deb:\n{contents}"
        );
    }
    let control = output_of("dpkg-deb", &["--info", &deb.display().to_string()]);
    for field in [
        "Depends: libc6",
        "Recommends: libcap2-bin",
        "postinst",
        "prerm",
        "postrm",
        "conffiles",
    ] {
        assert!(
            control.contains(field),
            "{field} in the control data:\n{control}"
        );
    }
}

/// `I: myopen: spelling-error-in-binary thIk think [usr/bin/myopen-run]`: lintian read bytes of
/// machine code as a word (mixed case after the first letter, which no message of ours has; see
/// packaging/README.md). Which bytes do so changes from build to build.
fn is_machine_code_misspelling(line: &str) -> bool {
    let mut fields = line
        .split_whitespace()
        .skip_while(|field| *field != "spelling-error-in-binary");
    fields.next();
    fields.next().is_some_and(|word| {
        word.chars().skip(1).any(char::is_uppercase) && word.chars().any(char::is_lowercase)
    })
}

// ---------------------------------------------------------------------------------------------
// .rpm

#[test]
fn rpm_carries_the_helper_capabilities_and_the_layout() {
    let Some(()) = root_or_skip("rpm_carries_the_helper_capabilities_and_the_layout") else {
        return;
    };
    assert!(
        have("rpmbuild"),
        "rpmbuild is missing: make deps (scripts/install-deps.sh) installs rpm"
    );
    let _lock = system_lock();
    system_build();
    let output = make_ok(["rpm", "TARGET_DIR=target/pkg"]);
    let rpm = last_line(&output);
    assert!(
        rpm.ends_with(".rpm") && Path::new(&rpm).is_file(),
        "make rpm:\n{}",
        text(&output)
    );

    let listing = output_of("rpm", &["-qlvp", &rpm]);
    for (path, mode) in [
        ("/usr/libexec/openfile-helper", "-rwxr-xr-x"),
        ("/usr/bin/mycat", "-rwxr-xr-x"),
        ("/etc/myopen/policy.toml", "-rw-r--r--"),
        ("/etc/myopen/policy.d", "drwxr-xr-x"),
        ("/usr/share/man/man1/mycat.1.gz", "-rw-r--r--"),
        ("/usr/share/man/man5/myopen-policy.5.gz", "-rw-r--r--"),
        ("/usr/share/man/man8/openfile-helper.8.gz", "-rw-r--r--"),
        ("/usr/share/bash-completion/completions/mycat", "-rw-r--r--"),
        ("/usr/libexec/myopend", "-rwxr-xr-x"),
        ("/usr/lib/systemd/system/myopen.socket", "-rw-r--r--"),
        ("/usr/lib/systemd/system/myopen.service", "-rw-r--r--"),
        ("/usr/share/man/man8/myopend.8.gz", "-rw-r--r--"),
    ] {
        assert!(
            listing.lines().any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.first() == Some(&mode)
                    && fields.get(2..4) == Some(&["root", "root"][..])
                    && fields.last() == Some(&path)
            }),
            "{path} {mode} root root in rpm -qlvp:\n{listing}"
        );
    }
    let capabilities = output_of("rpm", &["-qp", "--filecaps", &rpm]);
    assert!(
        capabilities
            .lines()
            .any(|line| line.starts_with("/usr/libexec/openfile-helper")
                && line.ends_with("cap_dac_override,cap_dac_read_search=p")),
        "the helper's capabilities in rpm --filecaps:\n{capabilities}"
    );
    let configs = output_of("rpm", &["-qp", "--configfiles", &rpm]);
    assert_eq!(configs.trim(), "/etc/myopen/policy.toml");

    // The units, as rpm would install them: the system paths, verify-clean; the scriptlets
    // leave enabling to the preset, disable on removal, restart a running daemon on upgrade.
    let scratch = Scratch::new();
    let copy = scratch.path().join("myopen.rpm");
    fs::copy(&rpm, &copy).expect("copy the rpm");
    let archived = run(Command::new("rpm2archive").arg(&copy));
    assert!(
        archived.status.success(),
        "rpm2archive: {}",
        text(&archived)
    );
    let tree = scratch.path().join("tree");
    fs::create_dir(&tree).expect("mkdir");
    let unpacked = run(Command::new("tar")
        .arg("-xzf")
        .arg(scratch.path().join("myopen.rpm.tgz"))
        .arg("-C")
        .arg(&tree));
    assert!(unpacked.status.success(), "tar: {}", text(&unpacked));
    let units = tree.join("usr/lib/systemd/system");
    let socket_unit = fs::read_to_string(units.join("myopen.socket")).expect("myopen.socket");
    let service_unit = fs::read_to_string(units.join("myopen.service")).expect("myopen.service");
    assert_eq!(
        unit_value(&socket_unit, "ListenSequentialPacket"),
        "/run/myopen/socket"
    );
    assert_eq!(
        unit_value(&service_unit, "ExecStart"),
        "/usr/libexec/myopend"
    );
    assert_units_verify(&units, &tree);
    let scripts = output_of("rpm", &["-qp", "--scripts", &rpm]);
    for expected in [
        "systemctl --no-reload preset myopen.socket",
        "systemctl --no-reload disable --now myopen.socket myopen.service",
        "systemctl try-restart myopen.service",
    ] {
        assert!(
            scripts.contains(expected),
            "{expected} in the scriptlets:\n{scripts}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Man pages, policy, completions

#[test]
fn man_pages_are_lint_clean_and_document_every_key_and_word() {
    let man = workspace_root().join("packaging/man");
    let pages = [
        "mycat.1",
        "my_open.3",
        "myopen-run.1",
        "myopen-policy.5",
        "myopend.8",
        "openfile-helper.8",
    ]
    .map(|page| man.join(page));
    if have("mandoc") {
        let mut command = Command::new("mandoc");
        command.args(["-T", "lint", "-W", "all"]).args(&pages);
        let lint = text(&run(&mut command));
        // Our own pages are not in the manual database until installed, and an outdated
        // database is the machine's, not the pages'.
        let problems: Vec<&str> = lint
            .lines()
            .filter(|line| !line.contains("outdated mandoc.db"))
            .filter(|line| {
                !(line.contains("referenced manual not found")
                    && [
                        "mycat 1",
                        "my_open 3",
                        "myopen-run 1",
                        "myopen-policy 5",
                        "myopend 8",
                        "openfile-helper 8",
                    ]
                    .iter()
                    .any(|own| line.contains(own)))
            })
            .collect();
        assert!(
            problems.is_empty(),
            "mandoc -T lint:\n{}",
            problems.join("\n")
        );
    } else if nix::unistd::geteuid().is_root() {
        panic!("mandoc is missing: make deps (scripts/install-deps.sh) installs it");
    } else {
        skip(
            "man_pages_are_lint_clean (mandoc part)",
            "mandoc is not installed",
        );
    }
    for page in &pages {
        let output = run(Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0"));
        assert!(output.status.success(), "man -l {}", page.display());
        assert!(
            output.stderr.is_empty(),
            "man --warnings {}:\n{}",
            page.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let policy_page = fs::read_to_string(man.join("myopen-policy.5")).expect("read");
    for word in [
        "Ic path",
        "Ic users",
        "Ic groups",
        "Ic access",
        "Ic types",
        "Ic [[allow]]",
        "Ic [[deny]]",
        "Cm read",
        "Cm write",
        "Cm append",
        "Cm create",
        "Cm truncate",
        "Cm file",
        "Cm dir",
        "Cm char",
        "Cm block",
        "Cm fifo",
        "Cm socket",
        "Sh SECURITY MODEL",
        "Sh INSTALL MODES",
        "Cm caps",
        "Cm setuid",
        "Cm daemon",
        "MYOPEN_SOCKET Ns = Ns Li none",
        "/run/myopen/socket:/run/myopen/socket",
        "Sh EXAMPLES",
    ] {
        assert!(
            policy_page.contains(word),
            "myopen-policy(5) lacks {word:?}"
        );
    }
    // myopend(8): every option of its usage line, its signals, exit statuses and audit fields.
    let daemon_page = fs::read_to_string(man.join("myopend.8")).expect("read");
    let usage = run(Command::new(workspace_binary("myopend")).arg("--help"));
    let usage = String::from_utf8_lossy(&usage.stdout).into_owned();
    let options: Vec<&str> = usage
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '|')
        .filter_map(|word| word.strip_prefix("--"))
        .collect();
    assert!(options.len() >= 7, "myopend --help: {usage}");
    for option in options {
        assert!(
            daemon_page.contains(&format!("Fl -{option}")),
            "myopend(8) lacks --{option}"
        );
    }
    for word in [
        "Sh SIGNALS",
        "Dv SIGTERM",
        "Sh EXIT STATUS",
        "Sh LIMITS",
        "Sh ENVIRONMENT",
        "Er EUSERS",
        "Er EAGAIN",
        "Li mode=daemon",
        "peer_pid=",
        "RUNSTATEDIR",
        "MYOPEN_SOCKET Ns = Ns Li none",
    ] {
        assert!(daemon_page.contains(word), "myopend(8) lacks {word:?}");
    }
}

#[test]
fn default_policy_checks_clean_and_allows_only_adm_under_var_log() {
    let Some(()) = root_or_skip("default_policy_checks_clean_and_allows_only_adm_under_var_log")
    else {
        return;
    };
    let policy = fs::read_to_string(workspace_root().join("packaging/policy.toml")).expect("read");
    // Active lines: exactly one rule, each line of it commented at its end.
    let active: Vec<&str> = policy
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .collect();
    assert_eq!(
        active
            .iter()
            .map(|line| line.split('#').next().unwrap_or("").trim())
            .collect::<Vec<_>>(),
        [
            "[[allow]]",
            "path = \"/var/log/**\"",
            "groups = [\"adm\"]",
            "access = [\"read\"]",
            "types = [\"file\"]"
        ],
        "the default policy's rule"
    );
    for line in active.iter().skip(1) {
        assert!(
            line.contains('#'),
            "uncommented line in the default policy: {line}"
        );
    }

    let scratch = Scratch::new();
    let copy = scratch.file("policy.toml", policy.as_bytes(), 0o644);
    let check = run(Command::new(workspace_binary("openfile-helper"))
        .arg("--check")
        .arg(&copy));
    assert!(
        check.status.success(),
        "--check on the default policy:\n{}",
        text(&check)
    );

    // The commented-out examples parse too (their made-up users and groups only warn).
    let examples: String = policy
        .split("# More examples")
        .nth(1)
        .expect("the examples section")
        .lines()
        .filter_map(|line| line.strip_prefix("# "))
        .filter(|line| line.starts_with('[') || line.split(' ').nth(1) == Some("="))
        .map(|line| format!("{line}\n"))
        .collect();
    for kind in [
        "[[deny]]",
        "append",
        "create",
        "truncate",
        "types = [\"dir\"]",
    ] {
        assert!(examples.contains(kind), "the examples show {kind}");
    }
    let copy = scratch.file("examples.toml", examples.as_bytes(), 0o644);
    let check = run(Command::new(workspace_binary("openfile-helper"))
        .arg("--check")
        .arg(&copy));
    let report = text(&check);
    assert!(
        report.contains("5 rules from 1 file(s)") && !report.contains("error:"),
        "the examples parse:\n{report}"
    );
}

#[test]
fn completions_cover_every_mycat_option_and_parse() {
    let generator = workspace_binary("myopen-completions");
    for (shell, checker) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let output = run(Command::new(&generator).arg(shell));
        assert!(
            output.status.success(),
            "myopen-completions {shell}: {}",
            text(&output)
        );
        let script = String::from_utf8_lossy(&output.stdout).into_owned();
        for option in ["helper", "always-helper", "no-helper"] {
            assert!(
                script.contains(option),
                "{shell} completion lacks --{option}:\n{script}"
            );
        }
        let short_u = if shell == "fish" { "-s u" } else { "-u" };
        assert!(script.contains(short_u), "{shell} completion lacks -u");
        if have(checker) {
            let scratch = Scratch::new();
            let file = scratch.file("completion", script.as_bytes(), 0o644);
            let parsed = run(Command::new(checker).arg("-n").arg(&file));
            assert!(
                parsed.status.success(),
                "{checker} -n on the {shell} completion: {}",
                text(&parsed)
            );
        }
    }
    let usage = run(Command::new(&generator).arg("tcsh"));
    assert_eq!(usage.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// make demo

#[test]
fn make_demo_shows_mycat_at_work_and_leaves_nothing() {
    let Some(()) = root_or_skip("make_demo_shows_mycat_at_work_and_leaves_nothing") else {
        return;
    };
    let _lock = system_lock();
    let output = make(["demo"]);
    let log = text(&output);
    assert!(output.status.success(), "make demo failed:\n{log}");
    for expected in [
        "Quarterly report: revenue up 12%.",
        "payroll.txt: Permission denied (policy)",
        "decision=granted",
        "decision=denied",
        "demo: OK",
    ] {
        assert!(
            log.contains(expected),
            "make demo did not show {expected:?}:\n{log}"
        );
    }
    assert!(!Path::new("/tmp/myopen-demo").exists() && !Path::new("/var/tmp/myopen-demo").exists());
    assert!(
        nix::unistd::User::from_name("myopen-demo")
            .ok()
            .flatten()
            .is_none(),
        "the demo user is left"
    );
}

// ---------------------------------------------------------------------------------------------
// The daemon's systemd units

/// The directory `make install` puts the units in for `PREFIX=/usr` (its default,
/// `$(PREFIX)/lib/systemd/system`).
const STAGED_UNIT_DIR: &str = "usr/lib/systemd/system";

/// Every value of `key` in unit text `unit`, in order (`Key=value` lines, comments skipped).
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .collect()
}

/// The one value of `key` in `unit`.
fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    match unit_values(unit, key)[..] {
        [value] => value,
        ref values => panic!("{key}= in the unit: {values:?} (expected one)\n{unit}"),
    }
}

/// `systemd-analyze verify` on the units installed in `units` under `root` (a staged tree):
/// no complaint at all. systemd's `--root` wants a whole system there, so the units are verified
/// as copies whose `ExecStart=` has `root` in front (that file must exist), beside the copied
/// socket; the man pages they name are not in this machine's manual database, so that check
/// (and only that) is off.
fn assert_units_verify(units: &Path, root: &Path) {
    let scratch = Scratch::new();
    let mut copies = Vec::new();
    for name in ["myopen.socket", "myopen.service"] {
        let unit = fs::read_to_string(units.join(name))
            .unwrap_or_else(|error| panic!("{}/{name}: {error}", units.display()));
        let rooted: String = unit
            .lines()
            .map(|line| match line.strip_prefix("ExecStart=") {
                Some(program) => {
                    let staged = root.join(program.trim_start_matches('/'));
                    assert!(
                        staged.is_file(),
                        "{name}: ExecStart={program}: no {}",
                        staged.display()
                    );
                    format!("ExecStart={}\n", staged.display())
                }
                None => format!("{line}\n"),
            })
            .collect();
        copies.push(scratch.file(name, rooted.as_bytes(), 0o644));
    }
    let output = run_within(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(&copies),
        Duration::from_secs(120),
    );
    assert!(
        output.status.success() && text(&output).trim().is_empty(),
        "systemd-analyze verify {}:\n{}",
        units.display(),
        text(&output)
    );
}

#[test]
fn daemon_install_bakes_its_runstatedir_into_the_socket_unit_the_daemon_and_the_library() {
    let Some(env) = myopen_tests::privileged_env!() else {
        return;
    };
    assert!(
        have("systemd-analyze"),
        "systemd-analyze is missing: make deps (scripts/install-deps.sh) installs systemd"
    );
    // Not /run: a directory of this test, which no default could hit by chance (short: a
    // socket's path has at most 107 bytes).
    let run_state = fresh_run_dir("run-pkg-runstatedir");
    let stage = env.path("stage");
    let args = [
        "install".to_owned(),
        format!("DESTDIR={}", stage.display()),
        "PRIVILEGE=daemon".to_owned(),
        "PREFIX=/usr".to_owned(),
        "LIBEXECDIR=/usr/libexec".to_owned(),
        format!("SYSCONFDIR={ETC}"),
        format!("SYSLOG_SOCKET={LOG_SOCKET}"),
        format!("RUNSTATEDIR={}", run_state.display()),
        "HELPER_LINK=dynamic".to_owned(),
        "TARGET_DIR=target/pkg-runstatedir".to_owned(),
    ];
    let log = text(&make_ok(&args));

    // The units: this build's socket and daemon, nothing left to substitute.
    let units = stage.join(STAGED_UNIT_DIR);
    let socket_unit = fs::read_to_string(units.join("myopen.socket")).expect("myopen.socket");
    let service_unit = fs::read_to_string(units.join("myopen.service")).expect("myopen.service");
    let socket = run_state.join("myopen/socket");
    assert_eq!(
        Path::new(unit_value(&socket_unit, "ListenSequentialPacket")),
        socket,
        "the socket unit listens where RUNSTATEDIR says (install log:\n{log})"
    );
    assert_eq!(
        unit_value(&service_unit, "ExecStart"),
        "/usr/libexec/myopend"
    );
    for (name, unit) in [
        ("myopen.socket", &socket_unit),
        ("myopen.service", &service_unit),
    ] {
        for placeholder in ["@LIBEXECDIR@", "@RUNSTATEDIR@"] {
            assert!(
                !unit.contains(placeholder),
                "{name} keeps {placeholder}:\n{unit}"
            );
        }
        assert_eq!(mode_owner(&units.join(name)), (0o644, 0, 0), "{name}");
    }
    assert_units_verify(&units, &stage);
    // PRIVILEGE=daemon: the helper has no privilege at all.
    let helper = stage.join("usr/libexec/openfile-helper");
    assert_eq!(mode_owner(&helper), (0o755, 0, 0));
    assert_eq!(capabilities(&helper), "");

    // The daemon, started without --socket, binds the unit's path; the library in mycat, told
    // nothing, connects there. Only the daemon can have read the root-only file: the helper
    // beside it is unprivileged.
    let secret = env.file("d/report", b"served by the daemon\n", 0o600, None);
    env.allow_reading("d/report", &[ALICE]);
    let mut daemon = Command::new(stage.join("usr/libexec/myopend"));
    daemon
        .args(["--pool", "1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(env.path("myopend.log")).expect("the daemon's log"));
    let daemon = daemon.spawn().expect("start the staged myopend");
    let daemon = RunningDaemon(Some(daemon));
    let started = std::time::Instant::now();
    while !answers(&socket) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no daemon answers at {} (the unit's path) after 10 s: {}",
            socket.display(),
            fs::read_to_string(env.path("myopend.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.audit_lines();
    let mut mycat = command_as(&alice(), stage.join("usr/bin/mycat"));
    mycat
        .arg(&secret)
        .env_remove("MYOPEN_SOCKET")
        .env_remove("MYOPEN_HELPER")
        .env_remove("LD_LIBRARY_PATH");
    let read = run(&mut mycat);
    assert!(read.status.success(), "alice's mycat:\n{}", text(&read));
    assert_eq!(
        String::from_utf8_lossy(&read.stdout),
        "served by the daemon\n"
    );
    let lines = env.audit_lines();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("decision=granted") && line.contains("mode=daemon")),
        "a daemon's audit line for the grant: {lines:?}"
    );
    drop(daemon);

    // make uninstall with the same variables takes the daemon and its units away.
    let mut uninstall = args.to_vec();
    uninstall[0] = "uninstall".to_owned();
    make_ok(&uninstall);
    for gone in [
        units.join("myopen.socket"),
        units.join("myopen.service"),
        stage.join("usr/libexec/myopend"),
        stage.join("usr/share/man/man8/myopend.8"),
    ] {
        assert!(
            fs::symlink_metadata(&gone).is_err(),
            "{} is left after make uninstall",
            gone.display()
        );
    }
}

/// An empty directory `IT_ROOT/name` (root, 0755) for a daemon's socket.
fn fresh_run_dir(name: &str) -> PathBuf {
    let dir = Path::new(IT_ROOT).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).unwrap_or_else(|error| panic!("mkdir {}: {error}", dir.display()));
    chmod(&dir, 0o755);
    dir
}

/// A daemon started by a test; SIGTERM and a bounded wait when it goes.
struct RunningDaemon(Option<std::process::Child>);

impl Drop for RunningDaemon {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            stop_daemon(child);
        }
    }
}

/// Whether a daemon at `socket` gives a session's hello.
fn answers(socket: &Path) -> bool {
    myopen::Session::with_daemon(
        Some(myopen::Daemon::at(socket)),
        myopen::Helper::at("/nonexistent"),
    )
    .is_ok()
}

/// The system calls a program made, from `strace -f -o FILE`'s output: the name at the start of
/// every call line (`PID name(...`), resumed halves and signal and exit lines skipped.
fn traced_calls(trace: &str) -> std::collections::BTreeSet<String> {
    trace
        .lines()
        .filter_map(|line| {
            let call = line.split_once(' ')?.1.trim_start();
            let (name, _) = call.split_once('(')?;
            let plain = !name.is_empty()
                && name
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
            plain.then(|| name.to_owned())
        })
        .collect()
}

/// The system calls of `name`: itself, or a `@group` expanded (recursively) the way
/// `systemd-analyze syscall-filter` lists it.
fn filter_set_members(name: &str) -> Vec<String> {
    if !name.starts_with('@') {
        return vec![name.to_owned()];
    }
    let listing = text(&run_within(
        Command::new("systemd-analyze").args(["syscall-filter", "--no-pager", name]),
        Duration::from_secs(60),
    ));
    let members: Vec<String> = listing
        .lines()
        .filter(|line| line.starts_with("    ") && !line.trim_start().starts_with('#'))
        .flat_map(|line| filter_set_members(line.trim()))
        .collect();
    assert!(
        !members.is_empty(),
        "systemd-analyze knows no {name}:\n{listing}"
    );
    members
}

/// What the `SystemCallFilter=` lines of `unit` let through, as systemd reads them: the first
/// (an allow list) starts the set, `~` lines take from it, later plain lines add to it; plus the
/// calls systemd.exec(5) says are always allowed (execve, exit, exit_group, getrlimit,
/// rt_sigreturn, sigreturn, and those that read the time or sleep).
fn system_call_filter_allows(unit: &str) -> std::collections::BTreeSet<String> {
    let lines = unit_values(unit, "SystemCallFilter");
    assert!(
        lines.first().is_some_and(|first| !first.starts_with('~')),
        "the service's system call filter is an allow list: {lines:?}"
    );
    let mut allowed = std::collections::BTreeSet::new();
    for line in lines {
        let (removing, names) = match line.strip_prefix('~') {
            Some(names) => (true, names),
            None => (false, line),
        };
        for call in names.split_whitespace().flat_map(filter_set_members) {
            if removing {
                allowed.remove(&call);
            } else {
                allowed.insert(call);
            }
        }
    }
    allowed.extend(
        [
            "execve",
            "exit",
            "exit_group",
            "getrlimit",
            "rt_sigreturn",
            "sigreturn",
            "clock_gettime",
            "clock_getres",
            "clock_nanosleep",
            "gettimeofday",
            "nanosleep",
            "time",
        ]
        .map(str::to_owned),
    );
    allowed
}

/// The pid of the child of `parent` named `comm`, if there is one.
fn child_named(parent: u32, comm: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent && name == comm).then_some(pid)
    })
}

/// The test's strace, killed and reaped if the test fails before the daemon under it exits.
struct Tracer(Option<std::process::Child>);

impl Drop for Tracer {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            if let Some(daemon) = child_named(child.id(), "myopend") {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(daemon as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// systemd's filter answers a call outside it with EPERM, which no test run outside systemd
/// would see: a worker whose seccomp(2) or Landlock calls fail cannot draw its fence and serves
/// nothing. So the daemon runs under strace through what its tests exercise (grant, refusal,
/// creation, a descriptor sent to it, SIGTERM), and every call it made must pass the unit's
/// filter, expanded by systemd-analyze itself.
#[test]
fn service_system_call_filter_allows_every_call_myopend_makes() {
    let Some(env) = myopen_tests::privileged_env!() else {
        return;
    };
    for tool in ["strace", "systemd-analyze"] {
        assert!(
            have(tool),
            "{tool} is missing: make deps (scripts/install-deps.sh) installs it"
        );
    }
    let report = env.file("d/report", b"for alice\n", 0o600, None);
    let out = env.dir("d/out", 0o700, None);
    let secret = env.secret();
    env.write_policy(&format!(
        "{}{}",
        allow_rule(env.path("d/report"), &users(&[ALICE]), &["read"], &[]),
        allow_rule(out.join("*"), &users(&[ALICE]), &["write", "create"], &[])
    ));
    let socket = fresh_run_dir("run-pkg-trace").join("myopen/socket");
    let trace = env.path("trace");
    let tracer = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg(myopen_tests::install::it_daemon_binary())
        .arg("--socket")
        .arg(&socket)
        .args(["--pool", "1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(env.path("myopend.log")).expect("the daemon's log"))
        .spawn()
        .expect("start myopend under strace");
    let mut tracer = Tracer(Some(tracer));
    let started = std::time::Instant::now();
    while !answers(&socket) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "myopend under strace does not answer: {}",
            fs::read_to_string(env.path("myopend.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut target = std::ffi::OsString::from("daemon:");
    target.push(&socket);
    let target = Path::new(&target);
    let alice = alice();
    let outcome = |path: &Path, flags: i32, data: Option<&[u8]>| {
        myopen_tests::install::outcome(&probe_helper_output(&alice, target, path, flags, data))
    };
    assert_eq!(
        outcome(&report, libc::O_RDONLY, None),
        Outcome::opened("for alice\n"),
        "{:?}",
        env.audit_lines()
    );
    assert_eq!(
        outcome(&secret.path, libc::O_RDONLY, None),
        Outcome::Errno(libc::EACCES)
    );
    assert!(
        outcome(
            &out.join("new"),
            libc::O_WRONLY | libc::O_CREAT,
            Some(b"created\n")
        )
        .is_opened(),
        "alice creates d/out/new through the daemon"
    );
    // A descriptor sent with a request: closed unread, the request refused.
    let connection = myopen::Session::with_daemon(
        Some(myopen::Daemon::at(&socket)),
        myopen::Helper::at("/nonexistent"),
    );
    assert!(connection.is_ok(), "a root session: {connection:?}");
    drop(connection);
    sent_descriptor_is_refused(&socket, &report);

    let tracer_pid = tracer
        .0
        .as_ref()
        .map(std::process::Child::id)
        .expect("tracer");
    let daemon = child_named(tracer_pid, "myopend").expect("myopend under strace");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM to myopend");
    let child = tracer.0.take().expect("tracer");
    let output = myopen_tests::wait_output(child, Duration::from_secs(30));
    assert!(
        output.status.success(),
        "strace (exit status of myopend) after SIGTERM: {:?}, {}",
        output.status,
        fs::read_to_string(env.path("myopend.log")).unwrap_or_default()
    );

    let used = traced_calls(&fs::read_to_string(&trace).expect("the trace"));
    for expected in [
        "accept4",
        "setresuid",
        "seccomp",
        "landlock_restrict_self",
        "openat2",
    ] {
        assert!(
            used.contains(expected),
            "the trace shows the workers at work ({expected}): {used:?}"
        );
    }
    let service = fs::read_to_string(workspace_root().join("packaging/systemd/myopen.service"))
        .expect("unit");
    let allowed = system_call_filter_allows(&service);
    let refused: Vec<&String> = used.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "myopend made system calls myopen.service's SystemCallFilter= refuses (EPERM under \
         systemd): {refused:?}"
    );
}

/// Sends a request with a descriptor to the daemon at `socket` as root: the reply is a refusal.
fn sent_descriptor_is_refused(socket: &Path, path: &Path) {
    use myopen::wire::session::{HELLO_LEN, REPLY_LEN, Reply, SessionRequest};
    use std::os::fd::AsFd;
    let raw = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    nix::sys::socket::connect(
        std::os::fd::AsRawFd::as_raw_fd(&raw),
        &nix::sys::socket::UnixAddr::new(socket).expect("address"),
    )
    .expect("connect");
    let mut hello = [0u8; HELLO_LEN + 1];
    myopen::fdpass::recv_with_fds(&raw, &mut hello, 0).expect("hello");
    let request = SessionRequest {
        flags: libc::O_RDONLY,
        mode: 0o666,
        path: path.as_os_str().as_encoded_bytes(),
    }
    .encode();
    let extra = fs::File::open("/dev/null").expect("/dev/null");
    myopen::fdpass::send_with_fds(&raw, &request, &[extra.as_fd()]).expect("send");
    let mut reply = [0u8; REPLY_LEN + 1];
    let received = myopen::fdpass::recv_with_fds(&raw, &mut reply, 1).expect("reply");
    let reply = Reply::decode(&reply[..received.bytes], received.fds.len());
    assert!(
        matches!(reply, Ok(Reply::Refused { .. })),
        "a request with a descriptor is refused: {reply:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The .deb's daemon

const MYOPEND: &str = "/usr/libexec/myopend";
/// Where deb-systemd-helper enables the socket (its `WantedBy=sockets.target`).
const SOCKET_ENABLED_LINK: &str = "/etc/systemd/system/sockets.target.wants/myopen.socket";

/// The directory of the .deb's units: where `myopen.socket` is in its listing.
fn deb_unit_dir(deb: &Path) -> PathBuf {
    let contents = output_of("dpkg-deb", &["--contents", &deb.display().to_string()]);
    let socket = contents
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .find(|entry| entry.ends_with("/myopen.socket"))
        .unwrap_or_else(|| panic!("no myopen.socket in the .deb:\n{contents}"));
    Path::new(socket.trim_start_matches('.'))
        .parent()
        .expect("the unit's directory")
        .to_owned()
}

/// Takes the administrator's `dpkg-statoverride` entry for the helper away when the test ends.
struct HelperStatOverride;

impl Drop for HelperStatOverride {
    fn drop(&mut self) {
        let _ = run(Command::new("dpkg-statoverride").args(["--remove", HELPER]));
    }
}

#[test]
fn deb_units_are_where_systemd_looks_with_the_system_paths_and_verify_clean() {
    let Some(()) =
        root_or_skip("deb_units_are_where_systemd_looks_with_the_system_paths_and_verify_clean")
    else {
        return;
    };
    let _lock = system_lock();
    let deb = built_deb();
    let unit_dir = deb_unit_dir(&deb);
    let search_path = output_of("systemd-analyze", &["unit-paths"]);
    assert!(
        search_path
            .lines()
            .any(|line| Path::new(line.trim()) == unit_dir),
        "{} is not among the directories systemd reads units from:\n{search_path}",
        unit_dir.display()
    );
    let scratch = Scratch::new();
    let tree = scratch.path().join("tree");
    let extracted = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree));
    assert!(
        extracted.status.success(),
        "dpkg-deb -x: {}",
        text(&extracted)
    );
    let units = tree.join(unit_dir.strip_prefix("/").expect("absolute"));
    let socket_unit = fs::read_to_string(units.join("myopen.socket")).expect("myopen.socket");
    let service_unit = fs::read_to_string(units.join("myopen.service")).expect("myopen.service");
    // The packages are built with RUNSTATEDIR=/run, the library and the daemon with it.
    assert_eq!(
        unit_value(&socket_unit, "ListenSequentialPacket"),
        "/run/myopen/socket"
    );
    assert_eq!(unit_value(&service_unit, "ExecStart"), MYOPEND);
    assert_eq!(unit_value(&socket_unit, "WantedBy"), "sockets.target");
    assert_units_verify(&units, &tree);
    let contents = output_of("dpkg-deb", &["--contents", &deb.display().to_string()]);
    for (expected, mode) in [
        (format!(".{MYOPEND}"), "-rwxr-xr-x root/root"),
        (
            format!(".{}/myopen.socket", unit_dir.display()),
            "-rw-r--r-- root/root",
        ),
        (
            format!(".{}/myopen.service", unit_dir.display()),
            "-rw-r--r-- root/root",
        ),
        (
            "./usr/share/man/man8/myopend.8.gz".to_owned(),
            "-rw-r--r-- root/root",
        ),
    ] {
        assert!(
            contents
                .lines()
                .any(|line| line.starts_with(mode) && line.ends_with(&expected)),
            "{expected} ({mode}) in the .deb:\n{contents}"
        );
    }
}

/// The fresh install packaging/README.md promises on a machine without systemd (CI: no systemd
/// PID 1): dpkg -i succeeds, the helper has its capabilities and serves, the socket is enabled
/// for the next boot with systemd. Then the installed daemon, started the way the units say,
/// serves with the helper made unprivileged by the documented switch (which an upgrade keeps);
/// stopped, nothing serves; the switch back restores the helper; a disabled socket stays
/// disabled over an upgrade; purge leaves no link.
#[test]
fn deb_enables_the_socket_keeps_the_capability_helper_and_switches_as_documented() {
    let name = "deb_enables_the_socket_keeps_the_capability_helper_and_switches_as_documented";
    let Some(()) = root_or_skip(name) else {
        return;
    };
    let _lock = system_lock();
    let _syslog = SystemSyslog::ensure();
    let deb = built_deb();
    assert!(
        !Path::new("/run/systemd/system").exists(),
        "{name} expects a machine without systemd as PID 1 (CI); this one runs systemd"
    );
    if dpkg_installed("myopen") {
        let _ = run(Command::new("dpkg").args(["--purge", "myopen"]));
    }
    let data = PathBuf::from("/tmp/myopen-pkg-daemon-test");
    let _ = fs::remove_dir_all(&data);
    let installed = InstalledDeb { data: data.clone() };
    let install = || {
        let output = run(Command::new("dpkg").arg("-i").arg(&deb));
        assert!(output.status.success(), "dpkg -i:\n{}", text(&output));
        text(&output)
    };
    let log = install();
    assert!(
        !log.contains("error") && !log.contains("warning"),
        "the maintainer scripts say nothing alarming without systemd:\n{log}"
    );
    let unit_dir = deb_unit_dir(&deb);
    assert_eq!(
        fs::read_link(SOCKET_ENABLED_LINK).ok(),
        Some(unit_dir.join("myopen.socket")),
        "myopen.socket is enabled for the next boot with systemd"
    );
    let helper = Path::new(HELPER);
    assert!(
        has_helper_capabilities(helper) || mode_owner(helper).0 == 0o4755,
        "the helper is privileged: {}",
        capabilities(helper)
    );

    fs::create_dir(&data).expect("mkdir data");
    chmod(&data, 0o755);
    let allowed = data.join("allowed.txt");
    fs::write(&allowed, "for alice\n").expect("write");
    chmod(&allowed, 0o600);
    let dropin = Path::new("/etc/myopen/policy.d/50-packaging-daemon-test.toml");
    fs::write(
        dropin,
        format!(
            "[[allow]]\npath = \"{}\"\nusers = [\"{ALICE}\"]\naccess = [\"read\"]\n",
            allowed.display()
        ),
    )
    .expect("drop-in");
    chmod(dropin, 0o644);
    let alice = alice();
    let mycat = |file: &Path| {
        let mut command = command_as(&alice, MYCAT);
        command
            .arg(file)
            .env_remove("MYOPEN_SOCKET")
            .env_remove("MYOPEN_HELPER")
            .env_remove("LD_LIBRARY_PATH");
        run(&mut command)
    };
    // No daemon: the helper serves.
    let read = mycat(&allowed);
    assert!(read.status.success(), "through the helper: {}", text(&read));

    // Daemon only: the documented switch takes the helper's privilege for good.
    let overridden = HelperStatOverride;
    let switch = run(Command::new("dpkg-statoverride")
        .args(["--update", "--add", "root", "root", "0755", HELPER]));
    assert!(
        switch.status.success(),
        "dpkg-statoverride: {}",
        text(&switch)
    );
    assert_eq!(capabilities(helper), "", "the switch leaves no capability");
    assert_eq!(mode_owner(helper), (0o755, 0, 0));
    install();
    assert_eq!(
        capabilities(helper),
        "",
        "an upgrade keeps the helper unprivileged"
    );
    assert_eq!(mode_owner(helper), (0o755, 0, 0));

    let socket_unit =
        fs::read_to_string(unit_dir.join("myopen.socket")).expect("the installed myopen.socket");
    let service_unit =
        fs::read_to_string(unit_dir.join("myopen.service")).expect("the installed myopen.service");
    let socket = PathBuf::from(unit_value(&socket_unit, "ListenSequentialPacket"));
    let socket_dir = socket.parent().expect("the socket's directory").to_owned();
    assert!(
        socket_dir.starts_with("/run"),
        "the .deb's socket is under /run: {}",
        socket.display()
    );
    // What systemd does with the units, minus the sandbox: the directory (DirectoryMode=0755),
    // the socket (SocketMode=0666), the daemon started on it by socket activation. In a mount
    // namespace of its own with a fresh /run, so that no other program on this machine (other
    // tests among them) meets this daemon at the system's socket.
    let script = r#"
        set -e
        mount -t tmpfs -o mode=0755 myopen-pkg-test /run
        mkdir -p -m 0755 "$SOCKET_DIR"
        systemd-socket-activate --seqpacket -l "$SOCKET" "$DAEMON" </dev/null >/dev/null 2>"$LOG" &
        daemon=$!
        tries=0
        while [ ! -S "$SOCKET" ]; do
            tries=$((tries + 1))
            [ "$tries" -lt 500 ] || { echo "$SOCKET never appeared" >&2; exit 3; }
            sleep 0.02
        done
        chmod 0666 "$SOCKET"
        status=0
        env -u MYOPEN_SOCKET -u MYOPEN_HELPER -u LD_LIBRARY_PATH /usr/bin/setpriv \
            --reuid="$USER_ID" --regid="$GROUP_ID" --init-groups -- "$MYCAT" "$FILE" || status=$?
        kill -TERM "$daemon"
        wait "$daemon" || true
        exit "$status"
    "#;
    let read = run_within(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", script])
            .env("SOCKET", &socket)
            .env("SOCKET_DIR", &socket_dir)
            .env("DAEMON", unit_value(&service_unit, "ExecStart"))
            .env("LOG", data.join("myopend.log"))
            .env("USER_ID", alice.uid.to_string())
            .env("GROUP_ID", alice.gid.to_string())
            .env("MYCAT", MYCAT)
            .env("FILE", &allowed),
        Duration::from_secs(60),
    );
    assert!(
        read.status.success(),
        "through the daemon, the helper unprivileged: {}{}",
        text(&read),
        fs::read_to_string(data.join("myopend.log")).unwrap_or_default()
    );
    assert_eq!(String::from_utf8_lossy(&read.stdout), "for alice\n");
    assert!(
        fs::symlink_metadata(&socket).is_err(),
        "the daemon's socket stayed in its own mount namespace"
    );
    let unserved = mycat(&allowed);
    assert_eq!(
        unserved.status.code(),
        Some(1),
        "neither a daemon nor a privileged helper: {}",
        text(&unserved)
    );
    assert!(unserved.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&unserved.stderr).trim(),
        format!("mycat: {}: Permission denied", allowed.display())
    );

    // Back: the override goes and the postinst gives the helper its privilege again.
    drop(overridden);
    let back = run(Command::new("dpkg-reconfigure").args(["--frontend=noninteractive", "myopen"]));
    assert!(
        back.status.success(),
        "dpkg-reconfigure myopen: {}",
        text(&back)
    );
    assert!(
        has_helper_capabilities(helper) || mode_owner(helper).0 == 0o4755,
        "the helper is privileged again: {}",
        capabilities(helper)
    );
    let read = mycat(&allowed);
    assert!(
        read.status.success(),
        "through the helper again: {}",
        text(&read)
    );

    // Helper only: a disabled socket stays disabled over an upgrade.
    let disable = run(Command::new("systemctl").args(["disable", "myopen.socket"]));
    assert!(
        disable.status.success(),
        "systemctl disable: {}",
        text(&disable)
    );
    assert!(fs::symlink_metadata(SOCKET_ENABLED_LINK).is_err());
    install();
    assert!(
        fs::symlink_metadata(SOCKET_ENABLED_LINK).is_err(),
        "an upgrade enabled the socket the administrator disabled"
    );

    let purge = run(Command::new("dpkg").args(["--purge", "myopen"]));
    assert!(purge.status.success(), "dpkg --purge:\n{}", text(&purge));
    for left in [
        SOCKET_ENABLED_LINK,
        "/etc/systemd/system/myopen.socket",
        "/var/lib/systemd/deb-systemd-helper-enabled/myopen.socket.dsh-also",
        "/var/lib/systemd/deb-systemd-helper-masked/myopen.socket",
    ] {
        assert!(
            fs::symlink_metadata(left).is_err(),
            "{left} is left after dpkg --purge"
        );
    }
    drop(installed);
}
