//! libmyopen, the C ABI: installed by `make install` into a staging prefix and used from there
//! the way a C programmer would (pkg-config), as the test users, through the privileged helpers
//! and a policy. The book's mycat (examples/c/mycat.c) against the shared and the static library,
//! the session API from 8 threads, Python ctypes, the header in strict C and C++, the exported
//! symbols, the packages. (my_open(3) is linted with the other pages in packaging.rs.)
//!
//! The staging install reuses the packaging tests' release build for the system paths
//! (`target/pkg`), so both pay for one build.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use myopen_tests::install::{ALICE, Install, PrivilegedEnv, alice, allow_rule, command_as, users};
use myopen_tests::packaging::{
    PKG_TARGET_DIR, SYSTEM_PATHS, make_ok, system_build, text, workspace_root,
};
use myopen_tests::{Scratch, pattern, privileged_env, run};

/// The functions myopen.h declares: the whole ABI.
const DOCUMENTED: [&str; 5] = [
    "my_open",
    "my_open_mode",
    "myopen_session_new",
    "myopen_session_open",
    "myopen_session_free",
];

/// The Python the test users run (pyenv shims under /root are not theirs to read).
const PYTHON: &str = "/usr/bin/python3";

// ---------------------------------------------------------------------------------------------
// The staged install

/// `make install DESTDIR=target/pkg/capi-stage PREFIX=/usr ...`, once per test process; the
/// directory `usr` of the stage is the prefix the tests use (pkg-config --define-prefix).
fn stage() -> &'static Path {
    static STAGE: OnceLock<PathBuf> = OnceLock::new();
    STAGE.get_or_init(|| {
        system_build();
        let stage = workspace_root().join(PKG_TARGET_DIR).join("capi-stage");
        let _ = fs::remove_dir_all(&stage);
        let mut args = vec![
            "install".to_owned(),
            format!("DESTDIR={}", stage.display()),
            "PRIVILEGE=none".to_owned(),
        ];
        args.extend(SYSTEM_PATHS.iter().map(|&variable| variable.to_owned()));
        make_ok(args);
        stage
    })
}

fn prefix() -> PathBuf {
    stage().join("usr")
}

fn library_dir() -> PathBuf {
    prefix().join("lib")
}

/// `pkg-config ARGS myopen` against the staged install, split into words.
fn pkg_config(args: &[&str]) -> Vec<String> {
    let output = run(Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", library_dir().join("pkgconfig"))
        .env_remove("PKG_CONFIG_SYSROOT_DIR")
        .arg("--define-prefix")
        .args(args)
        .arg("myopen"));
    assert!(
        output.status.success(),
        "pkg-config {args:?} myopen: {}",
        text(&output)
    );
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Compiles `source` into `output` with `cc`, then `link` (libraries after the source, as a
/// linker wants them); fails the test with the compiler's words.
fn compile(source: &Path, output: &Path, link: &[String]) {
    let mut command = Command::new("cc");
    command
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(output)
        .args(pkg_config(&["--cflags"]))
        .arg(source)
        .args(link);
    let result = run(&mut command);
    assert!(result.status.success(), "{command:?}:\n{}", text(&result));
}

/// Linked against libmyopen.so: `cc SOURCE $(pkg-config --cflags --libs myopen)`.
fn compile_shared(source: &Path, output: &Path) {
    compile(source, output, &pkg_config(&["--libs"]));
}

/// Linked against libmyopen.a: pkg-config's static libraries, with `-lmyopen` pinned to the .a.
fn compile_static(source: &Path, output: &Path) {
    let libraries: Vec<String> = pkg_config(&["--static", "--libs"])
        .into_iter()
        .map(|word| {
            if word == "-lmyopen" {
                "-l:libmyopen.a".to_owned()
            } else {
                word
            }
        })
        .collect();
    compile(source, output, &libraries);
}

/// The shared libraries `binary` needs (DT_NEEDED).
fn needed(binary: &Path) -> Vec<String> {
    let output = run(Command::new("readelf").arg("-d").arg(binary));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| Some(line.split('[').nth(1)?.trim_end_matches(']').to_owned()))
        .collect()
}

/// `program args` as `user` with the helper of `install` and the staged libmyopen.
fn run_with_library(
    user: &myopen_tests::install::TestUser,
    install: Install,
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&std::ffi::OsStr],
) -> Output {
    let mut command = command_as(user, program);
    command
        .args(args)
        .env("MYOPEN_HELPER", install.helper())
        .env("LD_LIBRARY_PATH", library_dir());
    run(&mut command)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The book's mycat

/// A root-only file the policy lets alice read, a root-only file it does not mention, and a
/// missing one; the book's mycat at `mycat` (built by the caller) must read the first byte-exact
/// and refuse the others with the book's message and exit status.
fn book_mycat_behaves(env: &PrivilegedEnv, mycat: &Path) {
    let content = pattern(100_000);
    let allowed = env.file("capi/open/allowed.bin", &content, 0o600, None);
    let denied = env.file("capi/denied.txt", b"not for alice\n", 0o600, None);
    // Inside the rule: a missing file the policy does not cover is refused (EACCES) before the
    // helper looks, so that nobody learns which files exist.
    let missing = env.path("capi/open/missing.txt");
    allow_alice_to_read(env);
    let alice = alice();
    let own_rights = run(command_as(&alice, "/bin/cat").arg(&allowed));
    assert!(
        !own_rights.status.success(),
        "alice must not be able to read the file without the helper"
    );

    for install in Install::PRIVILEGED {
        let read = run_with_library(&alice, install, mycat, &[allowed.as_os_str()]);
        assert!(
            read.status.success(),
            "{install:?}: mycat {}: {}",
            allowed.display(),
            stderr(&read)
        );
        assert!(read.stdout == content, "{install:?}: not byte-exact");

        for (path, reason) in [
            (&denied, "Permission denied"),
            (&missing, "No such file or directory"),
        ] {
            let refused = run_with_library(&alice, install, mycat, &[path.as_os_str()]);
            assert_eq!(
                (refused.status.code(), stderr(&refused)),
                (
                    Some(1),
                    format!("cannot open {}: {reason}\n", path.display())
                ),
                "{install:?}: mycat {}",
                path.display()
            );
            assert!(refused.stdout.is_empty());
        }
    }

    // No helper at all: the documented errno, not ENOENT for the file.
    let mut command = command_as(&alice, mycat);
    command
        .arg(&allowed)
        .env("MYOPEN_HELPER", env.path("no-such-helper"))
        .env("LD_LIBRARY_PATH", library_dir());
    let no_helper = run(&mut command);
    assert_eq!(
        (no_helper.status.code(), stderr(&no_helper)),
        (
            Some(1),
            format!(
                "cannot open {}: {}\n",
                allowed.display(),
                myopen::strerror(libc::ENOPKG)
            )
        )
    );
}

/// The policy of these tests: alice may read `capi/open/*` in the data tree.
fn allow_alice_to_read(env: &PrivilegedEnv) -> String {
    let rule = allow_rule(env.path("capi/open/*"), &users(&[ALICE]), &["read"], &[]);
    env.write_policy(&rule);
    rule
}

fn book_mycat_source() -> PathBuf {
    workspace_root().join("examples/c/mycat.c")
}

#[test]
fn book_mycat_linked_with_the_installed_shared_library() {
    let Some(env) = privileged_env!() else { return };
    let scratch = Scratch::new();
    let mycat = scratch.path().join("mycat");
    compile_shared(&book_mycat_source(), &mycat);
    assert!(
        needed(&mycat).contains(&"libmyopen.so.0".to_owned()),
        "mycat records the soname: {:?}",
        needed(&mycat)
    );
    // It really is the staged library that gets loaded.
    let ldd = run(Command::new("ldd")
        .arg(&mycat)
        .env("LD_LIBRARY_PATH", library_dir()));
    assert!(
        text(&ldd).contains(&format!(
            "libmyopen.so.0 => {}",
            library_dir().join("libmyopen.so.0").display()
        )),
        "ldd:\n{}",
        text(&ldd)
    );
    book_mycat_behaves(&env, &mycat);
}

#[test]
fn book_mycat_linked_with_the_static_library() {
    let Some(env) = privileged_env!() else { return };
    let scratch = Scratch::new();
    let mycat = scratch.path().join("mycat-static");
    compile_static(&book_mycat_source(), &mycat);
    let needed = needed(&mycat);
    assert!(
        !needed
            .iter()
            .any(|library| library.starts_with("libmyopen")),
        "statically linked, yet it needs {needed:?}"
    );
    book_mycat_behaves(&env, &mycat);
}

/// The C ABI goes through the Rust API, so it inherits its rules: here, that a set-user-ID
/// program ignores MYOPEN_HELPER (the helper it names would run with the program's privilege).
#[test]
fn a_set_user_id_c_program_ignores_myopen_helper() {
    let Some(env) = privileged_env!() else { return };
    let mycat = env.path("capi/mycat");
    env.dir("capi", 0o755, None);
    // An absolute run path: the dynamic linker ignores LD_LIBRARY_PATH in a set-user-ID program.
    let mut link = pkg_config(&["--libs"]);
    link.push(format!("-Wl,-rpath,{}", library_dir().display()));
    compile(&book_mycat_source(), &mycat, &link);
    let marks = env.dir("capi/marks", 0o777, None);
    let marker = marks.join("impostor-ran");
    let impostor = env.file(
        "capi/impostor",
        format!("#!/bin/sh\ntouch {}\nexit 13\n", marker.display()).as_bytes(),
        0o755,
        None,
    );
    let file = env.file("capi/open/file.txt", b"anything\n", 0o644, None);
    let run_mycat = || {
        let mut command = command_as(&alice(), &mycat);
        command.arg(&file).env("MYOPEN_HELPER", &impostor);
        run(&mut command)
    };

    // Plain: the helper the caller names is the one that runs (the library's rule).
    let plain = run_mycat();
    assert!(
        marker.exists(),
        "a plain program runs MYOPEN_HELPER: {}",
        text(&plain)
    );
    fs::remove_file(&marker).expect("rm marker");

    myopen_tests::install::chown(&mycat, Some(&myopen_tests::install::bob()));
    myopen_tests::install::chmod(&mycat, 0o4755);
    let setuid = run_mycat();
    assert!(
        !marker.exists(),
        "a set-user-ID program linked with libmyopen ran the helper MYOPEN_HELPER names"
    );
    assert!(
        !setuid.status.success() || setuid.stdout == b"anything\n",
        "{}",
        text(&setuid)
    );
}

// ---------------------------------------------------------------------------------------------
// Sessions from threads

#[test]
fn session_from_8_threads_10000_opens_without_descriptor_growth() {
    let Some(env) = privileged_env!() else { return };
    let scratch = Scratch::new();
    let program = scratch.path().join("capi_session");
    let mut link = pkg_config(&["--libs"]);
    link.push("-pthread".to_owned());
    compile(
        &workspace_root().join("tests/c/capi_session.c"),
        &program,
        &link,
    );
    let allowed = env.file(
        "capi/open/allowed.txt",
        b"opened by a thread\n",
        0o600,
        None,
    );
    let denied = env.file("capi/denied.txt", b"not for alice\n", 0o600, None);
    allow_alice_to_read(&env);
    let output = run_with_library(
        &alice(),
        Install::Setuid,
        &program,
        &[
            allowed.as_os_str(),
            denied.as_os_str(),
            "8".as_ref(),
            "10000".as_ref(),
        ],
    );
    assert!(
        output.status.success(),
        "capi_session ({:?}):\n{}",
        output.status,
        text(&output)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "10000 opens from 8 threads\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Python

/// Uses the example module examples/python/my_open.py: `<allowed> <denied> <directory>`.
const PYTHON_CHECKS: &str = r#"
import ctypes, fcntl, os, stat, sys
import my_open as example

allowed, denied, directory = sys.argv[1:]
fd = example.my_open(allowed)
assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, "FD_CLOEXEC"
with os.fdopen(fd, "rb") as file:
    sys.stdout.buffer.write(file.read())
for path in (denied, os.path.join(directory, "missing")):
    try:
        example.my_open(path)
        print("opened", path)
    except OSError as error:
        print("errno", error.errno, file=sys.stderr)

# my_open_mode: the mode reaches the file the helper creates (umask 022).
library = example.library
library.my_open_mode.argtypes = (ctypes.c_char_p, ctypes.c_int, ctypes.c_uint)
os.umask(0o022)
created = os.path.join(directory, "created")
fd = library.my_open_mode(created.encode(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
if fd < 0:
    print("my_open_mode errno", ctypes.get_errno(), file=sys.stderr)
else:
    info = os.fstat(fd)
    print("created", oct(stat.S_IMODE(info.st_mode)), info.st_uid == os.getuid(), file=sys.stderr)
    os.close(fd)
"#;

#[test]
fn python_ctypes_my_open_gives_a_descriptor_and_the_errno() {
    let Some(env) = privileged_env!() else { return };
    if !Path::new(PYTHON).is_file() {
        panic!("{PYTHON} is missing (Debian: apt-get install python3)");
    }
    let allowed = env.file("capi/open/allowed.txt", b"read from Python\n", 0o600, None);
    let denied = env.file("capi/denied.txt", b"not for alice\n", 0o600, None);
    // Root's 0755 directory: alice cannot create in it herself, only through the helper.
    let directory = env.dir("capi/open", 0o755, None);
    env.write_policy(&format!(
        "{}{}",
        allow_alice_to_read(&env),
        allow_rule(
            directory.join("created"),
            &users(&[ALICE]),
            &["write", "create"],
            &[]
        )
    ));
    let examples = workspace_root().join("examples/python");
    let library = library_dir().join("libmyopen.so.0");
    let alice = alice();
    for install in Install::PRIVILEGED {
        let _ = fs::remove_file(directory.join("created"));
        let mut command = command_as(&alice, PYTHON);
        command
            .arg("-c")
            .arg(PYTHON_CHECKS)
            .args([&allowed, &denied, &directory])
            .env("PYTHONPATH", &examples)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("MYOPEN_LIBRARY", &library)
            .env("MYOPEN_HELPER", install.helper());
        let output = run(&mut command);
        assert!(output.status.success(), "{install:?}: {}", text(&output));
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "read from Python\n"
        );
        assert_eq!(
            stderr(&output),
            format!(
                "errno {}\nerrno {}\ncreated 0o640 True\n",
                libc::EACCES,
                libc::ENOENT
            ),
            "{install:?}"
        );
        let created = fs::metadata(directory.join("created")).expect("created through the helper");
        assert_eq!(
            (created.uid(), created.permissions().mode() & 0o7777),
            (alice.uid, 0o640)
        );

        // The example as a program: the book's message on refusal.
        let mut command = command_as(&alice, PYTHON);
        command
            .arg(examples.join("my_open.py"))
            .arg(&denied)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("MYOPEN_LIBRARY", &library)
            .env("MYOPEN_HELPER", install.helper());
        let refused = run(&mut command);
        assert_eq!(
            (refused.status.code(), stderr(&refused)),
            (
                Some(1),
                format!("cannot open {}: Permission denied\n", denied.display())
            )
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The header, the exported symbols, the manual page

#[test]
fn header_compiles_as_strict_c99_and_as_cplusplus() {
    let scratch = Scratch::new();
    // Every declaration used, twice included (the guard), nothing else included first.
    let unit = scratch.file(
        "unit.c",
        br#"#include <myopen.h>
#include <myopen.h>
#include <fcntl.h>

int main(void)
{
    struct myopen_session *session = myopen_session_new();
    int fd = myopen_session_open(session, "x", O_RDONLY, (mode_t) 0);
    myopen_session_free(session);
    fd = my_open("x", O_RDONLY) + my_open_mode("x", O_WRONLY | O_CREAT, (mode_t) 0600) + fd;
    return fd == MYOPEN_EHELPER_MISSING || fd == MYOPEN_EHELPER_BROKEN;
}
"#,
        0o644,
    );
    // Linked, not only compiled: a C++ unit that saw the declarations without extern "C" would
    // ask for mangled names, which the library does not have.
    let program = scratch.path().join("unit");
    for (compiler, language) in [
        ("cc", ["-std=c99", "-x", "c"]),
        ("cc", ["-std=c11", "-x", "c"]),
        ("c++", ["-std=c++11", "-x", "c++"]),
        ("c++", ["-std=c++17", "-x", "c++"]),
    ] {
        let mut command = Command::new(compiler);
        command
            .args(language)
            .args(STRICT)
            .args(pkg_config(&["--cflags"]))
            .arg(&unit)
            .args(["-x", "none", "-o"])
            .arg(&program)
            .args(pkg_config(&["--libs"]));
        let output = run(&mut command);
        assert!(output.status.success(), "{command:?}:\n{}", text(&output));
    }
    // The example is held to the same standard.
    let mut command = Command::new("cc");
    command
        .arg("-std=c99")
        .args(STRICT)
        .arg("-fsyntax-only")
        .args(pkg_config(&["--cflags"]))
        .arg(book_mycat_source());
    let output = run(&mut command);
    assert!(output.status.success(), "{command:?}:\n{}", text(&output));
}

/// The warnings the header must compile without.
const STRICT: [&str; 4] = ["-Wall", "-Wextra", "-Werror", "-pedantic"];

/// The function names a C header declares (the identifier before `(` on declaration lines).
fn declared_functions(header: &str) -> BTreeSet<String> {
    header
        .lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with('#') && !line.starts_with("/*") && !line.starts_with('*'))
        .filter_map(|line| {
            let before = &line[..line.find('(')?];
            let name = before
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()?;
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn only_the_documented_functions_are_exported() {
    let header = fs::read_to_string(workspace_root().join("myopen-capi/include/myopen.h"))
        .expect("read myopen.h");
    let documented: BTreeSet<String> = DOCUMENTED.iter().map(|&name| name.to_owned()).collect();
    assert_eq!(declared_functions(&header), documented, "myopen.h declares");
    let page = fs::read_to_string(workspace_root().join("packaging/man/my_open.3"))
        .expect("read my_open.3");
    let in_synopsis: BTreeSet<String> = page
        .lines()
        .skip_while(|line| *line != ".Sh SYNOPSIS")
        .skip(1)
        .take_while(|line| !line.starts_with(".Sh "))
        .filter_map(|line| line.strip_prefix(".Fn "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert_eq!(in_synopsis, documented, "my_open(3) documents");

    let library = library_dir().join("libmyopen.so.0.1.0");
    let output = run(Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&library));
    assert!(output.status.success(), "nm: {}", text(&output));
    let exported: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect();
    assert_eq!(
        exported,
        documented,
        "nm -D --defined-only {}",
        library.display()
    );

    let dynamic = run(Command::new("readelf").arg("-d").arg(&library));
    assert!(
        String::from_utf8_lossy(&dynamic.stdout).contains("Library soname: [libmyopen.so.0]"),
        "soname:\n{}",
        text(&dynamic)
    );
    for (link, target) in [
        ("libmyopen.so.0", "libmyopen.so.0.1.0"),
        ("libmyopen.so", "libmyopen.so.0"),
    ] {
        assert_eq!(
            fs::read_link(library_dir().join(link)).expect("symlink"),
            Path::new(target),
            "{link}"
        );
    }
    let pc = fs::read_to_string(library_dir().join("pkgconfig/myopen.pc")).expect("myopen.pc");
    for line in [
        "prefix=/usr",
        "libdir=${prefix}/lib",
        "includedir=${prefix}/include",
    ] {
        assert!(
            pc.lines().any(|candidate| candidate == line),
            "{line} in myopen.pc:\n{pc}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Packages

/// `make deb`'s packages for the system paths: libmyopen0, libmyopen-dev, myopen (in that order).
fn built_debs() -> [PathBuf; 3] {
    static DEBS: OnceLock<[PathBuf; 3]> = OnceLock::new();
    DEBS.get_or_init(|| {
        system_build();
        let output = make_ok(["deb", "TARGET_DIR=target/pkg"]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let debs: Vec<PathBuf> = stdout
            .lines()
            .filter(|line| line.ends_with(".deb"))
            .map(PathBuf::from)
            .collect();
        let names: Vec<String> = debs
            .iter()
            .filter_map(|deb| {
                deb.file_name()?
                    .to_str()?
                    .split('_')
                    .next()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(names, ["libmyopen0", "libmyopen-dev", "myopen"], "{stdout}");
        [debs[0].clone(), debs[1].clone(), debs[2].clone()]
    })
    .clone()
}

fn deb_listing(deb: &Path) -> Vec<String> {
    let output = run(Command::new("dpkg-deb").arg("--contents").arg(deb));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.ends_with('/'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields.iter().position(|field| field.starts_with("./"))?;
            Some(format!("{} {}", fields[0], fields[at..].join(" ")))
        })
        .collect()
}

#[test]
fn library_debs_are_split_as_debian_expects_and_lintian_clean() {
    let Some(()) =
        myopen_tests::root_or_skip("library_debs_are_split_as_debian_expects_and_lintian_clean")
    else {
        return;
    };
    let _lock = myopen_tests::packaging::system_lock();
    let [runtime, dev, tools] = built_debs();
    let multiarch = String::from_utf8_lossy(
        &run(Command::new("dpkg-architecture").arg("-qDEB_HOST_MULTIARCH")).stdout,
    )
    .trim()
    .to_owned();
    let lib = format!("./usr/lib/{multiarch}");
    assert_eq!(
        deb_listing(&runtime),
        [
            format!("-rw-r--r-- {lib}/libmyopen.so.0.1.0"),
            "-rw-r--r-- ./usr/share/doc/libmyopen0/changelog.gz".to_owned(),
            "-rw-r--r-- ./usr/share/doc/libmyopen0/copyright".to_owned(),
            format!("lrwxrwxrwx {lib}/libmyopen.so.0 -> libmyopen.so.0.1.0"),
        ]
    );
    assert_eq!(
        deb_listing(&dev),
        [
            "-rw-r--r-- ./usr/include/myopen.h".to_owned(),
            format!("-rw-r--r-- {lib}/libmyopen.a"),
            format!("-rw-r--r-- {lib}/pkgconfig/myopen.pc"),
            "-rw-r--r-- ./usr/share/doc/libmyopen-dev/changelog.gz".to_owned(),
            "-rw-r--r-- ./usr/share/doc/libmyopen-dev/copyright".to_owned(),
            "-rw-r--r-- ./usr/share/man/man3/my_open.3.gz".to_owned(),
            format!("lrwxrwxrwx {lib}/libmyopen.so -> libmyopen.so.0"),
        ]
    );
    assert!(
        !deb_listing(&tools)
            .iter()
            .any(|line| line.contains("libmyopen") || line.contains("include")),
        "myopen's own package holds no library file"
    );

    let info = |deb: &Path| text(&run(Command::new("dpkg-deb").arg("--info").arg(deb)));
    let runtime_info = info(&runtime);
    for field in [
        "Section: libs",
        "myopen (= 0.1.0)",
        "Depends: libc6",
        "shlibs",
        "symbols",
        "triggers",
    ] {
        assert!(
            runtime_info.contains(field),
            "{field} in libmyopen0:\n{runtime_info}"
        );
    }
    let dev_info = info(&dev);
    for field in ["Section: libdevel", "Depends: libmyopen0 (= 0.1.0)"] {
        assert!(
            dev_info.contains(field),
            "{field} in libmyopen-dev:\n{dev_info}"
        );
    }
    let control = |deb: &Path, file: &str| {
        text(&run(Command::new("dpkg-deb")
            .arg("--info")
            .arg(deb)
            .arg(file)))
    };
    assert_eq!(
        control(&runtime, "shlibs"),
        "libmyopen 0 libmyopen0 (>= 0.1.0)\n"
    );
    assert_eq!(control(&runtime, "triggers"), "activate-noawait ldconfig\n");
    let symbols = control(&runtime, "symbols");
    let listed: BTreeSet<&str> = symbols
        .lines()
        .filter_map(|line| line.strip_prefix(' ')?.split('@').next())
        .collect();
    assert_eq!(listed, BTreeSet::from(DOCUMENTED), "symbols:\n{symbols}");

    let lintian = text(&run(Command::new("lintian")
        .args(["--display-info", "--pedantic", "--tag-display-limit", "0"])
        .arg(&runtime)
        .arg(&dev)));
    // As for myopen's package (see packaging/README.md): Rust calls no _FORTIFY_SOURCE wrappers.
    let problems: Vec<&str> = lintian
        .lines()
        .filter(|line| {
            ["E:", "W:", "I:", "P:"]
                .iter()
                .any(|tag| line.starts_with(tag))
        })
        .filter(|line| !line.contains("hardening-no-fortify-functions"))
        .collect();
    assert!(problems.is_empty(), "lintian:\n{lintian}");
}

/// Purges the three packages when the test ends, however it ends.
struct InstalledDebs;

impl Drop for InstalledDebs {
    fn drop(&mut self) {
        let _ =
            run(Command::new("dpkg").args(["--purge", "libmyopen-dev", "libmyopen0", "myopen"]));
        let _ = fs::remove_dir_all("/tmp/myopen-capi-deb-test");
    }
}

#[test]
fn installed_debs_build_the_book_mycat_with_pkg_config_and_it_reads_through_the_policy() {
    let name =
        "installed_debs_build_the_book_mycat_with_pkg_config_and_it_reads_through_the_policy";
    let Some(()) = myopen_tests::root_or_skip(name) else {
        return;
    };
    let _lock = myopen_tests::packaging::system_lock();
    // The packaged helper logs to /dev/log and serves no grant whose record cannot go out.
    let _syslog = myopen_tests::install::SystemSyslog::ensure();
    let [runtime, dev, tools] = built_debs();
    let installed = InstalledDebs;
    let output = run(Command::new("dpkg")
        .arg("-i")
        .args([&tools, &runtime, &dev]));
    assert!(output.status.success(), "dpkg -i:\n{}", text(&output));

    // The issue's command, against the installed -dev package, nothing else on the paths.
    let data = Path::new("/tmp/myopen-capi-deb-test");
    fs::create_dir_all(data).expect("mkdir");
    fs::set_permissions(data, fs::Permissions::from_mode(0o755)).expect("chmod");
    let build = run(Command::new("sh")
        .arg("-c")
        .arg("cc -o \"$1/mycat\" \"$2\" $(pkg-config --cflags --libs myopen)")
        .arg("sh")
        .arg(data)
        .arg(book_mycat_source())
        .env_remove("PKG_CONFIG_PATH")
        .env_remove("LD_LIBRARY_PATH"));
    assert!(
        build.status.success(),
        "cc ... $(pkg-config ...):\n{}",
        text(&build)
    );

    let allowed = data.join("allowed.txt");
    fs::write(&allowed, "read through libmyopen0\n").expect("write");
    fs::set_permissions(&allowed, fs::Permissions::from_mode(0o600)).expect("chmod");
    let dropin = Path::new("/etc/myopen/policy.d/50-capi-test.toml");
    fs::write(
        dropin,
        allow_rule(&allowed, &users(&[ALICE]), &["read"], &[]),
    )
    .expect("drop-in");
    // The helper built into the library, the installed one: no MYOPEN_HELPER.
    let mut command = command_as(&alice(), data.join("mycat"));
    command
        .arg(&allowed)
        .env_remove("MYOPEN_HELPER")
        .env_remove("LD_LIBRARY_PATH");
    let read = run(&mut command);
    assert!(read.status.success(), "mycat as alice:\n{}", text(&read));
    assert_eq!(
        String::from_utf8_lossy(&read.stdout),
        "read through libmyopen0\n"
    );

    drop(installed);
    for gone in [
        format!(
            "/usr/lib/{}/libmyopen.so.0",
            String::from_utf8_lossy(
                &run(Command::new("dpkg-architecture").arg("-qDEB_HOST_MULTIARCH")).stdout
            )
            .trim()
        ),
        "/usr/include/myopen.h".to_owned(),
    ] {
        assert!(
            fs::symlink_metadata(&gone).is_err(),
            "{gone} left after purge"
        );
    }
}

#[test]
fn rpms_split_the_library_like_fedora() {
    let Some(()) = myopen_tests::root_or_skip("rpms_split_the_library_like_fedora") else {
        return;
    };
    let _lock = myopen_tests::packaging::system_lock();
    system_build();
    let output = make_ok(["rpm", "TARGET_DIR=target/pkg"]);
    let rpms: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.ends_with(".rpm"))
        .map(str::to_owned)
        .collect();
    assert_eq!(rpms.len(), 3, "{}", text(&output));
    let query = |rpm: &str, what: &str| text(&run(Command::new("rpm").args(["-qp", what, rpm])));
    let libdir =
        String::from_utf8_lossy(&run(Command::new("rpm").args(["--eval", "%{_libdir}"])).stdout)
            .trim()
            .to_owned();
    assert_eq!(
        query(&rpms[0], "--list"),
        format!("{libdir}/libmyopen.so.0\n{libdir}/libmyopen.so.0.1.0\n")
    );
    assert!(query(&rpms[0], "--provides").contains("libmyopen.so.0()"));
    assert!(query(&rpms[0], "--requires").contains("myopen = 0.1.0-1"));
    assert!(query(&rpms[0], "--scripts").contains("/sbin/ldconfig"));
    assert_eq!(
        query(&rpms[1], "--list"),
        format!(
            "/usr/include/myopen.h\n{libdir}/libmyopen.a\n{libdir}/libmyopen.so\n\
             {libdir}/pkgconfig/myopen.pc\n/usr/share/man/man3/my_open.3.gz\n"
        )
    );
    assert!(query(&rpms[1], "--provides").contains("pkgconfig(myopen) = 0.1.0"));
    assert!(!query(&rpms[2], "--list").contains("libmyopen"));
}
