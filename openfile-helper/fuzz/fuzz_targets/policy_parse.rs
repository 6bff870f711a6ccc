//! Arbitrary UTF-8 text as a policy file: parsing must never panic, and whatever parses must
//! decide without panicking.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use openfile_helper::policy::{AccessSet, FileType, Identity, LookupFailed, NameResolver, Policy};

/// Resolves a few fixed names, fails for names starting with `!`, and knows no others, so the
/// known, unknown and failed-lookup paths are all exercised.
struct Resolver;

fn answer(name: &str, known: &[(&str, u32)]) -> Result<Option<u32>, LookupFailed> {
    if name.starts_with('!') {
        // EMFILE, as when the caller lowered the descriptor limit.
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
    let Ok(loaded) = Policy::from_sources([(file, text)], &Resolver) else {
        return;
    };
    let who = Identity {
        uid: 1000,
        gid: 1000,
        groups: vec![4],
        listed_groups: vec![27],
    };
    for path in [&b"/"[..], b"/var/log/syslog", b"/a/b/c", b"/x"] {
        // O_RDONLY, and O_WRONLY|O_CREAT|O_TRUNC.
        for flags in [0, 0o1101] {
            if let Ok(access) = AccessSet::from_open_flags(flags) {
                let _ = loaded.policy.decide(&who, path, access, None).to_string();
                let _ = loaded
                    .policy
                    .decide(&who, path, access, Some(FileType::File))
                    .to_string();
            }
        }
    }
});
