//! What a one-shot helper's policy work costs, on its own: load the policy under SYSCONFDIR
//! (the helper's reads and checks, real name lookups), decide one open of PATH for UID:GID (the
//! lexical pre-check and the final check, as the helper makes them), print the decision and exit.
//! Run it under `valgrind --tool=callgrind` with policies of different sizes
//! (`bench/policy-cost.sh`); it is the part of a one-shot request that grows with the policy.
//!
//!     policy_cost SYSCONFDIR PATH UID:GID

use std::path::Path;
use std::process::ExitCode;

use openfile_helper::policy::{self, Access, AccessSet, FileType, Identity};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
    let loaded = match policy::load(
        Path::new(sysconfdir),
        &openfile_helper::SystemNames::default(),
    ) {
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
    let access = AccessSet::EMPTY.with(Access::Read);
    let lexical = loaded.policy.decide(&who, path.as_bytes(), access, None);
    let last = loaded
        .policy
        .decide(&who, path.as_bytes(), access, Some(FileType::File));
    println!(
        "{} rules; pre-check: {lexical}; final: {last}",
        loaded.policy.rule_count()
    );
    // As the one-shot helper does (cli.rs): the process ends here, so the policy is not freed.
    std::mem::forget(loaded);
    ExitCode::SUCCESS
}
