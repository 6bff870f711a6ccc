//! A child forked while a session exists never talks to its parent's helper: it gets a helper
//! of its own, and the parent's replies never go astray. Its own test binary (fork).

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use myopen::{Helper, Session};
use myopen_tests::{Scratch, fork_running, helper_binary};
use nix::sys::wait::{WaitStatus, waitpid};

fn inode_of(fd: &std::os::fd::OwnedFd) -> u64 {
    std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .ino()
}

#[test]
fn forked_child_and_parent_each_get_their_own_answers() {
    let scratch = Scratch::new();
    let parent_file = scratch.file("parent", b"p", 0o644);
    let child_file = scratch.file("child", b"c", 0o644);
    let parent_inode = std::fs::metadata(&parent_file).unwrap().ino();
    let child_inode = std::fs::metadata(&child_file).unwrap().ino();
    let session = Session::with_helper(Helper::at(helper_binary())).unwrap();
    let parent_helper = session.helper_pid().unwrap();

    let child = fork_running(|| {
        for _ in 0..500 {
            match session.open(&child_file, libc::O_RDONLY) {
                Ok(fd) if inode_of(&fd) == child_inode => {}
                _ => return 1,
            }
        }
        match session.helper_pid() {
            Some(pid) if pid != parent_helper => 0,
            _ => 2,
        }
    });
    for _ in 0..500 {
        let fd = session.open(&parent_file, libc::O_RDONLY).unwrap();
        assert_eq!(
            inode_of(&fd),
            parent_inode,
            "the parent received a descriptor meant for the child"
        );
    }
    assert_eq!(
        waitpid(child, None).unwrap(),
        WaitStatus::Exited(child, 0),
        "the child's opens (1: wrong file or error, 2: it used the parent's helper)"
    );
    assert_eq!(session.helper_pid(), Some(parent_helper));
}
