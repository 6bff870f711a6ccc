//! The administrator's commands: `--check`, `--explain`, `--version`, `--help`. None of them
//! opens the path it is asked about.

use crate::config;
use crate::diagnostics::{Exit, PROGRAM, USAGE, fail_with, say};
use crate::fence;
use crate::identity::{self, SystemNames};
use crate::policy::{
    self, AccessSet, CompiledState, FileProblem, FileType, LoadedPolicy, Policy, PolicyError,
    RuleKind,
};
use crate::privilege::{Privilege, Standing};
use crate::resolve::absolute_clean;
use crate::service::load_policy;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use std::ffi::OsStr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `--help`.
pub fn help() -> Exit {
    say(&format!(
        "{PROGRAM}: the privileged half of myopen.\n\n{USAGE}\n\n\
         Started by the myopen library (my_open, mycat) with an inherited Unix-domain socket\n\
         <sockfd#>, a path and open(2) flags <mode>. It checks the policy in\n\
         {}/policy.toml and policy.d/*.toml, opens the path safely, passes the descriptor\n\
         back with one status byte (0, or the errno) and exits with that errno. Every\n\
         decision goes to syslog (authpriv).\n\n\
         --check [FILE]   validate the installed policy (or FILE); exit 0 only if clean\n\
         --compile        store the installed policy compiled, which helpers then read\n\
         \x20                instead of parsing it while its files stay unchanged (root)\n\
         --explain PATH   which rule decides for PATH, and why (--user NAME needs root;\n\
         \x20                --access takes words like read,write; default read)\n",
        config::policy_dir().display()
    ))
}

/// `--version`: the version, the build-time paths, the privilege this installation has, and the
/// process's credentials as the kernel reports them once privilege has been reduced (the state
/// every open starts from: nothing effective, at most two capabilities permitted).
pub fn version(privilege: &Privilege) -> Exit {
    // The fence's roots come from the policy as the caller may read it, like --explain.
    let readable = load_policy(&Privilege::none()).ok();
    say(&format!(
        "{PROGRAM} {}\npolicy: {}/policy.toml, {}/policy.d/*.toml\naudit: syslog authpriv via {}\n{}{}{}",
        env!("CARGO_PKG_VERSION"),
        config::policy_dir().display(),
        config::policy_dir().display(),
        config::SYSLOG_SOCKET,
        privilege_lines(privilege),
        fence::report(
            readable.as_ref().map(|loaded| &loaded.policy),
            privilege.standing().governed_by_policy()
        ),
        process_state()
    ))
}

/// `privilege: <standing>` with what it means, and `kept: <capabilities>`: the one fact that says
/// whether the policy governs this helper's opens.
fn privilege_lines(privilege: &Privilege) -> String {
    let standing = privilege.standing();
    format!(
        "privilege: {standing}\nkept: {}\n",
        privilege.kept_capabilities()
    )
}

/// The credential lines of /proc/self/status, and whether the process is dumpable.
fn process_state() -> String {
    const KEYS: [&str; 8] = [
        "Uid:",
        "Gid:",
        "CapInh:",
        "CapPrm:",
        "CapEff:",
        "CapBnd:",
        "CapAmb:",
        "NoNewPrivs:",
    ];
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut state: String = status
        .lines()
        .filter(|line| KEYS.iter().any(|key| line.starts_with(key)))
        .map(|line| {
            format!(
                "process {}\n",
                line.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    let dumpable = nix::sys::prctl::get_dumpable().map(|dumpable| u8::from(dumpable).to_string());
    state.push_str(&format!(
        "process Dumpable: {}\n",
        dumpable.unwrap_or_else(|errno| myopen::strerror(errno as i32))
    ));
    state
}

/// `--check [FILE]`: syntax, ownership and permissions, unknown users and groups, rules that can
/// never match. Exits 0 only when there is nothing to report.
pub fn check(file: Option<&Path>, privilege: &Privilege) -> Exit {
    let loaded = match file {
        // With the caller's own rights only: checking must not show anyone a policy they may not
        // read (an administrator runs it as root).
        None => load_policy(&Privilege::none()),
        Some(file) => check_one_file(file),
    };
    let mut out = privilege_lines(privilege);
    let clean = match loaded {
        Err(error) => {
            out.push_str(&format!("error: {error}\n"));
            false
        }
        Ok(loaded) => {
            for warning in &loaded.warnings {
                out.push_str(&format!("{warning}\n"));
            }
            let files: Vec<String> = loaded
                .files
                .iter()
                .map(|file| file.display().to_string())
                .collect();
            out.push_str(&format!(
                "{} rules from {} file(s): {}\n",
                loaded.policy.rule_count(),
                files.len(),
                files.join(", ")
            ));
            loaded.warnings.is_empty()
        }
    };
    let compiled_clean = match file {
        Some(_) => true,
        None => {
            let (line, compiled_clean) = compiled_state_line();
            out.push_str(&line);
            compiled_clean
        }
    };
    let clean = clean && compiled_clean;
    out.push_str(if clean {
        "policy OK\n"
    } else {
        "policy NOT OK\n"
    });
    let _ = say(&out);
    Exit::success_if(clean)
}

/// What `--check` says of the compiled policy, and whether that is clean: a stale or missing one
/// only costs speed (helpers read the sources), one that is not trusted is a problem.
fn compiled_state_line() -> (String, bool) {
    let path = policy::compiled_path(Path::new(config::SYSCONFDIR));
    match policy::read_compiled_with(
        Path::new(config::SYSCONFDIR),
        &own_rights,
        &SystemNames::default(),
    ) {
        CompiledState::Current(loaded, _) => match loaded.policy.verify().and_then(|()| {
            // A decode cannot see every damage (a deny's kind flipped to allow decodes): the
            // file must be exactly what compiling the sources now writes.
            match policy::compiled_agrees_with_sources(
                Path::new(config::SYSCONFDIR),
                &own_rights,
                &SystemNames::default(),
            ) {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => Err(policy::Damaged(
                    "not what compiling the policy files now gives",
                )),
            }
        }) {
            Ok(()) => (
                format!(
                    "compiled: {} is current ({} rules), helpers read it\n",
                    path.display(),
                    loaded.policy.rule_count()
                ),
                true,
            ),
            Err(damaged) => (
                format!(
                    "compiled: {} is current but {damaged}: run {PROGRAM} --compile\n",
                    path.display()
                ),
                false,
            ),
        },
        CompiledState::Stale => (
            format!(
                "compiled: {} is stale, helpers parse the policy files instead; run {PROGRAM} --compile\n",
                path.display()
            ),
            true,
        ),
        CompiledState::Absent => (
            format!("compiled: none ({PROGRAM} --compile makes one; large policies load faster)\n"),
            true,
        ),
        CompiledState::Refused(why) => (format!("compiled: not used: {why}\n"), false),
    }
}

/// Opens a directory or file of the policy tree with the caller's own rights: the administrator's
/// commands never raise a capability to read the policy.
fn own_rights(directory: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(directory, name, flags, nix::sys::stat::Mode::empty())
}

/// `--compile`: parses the installed policy as a helper would and stores it compiled, with the
/// stamp of the files read. Only for root, who alone can write the policy tree: the check here
/// says so clearly rather than leaving it to a refused mkdir.
pub fn compile(privilege: &Privilege) -> Exit {
    if !matches!(privilege.standing(), Standing::CallerIsRoot { .. }) {
        return fail_with(&format!(
            "--compile writes {} and must be run by root",
            policy::compiled_path(Path::new(config::SYSCONFDIR)).display()
        ));
    }
    match compile_installed_policy() {
        Ok(report) => say(&report),
        Err(why) => fail_with(&why),
    }
}

fn compile_installed_policy() -> Result<String, String> {
    let compiled = policy::compile(Path::new(config::SYSCONFDIR), &SystemNames::default())
        .map_err(|error| error.to_string())?;
    let mut report: String = compiled
        .loaded
        .warnings
        .iter()
        .map(|warning| format!("{warning}\n"))
        .collect();
    report.push_str(&format!(
        "{} rules from {} file(s) compiled to {} ({} bytes)\n",
        compiled.loaded.policy.rule_count(),
        compiled.loaded.files.len(),
        compiled.path.display(),
        compiled.size
    ));
    Ok(report)
}

/// A file named on the command line: read with the caller's own rights and the installed
/// policy's checks, and parsed.
fn check_one_file(file: &Path) -> Result<LoadedPolicy, PolicyError> {
    let text = policy::read_policy_file(file)?;
    Policy::from_owned_sources(vec![(file.to_path_buf(), text)], &SystemNames::default())
}

/// `--explain [--user NAME] [--access WORDS] PATH`: the lexical decision (the one taken before
/// anything is opened), the deciding rule, and the types that rule allows, from the policy as
/// the caller may read it.
pub fn explain(user: Option<&str>, access: AccessSet, path: &Path, privilege: &Privilege) -> Exit {
    let who = match user {
        None => identity::caller(),
        Some(_) if !nix::unistd::getuid().is_root() => {
            return fail_with("explaining the policy for another user requires root");
        }
        Some(name) => match identity::of_user(name) {
            Ok(Some(who)) => Ok(who),
            Ok(None) => return fail_with(&format!("no such user: {name}")),
            Err(errno) => Err(errno),
        },
    };
    let who = match who {
        Ok(who) => who,
        Err(errno) => {
            return fail_with(&format!(
                "cannot read the identity: {}",
                myopen::strerror(errno as i32)
            ));
        }
    };
    // With the caller's own rights, as `--check`: an explanation quotes the policy (the deciding
    // rule's pattern, a parse error's text), and a policy the caller may not read stays unread.
    // Its decisions are still there to be learnt, one audited request at a time.
    let loaded = match load_policy(&Privilege::none()) {
        Ok(loaded) => loaded,
        Err(
            error @ PolicyError::File {
                problem:
                    FileProblem::Io {
                        errno: libc::EACCES,
                        ..
                    },
                ..
            },
        ) => {
            return fail_with(&format!(
                "cannot read the policy with your own rights: {error}; --explain shows only a \
                 policy you may read (an administrator can run --explain --user NAME as root)"
            ));
        }
        Err(error) => {
            return fail_with(&format!(
                "policy unusable (every request is refused): {error}"
            ));
        }
    };
    let clean = match absolute_clean(path.as_os_str().as_bytes()) {
        Ok(clean) => clean,
        Err(refusal) => return fail_with(&refusal.reason),
    };
    // The decision a request would get: on the object itself when it can be looked at without
    // opening it (stat and realpath, with the caller's own rights), else the lexical one.
    let object = std::fs::canonicalize(path)
        .and_then(|canonical| Ok((std::fs::metadata(&canonical)?, canonical)))
        .ok()
        .and_then(|(metadata, canonical)| {
            FileType::from_mode(metadata.mode())
                .map(|file_type| (canonical.into_os_string().into_vec(), file_type))
        });
    let lexical = loaded.policy.decide(&who, &clean, access, None);
    let decision = match &object {
        Some((canonical, file_type)) if lexical.allowed => {
            loaded
                .policy
                .decide(&who, canonical, access, Some(*file_type))
        }
        _ => lexical,
    };
    let mut out = format!(
        "{}path: {}\nas: uid {} gid {} groups {:?}\naccess: {access}\n",
        privilege_lines(privilege),
        String::from_utf8_lossy(&clean),
        who.uid,
        who.gid,
        who.groups
    );
    match &object {
        Some((canonical, file_type)) => out.push_str(&format!(
            "object: {file_type} at {} (looked at, not opened)\n",
            String::from_utf8_lossy(canonical)
        )),
        None => out.push_str(
            "object: not visible with your own rights; this is the check made before opening\n",
        ),
    }
    out.push_str(&format!("decision: {decision}\n"));
    let (fenced_path, file_type) = match &object {
        Some((canonical, file_type)) => (canonical.as_slice(), Some(*file_type)),
        None => (clean.as_slice(), None),
    };
    out.push_str(&fence::explain(
        &loaded.policy,
        privilege.standing().governed_by_policy(),
        fenced_path,
        access,
        file_type,
    ));
    if let Some(rule) = decision.rule.as_ref().and_then(|origin| {
        loaded
            .policy
            .parsed_rules()
            .unwrap_or_default()
            .iter()
            .find(|rule| &rule.origin == origin)
    }) {
        out.push_str(&format!(
            "rule: {} [[{}]] path = {:?}\n",
            rule.origin,
            rule.kind,
            rule.path.as_str()
        ));
        if decision.allowed && rule.kind == RuleKind::Allow {
            if let Some(types) = rule.types {
                out.push_str(&format!(
                    "at open time the object reached must also be of type: {types}\n"
                ));
            }
            out.push_str("symbolic links are followed; the object reached is checked against the policy again\n");
        }
    }
    let _ = say(&out);
    Exit::success_if(decision.allowed)
}
