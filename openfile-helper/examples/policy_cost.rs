//! What a one-shot helper's policy work costs, on its own: load the policy under SYSCONFDIR
//! (the helper's reads and checks, real name lookups), decide one open of PATH for UID:GID (the
//! lexical pre-check and the final check, as the helper makes them), print the decision and exit.
//! Run it under `valgrind --tool=callgrind` with policies of different sizes
//! (`bench/policy-cost.sh`); it is the part of a one-shot request that grows with the policy.
//!
//!     policy_cost SYSCONFDIR PATH UID:GID

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use nix::unistd::{Group, User};
use openfile_helper::policy::{
    self, Access, AccessSet, FileType, Identity, LookupFailed, NameResolver,
};

/// The system's user database with a cache per name, as the helper looks names up.
#[derive(Default)]
struct Names {
    users: RefCell<HashMap<String, Option<u32>>>,
    groups: RefCell<HashMap<String, Option<u32>>>,
}

fn cached(
    cache: &RefCell<HashMap<String, Option<u32>>>,
    name: &str,
    lookup: impl FnOnce() -> nix::Result<Option<u32>>,
) -> Result<Option<u32>, LookupFailed> {
    if let Some(answer) = cache.borrow().get(name) {
        return Ok(*answer);
    }
    let answer = lookup().map_err(|errno| LookupFailed {
        errno: errno as i32,
    })?;
    cache.borrow_mut().insert(name.to_owned(), answer);
    Ok(answer)
}

impl NameResolver for Names {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        cached(&self.users, name, || {
            Ok(User::from_name(name)?.map(|user| user.uid.as_raw()))
        })
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        cached(&self.groups, name, || {
            Ok(Group::from_name(name)?.map(|group| group.gid.as_raw()))
        })
    }
}

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
    let loaded = match policy::load(Path::new(sysconfdir), &Names::default()) {
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
        loaded.policy.rules().len()
    );
    // As the one-shot helper does (cli.rs): the process ends here, so the policy is not freed.
    std::mem::forget(loaded);
    ExitCode::SUCCESS
}
