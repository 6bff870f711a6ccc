//! 100,000 opens from 4 threads through one session: no descriptor growth, no zombies.
//! Alone in its test binary, so other tests' descriptors and children do not disturb the counts.

use std::sync::Arc;

use myopen::{Helper, Session};
use myopen_tests::{Scratch, helper_binary, open_fd_count, zombie_children};

const THREADS: usize = 4;
const OPENS: usize = 100_000;

#[test]
fn a_hundred_thousand_opens_from_four_threads_leak_nothing() {
    let scratch = Scratch::new();
    let file = Arc::new(scratch.file("f", b"load", 0o644));
    let missing = Arc::new(scratch.path().join("missing"));
    let session = Arc::new(Session::with_helper(Helper::at(helper_binary())).unwrap());
    drop(session.open(&*file, libc::O_RDONLY).unwrap());
    let descriptors_before = open_fd_count();

    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (session, file, missing) = (
                Arc::clone(&session),
                Arc::clone(&file),
                Arc::clone(&missing),
            );
            std::thread::spawn(move || {
                for round in 0..OPENS / THREADS {
                    if (round + thread) % 100 == 0 {
                        let error = session.open(&*missing, libc::O_RDONLY).unwrap_err();
                        assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
                    } else {
                        drop(session.open(&*file, libc::O_RDONLY).unwrap());
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a thread's opens failed");
    }
    assert_eq!(open_fd_count(), descriptors_before, "descriptors grew");
    assert_eq!(zombie_children(), Vec::<u32>::new());
    let pid = session.helper_pid().unwrap();
    drop(session);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the helper was not reaped"
    );
}
