//! UNP compatibility, both directions: the book's C client against our helper, and our library
//! against the book's C helper. The C sources are in tests/c/, compiled by build.rs.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use myopen::Helper;
use myopen_tests::{Scratch, UNP_MYCAT, UNP_OPENFILE, c_my_open, helper_binary, read_all, run};

fn c_string(path: &std::path::Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

#[test]
fn book_client_reads_through_our_helper() {
    let scratch = Scratch::new();
    let file = scratch.file("book.txt", b"read by the C client\n", 0o644);
    let output = run(Command::new(UNP_MYCAT).arg(helper_binary()).arg(&file));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"read by the C client\n");
}

#[test]
fn book_client_gets_our_helpers_errno() {
    let scratch = Scratch::new();
    let output = run(Command::new(UNP_MYCAT)
        .arg(helper_binary())
        .arg(scratch.path().join("missing")));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        format!("errno {}", libc::ENOENT)
    );
    let output = run(Command::new(UNP_MYCAT)
        .arg(helper_binary())
        .arg(scratch.path()));
    assert!(
        output.stderr.is_empty(),
        "a directory opens O_RDONLY, as with open(2); only its read fails"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn book_my_open_in_process_against_our_helper() {
    let scratch = Scratch::new();
    let file = scratch.file("inproc.txt", b"in process", 0o644);
    let fd = c_my_open(
        &c_string(&helper_binary()),
        &c_string(&file),
        libc::O_RDONLY,
    )
    .unwrap();
    assert_eq!(read_all(fd), b"in process");
    let errno = c_my_open(
        &c_string(&helper_binary()),
        &c_string(&scratch.path().join("nope")),
        libc::O_RDONLY,
    );
    assert_eq!(errno.unwrap_err(), libc::ENOENT);
}

#[test]
fn our_library_reads_through_the_book_helper() {
    let scratch = Scratch::new();
    let file = scratch.file("ours.txt", b"read via the C helper", 0o644);
    let fd = Helper::at(UNP_OPENFILE)
        .open(&file, libc::O_RDONLY)
        .unwrap();
    assert_eq!(read_all(fd), b"read via the C helper");
}

#[test]
fn our_library_gets_the_book_helpers_errno_from_its_exit_status() {
    let scratch = Scratch::new();
    let error = Helper::at(UNP_OPENFILE)
        .open(scratch.path().join("missing"), libc::O_RDONLY)
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::ENOENT), "{error:?}");
    let error = Helper::at(UNP_OPENFILE)
        .open(scratch.path(), libc::O_WRONLY)
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EISDIR), "{error:?}");
}
