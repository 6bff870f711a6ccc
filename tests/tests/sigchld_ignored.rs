//! A caller that sets SIGCHLD to SIG_IGN (the kernel then reaps children itself, and waitpid fails
//! with ECHILD) still gets its descriptor or its errno, and no zombie. Its own test binary,
//! because the signal disposition is process-wide.

use myopen::Helper;
use myopen_tests::{Scratch, helper_binary, ignore_sigchld, read_all, zombie_children};

#[test]
fn works_with_sigchld_ignored() {
    ignore_sigchld();

    let scratch = Scratch::new();
    let path = scratch.file("f", b"still works", 0o644);
    let helper = Helper::at(helper_binary());
    for _ in 0..50 {
        assert_eq!(
            read_all(helper.open(&path, libc::O_RDONLY).unwrap()),
            b"still works"
        );
        let error = helper
            .open(scratch.path().join("missing"), libc::O_RDONLY)
            .unwrap_err();
        assert_eq!(
            error.raw_os_error(),
            Some(libc::ENOENT),
            "the status byte carries the errno"
        );
    }
    assert_eq!(zombie_children(), Vec::<u32>::new());
}
