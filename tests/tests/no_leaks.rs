//! Many opens leave no descriptor and no zombie behind, sequentially and from 8 threads at once.
//! Alone in its own test binary, so no other test's descriptors or children disturb the counts.

use std::sync::Arc;

use myopen::Helper;
use myopen_tests::{Scratch, helper_binary, open_fd_count, read_all, zombie_children};

#[test]
fn sequential_and_concurrent_opens_leak_nothing() {
    let scratch = Scratch::new();
    let path = scratch.file("f", b"content", 0o644);
    let missing = scratch.path().join("missing");
    let helper = Helper::at(helper_binary());

    // Warm up once, so lazily opened runtime descriptors are not counted as leaks.
    read_all(helper.open(&path, libc::O_RDONLY).unwrap());
    let descriptors_before = open_fd_count();

    for round in 0..2_000 {
        if round % 10 == 9 {
            let error = helper.open(&missing, libc::O_RDONLY).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
        } else {
            drop(helper.open(&path, libc::O_RDONLY).unwrap());
        }
    }
    assert_eq!(
        open_fd_count(),
        descriptors_before,
        "descriptors leaked by 2,000 sequential opens"
    );
    assert_eq!(
        zombie_children(),
        Vec::<u32>::new(),
        "zombies after 2,000 sequential opens"
    );

    let helper = Arc::new(helper);
    let path = Arc::new(path);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (helper, path) = (Arc::clone(&helper), Arc::clone(&path));
            std::thread::spawn(move || {
                for _ in 0..100 {
                    assert_eq!(
                        read_all(helper.open(&*path, libc::O_RDONLY).unwrap()),
                        b"content"
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a thread's opens failed");
    }
    assert_eq!(
        open_fd_count(),
        descriptors_before,
        "descriptors leaked by 8 concurrent threads"
    );
    assert_eq!(
        zombie_children(),
        Vec::<u32>::new(),
        "zombies after concurrent opens"
    );
}
