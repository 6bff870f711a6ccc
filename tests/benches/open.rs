//! One open + close, side by side in one run: plain `open(2)`, one-shot `my_open` (our library,
//! our helper), and the book's C `my_open` (fork + exec, from tests/c/) against the same helper.
//!
//! `make bench` builds the release helper first; it is found next to this benchmark's target dir.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::LazyLock;

use myopen::Helper;
use myopen_tests::{c_my_open, helper_binary};

struct Fixture {
    _dir: tempfile::TempDir,
    file: PathBuf,
    helper: Helper,
    c_helper: CString,
    c_file: CString,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("four-kib");
    std::fs::write(&file, vec![b'x'; 4096]).expect("write fixture");
    let helper_path = helper_binary();
    Fixture {
        c_helper: CString::new(helper_path.as_os_str().as_bytes()).expect("helper path"),
        c_file: CString::new(file.as_os_str().as_bytes()).expect("file path"),
        helper: Helper::at(helper_path),
        file,
        _dir: dir,
    }
});

fn main() {
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
fn c_book_my_open_close() {
    drop(c_my_open(&FIXTURE.c_helper, &FIXTURE.c_file, libc::O_RDONLY).expect("C my_open"));
}
