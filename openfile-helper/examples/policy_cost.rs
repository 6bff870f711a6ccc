//! What a one-shot helper's policy work costs, on its own: load the policy under SYSCONFDIR
//! (the helper's reads and checks, real name lookups), decide one open of PATH for UID:GID (the
//! lexical pre-check and the final check, as the helper makes them), print the decision and exit.
//! Run it under `valgrind --tool=callgrind` with policies of different sizes
//! (`bench/policy-cost.sh`); it is the part of a one-shot request that grows with the policy.
//! Like the helper, it reads the compiled policy instead of the files when that is current, and
//! walks the rules that can grant the caller as the one-shot fence does.
//!
//!     policy_cost SYSCONFDIR PATH UID:GID
//!     policy_cost --compile SYSCONFDIR       # what openfile-helper --compile does there

use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::process::ExitCode;

use nix::fcntl::OFlag;
use openfile_helper::policy::{self, Access, AccessSet, FileType, Identity};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, sysconfdir] = args.as_slice()
        && flag == "--compile"
    {
        return match policy::compile(
            Path::new(sysconfdir),
            &openfile_helper::SystemNames::default(),
        ) {
            Ok(compiled) => {
                println!(
                    "compiled to {} ({} bytes)",
                    compiled.path.display(),
                    compiled.size
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("policy_cost: {error}");
                ExitCode::from(1)
            }
        };
    }
    let [sysconfdir, path, ids] = args.as_slice() else {
        eprintln!("usage: policy_cost SYSCONFDIR PATH UID:GID");
        return ExitCode::from(2);
    };
    let Some((uid, gid)) = ids
        .split_once(':')
        .and_then(|(uid, gid)| Some((uid.parse().ok()?, gid.parse().ok()?)))
    else {
        eprintln!("policy_cost: {ids:?} is not UID:GID");
        return ExitCode::from(2);
    };
    let own_rights = |directory: BorrowedFd<'_>, name: &OsStr, flags: OFlag| {
        nix::fcntl::openat(directory, name, flags, nix::sys::stat::Mode::empty())
    };
    let names = openfile_helper::SystemNames::default();
    let (form, loaded) =
        match policy::read_compiled_with(Path::new(sysconfdir), &own_rights, &names) {
            policy::CompiledState::Current(loaded, _) => ("compiled", Ok(loaded)),
            _ => (
                "parsed",
                policy::load(
                    Path::new(sysconfdir),
                    &openfile_helper::SystemNames::default(),
                ),
            ),
        };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("policy_cost: {error}");
            return ExitCode::from(1);
        }
    };
    let who = Identity {
        uid,
        gid,
        groups: Vec::new(),
        listed_groups: Vec::new(),
    };
    let mut fenced = 0;
    let _ = loaded.policy.for_each_grant_to(&who, &mut |_| fenced += 1);
    let access = AccessSet::EMPTY.with(Access::Read);
    let lexical = loaded.policy.decide(&who, path.as_bytes(), access, None);
    let last = loaded
        .policy
        .decide(&who, path.as_bytes(), access, Some(FileType::File));
    println!(
        "{} rules, {form}, {fenced} can grant the caller; pre-check: {lexical}; final: {last}",
        loaded.policy.rule_count()
    );
    // As the one-shot helper does (cli.rs): the process ends here, so the policy is not freed.
    std::mem::forget(loaded);
    ExitCode::SUCCESS
}
