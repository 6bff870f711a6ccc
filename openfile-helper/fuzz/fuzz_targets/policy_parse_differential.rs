//! Arbitrary UTF-8 text as a policy file, read by the helper's parser and by the `toml` crate
//! (`toml_reference`, the reference the unit tests use too): both refuse it, or both give the
//! same rules and warnings. The one difference allowed is TOML the helper's parser leaves out on
//! purpose, refused by name.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use openfile_helper::policy::{LookupFailed, NameResolver, Policy, Warning};

/// What `toml_reference` calls `crate::policy`.
mod policy {
    pub use openfile_helper::policy::*;
}

#[path = "../../src/policy/toml_reference.rs"]
#[allow(dead_code)]
mod toml_reference;

/// A few fixed names, a failed lookup for names starting with `!`, and no others.
struct Resolver;

fn answer(name: &str, known: &[(&str, u32)]) -> Result<Option<u32>, LookupFailed> {
    if name.starts_with('!') {
        return Err(LookupFailed { errno: 24 });
    }
    Ok(known
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, id)| *id))
}

impl NameResolver for Resolver {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        answer(name, &[("root", 0), ("alice", 1000)])
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        answer(name, &[("root", 0), ("adm", 4)])
    }
}

fuzz_target!(|text: &str| {
    let file = Path::new("/etc/myopen/policy.toml");
    let ours = Policy::parse(text, file, &Resolver);
    let theirs = toml_reference::parse_policy_with_toml(text, file, &Resolver);
    match (ours, theirs) {
        (Ok((our_rules, mut our_warnings)), Ok((their_rules, mut their_warnings))) => {
            assert_eq!(our_rules, their_rules, "{text:?}");
            let key = |warning: &Warning| (warning.line, warning.message.clone());
            our_warnings.sort_by_key(key);
            their_warnings.sort_by_key(key);
            assert_eq!(our_warnings, their_warnings, "{text:?}");
        }
        (Err(_), Err(_)) => {}
        (Err(ours), Ok(_)) => assert!(
            ours.to_string().contains("not supported in a policy file"),
            "only the helper refuses {text:?}: {ours}"
        ),
        (Ok(_), Err(theirs)) => panic!("only toml refuses {text:?}: {theirs}"),
    }
});
