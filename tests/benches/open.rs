//! One open + close, side by side in one run: plain `open(2)`; `OpenOptions` with
//! `Escalate::OnDenied` on a readable file; one-shot `my_open` (our library, our helper); the
//! book's C `my_open` (fork + exec, from tests/c/) against the same helper; a `Session`; and the
//! floor under a session: a persistent child (`fd-floor`) that opens and sends back a descriptor
//! with no policy and no checks. And the C ABI, libmyopen.so loaded with dlopen and called as a C
//! program calls it: `my_open` and a session, next to the Rust `my_open` it wraps.
//!
//! `make bench` builds the release helper and libmyopen.so first; they are found next to this
//! benchmark's target dir.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::LazyLock;

use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};

use myopen::fdpass::{recv_with_fds, send_with_fds};
use myopen::{Escalate, Helper, OpenOptions, Session};
use myopen_tests::{LibMyopen, c_my_open, helper_binary, set_env_before_threads, workspace_binary};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

struct Fixture {
    _dir: tempfile::TempDir,
    file: PathBuf,
    helper: Helper,
    c_helper: CString,
    c_file: CString,
    session: Session,
    floor: Floor,
    c_abi: LibMyopen,
}

/// The persistent child with no policy: the least a session could possibly cost.
struct Floor {
    socket: OwnedFd,
    _child: Child,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("four-kib");
    std::fs::write(&file, vec![b'x'; 4096]).expect("write fixture");
    let helper_path = helper_binary();
    Fixture {
        c_helper: CString::new(helper_path.as_os_str().as_bytes()).expect("helper path"),
        c_file: CString::new(file.as_os_str().as_bytes()).expect("file path"),
        session: Session::with_helper(Helper::at(&helper_path)).expect("session"),
        floor: start_floor(),
        c_abi: LibMyopen::load(&workspace_binary("libmyopen.so")).expect("load libmyopen.so"),
        helper: Helper::at(helper_path),
        file,
        _dir: dir,
    }
});

fn start_floor() -> Floor {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    let child = Command::new(env!("CARGO_BIN_EXE_fd-floor"))
        .stdin(Stdio::from(theirs))
        .spawn()
        .expect("fd-floor");
    Floor {
        socket: ours,
        _child: child,
    }
}

fn main() {
    // The C ABI and the Rust my_open find the helper as every caller does: MYOPEN_HELPER.
    set_env_before_threads(myopen::HELPER_ENV, helper_binary());
    LazyLock::force(&FIXTURE);
    divan::main();
}

#[divan::bench(sample_count = 200)]
fn plain_open_close() {
    drop(std::fs::File::open(&FIXTURE.file).expect("open"));
}

#[divan::bench(sample_count = 200)]
fn my_open_close() {
    drop(
        FIXTURE
            .helper
            .open(&FIXTURE.file, libc::O_RDONLY)
            .expect("my_open"),
    );
}

#[divan::bench(sample_count = 200)]
fn rust_my_open_from_env_close() {
    drop(myopen::my_open(&FIXTURE.file, libc::O_RDONLY).expect("my_open"));
}

#[divan::bench(sample_count = 200)]
fn c_abi_my_open_close() {
    drop(
        FIXTURE
            .c_abi
            .my_open(&FIXTURE.c_file, libc::O_RDONLY)
            .expect("C ABI my_open"),
    );
}

#[divan::bench(sample_count = 200)]
fn c_book_my_open_close() {
    drop(c_my_open(&FIXTURE.c_helper, &FIXTURE.c_file, libc::O_RDONLY).expect("C my_open"));
}

#[divan::bench(sample_count = 200)]
fn on_denied_readable_open_close() {
    let file = OpenOptions::new()
        .read(true)
        .escalate(Escalate::OnDenied)
        .open(&FIXTURE.file)
        .expect("open");
    drop(file);
}

#[divan::bench(sample_count = 2000)]
fn session_open_close() {
    drop(
        FIXTURE
            .session
            .open(&FIXTURE.file, libc::O_RDONLY)
            .expect("session open"),
    );
}

#[divan::bench(sample_count = 2000)]
fn c_abi_session_open_close() {
    drop(
        FIXTURE
            .c_abi
            .session_open(&FIXTURE.c_file, libc::O_RDONLY)
            .expect("C ABI session open"),
    );
}

#[divan::bench(sample_count = 2000)]
fn floor_persistent_child_open_close() {
    let path = FIXTURE.file.as_os_str().as_bytes();
    send_with_fds(FIXTURE.floor.socket.as_fd(), path, &[]).expect("send");
    let mut status = [0u8; 1];
    let received = recv_with_fds(FIXTURE.floor.socket.as_fd(), &mut status, 1).expect("receive");
    assert_eq!(received.fds.len(), 1);
}
