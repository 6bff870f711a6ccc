//! One request from start to finish, the same for one-shot and session mode: who asks (fixed
//! for the process), under which policy (loaded once), the safe open, and the audit line.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::openat;
use nix::sys::stat::Mode;

use crate::audit::{Auditor, Record};
use crate::config;
use crate::diagnostics::complain;
use crate::fence;
use crate::hardening::ResourceLimits;
use crate::identity::{self, SystemNames};
use crate::policy::{self, Identity, LoadedPolicy, Policy, PolicyError};
use crate::privilege::{Need, Privilege, Standing};
use crate::resolve::{self, Opened, Refusal};

/// The policy a helper process works under.
enum PolicyState {
    /// The helper can do no more than its caller: nothing for a policy to protect.
    NotEnforced,
    Loaded(Policy),
    /// Fail closed (P7): every request is refused, for this reason.
    Unusable(String),
}

/// How long a loaded policy serves before it is read again: a session is long-lived, and an
/// administrator's change (a revocation above all) must reach it.
pub const POLICY_MAX_AGE: Duration = Duration::from_secs(1);

/// Why a helper cannot serve at all: the errno every request gets, and the message for stderr.
#[derive(Debug)]
pub struct NotServing {
    pub errno: Errno,
    pub why: String,
}

/// Serves requests for one caller.
pub struct Service<'privilege> {
    privilege: &'privilege Privilege,
    who: Identity,
    user: Option<String>,
    /// The policy and when it was read.
    policy: RefCell<(PolicyState, Instant)>,
    auditor: Auditor,
}

impl<'privilege> Service<'privilege> {
    /// Reads the caller's identity and loads the policy. An unusable policy is not an error here:
    /// it is reported on stderr once and refuses every request until it is fixed. The policy is
    /// read again before a request when the copy in hand is older than [`POLICY_MAX_AGE`].
    ///
    /// A helper whose standing is `refused` serves nothing: every request fails with EPERM.
    pub fn start(privilege: &'privilege Privilege) -> Result<Service<'privilege>, NotServing> {
        if let Standing::Refused { found } = privilege.standing() {
            return Err(NotServing {
                errno: Errno::EPERM,
                why: format!(
                    "refusing to serve: {found}; install it setuid root, with file capabilities \
                     (see openfile-helper(8)), or without privilege"
                ),
            });
        }
        let who = identity::caller().map_err(|errno| NotServing {
            errno,
            why: "cannot read the caller's identity".to_owned(),
        })?;
        let user = identity::user_name(who.uid);
        let policy = read_policy(privilege, None);
        // The audit socket is made before the fence: the request loop may not create sockets.
        let auditor = Auditor::new();
        let loaded = match &policy {
            PolicyState::Loaded(policy) => Some(policy),
            PolicyState::NotEnforced | PolicyState::Unusable(_) => None,
        };
        let governed = privilege.standing().governed_by_policy();
        fence::enclose(
            loaded,
            governed,
            privilege,
            &fence::HelperPaths::installed(),
        )
        // A helper that cannot confine itself (descriptors or memory short) refuses as the fence
        // would have: EACCES, fail closed, never served without its fence.
        .map_err(|error| NotServing {
            errno: Errno::EACCES,
            why: error.to_string(),
        })?;
        Ok(Service {
            privilege,
            who,
            user,
            policy: RefCell::new((policy, Instant::now())),
            auditor,
        })
    }

    /// Opens `path` for the caller if allowed, logs the decision, and returns the outcome.
    pub fn handle(&self, path: &OsStr, flags: i32, creation_mode: u32) -> Result<Opened, Refusal> {
        let mut policy = self.policy.borrow_mut();
        if policy.1.elapsed() >= POLICY_MAX_AGE {
            *policy = (read_policy(self.privilege, Some(&policy.0)), Instant::now());
        }
        let outcome = match &policy.0 {
            PolicyState::NotEnforced => {
                resolve::open_checked(None, &self.who, self.privilege, path, flags, creation_mode)
            }
            PolicyState::Loaded(policy) => resolve::open_checked(
                Some(policy),
                &self.who,
                self.privilege,
                path,
                flags,
                creation_mode,
            ),
            PolicyState::Unusable(why) => Err(Refusal {
                errno: Errno::EACCES,
                canonical: None,
                decision: None,
                reason: format!("policy unusable: {why}"),
                by_policy: true,
            }),
        };
        self.audit(path, flags, &outcome);
        outcome
    }

    fn audit(&self, path: &OsStr, flags: i32, outcome: &Result<Opened, Refusal>) {
        let note = match self.privilege.standing() {
            Standing::Unprivileged => "helper not privileged: the caller's own rights",
            Standing::CallerIsRoot { .. } => "caller is root: root's own rights",
            Standing::Governed { .. } | Standing::Refused { .. } => "",
        };
        let (granted, canonical, rule, reason) = match outcome {
            Ok(opened) => (
                true,
                Some(opened.canonical.as_slice()),
                opened.decision.rule.as_ref(),
                note,
            ),
            Err(refusal) => (
                false,
                refusal.canonical.as_deref(),
                refusal
                    .decision
                    .as_ref()
                    .and_then(|decision| decision.rule.as_ref()),
                refusal.reason.as_str(),
            ),
        };
        self.auditor.log(&Record {
            uid: self.who.uid,
            user: self.user.as_deref(),
            path: path.as_bytes(),
            canonical,
            flags,
            granted,
            rule: rule.map(ToString::to_string),
            reason,
        });
    }
}

/// The policy this helper works under, read now. When it is unusable and was not already so
/// (`before`), the caller is told once on stderr.
fn read_policy(privilege: &Privilege, before: Option<&PolicyState>) -> PolicyState {
    if !privilege.standing().governed_by_policy() {
        return PolicyState::NotEnforced;
    }
    // A load that ran short of a resource must fail, never yield a policy that lost a rule: pin
    // the limits, load, and refuse the result if someone lowered them meanwhile.
    let limits = ResourceLimits::pin();
    let loaded = load_policy(privilege);
    let limits_held = limits.is_ok_and(|limits| limits.unchanged());
    match loaded {
        Ok(_) if !limits_held => {
            PolicyState::Unusable("resource limits were lowered while the policy was read".into())
        }
        Ok(loaded) => PolicyState::Loaded(loaded.policy),
        Err(error) => {
            if !matches!(before, Some(PolicyState::Unusable(_))) {
                complain(&format!(
                    "policy unusable, refusing every request: {}",
                    for_the_caller(&error)
                ));
            }
            // The audit log (authpriv, read by root) gets the whole story.
            PolicyState::Unusable(error.to_string())
        }
    }
}

/// What the caller may be told about an unusable policy. Ownership and mode problems are
/// metadata and say what to fix; a parse error's message can quote the policy's text, which the
/// caller may not be allowed to read, so it is reduced to the file and line.
fn for_the_caller(error: &PolicyError) -> String {
    match error {
        PolicyError::Parse { file, line, .. } => format!(
            "{}:{line}: does not parse (details in the audit log, or run openfile-helper --check as root)",
            file.display()
        ),
        PolicyError::Lookup {
            file, line, errno, ..
        } => format!(
            "{}:{line}: a user or group name cannot be looked up ({})",
            file.display(),
            myopen::strerror(*errno)
        ),
        PolicyError::File { .. } => error.to_string(),
    }
}

/// Loads the installed policy. Each directory and file is opened with the caller's own rights,
/// and again with CAP_DAC_READ_SEARCH only when that open is refused (a policy the caller may not
/// read, an administrator's choice like sudoers' 0440): the capability is raised for those opens
/// alone. Reading, listing and name resolution never run with it.
pub fn load_policy(privilege: &Privilege) -> Result<LoadedPolicy, PolicyError> {
    let sources =
        policy::read_sources_with(Path::new(config::SYSCONFDIR), &|directory, name, flags| {
            privilege.with_if_refused(Need::ReadSearch, || {
                openat(directory, name, flags, Mode::empty())
            })
        })?;
    Policy::from_sources(
        sources
            .iter()
            .map(|(path, text)| (path.as_path(), text.as_str())),
        &SystemNames::default(),
    )
}
