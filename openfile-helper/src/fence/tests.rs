//! The roots derived from a table of policies: a pure function, no kernel involved.

use std::path::{Path, PathBuf};

use super::*;
use crate::policy::{LookupFailed, NameResolver};

/// Knows one user and one group; every other name does not exist (it matches nobody).
struct OneUserResolver;

impl NameResolver for OneUserResolver {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        Ok((name == "alice").then_some(1000))
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        Ok((name == "staff").then_some(50))
    }
}

/// The policy of `files` (name, text), as policy.toml and its drop-ins would give it.
fn policy_of(files: &[(&str, &str)]) -> Policy {
    let sources: Vec<(PathBuf, &str)> = files
        .iter()
        .map(|(name, text)| (PathBuf::from(name), *text))
        .collect();
    Policy::from_sources(
        sources.iter().map(|(path, text)| (path.as_path(), *text)),
        &OneUserResolver,
    )
    .unwrap_or_else(|error| panic!("{error}"))
    .policy
}

/// The helper's own paths, chosen apart from every policy root below so that the table shows
/// only what the rules contribute.
fn helper() -> HelperPaths {
    HelperPaths {
        policy_dir: PathBuf::from("/cfg/myopen"),
        syslog_socket: PathBuf::from("/run/syslog/log.sock"),
        name_databases: vec![PathBuf::from("/etc/passwd")],
    }
}

fn helper_roots() -> Vec<Root> {
    vec![
        root("/cfg/myopen", Rights::READ_FILE.union(Rights::READ_DIR)),
        root("/etc/passwd", Rights::READ_FILE),
        root("/run/syslog", Rights::RESOLVE_UNIX),
    ]
}

fn root(path: &str, rights: Rights) -> Root {
    Root {
        path: PathBuf::from(path),
        rights,
    }
}

fn allow(path: &str, access: &str, types: &str) -> String {
    let types = match types {
        "" => String::new(),
        types => format!("types = [{types}]\n"),
    };
    format!("[[allow]]\npath = \"{path}\"\nusers = [\"*\"]\naccess = [{access}]\n{types}")
}

/// The roots of `policy` other than the helper's own, which every derivation must include.
fn policy_roots(policy: &Policy) -> Vec<Root> {
    let all = roots(Some(policy), &helper());
    for own in helper_roots() {
        assert!(
            all.iter()
                .any(|root| root.path == own.path && root.rights.contains(own.rights)),
            "the helper's own root {own:?} is missing from {all:?}"
        );
    }
    all.into_iter()
        .filter(|root| !helper_roots().contains(root))
        .collect()
}

#[test]
fn literal_prefix_stops_at_the_first_wildcard() {
    let table: &[(&str, &str, bool)] = &[
        ("/var/log/**", "/var/log", false),
        ("/var/log/*.log", "/var/log", false),
        ("/home/*/notes", "/home", false),
        ("/srv/a/b/**/c/*.txt", "/srv/a/b", false),
        ("/**", "/", false),
        ("/*", "/", false),
        ("/etc/motd", "/etc/motd", true),
        ("/srv/x*y/z", "/srv", false),
        ("/", "/", true),
    ];
    for (glob, prefix, whole) in table {
        assert_eq!(
            literal_prefix(glob),
            (PathBuf::from(prefix), *whole),
            "glob {glob}"
        );
    }
}

#[test]
fn roots_from_a_table_of_policies() {
    let read = Rights::READ_FILE;
    let table: Vec<(&str, String, Vec<Root>)> = vec![
        (
            "an empty policy: the helper's needs only",
            String::new(),
            vec![],
        ),
        (
            "a glob at depth two with **",
            allow("/var/log/**", "\"read\"", ""),
            vec![root("/var/log", read)],
        ),
        (
            "a glob at depth one",
            allow("/srv/*", "\"read\"", ""),
            vec![root("/srv", read)],
        ),
        (
            "a deep glob whose wildcard is in the middle",
            allow("/data/projects/*/shared/**", "\"read\", \"write\"", ""),
            vec![root("/data/projects", read.union(Rights::WRITE_FILE))],
        ),
        (
            "everything below /",
            allow("/**", "\"read\"", ""),
            vec![root("/", read)],
        ),
        (
            "a single file gets that file",
            allow("/etc/motd", "\"read\"", ""),
            vec![root("/etc/motd", read)],
        ),
        (
            "a single file that may be created gets its directory",
            allow("/var/spool/drop/new.txt", "\"write\", \"create\"", ""),
            vec![root(
                "/var/spool/drop",
                Rights::WRITE_FILE.union(Rights::MAKE_REG),
            )],
        ),
        (
            "create below a glob stays on the prefix",
            allow("/var/spool/in/*.job", "\"write\", \"create\"", ""),
            vec![root(
                "/var/spool/in",
                Rights::WRITE_FILE.union(Rights::MAKE_REG),
            )],
        ),
        (
            "append and truncate",
            allow("/var/tmp/a/**", "\"append\", \"truncate\"", ""),
            vec![root(
                "/var/tmp/a",
                Rights::WRITE_FILE.union(Rights::TRUNCATE),
            )],
        ),
        (
            "a directory type needs read-dir",
            allow("/srv/pub/**", "\"read\"", "\"file\", \"dir\""),
            vec![root("/srv/pub", read.union(Rights::READ_DIR))],
        ),
        (
            "devices keep their ioctls",
            allow("/dev/tty*", "\"read\", \"write\"", "\"char\""),
            vec![root(
                "/dev",
                read.union(Rights::WRITE_FILE).union(Rights::IOCTL_DEV),
            )],
        ),
        (
            "a block device",
            allow("/dev/loop0", "\"read\"", "\"block\""),
            vec![root("/dev/loop0", read.union(Rights::IOCTL_DEV))],
        ),
        (
            "a fifo is read like a file",
            allow("/run/pipes/*", "\"read\"", "\"fifo\""),
            vec![root("/run/pipes", read)],
        ),
        (
            "two rules on one prefix merge their rights",
            allow("/srv/a/*.txt", "\"read\"", "") + &allow("/srv/a/**", "\"write\"", ""),
            vec![root("/srv/a", read.union(Rights::WRITE_FILE))],
        ),
        (
            "a deny widens nothing and narrows nothing (it stays in user space)",
            allow("/srv/b/**", "\"read\"", "")
                + "[[deny]]\npath = \"/srv/b/secret/**\"\n"
                + "[[deny]]\npath = \"/elsewhere/**\"\n",
            vec![root("/srv/b", read)],
        ),
        (
            "a rule for names that do not exist matches nobody and fences in nothing",
            "[[allow]]\npath = \"/nobody/**\"\nusers = [\"ghost\"]\naccess = [\"read\"]\n"
                .to_owned()
                + "[[allow]]\npath = \"/alice/**\"\nusers = [\"alice\", \"ghost\"]\naccess = [\"read\"]\n",
            vec![root("/alice", read)],
        ),
    ];
    for (what, text, expected) in table {
        let policy = policy_of(&[("/cfg/myopen/policy.toml", &text)]);
        assert_eq!(policy_roots(&policy), expected, "{what}:\n{text}");
    }
}

#[test]
fn drop_ins_add_their_roots() {
    let policy = policy_of(&[
        (
            "/cfg/myopen/policy.toml",
            &allow("/srv/main/**", "\"read\"", ""),
        ),
        (
            "/cfg/myopen/policy.d/10-logs.toml",
            &allow("/var/log/*", "\"read\"", ""),
        ),
        (
            "/cfg/myopen/policy.d/20-spool.toml",
            &allow("/var/spool/x", "\"write\", \"create\"", ""),
        ),
    ]);
    assert_eq!(
        policy_roots(&policy),
        vec![
            root("/srv/main", Rights::READ_FILE),
            root("/var/log", Rights::READ_FILE),
            root("/var/spool", Rights::WRITE_FILE.union(Rights::MAKE_REG)),
        ]
    );
}

#[test]
fn no_usable_policy_fences_in_only_the_helper() {
    assert_eq!(roots(None, &helper()), helper_roots());
}

#[test]
fn the_helper_root_merges_with_a_policy_root_on_the_same_path() {
    let policy = policy_of(&[(
        "/cfg/myopen/policy.toml",
        &allow("/run/syslog/*", "\"read\"", "\"char\""),
    )]);
    let all = roots(Some(&policy), &helper());
    let dev = all
        .iter()
        .find(|root| root.path == Path::new("/run/syslog"));
    assert_eq!(
        dev.map(|root| root.rights),
        Some(
            Rights::READ_FILE
                .union(Rights::IOCTL_DEV)
                .union(Rights::RESOLVE_UNIX)
        )
    );
}

#[test]
fn covers_follows_landlock_beneath_semantics() {
    let roots = vec![
        root("/srv", Rights::READ_FILE),
        root("/srv/up", Rights::WRITE_FILE),
    ];
    assert!(covers(&roots, Path::new("/srv/a/b"), Rights::READ_FILE));
    assert!(covers(
        &roots,
        Path::new("/srv/up/x"),
        Rights::READ_FILE.union(Rights::WRITE_FILE)
    ));
    assert!(!covers(&roots, Path::new("/srv/a"), Rights::WRITE_FILE));
    assert!(!covers(&roots, Path::new("/srvx/a"), Rights::READ_FILE));
    assert!(!covers(&roots, Path::new("/etc/shadow"), Rights::READ_FILE));
}

#[test]
fn rights_display_in_words() {
    assert_eq!(Rights::NONE.to_string(), "none");
    assert_eq!(
        Rights::READ_FILE.union(Rights::MAKE_REG).to_string(),
        "read-file,make-reg"
    );
}

/// What a classic BPF seccomp program returns for `data` (`struct seccomp_data`: number,
/// architecture, then the rest): the instructions both the built program and seccompiler's use.
fn run_bpf(program: &[libc::sock_filter], nr: u32, arch: u32) -> u32 {
    run_bpf_counting(program, nr, arch).0
}

/// [`run_bpf`], with how many instructions it ran: the walk the kernel also makes once per system
/// call number when it installs a filter (its action cache), with interrupts off.
fn run_bpf_counting(program: &[libc::sock_filter], nr: u32, arch: u32) -> (u32, usize) {
    let mut steps = 0;
    let word = |offset: u32| match offset {
        0 => nr,
        4 => arch,
        other => panic!("load of seccomp_data offset {other}"),
    };
    let (mut accumulator, mut pc) = (0_u32, 0_usize);
    loop {
        let instruction = program[pc];
        let code = u32::from(instruction.code);
        pc += 1;
        steps += 1;
        match code {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                accumulator = word(instruction.k)
            }
            c if c == libc::BPF_JMP | libc::BPF_JA => pc += instruction.k as usize,
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                pc += usize::from(if accumulator == instruction.k {
                    instruction.jt
                } else {
                    instruction.jf
                });
            }
            c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => {
                pc += usize::from(if accumulator >= instruction.k {
                    instruction.jt
                } else {
                    instruction.jf
                });
            }
            c if c == libc::BPF_RET | libc::BPF_K => return (instruction.k, steps),
            other => panic!("instruction {other:#x} at {}", pc - 1),
        }
    }
}

#[test]
fn the_built_seccomp_program_decides_as_seccompiler_would() {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let arch =
        TargetArch::try_from(std::env::consts::ARCH).expect("an architecture seccompiler knows");
    let compiled: BpfProgram = SeccompFilter::new(
        REQUEST_LOOP_CALLS
            .iter()
            .map(|&call| (call, Vec::new()))
            .collect(),
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    )
    .and_then(TryInto::try_into)
    .expect("seccompiler compiles the allowlist");
    let compiled: Vec<libc::sock_filter> = compiled
        .iter()
        .map(|instruction| libc::sock_filter {
            code: instruction.code,
            jt: instruction.jt,
            jf: instruction.jf,
            k: instruction.k,
        })
        .collect();
    let native = AUDIT_ARCH.expect("the test runs on an architecture with a value");
    // 32-bit x86 (a compat call on x86_64) and one no kernel has: killed, as seccompiler does.
    let foreign = [0x4000_0003, 0x1234_5678];
    let x32 = 0x4000_0000;
    let mut allowed = 0;
    for nr in (0..1024).chain((0..1024).map(|nr| nr | x32)).chain([
        0x3fff_ffff,
        0x8000_0000,
        0xffff_fffe,
        u32::MAX,
    ]) {
        for arch in [native].into_iter().chain(foreign) {
            let built = run_bpf(&SECCOMP_PROGRAM, nr, arch);
            assert_eq!(
                built,
                run_bpf(&compiled, nr, arch),
                "call {nr:#x}, arch {arch:#x}"
            );
            allowed += usize::from(built == libc::SECCOMP_RET_ALLOW);
        }
    }
    // Every listed call is allowed, and nothing else.
    let mut distinct = REQUEST_LOOP_CALLS.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(allowed, distinct.len());
    let refusal = run_bpf(&SECCOMP_PROGRAM, libc::SYS_execve as u32, native);
    assert_eq!(refusal, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32);
    assert_eq!(
        run_bpf(&SECCOMP_PROGRAM, libc::SYS_execve as u32, foreign[0]),
        libc::SECCOMP_RET_KILL_PROCESS
    );
}

/// Installing a filter makes the kernel run it once for every system call number of every
/// architecture (its action cache), with interrupts off: a chain of one comparison per call made
/// that about 200 us of every helper's start-up (measured on the 73-instruction chain). Every
/// program here decides any call within a few comparisons, a search over sorted numbers.
#[test]
fn every_filter_decides_any_call_in_a_few_steps() {
    let native = AUDIT_ARCH.expect("the test runs on an architecture with a value");
    let programs: [(&str, &[libc::sock_filter]); 3] = [
        ("request loop", &SECCOMP_PROGRAM),
        ("armed", &ARMED_PROGRAM),
        ("switch closed", &SWITCH_CLOSED_PROGRAM),
    ];
    for (name, program) in programs {
        let deepest = (0..1024)
            .chain((0..1024).map(|nr| nr | 0x4000_0000))
            .chain([0x3fff_ffff, 0x8000_0000, 0xffff_fffe, u32::MAX])
            .map(|nr| run_bpf_counting(program, nr, native).1)
            .max()
            .expect("some numbers");
        assert!(
            deepest <= 16,
            "{name}: {deepest} instructions for some call (of {})",
            program.len()
        );
    }
}

/// What the kernel answers for stacked filters: the most restrictive action, the actions ordered
/// as signed numbers (SECCOMP_RET_KILL_PROCESS is the lowest).
fn stacked(programs: &[&[libc::sock_filter]], nr: u32, arch: u32) -> u32 {
    programs
        .iter()
        .map(|program| run_bpf(program, nr, arch))
        .min_by_key(|action| (action & libc::SECCOMP_RET_ACTION_FULL) as i32)
        .expect("at least one program")
}

#[test]
fn an_armed_worker_serves_under_exactly_the_request_loops_allowlist() {
    let native = AUDIT_ARCH.expect("the test runs on an architecture with a value");
    let foreign = [0x4000_0003, 0x1234_5678];
    for nr in (0..1024)
        .chain((0..1024).map(|nr| nr | 0x4000_0000))
        .chain([0x3fff_ffff, 0x8000_0000, 0xffff_fffe, u32::MAX])
    {
        for arch in [native].into_iter().chain(foreign) {
            assert_eq!(
                stacked(&[&ARMED_PROGRAM, &SWITCH_CLOSED_PROGRAM], nr, arch),
                run_bpf(&SECCOMP_PROGRAM, nr, arch),
                "call {nr:#x}, arch {arch:#x}: armed, then the switch closed"
            );
            let armed = run_bpf(&ARMED_PROGRAM, nr, arch);
            let expected = if arch != native {
                libc::SECCOMP_RET_KILL_PROCESS
            } else if REQUEST_LOOP_CALLS
                .iter()
                .chain(SWITCH_CALLS)
                .any(|&call| call as u32 == nr)
            {
                libc::SECCOMP_RET_ALLOW
            } else {
                libc::SECCOMP_RET_ERRNO | libc::EPERM as u32
            };
            assert_eq!(armed, expected, "call {nr:#x}, arch {arch:#x}: armed");
        }
    }
    // Until the switch is closed, the switch's calls pass; afterwards they fail with EPERM.
    for &call in SWITCH_CALLS {
        assert!(!REQUEST_LOOP_CALLS.contains(&call), "{call}: in both lists");
        assert_eq!(
            run_bpf(&ARMED_PROGRAM, call as u32, native),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            stacked(
                &[&ARMED_PROGRAM, &SWITCH_CLOSED_PROGRAM],
                call as u32,
                native
            ),
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32
        );
    }
}

#[test]
fn a_one_request_fence_holds_only_the_callers_rules_and_the_syslog_directory() {
    let rule = |path: &str, subjects: &str| {
        format!("[[allow]]\npath = \"{path}\"\n{subjects}\naccess = [\"read\"]\n")
    };
    let policy = policy_of(&[(
        "/cfg/myopen/policy.toml",
        &[
            rule("/alice/*", "users = [\"alice\"]"),
            rule("/staff/**", "groups = [\"staff\"]"),
            rule("/everyone/file", "users = [\"*\"]"),
            rule("/uid1001/*", "users = [\"1001\"]"),
            rule("/ghost/*", "users = [\"ghost\"]"),
        ]
        .concat(),
    )]);
    let read = Rights::READ_FILE;
    let syslog = root("/run/syslog", Rights::RESOLVE_UNIX);
    let alice = Identity {
        uid: 1000,
        gid: 1000,
        groups: vec![],
        listed_groups: Vec::new(),
    };
    let one_request =
        |caller: &Identity| roots_serving(Some(&policy), Serving::OneRequest { caller }, &helper());
    // No policy tree, no user database (read before the fence, never again), no other user's
    // rule: only what this caller's one request could be granted.
    assert_eq!(
        one_request(&alice),
        [
            root("/alice", read),
            root("/everyone/file", read),
            syslog.clone(),
        ]
    );
    let alice_in_staff = Identity {
        groups: vec![50],
        ..alice
    };
    assert_eq!(
        one_request(&alice_in_staff),
        [
            root("/alice", read),
            root("/everyone/file", read),
            syslog.clone(),
            root("/staff", read),
        ]
    );
    let stranger = Identity {
        uid: 2000,
        gid: 2000,
        groups: vec![],
        listed_groups: Vec::new(),
    };
    assert_eq!(
        one_request(&stranger),
        [root("/everyone/file", read), syslog]
    );
    // A process that keeps serving gets every rule that can match someone, and its own paths.
    let requests = roots(Some(&policy), &helper());
    for path in [
        "/alice",
        "/staff",
        "/everyone/file",
        "/uid1001",
        "/cfg/myopen",
        "/etc/passwd",
    ] {
        assert!(
            requests.iter().any(|root| root.path == Path::new(path)),
            "{path} missing from {requests:?}"
        );
    }
    assert!(!requests.iter().any(|root| root.path == Path::new("/ghost")));
}

/// A fence holds a root by its inode: a root renamed over, one removed, one that appeared where
/// nothing was, all name something the fence does not reach; an untouched one does not.
#[test]
fn a_root_replaced_by_rename_is_told_from_an_untouched_one() {
    let scratch = myopen_tests::Scratch::new();
    let kept = scratch.file("group", b"g\n", 0o644);
    let renamed = scratch.file("passwd", b"p\n", 0o644);
    let removed = scratch.file("shadow", b"s\n", 0o600);
    let appeared = scratch.path().join("nsswitch.conf");
    let state = FenceState {
        landlock: LandlockState::Enforced {
            abi: 1,
            partial: false,
        },
        seccomp: SeccompState::Off("test".to_owned()),
        roots: Vec::new(),
        held: [&kept, &renamed, &removed, &appeared]
            .into_iter()
            .map(|path| (path.clone(), Inode::of(path)))
            .collect(),
    };
    let all = [
        kept.clone(),
        renamed.clone(),
        removed.clone(),
        appeared.clone(),
    ];
    assert_eq!(state.replaced(&all), None, "nothing changed yet");

    let copy = scratch.file("passwd+", b"p\n", 0o644);
    std::fs::rename(&copy, &renamed).unwrap();
    assert_eq!(state.replaced(&all), Some(renamed.as_path()));
    assert_eq!(state.replaced(std::slice::from_ref(&kept)), None);

    std::fs::remove_file(&removed).unwrap();
    assert_eq!(state.replaced(&all[2..]), Some(removed.as_path()));

    std::fs::write(&appeared, b"passwd: files\n").unwrap();
    assert_eq!(state.replaced(&all[3..]), Some(appeared.as_path()));
    // A path the fence does not hold is none of its business.
    assert_eq!(state.replaced(&[scratch.path().join("other")]), None);
}
