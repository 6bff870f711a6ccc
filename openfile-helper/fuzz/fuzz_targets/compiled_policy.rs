//! The compiled policy's decoder. Input whose first byte is even is compiled bytes as they are:
//! decoding must never panic, and whatever decodes must decide and list its rules without a
//! panic or an endless loop. Input whose first byte is odd is a policy text: whatever parses is
//! compiled, damaged at the positions the next bytes name, and decoded; undamaged, it must
//! decide every request exactly as the parsed policy does.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use openfile_helper::policy::{
    AccessSet, CompiledPolicy, FileType, Identity, LookupFailed, NameAnswers, NameResolver, Policy,
    PolicyStamp,
};

struct Resolver;

impl NameResolver for Resolver {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        Ok([("root", 0), ("alice", 1000)]
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, id)| *id))
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        Ok([("root", 0), ("adm", 4)]
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, id)| *id))
    }
}

const PATHS: [&[u8]; 6] = [
    b"/",
    b"/var/log/syslog",
    b"/a/b/c",
    b"/x",
    b"/srv/app/logs/a.log",
    b"/a",
];

fn decisions(policy: &Policy) -> Vec<String> {
    let who = Identity {
        uid: 1000,
        gid: 1000,
        groups: vec![4],
        listed_groups: vec![27],
    };
    let mut decisions = Vec::new();
    for path in PATHS {
        // O_RDONLY, and O_WRONLY|O_CREAT|O_TRUNC.
        for flags in [0, 0o1101] {
            let Ok(access) = AccessSet::from_open_flags(flags) else {
                continue;
            };
            for file_type in [None, Some(FileType::File), Some(FileType::Dir)] {
                decisions.push(policy.decide(&who, path, access, file_type).to_string());
            }
        }
    }
    let _ = policy.for_each_rule(&|_, _| true, &mut |rule| {
        decisions.push(rule.path.as_str().to_owned());
    });
    let _ = policy.for_each_grant_to(&who, &mut |rule| {
        decisions.push(format!("grants {}", rule.origin));
    });
    decisions.push(format!("{:?}", policy.verify()));
    decisions
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok((_, compiled)) = CompiledPolicy::decode(rest.to_vec()) {
            let _ = decisions(&Policy::from_compiled(compiled));
        }
        return;
    }
    let (damage, text) = rest.split_at(rest.len().min(4));
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let file = PathBuf::from("/etc/myopen/policy.toml");
    let Ok(loaded) = Policy::from_sources([(Path::new(&file), text)], &Resolver) else {
        return;
    };
    let names = NameAnswers::default();
    let Some(Ok(mut bytes)) = loaded.policy.compile(&[file], &PolicyStamp::new(), &names) else {
        return;
    };
    let (_, compiled) =
        CompiledPolicy::decode(bytes.clone()).expect("what was just compiled decodes");
    assert_eq!(
        decisions(&Policy::from_compiled(compiled)),
        decisions(&loaded.policy)
    );
    for pair in damage.chunks(2) {
        if let [at, value] = pair {
            let position = usize::from(*at) * bytes.len() / 256;
            bytes[position] ^= value | 1;
        }
    }
    if let Ok((_, compiled)) = CompiledPolicy::decode(bytes) {
        let _ = decisions(&Policy::from_compiled(compiled));
    }
});
