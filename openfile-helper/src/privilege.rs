//! Least privilege: the helper holds nothing effective except during the one open that needs it,
//! and whatever it holds, the policy governs.
//!
//! At start the helper reads from the kernel, once, everything that says what exec gave it: the
//! uid and gid triples, the capability sets, the securebits and `AT_SECURE`. From these it
//! computes one [`Standing`], and nothing else decides whether the policy applies or which
//! capability may be raised:
//!
//! | standing | when | opens |
//! | --- | --- | --- |
//! | `governed` | it kept CAP_DAC_READ_SEARCH and/or CAP_DAC_OVERRIDE, and the caller is not unrestricted root | every open is judged by the policy; only the kept capabilities are ever raised |
//! | `caller-is-root` | the caller is unrestricted root: uid 0 in all three ids, SECBIT_NOROOT clear, `AT_SECURE` unset | root's own rights; no policy (root could open the file itself) |
//! | `unprivileged` | exec gave it nothing (a plain install, or a setuid-root binary started by a root whose SECBIT_NOROOT made exec grant nothing) | the caller's own rights; no policy |
//! | `refused` | exec gave it something it does not use: setuid to a user other than root, setgid, or only unrelated capabilities | nothing: every request is refused with EPERM |
//!
//! A helper that kept a capability can only be `governed` or `caller-is-root`: no value of
//! [`Standing`] holds a capability and skips the policy for a caller other than unrestricted root.
//! Every other capability is dropped. Once the standing is known the process reaches the same
//! state in every case: every uid and gid is the caller's real one, the permitted set is exactly
//! the kept capabilities, effective, inheritable and ambient sets are empty, no_new_privs is set
//! and the process is not dumpable. (The bounding set is left alone, except by `myopend`'s
//! listener, which cuts it once for itself and every worker it forks: see
//! [`Privilege::establish`] and [`ListenerPrivilege`].)

use std::fmt;

use caps::{CapSet, Capability};
use nix::errno::Errno;
use nix::unistd::{Gid, ResGid, ResUid, Uid, getresgid, getresuid, setresgid, setresuid};

use crate::sys;

/// A set of capabilities, as the kernel's 64-bit mask: the helper's sets hold at most two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapabilitySet(u64);

impl CapabilitySet {
    /// No capability.
    pub const EMPTY: CapabilitySet = CapabilitySet(0);

    /// CAP_DAC_OVERRIDE alone (capability number 1).
    pub const DAC_OVERRIDE: CapabilitySet = CapabilitySet(1 << 1);
    /// CAP_DAC_READ_SEARCH alone (capability number 2).
    pub const DAC_READ_SEARCH: CapabilitySet = CapabilitySet(1 << 2);
    /// The capabilities the helper may ever use.
    pub const USABLE: CapabilitySet =
        CapabilitySet(CapabilitySet::DAC_OVERRIDE.0 | CapabilitySet::DAC_READ_SEARCH.0);

    /// The set with exactly the bits of the kernel mask `mask`.
    #[cfg(test)]
    const fn from_mask(mask: u64) -> CapabilitySet {
        CapabilitySet(mask)
    }

    /// The kernel's bit mask.
    #[cfg(test)]
    const fn mask(self) -> u64 {
        self.0
    }

    /// Whether `capability` is in the set.
    pub fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bitmask() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The capabilities in both sets.
    pub fn intersection(self, other: CapabilitySet) -> CapabilitySet {
        CapabilitySet(self.0 & other.0)
    }
}

/// The calling thread's effective, permitted and inheritable sets, read or installed together in
/// one system call each: the kernel's interface takes all three at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ThreadCapabilities {
    effective: CapabilitySet,
    permitted: CapabilitySet,
    inheritable: CapabilitySet,
}

impl ThreadCapabilities {
    fn read() -> Result<ThreadCapabilities, Errno> {
        let masks = sys::capabilities()?;
        Ok(ThreadCapabilities {
            effective: CapabilitySet(masks.effective),
            permitted: CapabilitySet(masks.permitted),
            inheritable: CapabilitySet(masks.inheritable),
        })
    }

    /// Makes the thread's three sets exactly these.
    fn install(self) -> Result<(), Errno> {
        sys::set_capabilities(sys::CapabilityMasks {
            effective: self.effective.0,
            permitted: self.permitted.0,
            inheritable: self.inheritable.0,
        })
    }
}

impl fmt::Display for CapabilitySet {
    /// Lower-case names joined by commas, CAP_DAC_READ_SEARCH first; `none` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut held: Vec<Capability> = caps::all()
            .into_iter()
            .filter(|capability| self.contains(*capability))
            .collect();
        // The two usable capabilities first, the way the documentation names them.
        held.sort_by_key(|capability| match capability {
            Capability::CAP_DAC_READ_SEARCH => (0, 0),
            Capability::CAP_DAC_OVERRIDE => (1, 0),
            other => (2, other.index()),
        });
        let names: Vec<String> = held
            .iter()
            .map(|capability| capability.to_string().to_lowercase())
            .collect();
        f.write_str(&names.join(","))
    }
}

/// How the helper came to hold a capability its caller lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// setuid root, started by a user other than root.
    SetuidRoot,
    /// File capabilities (or capabilities a restricted root caller passed on).
    FileCapabilities,
    /// A worker of `myopend`: root's listener forked it and it switched to the credentials the
    /// kernel recorded for its connection's peer (`SO_PEERCRED`, `SO_PEERGROUPS`).
    Daemon,
}

/// What the helper holds and, in the same fact, whether the policy governs its opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// It can do more than its caller: every open is judged by the policy, and only `kept` (never
    /// empty) is ever raised.
    Governed { kept: CapabilitySet, grant: Grant },
    /// The caller is unrestricted root and could open anything itself: root's own rights (the
    /// two usable capabilities, `kept`), no policy.
    CallerIsRoot { kept: CapabilitySet },
    /// Exec gave it nothing: the caller's own rights, no policy.
    Unprivileged,
    /// Exec gave it something it does not use; it serves nothing. The text names what was found.
    Refused { found: String },
}

impl Standing {
    /// Whether the policy judges every open: exactly when the helper can do more than its caller.
    pub fn governed_by_policy(&self) -> bool {
        matches!(self, Standing::Governed { .. })
    }

    /// The capabilities that may be raised around an open.
    fn kept(&self) -> CapabilitySet {
        match self {
            Standing::Governed { kept, .. } | Standing::CallerIsRoot { kept } => *kept,
            Standing::Unprivileged | Standing::Refused { .. } => CapabilitySet::EMPTY,
        }
    }

    /// `governed`, `caller-is-root`, `unprivileged` or `refused`.
    pub fn word(&self) -> &'static str {
        match self {
            Standing::Governed { .. } => "governed",
            Standing::CallerIsRoot { .. } => "caller-is-root",
            Standing::Unprivileged => "unprivileged",
            Standing::Refused { .. } => "refused",
        }
    }

    /// The standing of a daemon worker that holds `permitted` before it becomes its peer.
    ///
    /// Always governed when it holds a usable capability, a peer with uid 0 included: the daemon
    /// cannot read a peer's capability sets, securebits or `AT_SECURE` from the kernel (only
    /// `/proc/<pid>`, which a process may change under it, has them), so it cannot tell an
    /// unrestricted root from a root whose capabilities were dropped, and the table's
    /// `caller-is-root` needs exactly that fact. An unrestricted root never needs the daemon: its
    /// own open succeeds first.
    fn for_peer(permitted: CapabilitySet) -> Standing {
        let kept = permitted.intersection(CapabilitySet::USABLE);
        if kept.is_empty() {
            Standing::Refused {
                found: "myopend holds neither CAP_DAC_READ_SEARCH nor CAP_DAC_OVERRIDE".to_owned(),
            }
        } else {
            Standing::Governed {
                kept,
                grant: Grant::Daemon,
            }
        }
    }

    /// The standing the kernel's `facts` (read before anything was changed) give.
    fn of(facts: &KernelFacts) -> Standing {
        let ids_unchanged_by_exec = facts.uids.effective == facts.uids.real
            && facts.uids.saved == facts.uids.real
            && facts.gids.effective == facts.gids.real
            && facts.gids.saved == facts.gids.real;
        let unrestricted_root = facts.uids.real.is_root()
            && ids_unchanged_by_exec
            && !facts.no_root
            && !facts.secure_exec;
        let kept = facts.permitted.intersection(CapabilitySet::USABLE);
        if unrestricted_root {
            Standing::CallerIsRoot { kept }
        } else if !kept.is_empty() {
            let grant = if facts.uids.effective.is_root() && !facts.uids.real.is_root() {
                Grant::SetuidRoot
            } else {
                Grant::FileCapabilities
            };
            Standing::Governed { kept, grant }
        } else if facts.secure_exec || !ids_unchanged_by_exec {
            Standing::Refused {
                found: facts.describe_unused_grant(),
            }
        } else {
            // Without AT_SECURE nothing was granted by exec: any capability held came from the
            // caller's own ambient set, and is dropped.
            Standing::Unprivileged
        }
    }
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Standing::Governed { kept, grant } => write!(
                f,
                "{} ({}, keeps {kept}: every open is judged by the policy)",
                self.word(),
                match grant {
                    Grant::SetuidRoot => "setuid root",
                    Grant::FileCapabilities => "file capabilities",
                    Grant::Daemon => "myopend worker",
                }
            ),
            Standing::CallerIsRoot { .. } => {
                f.write_str("caller-is-root (opens use root's own rights, no policy applies)")
            }
            Standing::Unprivileged => {
                f.write_str("unprivileged (not privileged: opens use the caller's own rights, no policy applies)")
            }
            Standing::Refused { found } => write!(f, "refused ({found}: serves nothing)"),
        }
    }
}

/// Everything the kernel says about what exec gave the helper, read once before any change.
#[derive(Debug, Clone)]
struct KernelFacts {
    uids: ResUid,
    gids: ResGid,
    permitted: CapabilitySet,
    /// SECBIT_NOROOT: uid 0 does not bring capabilities on exec.
    no_root: bool,
    /// AT_SECURE: exec changed credentials (setuid, setgid, or capabilities gained).
    secure_exec: bool,
}

impl KernelFacts {
    fn read() -> Result<KernelFacts, Errno> {
        Ok(KernelFacts {
            uids: getresuid()?,
            gids: getresgid()?,
            permitted: ThreadCapabilities::read()?.permitted,
            no_root: sys::securebits()? & libc::SECBIT_NOROOT as u32 != 0,
            secure_exec: sys::secure_exec(),
        })
    }

    /// What a `refused` helper found, for the administrator.
    fn describe_unused_grant(&self) -> String {
        let mut found = Vec::new();
        if self.uids.effective != self.uids.real || self.uids.saved != self.uids.real {
            found.push(format!(
                "installed setuid to uid {}, not root",
                self.uids.effective
            ));
        }
        if self.gids.effective != self.gids.real || self.gids.saved != self.gids.real {
            found.push(format!("installed setgid to gid {}", self.gids.effective));
        }
        if !self.permitted.is_empty() {
            found.push(format!(
                "holding only capabilities it does not use ({})",
                self.permitted
            ));
        }
        if found.is_empty() {
            found.push("started in secure-execution mode with nothing it can use".to_owned());
        }
        found.join(", ")
    }
}

/// What `myopend`'s listener holds, made once at its start ([`ListenerPrivilege::prepare`]): only
/// what it hands to workers, CAP_SETUID and CAP_SETGID (to become each peer), the two usable
/// capabilities (which workers keep, permitted only) and CAP_KILL (a worker that became its peer
/// is that user's process: its peer can stop it, and only CAP_KILL lets the shutdown end it);
/// nothing inheritable or ambient, and the bounding set cut to the usable capabilities, as a
/// served worker must have it. The bounding set limits only what an execve could gain, and the
/// listener never execs: so it is cut here, once (one prctl per capability, CAP_SETPCAP then
/// dropped too), and every worker forked from this process has it so, rather than each idle
/// worker cutting it again (41 calls a worker, which on two CPUs ran beside the connections
/// being served). Only a process holding one forks workers ([`WaitingWorker::prepare`]).
#[derive(Debug)]
pub struct ListenerPrivilege {
    _made_by_prepare: (),
}

impl ListenerPrivilege {
    /// Reduces this process (`myopend`'s listener, still root) to what it hands to workers.
    /// Without CAP_SETUID or CAP_SETGID no worker could become its caller: an error. Without
    /// CAP_SETPCAP the bounding set stays as it was given (a worker could not cut it either).
    pub fn prepare() -> Result<ListenerPrivilege, String> {
        let handed_on = CapabilitySet(
            [
                Capability::CAP_SETUID,
                Capability::CAP_SETGID,
                Capability::CAP_KILL,
                Capability::CAP_DAC_READ_SEARCH,
                Capability::CAP_DAC_OVERRIDE,
            ]
            .into_iter()
            .fold(0, |mask, capability| mask | capability.bitmask()),
        );
        let held = ThreadCapabilities::read()
            .map_err(|errno| format!("cannot read the listener's capabilities: {errno}"))?;
        for capability in [Capability::CAP_SETUID, Capability::CAP_SETGID] {
            if !held.effective.contains(capability) {
                return Err(format!(
                    "{capability} is missing: workers could not become their callers"
                ));
            }
        }
        if held.effective.contains(Capability::CAP_SETPCAP) {
            trim_bounding_set().map_err(|errno| {
                format!("cannot cut the bounding set to the usable capabilities: {errno}")
            })?;
        }
        caps::clear(None, CapSet::Ambient).map_err(|error| error.to_string())?;
        let kept = held.effective.intersection(handed_on);
        ThreadCapabilities {
            effective: kept,
            permitted: kept,
            inheritable: CapabilitySet::EMPTY,
        }
        .install()
        .map_err(|errno| format!("cannot reduce the listener's capabilities: {errno}"))?;
        Ok(ListenerPrivilege {
            _made_by_prepare: (),
        })
    }
}

/// An idle `myopend` worker, before it knows its peer: still root with the capabilities the
/// listener gave it (CAP_SETUID and CAP_SETGID to become the peer), its bounding set already cut
/// to the usable capabilities and its ambient set empty, as the listener it was forked from made
/// them ([`ListenerPrivilege`]). [`WaitingWorker::become_peer`] is the only way on.
#[derive(Debug)]
pub struct WaitingWorker {
    /// The standing every peer will get (it depends on the capabilities the listener gave, never
    /// on the peer).
    privilege: Privilege,
}

impl WaitingWorker {
    /// Call once, in a worker freshly forked from the listener that holds `_listener`.
    pub fn prepare(_listener: &ListenerPrivilege) -> Result<WaitingWorker, Errno> {
        let held = ThreadCapabilities::read()?;
        let privilege = Privilege {
            standing: Standing::for_peer(held.permitted),
        };
        Ok(WaitingWorker { privilege })
    }

    /// Makes every permitted capability effective again, as the listener gave them: a policy
    /// file the load opened with CAP_DAC_READ_SEARCH raised ([`Privilege::with`]) lowered the
    /// effective set after it, CAP_SETUID and CAP_SETGID included. One capget, one capset.
    pub fn restore_effective(&self) -> Result<(), Errno> {
        let held = ThreadCapabilities::read()?;
        ThreadCapabilities {
            effective: held.permitted,
            ..held
        }
        .install()
    }

    /// What the policy load before the connection runs under. The process is still root with
    /// the listener's capabilities effective; [`Privilege::with`] would lower them, so the worker
    /// restores its effective set before it becomes its peer.
    pub fn privilege(&self) -> &Privilege {
        &self.privilege
    }

    /// Becomes `peer` as the kernel recorded it at connect time and reaches the state
    /// [`Privilege::establish`] reaches: every uid and gid the peer's, the supplementary groups
    /// the peer's, only the usable capabilities permitted, nothing effective, no_new_privs, not
    /// dumpable, checked with the kernel. Call before anything of the connection is read.
    pub fn become_peer(self, peer: &Peer) -> Result<Privilege, Errno> {
        let groups: Vec<Gid> = peer.groups.iter().copied().map(Gid::from_raw).collect();
        nix::unistd::setgroups(&groups)?;
        Privilege::settle(
            self.privilege.standing,
            Uid::from_raw(peer.uid),
            Gid::from_raw(peer.gid),
            Some(&peer.groups),
        )
    }
}

/// Drops every capability but the usable ones from the bounding set, in one pass: one prctl per
/// capability (the kernel has no call for the whole set). A capability the running kernel does
/// not know cannot be dropped, and cannot be granted either; one it knows and still holds after
/// a failed drop is an error.
fn trim_bounding_set() -> Result<(), Errno> {
    for capability in caps::all() {
        if !CapabilitySet::USABLE.contains(capability)
            && caps::drop(None, CapSet::Bounding, capability).is_err()
            && caps::has_cap(None, CapSet::Bounding, capability).unwrap_or(false)
        {
            return Err(Errno::EPERM);
        }
    }
    Ok(())
}

/// A connection's peer as the kernel recorded it when it connected: `SO_PEERCRED`'s uid and gid
/// (the peer's effective ids, mapped into the daemon's user namespace) and `SO_PEERGROUPS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub pid: i32,
}

/// The capabilities one open needs raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Search directories and read files: resolving a path, opening for reading.
    ReadSearch,
    /// Any write access, creating or truncating (also covers reading).
    Override,
}

/// The helper's privilege after [`Privilege::establish`]: its [`Standing`], nothing more.
#[derive(Debug)]
pub struct Privilege {
    standing: Standing,
}

impl Privilege {
    /// Reads what exec gave the helper, becomes the caller and keeps at most the two usable
    /// capabilities, permitted but not effective. Call once, right after start-up hardening and
    /// before anything else.
    pub fn establish() -> Result<Privilege, Errno> {
        let facts = KernelFacts::read()?;
        let standing = Standing::of(&facts);

        // The bounding set is left as exec gave it: it only limits what an exec could gain, and
        // this process cannot gain anything by exec (no_new_privs, set below before any request
        // is read) or exec at all (the fence's system call allowlist has no execve). Trimming it
        // would cost one prctl per capability (about 40) on every start, for no state the
        // process could reach differently. A myopend worker still trims it, while idle.
        caps::clear(None, CapSet::Ambient).map_err(|_| Errno::EPERM)?;

        Privilege::settle(standing, facts.uids.real, facts.gids.real, None)
    }

    /// Becomes `uid` and `gid` in all three ids, keeping only the capabilities `standing` keeps,
    /// permitted and nothing else; then no_new_privs, not dumpable, and the check. `groups`: the
    /// supplementary groups the process must hold, when the caller set them.
    fn settle(
        standing: Standing,
        uid: Uid,
        gid: Gid,
        groups: Option<&[u32]>,
    ) -> Result<Privilege, Errno> {
        let kept = standing.kept();
        // Keep the permitted set across the switch away from uid 0; it is cut down right after.
        nix::sys::prctl::set_keepcaps(true)?;
        setresgid(gid, gid, gid)?;
        setresuid(uid, uid, uid)?;
        nix::sys::prctl::set_keepcaps(false)?;
        ThreadCapabilities {
            effective: CapabilitySet::EMPTY,
            permitted: kept,
            inheritable: CapabilitySet::EMPTY,
        }
        .install()?;
        nix::sys::prctl::set_no_new_privs()?;
        // After the credential change: changing credentials resets dumpability to
        // fs.suid_dumpable, which may be 1.
        nix::sys::prctl::set_dumpable(false)?;

        let privilege = Privilege { standing };
        privilege.verify(uid, gid)?;
        if let Some(groups) = groups {
            let mut held: Vec<u32> = nix::unistd::getgroups()?
                .into_iter()
                .map(Gid::as_raw)
                .collect();
            let mut wanted = groups.to_vec();
            held.sort_unstable();
            held.dedup();
            wanted.sort_unstable();
            wanted.dedup();
            if held != wanted {
                return Err(Errno::EPERM);
            }
        }
        Ok(privilege)
    }

    /// A privilege that holds nothing, without touching the process: [`Privilege::with`] just runs
    /// the operation. For tests of the code that opens files, and for callers that must not
    /// change their own credentials.
    pub fn none() -> Privilege {
        Privilege {
            standing: Standing::Unprivileged,
        }
    }

    /// Checks with the kernel that the process is in the state its standing promises.
    fn verify(&self, uid: Uid, gid: Gid) -> Result<(), Errno> {
        let (uids, gids) = (getresuid()?, getresgid()?);
        let ids_are_callers = [uids.real, uids.effective, uids.saved]
            .iter()
            .all(|&id| id == uid)
            && [gids.real, gids.effective, gids.saved]
                .iter()
                .all(|&id| id == gid);
        // No check of the ambient set: the kernel keeps it within permitted and inheritable, so
        // an empty inheritable set is an empty ambient set (and reading it costs 82 prctls).
        let held = ThreadCapabilities::read()?;
        let in_state = ids_are_callers
            && held.effective.is_empty()
            && held.inheritable.is_empty()
            && held.permitted == self.standing.kept()
            && !nix::sys::prctl::get_dumpable()?
            && nix::sys::prctl::get_no_new_privs()?;
        if in_state { Ok(()) } else { Err(Errno::EPERM) }
    }

    /// The capabilities it kept: the only ones it may ever raise.
    pub fn kept_capabilities(&self) -> CapabilitySet {
        self.standing.kept()
    }

    /// What the helper holds and whether the policy governs it.
    pub fn standing(&self) -> &Standing {
        &self.standing
    }

    /// Runs `operation` with the caller's own rights, and again with the capabilities `need`
    /// calls for only if the kernel refused it (`EACCES` or `EPERM`): a capability is raised only
    /// when it is actually needed.
    pub fn with_if_refused<T>(
        &self,
        need: Need,
        operation: impl Fn() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        match operation() {
            Err(Errno::EACCES | Errno::EPERM) => self.with(need, operation),
            other => other,
        }
    }

    /// Gives up every capability for good, before the answer is sent.
    pub fn drop_all(&self) {
        let nothing = ThreadCapabilities {
            effective: CapabilitySet::EMPTY,
            permitted: CapabilitySet::EMPTY,
            inheritable: CapabilitySet::EMPTY,
        };
        if nothing.install().is_err() {
            std::process::exit(libc::EPERM);
        }
    }

    /// The capabilities to raise for `need`: the least of the kept ones that serves. Reading with
    /// only CAP_DAC_OVERRIDE kept raises it, since it covers reading too.
    fn to_raise(&self, need: Need) -> CapabilitySet {
        let kept = self.standing.kept();
        match need {
            Need::ReadSearch if kept.contains(Capability::CAP_DAC_READ_SEARCH) => {
                CapabilitySet::DAC_READ_SEARCH
            }
            Need::ReadSearch | Need::Override => kept,
        }
    }

    /// Runs `operation` with the capabilities `need` calls for raised, and lowers them again
    /// before returning. Without privilege it simply runs `operation` with the caller's rights.
    ///
    /// If the capabilities cannot be lowered again the process exits at once: going on with
    /// privilege raised is never an option.
    pub fn with<T>(&self, need: Need, operation: impl FnOnce() -> T) -> T {
        let raised = self.to_raise(need);
        if raised.is_empty() {
            return operation();
        }
        // Only the effective set changes: the permitted and inheritable ones are written back as
        // they were read.
        let Ok(before) = ThreadCapabilities::read() else {
            return operation();
        };
        let raising = ThreadCapabilities {
            effective: raised,
            ..before
        };
        if raising.install().is_err() {
            // Could not raise: go on with the caller's rights, which is always safe.
            return operation();
        }
        let result = operation();
        let lowered = ThreadCapabilities {
            effective: CapabilitySet::EMPTY,
            ..before
        };
        if lowered.install().is_err() {
            std::process::exit(libc::EPERM);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ_SEARCH: CapabilitySet = CapabilitySet::DAC_READ_SEARCH;
    const OVERRIDE: CapabilitySet = CapabilitySet::DAC_OVERRIDE;
    const NET_RAW: u64 = 1 << 13;

    #[test]
    fn the_three_sets_read_back_as_installed() {
        let held = ThreadCapabilities::read().unwrap();
        held.install().unwrap();
        assert_eq!(ThreadCapabilities::read().unwrap(), held);
        // Nothing can be added to the permitted set: the kernel refuses, and nothing changes.
        // Capability sets are per thread: in a thread of its own the test first gives up
        // CAP_SYS_ADMIN (which a root test run holds), so that the refusal is certain.
        std::thread::spawn(|| {
            let held = ThreadCapabilities::read().unwrap();
            let without = CapabilitySet(held.permitted.0 & !Capability::CAP_SYS_ADMIN.bitmask());
            let narrowed = ThreadCapabilities {
                effective: held.effective.intersection(without),
                permitted: without,
                inheritable: held.inheritable.intersection(without),
            };
            narrowed.install().unwrap();
            let widened = ThreadCapabilities {
                permitted: CapabilitySet(without.0 | Capability::CAP_SYS_ADMIN.bitmask()),
                ..narrowed
            };
            assert_eq!(widened.install(), Err(Errno::EPERM));
            assert_eq!(ThreadCapabilities::read().unwrap(), narrowed);
        })
        .join()
        .unwrap();
        assert_eq!(ThreadCapabilities::read().unwrap(), held);
    }

    #[test]
    fn masks_are_the_kernels() {
        assert_eq!(
            READ_SEARCH.mask(),
            Capability::CAP_DAC_READ_SEARCH.bitmask()
        );
        assert_eq!(OVERRIDE.mask(), Capability::CAP_DAC_OVERRIDE.bitmask());
        assert_eq!(NET_RAW, Capability::CAP_NET_RAW.bitmask());
    }

    fn facts(uids: [u32; 3], gids: [u32; 3], permitted: u64) -> KernelFacts {
        KernelFacts {
            uids: ResUid {
                real: Uid::from_raw(uids[0]),
                effective: Uid::from_raw(uids[1]),
                saved: Uid::from_raw(uids[2]),
            },
            gids: ResGid {
                real: Gid::from_raw(gids[0]),
                effective: Gid::from_raw(gids[1]),
                saved: Gid::from_raw(gids[2]),
            },
            permitted: CapabilitySet::from_mask(permitted),
            no_root: false,
            secure_exec: false,
        }
    }

    fn secure(mut facts: KernelFacts) -> KernelFacts {
        facts.secure_exec = true;
        facts
    }

    fn governed(kept: CapabilitySet, grant: Grant) -> Standing {
        Standing::Governed { kept, grant }
    }

    const ALL: u64 = u64::MAX >> 23;
    const USER: [u32; 3] = [1000, 1000, 1000];

    #[test]
    fn the_standing_table() {
        let no_root_caller = |permitted| KernelFacts {
            no_root: true,
            ..facts([0; 3], [0; 3], permitted)
        };
        let usable = CapabilitySet::USABLE;
        let cases = [
            // File capabilities, one or both, alone or with an unrelated one.
            (
                secure(facts(USER, USER, READ_SEARCH.mask())),
                governed(READ_SEARCH, Grant::FileCapabilities),
            ),
            (
                secure(facts(USER, USER, OVERRIDE.mask())),
                governed(OVERRIDE, Grant::FileCapabilities),
            ),
            (
                secure(facts(USER, USER, usable.mask())),
                governed(usable, Grant::FileCapabilities),
            ),
            (
                secure(facts(USER, USER, usable.mask() | NET_RAW)),
                governed(usable, Grant::FileCapabilities),
            ),
            // setuid root started by a user.
            (
                secure(facts([1000, 0, 0], USER, ALL)),
                governed(usable, Grant::SetuidRoot),
            ),
            // Unrestricted root, whatever the install.
            (
                facts([0; 3], [0; 3], ALL),
                Standing::CallerIsRoot { kept: usable },
            ),
            // A root whose SECBIT_NOROOT keeps exec from granting anything: the file's
            // capabilities are still a gain, and the policy governs them.
            (
                no_root_caller(OVERRIDE.mask()),
                governed(OVERRIDE, Grant::FileCapabilities),
            ),
            (no_root_caller(0), Standing::Unprivileged),
            // Nothing gained.
            (facts(USER, USER, 0), Standing::Unprivileged),
            // Capabilities from the caller's own ambient set (no AT_SECURE): the DAC ones are
            // still governed, others are dropped.
            (
                facts(USER, USER, OVERRIDE.mask()),
                governed(OVERRIDE, Grant::FileCapabilities),
            ),
            (facts(USER, USER, NET_RAW), Standing::Unprivileged),
        ];
        for (facts, expected) in cases {
            assert_eq!(Standing::of(&facts), expected, "{facts:?}");
        }
    }

    #[test]
    fn unused_grants_are_refused_and_named() {
        let cases = [
            (
                secure(facts(USER, USER, NET_RAW)),
                "capabilities it does not use (cap_net_raw)",
            ),
            (
                secure(facts([1000, 1002, 1002], USER, 0)),
                "setuid to uid 1002, not root",
            ),
            (secure(facts(USER, [1000, 42, 42], 0)), "setgid to gid 42"),
            (secure(facts(USER, USER, 0)), "secure-execution mode"),
        ];
        for (facts, named) in cases {
            match Standing::of(&facts) {
                Standing::Refused { found } => assert!(found.contains(named), "{found}"),
                other => panic!("{facts:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_governed_consults_the_policy_and_only_kept_is_raised() {
        let standings = [
            governed(READ_SEARCH, Grant::FileCapabilities),
            Standing::CallerIsRoot {
                kept: CapabilitySet::USABLE,
            },
            Standing::Unprivileged,
            Standing::Refused {
                found: String::new(),
            },
        ];
        let governed_ones: Vec<bool> = standings.iter().map(Standing::governed_by_policy).collect();
        assert_eq!(governed_ones, [true, false, false, false]);
        for standing in standings {
            let privilege = Privilege { standing };
            for need in [Need::ReadSearch, Need::Override] {
                let raised = privilege.to_raise(need);
                assert_eq!(raised.intersection(privilege.standing.kept()), raised);
            }
        }
    }

    #[test]
    fn least_capability_that_serves_is_raised() {
        let with = |kept| Privilege {
            standing: governed(kept, Grant::FileCapabilities),
        };
        let usable = CapabilitySet::USABLE;
        assert_eq!(with(usable).to_raise(Need::ReadSearch), READ_SEARCH);
        assert_eq!(with(usable).to_raise(Need::Override), usable);
        assert_eq!(with(OVERRIDE).to_raise(Need::ReadSearch), OVERRIDE);
        assert_eq!(with(READ_SEARCH).to_raise(Need::Override), READ_SEARCH);
        assert!(Privilege::none().to_raise(Need::Override).is_empty());
    }

    #[test]
    fn capability_sets_print_as_the_man_page_says() {
        assert_eq!(
            CapabilitySet::USABLE.to_string(),
            "cap_dac_read_search,cap_dac_override"
        );
        assert_eq!(OVERRIDE.to_string(), "cap_dac_override");
        assert_eq!(CapabilitySet::EMPTY.to_string(), "none");
        assert_eq!(
            CapabilitySet::from_mask(NET_RAW | READ_SEARCH.mask()).to_string(),
            "cap_dac_read_search,cap_net_raw"
        );
    }
}
