//! Privileged end-to-end tests of the policy: real setuid-root and file-capability installs of the
//! helper (built for `/tmp/myopen-it` by `make test`), run as users made for the tests.
//!
//! Target files are root-only unless a test says otherwise, so whatever a caller gets, it got
//! from the helper's privilege and the policy, never from its own rights.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixListener;

use libc::{EACCES, ENXIO};
use myopen_tests::install::{
    ALICE, BOB, DROPIN_DIR, Expect, Install, Outcome, POLICY, READERS, alice, allow_rule, bob,
    denied, deny_rule, expect_outcomes, groups, helper_says, line_of, mycat_as, probe,
    probe_with_umask, probe_within, probe_write, readers_gid, run_as, users,
};
use myopen_tests::privileged_env;

const RD: i32 = libc::O_RDONLY;
const WR: i32 = libc::O_WRONLY;
const RDWR: i32 = libc::O_RDWR;
const DIR: i32 = libc::O_RDONLY | libc::O_DIRECTORY;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Who

#[test]
fn user_rule_grants_the_listed_user_only() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/report", b"for alice\n", 0o600, None);
    env.allow_reading("d/**", &[ALICE]);
    let (alice, bob) = (alice(), bob());
    expect_outcomes(&[
        Expect::new(&alice, &file, RD, Outcome::opened("for alice\n")).why("alice is listed"),
        Expect::new(&bob, &file, RD, denied()).why("bob is not listed"),
    ]);
}

#[test]
fn group_rule_grants_supplementary_and_primary_group_members() {
    let Some(env) = privileged_env!() else { return };
    let readers = env.file("readers/report", b"readers\n", 0o600, None);
    let bobs = env.file("bobs/report", b"bob's group\n", 0o600, None);
    let either = env.file("either/report", b"either\n", 0o600, None);
    env.write_policy(&format!(
        "{}{}{}",
        allow_rule(env.path("readers/*"), &groups(&[READERS]), &["read"], &[]),
        // bob's primary group, by name.
        allow_rule(env.path("bobs/*"), &groups(&[BOB]), &["read"], &[]),
        // users and groups together: either matches.
        allow_rule(
            env.path("either/*"),
            &format!("{}\n{}", users(&[BOB]), groups(&[READERS])),
            &["read"],
            &[]
        ),
    ));
    let (alice, bob) = (alice(), bob());
    let either_why = "matches users or groups";
    expect_outcomes(&[
        Expect::new(&alice, &readers, RD, Outcome::opened("readers\n"))
            .why(&format!("alice is a supplementary member of {READERS}")),
        Expect::new(&bob, &readers, RD, denied()),
        Expect::new(&bob, &bobs, RD, Outcome::opened("bob's group\n")).why("bob's primary group"),
        Expect::new(&alice, &bobs, RD, denied()),
        Expect::new(&alice, &either, RD, Outcome::opened("either\n")).why(either_why),
        Expect::new(&bob, &either, RD, Outcome::opened("either\n")).why(either_why),
    ]);
}

#[test]
fn numeric_ids_match_as_integers_and_digit_strings() {
    let Some(env) = privileged_env!() else { return };
    let by_uid = env.file("uid/report", b"by uid\n", 0o600, None);
    let by_gid = env.file("gid/report", b"by gid\n", 0o600, None);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(
            env.path("uid/*"),
            &format!("users = [{}]", alice().uid),
            &["read"],
            &[]
        ),
        allow_rule(
            env.path("gid/*"),
            &format!("groups = [\"{}\"]", readers_gid()),
            &["read"],
            &[]
        ),
    ));
    for install in Install::PRIVILEGED {
        for file in [&by_uid, &by_gid] {
            assert!(
                probe(&alice(), install, file, RD).is_opened(),
                "{install:?}: {}",
                file.display()
            );
            assert_eq!(probe(&bob(), install, file, RD), denied(), "{install:?}");
        }
    }
}

#[test]
fn star_grants_every_user_and_unknown_names_match_nobody() {
    let Some(env) = privileged_env!() else { return };
    let everyone = env.file("all/report", b"everyone\n", 0o600, None);
    let all_groups = env.file("allgroups/report", b"every group\n", 0o600, None);
    let ghost = env.file("ghost/report", b"nobody\n", 0o600, None);
    env.write_policy(&format!(
        "{}{}{}",
        allow_rule(env.path("all/*"), &users(&["*"]), &["read"], &[]),
        allow_rule(env.path("allgroups/*"), &groups(&["*"]), &["read"], &[]),
        allow_rule(
            env.path("ghost/*"),
            &format!(
                "{}\n{}",
                users(&["no-such-user-myopen"]),
                groups(&["no-such-group-myopen"])
            ),
            &["read"],
            &[]
        ),
    ));
    let (alice, bob) = (alice(), bob());
    let nobody = "an unknown name matches nobody";
    expect_outcomes(&[
        Expect::new(&alice, &everyone, RD, Outcome::opened("everyone\n")),
        Expect::new(&alice, &all_groups, RD, Outcome::opened("every group\n")),
        Expect::new(&alice, &ghost, RD, denied()).why(nobody),
        Expect::new(&bob, &everyone, RD, Outcome::opened("everyone\n")),
        Expect::new(&bob, &all_groups, RD, Outcome::opened("every group\n")),
        Expect::new(&bob, &ghost, RD, denied()).why(nobody),
    ]);
}

#[test]
fn deny_beats_allow_wherever_it_appears() {
    let Some(env) = privileged_env!() else { return };
    let public = env.file("d/public/x", b"public\n", 0o600, None);
    let private = env.file("d/private/x", b"private\n", 0o600, None);
    let early = env.file("d/early/x", b"early\n", 0o600, None);
    let not_bob = env.file("d/notbob/x", b"not for bob\n", 0o600, None);
    env.write_policy(&format!(
        "{}{}{}{}",
        // A deny before the allow wins as well as one after it.
        deny_rule(env.path("d/early/**"), ""),
        allow_rule(env.path("d/**"), &users(&["*"]), &["read"], &[]),
        deny_rule(env.path("d/private/**"), ""),
        deny_rule(env.path("d/notbob/*"), &users(&[BOB])),
    ));
    let (alice, bob) = (alice(), bob());
    expect_outcomes(&[
        Expect::new(&alice, &public, RD, Outcome::opened("public\n")),
        Expect::new(&alice, &private, RD, denied()),
        Expect::new(&alice, &early, RD, denied()),
        Expect::new(&bob, &public, RD, Outcome::opened("public\n")),
        Expect::new(&bob, &private, RD, denied()),
        Expect::new(&bob, &early, RD, denied()),
        Expect::new(&alice, &not_bob, RD, Outcome::opened("not for bob\n"))
            .why("a deny with users applies to those users only"),
        Expect::new(&bob, &not_bob, RD, denied()),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Globs

#[test]
fn single_star_matches_within_one_component_only() {
    let Some(env) = privileged_env!() else { return };
    let shallow = env.file("d/a", b"shallow\n", 0o600, None);
    let deep = env.file("d/b/c", b"deep\n", 0o600, None);
    let log = env.file("logs/app.log", b"log\n", 0o600, None);
    let txt = env.file("logs/app.txt", b"txt\n", 0o600, None);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]),
        allow_rule(env.path("logs/*.log"), &users(&[ALICE]), &["read"], &[]),
    ));
    let alice = alice();
    expect_outcomes(&[
        Expect::new(&alice, &shallow, RD, Outcome::opened("shallow\n")),
        Expect::new(&alice, &deep, RD, denied()).why("/d/* must not match /d/b/c"),
        Expect::new(&alice, &log, RD, Outcome::opened("log\n")),
        Expect::new(&alice, &txt, RD, denied()),
    ]);
}

#[test]
fn double_star_matches_any_depth_but_not_the_directory_itself() {
    let Some(env) = privileged_env!() else { return };
    let top = env.dir("d", 0o700, None);
    let sub = env.dir("d/sub", 0o700, None);
    let one = env.file("d/one", b"one\n", 0o600, None);
    let deep = env.file("d/sub/x/y/deep", b"deep\n", 0o600, None);
    // `/a/**/b` matches /a/b and /a/x/y/b, not /a/x/c.
    let ab = env.file("a/b", b"a-b\n", 0o600, None);
    let axyb = env.file("a/x/y/b", b"a-x-y-b\n", 0o600, None);
    let axc = env.file("a/x/c", b"a-x-c\n", 0o600, None);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(
            env.path("d/**"),
            &users(&[ALICE]),
            &["read"],
            &["file", "dir"]
        ),
        allow_rule(env.path("a/**/b"), &users(&[ALICE]), &["read"], &[]),
    ));
    let alice = alice();
    expect_outcomes(&[
        Expect::new(&alice, &one, RD, Outcome::opened("one\n")),
        Expect::new(&alice, &deep, RD, Outcome::opened("deep\n")),
        Expect::new(&alice, &sub, DIR, Outcome::opened(""))
            .why("a directory below /d/** (the probe reads nothing from a directory)"),
        Expect::new(&alice, &top, DIR, denied()).why("/d/** does not grant /d itself"),
        Expect::new(&alice, &ab, RD, Outcome::opened("a-b\n")).why("** matches zero components"),
        Expect::new(&alice, &axyb, RD, Outcome::opened("a-x-y-b\n")),
        Expect::new(&alice, &axc, RD, denied()),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Access words

#[test]
fn read_access_grants_reading_only() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/file", b"original\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    let alice = alice();
    let granted = Expect::new(&alice, &file, RD, Outcome::opened("original\n"));
    let refused = [WR, RDWR, WR | libc::O_APPEND, RD | libc::O_TRUNC].map(|flags| {
        Expect::new(&alice, &file, flags, denied())
            .writing(b"EVIL")
            .why("these flags need more than read")
    });
    expect_outcomes(&[[granted].as_slice(), &refused].concat());
    assert_eq!(fs::read(&file).unwrap(), b"original\n");
}

#[test]
fn write_access_grants_writing_and_appending() {
    let Some(env) = privileged_env!() else { return };
    env.write_policy(&format!(
        "{}{}",
        allow_rule(env.path("w/*"), &users(&[ALICE]), &["write"], &[]),
        allow_rule(env.path("rw/*"), &users(&[ALICE]), &["read", "write"], &[]),
    ));
    for install in Install::PRIVILEGED {
        let file = env.file("w/file", b"original\n", 0o600, None);
        assert_eq!(
            probe_write(&alice(), install, &file, WR, b"NEW"),
            Outcome::opened(""),
            "{install:?}: O_WRONLY"
        );
        assert_eq!(fs::read(&file).unwrap(), b"NEWginal\n", "{install:?}");
        assert_eq!(
            probe_write(&alice(), install, &file, WR | libc::O_APPEND, b"+tail"),
            Outcome::opened(""),
            "{install:?}: write implies append"
        );
        assert_eq!(fs::read(&file).unwrap(), b"NEWginal\n+tail", "{install:?}");
        for flags in [RD, RDWR] {
            assert_eq!(
                probe(&alice(), install, &file, flags),
                denied(),
                "{install:?}: flags {flags:#o} need read"
            );
        }
        assert_eq!(probe(&bob(), install, &file, WR), denied(), "{install:?}");

        let both = env.file("rw/file", b"original\n", 0o600, None);
        assert_eq!(
            probe_write(&alice(), install, &both, RDWR, b"NEW"),
            Outcome::opened("ginal\n"),
            "{install:?}: O_RDWR with read and write"
        );
    }
}

#[test]
fn append_access_grants_appending_only() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/log", b"line 1\n", 0o600, None);
    env.write_policy(&allow_rule(
        env.path("d/*"),
        &users(&[ALICE]),
        &["append"],
        &[],
    ));
    for install in Install::PRIVILEGED {
        let before = fs::read(&file).unwrap();
        assert_eq!(
            probe_write(&alice(), install, &file, WR | libc::O_APPEND, b"more\n"),
            Outcome::opened(""),
            "{install:?}"
        );
        let mut expected = before.clone();
        expected.extend_from_slice(b"more\n");
        assert_eq!(fs::read(&file).unwrap(), expected, "{install:?}");
        for flags in [
            WR,
            RD,
            RDWR | libc::O_APPEND,
            WR | libc::O_APPEND | libc::O_TRUNC,
        ] {
            assert_eq!(
                probe_write(&alice(), install, &file, flags, b"EVIL"),
                denied(),
                "{install:?}: flags {flags:#o} need more than append"
            );
        }
        assert_eq!(fs::read(&file).unwrap(), expected, "{install:?}");
    }
}

#[test]
fn create_access_creates_files_owned_by_the_caller_with_its_umask() {
    let Some(env) = privileged_env!() else { return };
    // Root-owned 0755: alice could not create anything here herself.
    env.dir("inbox", 0o755, None);
    env.dir("nocreate", 0o755, None);
    let existing = env.file("nocreate/existing", b"existing\n", 0o600, None);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(
            env.path("inbox/*"),
            &users(&[ALICE]),
            &["write", "create"],
            &[]
        ),
        allow_rule(env.path("nocreate/*"), &users(&[ALICE]), &["write"], &[]),
    ));
    let alice = alice();
    // The daemon too: its worker cannot inherit the caller's umask, so the library applies it
    // to the mode it sends, and the worker adds none of its own (the service's UMask=0077).
    for install in Install::SERVED {
        for (umask, mode) in [(0o027, 0o640), (0o000, 0o666)] {
            let new = env.path(&format!("inbox/{}-{umask:03o}", install.name()));
            assert_eq!(
                probe_with_umask(&alice, install, umask, &new, WR | libc::O_CREAT, b"hello"),
                Outcome::opened(""),
                "{install:?}: create with umask {umask:03o}"
            );
            let meta = fs::symlink_metadata(&new).expect("the file was created");
            assert!(meta.is_file());
            assert_eq!(
                (meta.uid(), meta.gid()),
                (alice.uid, alice.gid),
                "{install:?}: a created file belongs to the caller"
            );
            assert_eq!(
                meta.mode() & 0o7777,
                mode,
                "{install:?}: mode 0666 & ~umask {umask:03o}, never set-id"
            );
            assert_eq!(fs::read(&new).unwrap(), b"hello");
        }

        let absent = env.path(&format!("nocreate/{}-new", install.name()));
        assert_eq!(
            probe_write(&alice, install, &absent, WR | libc::O_CREAT, b"x"),
            denied(),
            "{install:?}: O_CREAT needs create"
        );
        assert!(
            fs::symlink_metadata(&absent).is_err(),
            "{install:?}: nothing was created"
        );
        assert_eq!(
            probe_write(&alice, install, &existing, WR | libc::O_CREAT, b"x"),
            denied(),
            "{install:?}: O_CREAT needs create even when the file exists"
        );
        assert_eq!(fs::read(&existing).unwrap(), b"existing\n");
        assert_eq!(
            probe_write(
                &bob(),
                install,
                env.path("inbox/bob"),
                WR | libc::O_CREAT,
                b"x"
            ),
            denied(),
            "{install:?}: bob may not create"
        );
        assert!(fs::symlink_metadata(env.path("inbox/bob")).is_err());
    }
}

#[test]
fn truncate_access_is_needed_for_o_trunc_in_every_mode() {
    let Some(env) = privileged_env!() else { return };
    env.write_policy(&format!(
        "{}{}{}",
        allow_rule(
            env.path("wt/*"),
            &users(&[ALICE]),
            &["write", "truncate"],
            &[]
        ),
        allow_rule(env.path("w/*"), &users(&[ALICE]), &["read", "write"], &[]),
        allow_rule(
            env.path("rt/*"),
            &users(&[ALICE]),
            &["read", "truncate"],
            &[]
        ),
    ));
    for install in Install::PRIVILEGED {
        let wt = env.file("wt/file", b"original\n", 0o600, None);
        assert_eq!(
            probe_write(&alice(), install, &wt, WR | libc::O_TRUNC, b"short"),
            Outcome::opened(""),
            "{install:?}"
        );
        assert_eq!(fs::read(&wt).unwrap(), b"short", "{install:?}");

        let rt = env.file("rt/file", b"original\n", 0o600, None);
        assert_eq!(
            probe(&alice(), install, &rt, RD | libc::O_TRUNC),
            Outcome::opened(""),
            "{install:?}: O_RDONLY|O_TRUNC with read and truncate"
        );
        assert_eq!(fs::read(&rt).unwrap(), b"", "{install:?}");

        let w = env.file("w/file", b"original\n", 0o600, None);
        let state = myopen_tests::install::FileState::capture(&w);
        for flags in [WR | libc::O_TRUNC, RDWR | libc::O_TRUNC, RD | libc::O_TRUNC] {
            assert_eq!(
                probe(&alice(), install, &w, flags),
                denied(),
                "{install:?}: flags {flags:#o} without truncate"
            );
        }
        state.assert_unchanged(&w, "refused O_TRUNC");
    }
}

// ---------------------------------------------------------------------------------------------
// Types

#[test]
fn directories_need_the_dir_type() {
    let Some(env) = privileged_env!() else { return };
    let dirs = env.dir("dirs/sub", 0o700, None);
    let files_only = env.dir("files/sub", 0o700, None);
    let file_in_dirs = env.file("dirs/file", b"file\n", 0o600, None);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(env.path("dirs/*"), &users(&[ALICE]), &["read"], &["dir"]),
        allow_rule(env.path("files/*"), &users(&[ALICE]), &["read"], &[]),
    ));
    let alice = alice();
    expect_outcomes(&[
        Expect::new(&alice, &dirs, DIR, Outcome::opened("")),
        Expect::new(&alice, &dirs, RD, Outcome::opened("")).why("a directory without O_DIRECTORY"),
        Expect::new(&alice, &files_only, DIR, denied()).why("default types are files only"),
        Expect::new(&alice, &file_in_dirs, RD, denied()).why("a file under a dir-only rule"),
    ]);
}

#[test]
fn character_devices_need_the_char_type_and_are_never_opened_otherwise() {
    let Some(env) = privileged_env!() else { return };
    // /dev/null's numbers, root-only, in the data tree.
    env.dir("chars", 0o755, None);
    env.dir("files", 0o755, None);
    let allowed = env.device("chars/null", 'c', 1, 3, 0o600);
    let refused = env.device("files/null", 'c', 1, 3, 0o600);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(
            env.path("chars/*"),
            &users(&[ALICE]),
            &["read", "write"],
            &["char"]
        ),
        allow_rule(
            env.path("files/**"),
            &users(&[ALICE]),
            &["read", "write"],
            &[]
        ),
    ));
    let watch = env.watch_opens(env.path("files"));
    let alice = alice();
    let files_only = "a device under a files-only rule";
    expect_outcomes(&[
        Expect::new(&alice, &allowed, RDWR, Outcome::opened("")).writing(b"into the void"),
        Expect::new(&alice, &refused, RD, denied()).why(files_only),
        Expect::new(&alice, &refused, RDWR, denied()).why(files_only),
    ]);
    assert_eq!(
        watch.opened(),
        Vec::<std::ffi::OsString>::new(),
        "a device no rule allows was opened"
    );
}

#[test]
fn block_devices_need_the_block_type_and_are_never_opened_otherwise() {
    let Some(env) = privileged_env!() else { return };
    // A loop device's numbers (7:0), root-only, in the data tree.
    env.dir("blocks", 0o755, None);
    env.dir("files", 0o755, None);
    let allowed = env.device("blocks/loop", 'b', 7, 0, 0o600);
    let refused = env.device("files/loop", 'b', 7, 0, 0o600);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(
            env.path("blocks/*"),
            &users(&[ALICE]),
            &["read"],
            &["block"]
        ),
        allow_rule(
            env.path("files/*"),
            &users(&[ALICE]),
            &["read"],
            &["file", "char"]
        ),
    ));
    let watch = env.watch_opens(env.path("files"));
    for install in Install::PRIVILEGED {
        // Allowed by policy: whatever the kernel says about an unbound loop device, not EACCES.
        let outcome = probe(&alice(), install, &allowed, RD);
        assert!(
            outcome.is_opened() || matches!(outcome.errno(), Some(errno) if errno != EACCES),
            "{install:?}: {outcome:?}"
        );
        assert_eq!(
            probe(&alice(), install, &refused, RD),
            denied(),
            "{install:?}: a block device under a rule without block"
        );
    }
    assert_eq!(
        watch.opened(),
        Vec::<std::ffi::OsString>::new(),
        "a device no rule allows was opened"
    );
}

#[test]
fn fifos_need_the_fifo_type_and_never_block_the_helper() {
    let Some(env) = privileged_env!() else { return };
    let limit = std::time::Duration::from_secs(10);
    env.dir("fifos", 0o755, None);
    let fifo = env.fifo("fifos/pipe", 0o600, None);
    let refused = env.fifo("files/pipe", 0o600, None);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(
            env.path("fifos/*"),
            &users(&[ALICE]),
            &["read", "write"],
            &["fifo"]
        ),
        allow_rule(
            env.path("files/*"),
            &users(&[ALICE]),
            &["read", "write"],
            &[]
        ),
    ));
    for install in Install::PRIVILEGED {
        // Read with no writer anywhere: answered at once (end of file for the probe).
        assert_eq!(
            probe_within(&alice(), install, &fifo, RD, None, limit),
            Some(Outcome::opened("")),
            "{install:?}: FIFO for reading, no writer"
        );
        // Write with no reader: ENXIO, as open(O_WRONLY|O_NONBLOCK) says.
        assert_eq!(
            probe_within(&alice(), install, &fifo, WR, Some(b"x"), limit),
            Some(Outcome::Errno(ENXIO)),
            "{install:?}: FIFO for writing, no reader"
        );
        // With a reader: the data arrives.
        let reader = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .expect("open the FIFO for reading");
        assert_eq!(
            probe_within(&alice(), install, &fifo, WR, Some(b"ping"), limit),
            Some(Outcome::opened("")),
            "{install:?}: FIFO for writing, with a reader"
        );
        let mut received = Vec::new();
        let _ = std::io::Read::read_to_end(&mut &reader, &mut received);
        assert_eq!(received, b"ping", "{install:?}");
        drop(reader);

        for flags in [RD, WR] {
            assert_eq!(
                probe_within(&alice(), install, &refused, flags, None, limit),
                Some(denied()),
                "{install:?}: a FIFO under a files-only rule, flags {flags:#o}"
            );
        }
    }
}

#[test]
fn sockets_need_the_socket_type() {
    let Some(env) = privileged_env!() else { return };
    env.dir("sockets", 0o755, None);
    env.dir("files", 0o755, None);
    let allowed = env.path("sockets/s");
    let refused = env.path("files/s");
    let _listeners = [
        UnixListener::bind(&allowed).expect("bind"),
        UnixListener::bind(&refused).expect("bind"),
    ];
    myopen_tests::install::chmod(&allowed, 0o600);
    myopen_tests::install::chmod(&refused, 0o600);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(
            env.path("sockets/*"),
            &users(&[ALICE]),
            &["read"],
            &["socket"]
        ),
        allow_rule(env.path("files/*"), &users(&[ALICE]), &["read"], &[]),
    ));
    let alice = alice();
    expect_outcomes(&[
        // Past the policy, the kernel itself refuses to open(2) a socket.
        Expect::new(&alice, &allowed, RD, Outcome::Errno(ENXIO)).why("allowed socket"),
        Expect::new(&alice, &refused, RD, denied())
            .why("a socket under a files-only rule is refused by the policy"),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Drop-ins

#[test]
fn dropin_rules_count_and_only_toml_files_are_read() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/file", b"from a drop-in\n", 0o600, None);
    let private = env.file("d/private", b"private\n", 0o600, None);
    env.write_policy("# nothing here\n");
    env.write_dropin(
        "50-alice.toml",
        &format!(
            "{}{}",
            allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]),
            deny_rule(env.path("d/private"), "")
        ),
    );
    // Not *.toml: ignored.
    env.write_dropin(
        "60-bob.conf",
        &allow_rule(env.path("d/*"), &users(&[BOB]), &["read"], &[]),
    );
    env.write_dropin(
        "70-bob.toml.disabled",
        &allow_rule(env.path("d/*"), &users(&[BOB]), &["read"], &[]),
    );
    let (alice, bob) = (alice(), bob());
    expect_outcomes(&[
        Expect::new(&alice, &file, RD, Outcome::opened("from a drop-in\n")),
        Expect::new(&alice, &private, RD, denied()),
        Expect::new(&bob, &file, RD, denied()).why("only policy.d/*.toml counts"),
    ]);
}

#[test]
fn deny_in_a_dropin_beats_allow_in_the_main_policy() {
    let Some(env) = privileged_env!() else { return };
    let open = env.file("d/open", b"open\n", 0o600, None);
    let closed = env.file("d/closed", b"closed\n", 0o600, None);
    env.write_policy(&allow_rule(env.path("d/*"), &users(&["*"]), &["read"], &[]));
    env.write_dropin("90-lockdown.toml", &deny_rule(&closed, ""));
    let alice = alice();
    expect_outcomes(&[
        Expect::new(&alice, &open, RD, Outcome::opened("open\n")),
        Expect::new(&alice, &closed, RD, denied()),
    ]);
}

#[test]
fn dropins_are_read_in_name_order() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/file", b"x\n", 0o600, None);
    let rule = allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]);
    // Created in the opposite of name order ("10-..." sorts before "9-..." byte-wise), so that
    // directory order or creation order would give a different answer.
    env.write_dropin("9-second.toml", &rule);
    env.write_dropin("10-first.toml", &rule);
    let said = explain(&file);
    let first = format!("{DROPIN_DIR}/10-first.toml:1");
    assert!(
        said.contains(&first) && !said.contains("9-second.toml"),
        "--explain should name the first matching rule in name order, {first}:\n{said}"
    );
    // The audit log names the same rule for a real request.
    assert!(probe(&alice(), Install::Setuid, &file, RD).is_opened());
    let lines = env.audit_lines();
    assert!(
        lines
            .iter()
            .any(|line| line.contains(&format!("rule={first}"))),
        "audit lines: {lines:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Installs

#[test]
fn setuid_and_caps_installs_give_identical_results() {
    let Some(env) = privileged_env!() else { return };
    env.file("d/readable", b"readable\n", 0o600, None);
    env.file("d/private/x", b"private\n", 0o600, None);
    env.file("d/writable", b"writable\n", 0o600, None);
    env.dir("d/sub", 0o700, None);
    env.write_policy(&format!(
        "{}{}{}",
        allow_rule(
            env.path("d/**"),
            &groups(&[READERS]),
            &["read"],
            &["file", "dir"]
        ),
        allow_rule(
            env.path("d/writable"),
            &users(&[ALICE]),
            &["read", "write"],
            &[]
        ),
        deny_rule(env.path("d/private/**"), ""),
    ));
    let requests = [
        ("d/readable", RD),
        ("d/readable", WR),
        ("d/readable", RD | libc::O_TRUNC),
        ("d/readable", RD | libc::O_NOFOLLOW),
        ("d/private/x", RD),
        ("d/writable", RDWR),
        ("d/sub", DIR),
        ("d/missing", RD),
        ("elsewhere", RD),
        ("d/readable", RD | libc::O_PATH),
    ];
    let mut opened = 0;
    for user in [alice(), bob()] {
        for (relative, flags) in requests {
            let path = env.path(relative);
            let setuid = probe(&user, Install::Setuid, &path, flags);
            let caps = probe(&user, Install::Caps, &path, flags);
            assert_eq!(
                setuid, caps,
                "{} {relative} flags {flags:#o}: setuid and caps differ",
                user.name
            );
            opened += usize::from(setuid.is_opened());
        }
    }
    // alice: readable, readable+O_NOFOLLOW, writable, sub.
    assert_eq!(opened, 4, "the policy grants alice four of these requests");
}

#[test]
fn plain_install_works_with_the_callers_own_rights_only() {
    let Some(env) = privileged_env!() else { return };
    let root_only = env.file("d/root-only", b"root only\n", 0o600, None);
    let public = env.file("d/public", b"public\n", 0o644, None);
    env.allow_reading("d/*", &[ALICE]);
    assert_eq!(
        probe(&alice(), Install::Plain, &root_only, RD),
        denied(),
        "an unprivileged helper cannot open a root-only file, whatever the policy says"
    );
    assert_eq!(
        probe(&alice(), Install::Plain, &public, RD),
        Outcome::opened("public\n")
    );
    // The same request through a privileged install does get the root-only file.
    assert_eq!(
        probe(&alice(), Install::Setuid, &root_only, RD),
        Outcome::opened("root only\n")
    );
}

#[test]
fn mycat_prints_granted_files_and_reports_refusals_like_cat() {
    let Some(env) = privileged_env!() else { return };
    let first = env.file("d/first", b"first\n", 0o600, None);
    let second = env.file("d/second", b"second\n", 0o600, None);
    let other = env.file("other/file", b"other\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    for install in Install::PRIVILEGED {
        let output = mycat_as(&alice(), install, [&first, &other, &second]);
        assert_eq!(output.status.code(), Some(1), "{install:?}");
        assert_eq!(text(&output.stdout), "first\nsecond\n", "{install:?}");
        let stderr = text(&output.stderr);
        let expected = format!("mycat: {}: Permission denied", other.display());
        assert!(
            stderr.lines().count() == 1 && stderr.starts_with(&expected),
            "{install:?}: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Admin commands

#[test]
fn check_accepts_a_clean_policy() {
    let Some(env) = privileged_env!() else { return };
    env.write_policy(&format!(
        "# a clean policy\n{}{}",
        allow_rule(env.path("d/**"), &groups(&[READERS]), &["read"], &[]),
        deny_rule(env.path("d/private/**"), ""),
    ));
    env.write_dropin(
        "50-more.toml",
        &allow_rule(
            env.path("w/*"),
            &users(&[ALICE, "0"]),
            &["read", "write", "append", "create", "truncate"],
            &["file", "dir", "char", "block", "fifo", "socket"],
        ),
    );
    let (passed, said) = helper_says(["--check"]);
    assert!(passed, "--check as root: {said}");
    let output = run_as(&alice(), Install::Setuid.helper(), ["--check"]);
    assert!(
        output.status.success(),
        "--check as alice: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[test]
fn check_reports_errors_with_file_and_line() {
    let Some(env) = privileged_env!() else { return };
    let good = allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]);
    let cases = [
        (
            "unknown key",
            format!("{good}\n[[allow]]\npath = \"/x/*\"\nusers = [\"*\"]\nacess = [\"read\"]\n"),
            "acess = [\"read\"]",
        ),
        (
            "unknown access word",
            format!("{good}\n[[allow]]\npath = \"/x/*\"\nusers = [\"*\"]\naccess = [\"raed\"]\n"),
            "access = [\"raed\"]",
        ),
        (
            "relative glob",
            format!("{good}\n[[allow]]\npath = \"x/*\"\nusers = [\"*\"]\naccess = [\"read\"]\n"),
            "path = \"x/*\"",
        ),
        (
            "dot-dot in a glob",
            format!(
                "{good}\n[[allow]]\npath = \"/x/../y\"\nusers = [\"*\"]\naccess = [\"read\"]\n"
            ),
            "path = \"/x/../y\"",
        ),
        (
            "TOML syntax",
            format!("{good}\n[[allow]\npath = \"/x/*\"\n"),
            "[[allow]",
        ),
    ];
    for (what, policy, bad_line) in &cases {
        // In the main policy, then in a drop-in.
        for in_dropin in [false, true] {
            env.write_policy(if in_dropin { &good } else { policy });
            let _ = fs::remove_file(format!("{DROPIN_DIR}/20-bad.toml"));
            let file = if in_dropin {
                env.write_dropin("20-bad.toml", policy)
                    .display()
                    .to_string()
            } else {
                POLICY.to_owned()
            };
            let (passed, said) = helper_says(["--check"]);
            let location = format!("{file}:{}", line_of(policy, bad_line));
            assert!(!passed, "{what} in {file}: --check passed: {said}");
            assert!(
                said.contains(&location),
                "{what}: --check should name {location}:\n{said}"
            );
        }
    }
}

#[test]
fn check_warns_about_unknown_user_and_group_names() {
    let Some(env) = privileged_env!() else { return };
    env.write_policy(&allow_rule(
        env.path("d/*"),
        &format!(
            "{}\n{}",
            users(&["no-such-user-myopen"]),
            groups(&["no-such-group-myopen"])
        ),
        &["read"],
        &[],
    ));
    let (_, said) = helper_says(["--check"]);
    assert!(
        said.contains("no-such-user-myopen") && said.contains("no-such-group-myopen"),
        "--check should warn about unknown names:\n{said}"
    );
}

fn explain(path: &std::path::Path) -> String {
    let mut args = ["--explain", "--user", ALICE, "--access", "read"]
        .map(OsStr::new)
        .to_vec();
    args.push(path.as_os_str());
    helper_says(args).1
}

#[test]
fn explain_names_the_deciding_rule_without_opening_the_path() {
    let Some(env) = privileged_env!() else { return };
    env.dir("d", 0o755, None);
    env.dir("c", 0o755, None);
    let file = env.file("d/file", b"x\n", 0o600, None);
    let private = env.file("d/private", b"x\n", 0o600, None);
    let device = env.device("c/null", 'c', 1, 3, 0o600);
    let policy = format!(
        "# explain test\n{}{}{}",
        allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]),
        allow_rule(env.path("c/*"), &users(&[ALICE]), &["read"], &["char"]),
        deny_rule(env.path("d/private"), ""),
    );
    env.write_policy(&policy);
    let rule_line = |glob: &std::path::Path| {
        line_of(&policy, &format!("path = {:?}", glob.display().to_string())) - 1
    };
    let (file_line, device_line) = (rule_line(&env.path("d/*")), rule_line(&env.path("c/*")));
    let deny_line = line_of(&policy, "[[deny]]");
    let watches = [
        env.watch_opens(env.path("d")),
        env.watch_opens(env.path("c")),
    ];
    for (path, line) in [
        (file.clone(), file_line),
        (private, deny_line),
        (device, device_line),
        // Needs no file at all.
        (env.path("d/not-there"), file_line),
    ] {
        let said = explain(&path);
        let location = format!("{POLICY}:{line}");
        assert!(
            said.contains(&location),
            "--explain {}: should name {location}:\n{said}",
            path.display()
        );
    }
    for watch in watches {
        assert_eq!(
            watch.opened(),
            Vec::<std::ffi::OsString>::new(),
            "--explain opened the path"
        );
    }
    assert_eq!(fs::read(&file).unwrap(), b"x\n");
}

#[test]
fn explain_agrees_with_the_real_decision_when_rules_overlap() {
    let Some(env) = privileged_env!() else { return };
    // d/null matches both rules lexically; only the second allows a character device, and it is
    // the one a real request is granted by.
    let device = env.device("d/null", 'c', 1, 3, 0o600);
    let policy = format!(
        "{}{}",
        allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]),
        allow_rule(&device, &users(&[ALICE]), &["read"], &["char"]),
    );
    env.write_policy(&policy);
    let device_line = line_of(
        &policy,
        &format!("path = {:?}", device.display().to_string()),
    ) - 1;
    assert_eq!(
        probe(&alice(), Install::Setuid, &device, RD),
        Outcome::opened(""),
        "the second rule grants the device"
    );
    let lines = env.audit_lines();
    let location = format!("{POLICY}:{device_line}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains(&format!("rule={location}"))),
        "the audit log should name the rule that allowed a char device, {location}: {lines:#?}"
    );
    let said = explain(&device);
    assert!(
        said.contains(&location),
        "--explain should name the rule a real request is decided by, {location}:\n{said}"
    );
}

#[test]
fn version_is_printed_and_the_plain_install_says_it_is_not_privileged() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let version = env!("CARGO_PKG_VERSION");
    for install in [Install::Setuid, Install::Caps, Install::Plain] {
        let output = run_as(&alice(), install.helper(), ["--version"]);
        let said = text(&output.stdout);
        assert!(output.status.success(), "{install:?}: {output:?}");
        assert!(
            said.starts_with("openfile-helper ") && said.contains(version),
            "{install:?}: {said}"
        );
        let lower = said.to_lowercase();
        let unprivileged = lower.contains("not privileged") || lower.contains("privilege: none");
        assert_eq!(
            unprivileged,
            install == Install::Plain,
            "{install:?}: --version should report no privilege exactly for the plain install: {said}"
        );
    }
}

#[test]
fn unsupported_flags_are_einval_and_nofollow_on_a_symlink_is_eloop() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/file", b"file\n", 0o600, None);
    let link = env.symlink("file", "d/link", None);
    env.write_policy(&allow_rule(
        env.path("d/*"),
        &users(&[ALICE]),
        &["read", "write"],
        &[],
    ));
    let alice = alice();
    let unsupported = [
        RD | libc::O_PATH,
        libc::O_TMPFILE | WR,
        RD | libc::O_DIRECT,
        RD | libc::O_NOATIME,
        libc::O_ACCMODE,
    ]
    .map(|flags| Expect::new(&alice, &file, flags, Outcome::Errno(libc::EINVAL)));
    let nofollow = RD | libc::O_NOFOLLOW;
    let symlinks = [
        Expect::new(&alice, &link, nofollow, Outcome::Errno(libc::ELOOP))
            .why("O_NOFOLLOW on a final symlink"),
        // Without O_NOFOLLOW, a symlink to an allowed target is served.
        Expect::new(&alice, &link, RD, Outcome::opened("file\n")),
    ];
    expect_outcomes(&[unsupported.as_slice(), &symlinks].concat());
}
