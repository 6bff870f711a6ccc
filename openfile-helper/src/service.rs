//! One request from start to finish, the same for one-shot and session mode: who asks (fixed
//! for the process), under which policy (loaded once), the safe open, and the audit line.

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use crate::audit::{self, Auditor, DaemonPeer, Delivery, Record, Verdict};
use crate::config;
use crate::diagnostics::complain;
use crate::fence;
use crate::hardening::ResourceLimits;
use crate::identity::{self, SystemNames};
use crate::policy::{
    self, CompiledState, Identity, LoadedPolicy, Policy, PolicyError, PolicyStamp,
};
use crate::privilege::{Need, Privilege, Standing};
use crate::resolve::{self, Approved, Opened, Progress, Refusal};

/// The policy a helper process works under.
enum PolicyState {
    /// The helper can do no more than its caller: nothing for a policy to protect.
    NotEnforced,
    /// With the stamp of the files it was read from, to tell whether they changed since.
    Loaded(Policy, PolicyStamp),
    /// Fail closed (P7): every request is refused, for this reason.
    Unusable(String),
    /// This name database was replaced (by rename, as useradd and vipw do) since the fence was
    /// drawn: the fence holds the old inode, and no reread in this process can look the policy's
    /// names up in the new one. Fail closed, and end: the request is refused with the restart
    /// reply, and a new process, fenced from the new inode, serves.
    Outgrown(PathBuf),
}

/// How long a loaded policy serves before the files are looked at again (fstat, no read), and
/// read again if they changed: a session is long-lived, and an administrator's change (a
/// revocation above all) must reach it.
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
    /// The peer process of a `myopend` connection, for the audit line; `None` for the helper.
    daemon_peer: Option<DaemonPeer>,
    /// Whether the policy is looked at again when it ages ([`POLICY_MAX_AGE`]): not for the one
    /// request of a one-shot helper, whose fence no longer reaches the policy tree.
    rereads: bool,
}

/// How many requests a service will answer: it decides how far its fence reaches and whether
/// the policy is looked at again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extent {
    /// A one-shot helper's single request.
    OneRequest,
    /// A session's or a daemon worker's, until the client goes.
    Requests,
}

/// What an idle `myopend` worker prepares before any connection arrives, from the policy alone:
/// the policy read with the same checks as any helper's (fail closed), and the audit socket,
/// made while no peer can touch the worker's limits (a peer that shares the worker's uid could
/// otherwise lower its descriptor limit before the socket exists, and silence its refusals).
pub struct Armed {
    policy: PolicyState,
    auditor: Auditor,
}

impl Armed {
    /// Reads the policy under `privilege` ([`WaitingWorker::privilege`]: the standing every
    /// peer will get) and makes the audit socket.
    ///
    /// [`WaitingWorker::privilege`]: crate::privilege::WaitingWorker::privilege
    pub fn arm(privilege: &Privilege) -> Armed {
        Armed {
            policy: read_policy(privilege, None, Extent::Requests),
            auditor: Auditor::new(),
        }
    }
}

/// A helper whose standing is `refused` serves nothing.
fn refuse_a_refused_standing(privilege: &Privilege) -> Result<(), NotServing> {
    match privilege.standing() {
        Standing::Refused { found } => Err(NotServing {
            errno: Errno::EPERM,
            why: format!(
                "refusing to serve: {found}; install it setuid root, with file capabilities \
                 (see openfile-helper(8)), or without privilege"
            ),
        }),
        _ => Ok(()),
    }
}

impl<'privilege> Service<'privilege> {
    /// Reads the caller's identity and loads the policy. An unusable policy is not an error here:
    /// it is reported on stderr once and refuses every request until it is fixed. The policy is
    /// read again before a request when the copy in hand is older than [`POLICY_MAX_AGE`].
    ///
    /// A helper whose standing is `refused` serves nothing: every request fails with EPERM.
    ///
    /// `extent`: a one-shot helper serves a single request, so its fence holds only what that
    /// request can need ([`fence::Serving::OneRequest`]) and it never rereads the policy.
    pub fn start(
        privilege: &'privilege Privilege,
        extent: Extent,
    ) -> Result<Service<'privilege>, NotServing> {
        let who = identity::caller().map_err(|errno| NotServing {
            errno,
            why: "cannot read the caller's identity".to_owned(),
        })?;
        Service::serving(privilege, who, extent)
    }

    /// [`Service::start`] for a `myopend` worker that `armed` itself before its connection
    /// came: `who` is the connection's peer as the kernel recorded it (`SO_PEERCRED`,
    /// `SO_PEERGROUPS`), `user` its login name (looked up with its groups, before the switch),
    /// `peer` its process, named in every audit line with `mode=daemon`.
    /// `privilege` is the peer's (after the switch). The policy armed with is looked at again
    /// now (fstat, no read) and read again if it changed, so that a worker that waited long
    /// serves the policy as it is at the hand-over; then the fence
    /// ([`fence::enclose_armed`]).
    pub fn for_peer(
        privilege: &'privilege Privilege,
        who: Identity,
        user: Option<String>,
        peer: DaemonPeer,
        armed: Armed,
    ) -> Result<Service<'privilege>, NotServing> {
        refuse_a_refused_standing(privilege)?;
        let Armed { policy, auditor } = armed;
        let unchanged = matches!(&policy, PolicyState::Loaded(_, stamp)
            if policy_unchanged(privilege, stamp));
        let policy = match unchanged {
            true => policy,
            false => read_policy(privilege, Some(&policy), Extent::Requests),
        };
        let loaded = match &policy {
            PolicyState::Loaded(policy, _) => Some(policy),
            PolicyState::NotEnforced | PolicyState::Unusable(_) | PolicyState::Outgrown(_) => None,
        };
        fence::enclose_armed(
            loaded,
            privilege.standing().governed_by_policy(),
            privilege,
            &fence::HelperPaths::installed(),
        )
        .map_err(|error| NotServing {
            errno: Errno::EACCES,
            why: error.to_string(),
        })?;
        // A worker never forks: its requests read and reopen through one directory, with no
        // getpid(2) each (two a request before).
        resolve::settle_in_this_process();
        Ok(Service {
            privilege,
            who,
            user,
            policy: RefCell::new((policy, Instant::now())),
            auditor,
            daemon_peer: Some(peer),
            rereads: true,
        })
    }

    fn serving(
        privilege: &'privilege Privilege,
        who: Identity,
        extent: Extent,
    ) -> Result<Service<'privilege>, NotServing> {
        refuse_a_refused_standing(privilege)?;
        let user = identity::user_name(who.uid);
        let policy = read_policy(privilege, None, extent);
        // The audit socket is made before the fence: the request loop may not create sockets.
        let auditor = Auditor::new();
        let loaded = match &policy {
            PolicyState::Loaded(policy, _) => Some(policy),
            PolicyState::NotEnforced | PolicyState::Unusable(_) | PolicyState::Outgrown(_) => None,
        };
        let governed = privilege.standing().governed_by_policy();
        let serving = match extent {
            Extent::OneRequest => fence::Serving::OneRequest { caller: &who },
            Extent::Requests => fence::Serving::Requests,
        };
        fence::enclose(
            loaded,
            governed,
            privilege,
            serving,
            &fence::HelperPaths::installed(),
        )
        // A helper that cannot confine itself (descriptors or memory short) refuses as the fence
        // would have: EACCES, fail closed, never served without its fence.
        .map_err(|error| NotServing {
            errno: Errno::EACCES,
            why: error.to_string(),
        })?;
        // The process that serves is final here (a daemon worker forked before its connection):
        // each request then reads and reopens through one directory, with no getpid(2).
        resolve::settle_in_this_process();
        Ok(Service {
            privilege,
            who,
            user,
            policy: RefCell::new((policy, Instant::now())),
            auditor,
            daemon_peer: None,
            rereads: extent == Extent::Requests,
        })
    }

    /// Opens `path` for the caller if allowed, logs the decision, and returns the outcome.
    ///
    /// No grant without its record: when the policy governs, the grant's audit record is sent
    /// just before the open takes effect (before O_TRUNC truncates, before O_CREAT creates), and
    /// if it cannot be delivered within [`audit::DELIVERY_BOUND`] the request is refused with
    /// EAGAIN and nothing happens to the file. A grant whose open then fails gets a second record,
    /// `decision=failed`. Refusals are logged if syslog takes the record at once.
    pub fn handle(&self, path: &OsStr, flags: i32, creation_mode: u32) -> Result<Opened, Refusal> {
        let mut policy = self.policy.borrow_mut();
        if self.rereads && policy.1.elapsed() >= POLICY_MAX_AGE {
            let unchanged = matches!(&policy.0, PolicyState::Loaded(_, stamp)
                if policy_unchanged(self.privilege, stamp));
            if !unchanged {
                policy.0 = read_policy(self.privilege, Some(&policy.0), Extent::Requests);
            }
            policy.1 = Instant::now();
        }
        // A helper that can do no more than its caller grants nothing the log must vouch for.
        let (governing, delivery) = match &policy.0 {
            PolicyState::Loaded(policy, _) => (Some(policy), Delivery::Required),
            PolicyState::NotEnforced | PolicyState::Unusable(_) | PolicyState::Outgrown(_) => {
                (None, Delivery::BestEffort)
            }
        };
        let granted = Cell::new(false);
        let record_grant = |grant: &Approved<'_>| {
            let record = Record {
                canonical: Some(grant.canonical),
                rule: grant.decision.rule.as_ref().map(ToString::to_string),
                ..self.record(path, flags, Verdict::Granted, self.standing_note())
            };
            match self.auditor.log(&record, delivery) {
                Err(undelivered) if delivery == Delivery::Required => {
                    complain(&format!(
                        "{}: not opened: {undelivered}",
                        audit::escape(path.as_bytes())
                    ));
                    Err(Refusal {
                        progress: Some(Progress::Canonical(grant.canonical.to_vec())),
                        decision: Some(grant.decision.clone()),
                        ..Refusal::new(Errno::EAGAIN, format!("not opened: {undelivered}"), false)
                    })
                }
                _ => {
                    granted.set(true);
                    Ok(())
                }
            }
        };
        let outcome = match &policy.0 {
            // A daemon worker shares no working directory with its peer: a relative path would
            // name something under the daemon's. The library sends every path whole.
            _ if self.daemon_peer.is_some() && !path.as_bytes().starts_with(b"/") => {
                Err(Refusal::new(
                    Errno::EINVAL,
                    "relative path: myopend needs an absolute one".to_owned(),
                    false,
                ))
            }
            PolicyState::NotEnforced | PolicyState::Loaded(..) => resolve::open_checked(
                governing,
                &self.who,
                self.privilege,
                path,
                flags,
                creation_mode,
                &record_grant,
            ),
            PolicyState::Unusable(why) => Err(Refusal::new(
                Errno::EACCES,
                format!("policy unusable: {why}"),
                true,
            )),
            PolicyState::Outgrown(database) => Err(Refusal {
                ends_serving: true,
                ..Refusal::new(
                    Errno::ESTALE,
                    format!(
                        "{} was replaced since this process was fenced; it ends so that a new \
                         one can read it",
                        database.display()
                    ),
                    false,
                )
            }),
        };
        if let Err(refusal) = &outcome {
            let verdict = if granted.get() {
                Verdict::Failed
            } else {
                Verdict::Denied
            };
            self.audit_refusal(path, flags, refusal, verdict);
        }
        outcome
    }

    /// A record of this caller's request for `path` with `flags`, nothing resolved yet.
    fn record<'a>(
        &'a self,
        path: &'a OsStr,
        flags: i32,
        verdict: Verdict,
        reason: &'a str,
    ) -> Record<'a> {
        Record {
            uid: self.who.uid,
            user: self.user.as_deref(),
            path: path.as_bytes(),
            cleaned: None,
            canonical: None,
            reached: None,
            flags,
            verdict,
            rule: None,
            reason,
            daemon_peer: self.daemon_peer,
        }
    }

    /// What a grant's record says about the rights it used, when they are not the policy's.
    fn standing_note(&self) -> &'static str {
        match self.privilege.standing() {
            Standing::Unprivileged => "helper not privileged: the caller's own rights",
            Standing::CallerIsRoot { .. } => "caller is root: root's own rights",
            Standing::Governed { .. } | Standing::Refused { .. } => "",
        }
    }

    /// Logs a refusal if syslog takes it at once: the refusal stands either way.
    fn audit_refusal(&self, path: &OsStr, flags: i32, refusal: &Refusal, verdict: Verdict) {
        let mut record = Record {
            rule: refusal
                .decision
                .as_ref()
                .and_then(|decision| decision.rule.as_ref())
                .map(ToString::to_string),
            ..self.record(path, flags, verdict, &refusal.reason)
        };
        match &refusal.progress {
            Some(Progress::Cleaned(cleaned)) => record.cleaned = Some(cleaned),
            Some(Progress::Reached(reached)) => record.reached = Some(reached),
            Some(Progress::Canonical(canonical)) => record.canonical = Some(canonical),
            None => {}
        }
        let _ = self.auditor.log(&record, Delivery::BestEffort);
    }
}

/// The policy this helper works under, read now, for a service of `extent`. When it is unusable
/// and was not already so (`before`), the caller is told once on stderr.
fn read_policy(privilege: &Privilege, before: Option<&PolicyState>, extent: Extent) -> PolicyState {
    if !privilege.standing().governed_by_policy() {
        return PolicyState::NotEnforced;
    }
    if let Some(database) = replaced_name_database() {
        complain(&format!(
            "{} was replaced since this session began, and this process's fence cannot reach \
             the new file to look the policy's names up; ending the session so that a new one \
             can read it",
            database.display()
        ));
        return PolicyState::Outgrown(database);
    }
    // A load that ran short of a resource must fail, never yield a policy that lost a rule: pin
    // the limits, load, and refuse the result if someone lowered them meanwhile.
    let limits = ResourceLimits::pin();
    let loaded = load_serving_policy(privilege, extent);
    let limits_held = limits.is_ok_and(|limits| limits.unchanged());
    match loaded {
        Ok(_) if !limits_held => {
            PolicyState::Unusable("resource limits were lowered while the policy was read".into())
        }
        Ok((loaded, stamp)) => PolicyState::Loaded(loaded.policy, stamp),
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

/// A name database the fence holds by an inode its path no longer names (`None` before the
/// fence: nothing held yet). A reread then cannot be trusted whatever it returns: musl's lookups
/// fail with EACCES, but glibc's NSS goes on to the next source (`files systemd`), which says
/// "no such name", and the policy would be read with its names unknown.
fn replaced_name_database() -> Option<PathBuf> {
    fence::current()?
        .replaced(&fence::HelperPaths::installed().name_databases)
        .map(Path::to_path_buf)
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
    load_stamped_policy(privilege).map(|(loaded, _)| loaded)
}

/// [`load_policy`], with the stamp of the files read.
fn load_stamped_policy(privilege: &Privilege) -> Result<(LoadedPolicy, PolicyStamp), PolicyError> {
    let (sources, stamp) = policy::read_sources_stamped_with(
        Path::new(config::SYSCONFDIR),
        &|directory, name, flags| open_policy_entry(privilege, directory, name, flags),
    )?;
    // The texts are given up, not copied: each rule's glob keeps its file's text.
    let loaded = Policy::from_owned_sources(sources, &SystemNames::default())?;
    Ok((loaded, stamp))
}

/// The policy a serving helper works under: the compiled policy when it was compiled from exactly
/// the files the policy has now (`openfile-helper --compile`), so that a large policy is not
/// parsed again by every helper; otherwise the sources, read and parsed. A compiled policy that
/// is stale, missing, damaged or not trusted is never used, only passed over: the sources are
/// the policy, and reading them reports any problem they have.
///
/// A one-shot helper reads only the rules its request needs. A service of many requests has the
/// compiled rules decoded into memory at once (still about a third of what parsing them costs):
/// it draws its fence from every rule, and may do so for each connection (a daemon worker).
fn load_serving_policy(
    privilege: &Privilege,
    extent: Extent,
) -> Result<(LoadedPolicy, PolicyStamp), PolicyError> {
    if !policy::compiled_may_exist(Path::new(config::SYSCONFDIR)) {
        return load_stamped_policy(privilege);
    }
    let compiled = policy::read_compiled_with(
        Path::new(config::SYSCONFDIR),
        &|directory, name, flags| open_policy_entry(privilege, directory, name, flags),
        &SystemNames::default(),
    );
    let current = match compiled {
        CompiledState::Current(loaded, stamp) => match extent {
            Extent::OneRequest => Some((loaded, stamp)),
            Extent::Requests => match loaded.policy.in_memory() {
                Ok(policy) => Some((LoadedPolicy { policy, ..loaded }, stamp)),
                Err(_) => None,
            },
        },
        CompiledState::Stale | CompiledState::Absent | CompiledState::Refused(_) => None,
    };
    match current {
        Some(current) => Ok(current),
        None => load_stamped_policy(privilege),
    }
}

/// Whether the installed policy is still the one `stamp` was taken of, by fstat alone (through
/// the checks of a read, with the same rights). Anything that cannot be told, an error included,
/// counts as a change, so that the policy is read again and any problem reported by that read.
fn policy_unchanged(privilege: &Privilege, stamp: &PolicyStamp) -> bool {
    policy::stamp_with(Path::new(config::SYSCONFDIR), &|directory, name, flags| {
        open_policy_entry(privilege, directory, name, flags)
    })
    .is_ok_and(|now| now.unchanged_since(stamp))
}

/// Opens one directory or file of the policy tree: with the caller's own rights, and again with
/// CAP_DAC_READ_SEARCH only when that is refused.
fn open_policy_entry(
    privilege: &Privilege,
    directory: BorrowedFd<'_>,
    name: &OsStr,
    flags: OFlag,
) -> Result<OwnedFd, Errno> {
    privilege.with_if_refused(Need::ReadSearch, || {
        openat(directory, name, flags, Mode::empty())
    })
}
