//! myopen-run's only `unsafe` code: the seccomp filter and its installation in the child, the
//! ioctls on the notification listener, and the glue that runs between fork and exec.
//!
//! The filter is a small hand-written table rather than a crate: seccompiler has no
//! `SECCOMP_RET_USER_NOTIF` action, libseccomp would bring the C library and its build, and the
//! program below is fifteen instructions that can be read in one go.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use nix::errno::Errno;

/// `AUDIT_ARCH_X86_64`: `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// Set in the number of every x32 system call (which also reports `AUDIT_ARCH_X86_64`).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6): the kernel wakes the supervisor and the
/// child on the same CPU, which makes each round trip cheaper. Not in libc yet.
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

/// The system calls that open files by name on x86-64: what glibc, musl and static programs
/// (busybox) call. `open_by_handle_at` needs `CAP_DAC_READ_SEARCH` and is left alone.
pub const OPEN_SYSCALLS: [i64; 4] = [
    libc::SYS_open,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_creat,
];

/// The checks some programs make before they open (GNU sort refuses to start on a file that
/// access(2) calls unreadable): supervised too, so that they agree with the open that follows.
pub const ACCESS_SYSCALLS: [i64; 3] = [libc::SYS_access, libc::SYS_faccessat, libc::SYS_faccessat2];

// Offsets into `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

const fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump_if(comparison: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | comparison | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

const LOAD_WORD: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
const RETURN: u32 = libc::BPF_RET | libc::BPF_K;

/// The filter: another architecture (an i386 program through `int 0x80`) is killed, since its
/// system call numbers name other calls and the supervisor could not read them right; x32
/// calls fail with `ENOSYS`; the supervised calls go to the supervisor; everything else runs.
fn program() -> Vec<libc::sock_filter> {
    let supervised: Vec<u32> = OPEN_SYSCALLS
        .iter()
        .chain(&ACCESS_SYSCALLS)
        .map(|&number| number as u32)
        .collect();
    let count = supervised.len() as u8;
    // Jump offsets count the instructions skipped: from n, offset k lands on n + 1 + k. The
    // comparisons start at 5; after them come ALLOW, USER_NOTIF and the x32 refusal.
    let mut program = vec![
        /* 0 */ statement(LOAD_WORD, DATA_ARCH),
        /* 1 */ jump_if(libc::BPF_JEQ, AUDIT_ARCH_X86_64, 1, 0),
        /* 2 */ statement(RETURN, libc::SECCOMP_RET_KILL_PROCESS),
        /* 3 */ statement(LOAD_WORD, DATA_NR),
        /* 4 */ jump_if(libc::BPF_JGE, X32_SYSCALL_BIT, count + 2, 0),
    ];
    for (index, &number) in supervised.iter().enumerate() {
        program.push(jump_if(libc::BPF_JEQ, number, count - index as u8, 0));
    }
    program.extend([
        statement(RETURN, libc::SECCOMP_RET_ALLOW),
        statement(RETURN, libc::SECCOMP_RET_USER_NOTIF),
        statement(RETURN, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ]);
    program
}

/// Which step of putting the child under the filter failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs = 1,
    /// `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)`.
    Filter = 2,
    /// `SECCOMP_USER_NOTIF_FLAG_CONTINUE` is refused (Linux before 5.5).
    Continue = 3,
    /// `SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND` is refused (before 5.14).
    AddFdSend = 4,
    /// Passing the listener to the supervisor.
    Handover = 5,
}

impl Stage {
    fn from_byte(byte: u8) -> Option<Stage> {
        [
            Stage::NoNewPrivs,
            Stage::Filter,
            Stage::Continue,
            Stage::AddFdSend,
            Stage::Handover,
        ]
        .into_iter()
        .find(|stage| *stage as u8 == byte)
    }
}

/// Why COMMAND could not be started under the filter.
#[derive(Debug)]
pub enum SpawnError {
    /// Putting the child under the filter failed at `stage` with `errno`; COMMAND never ran.
    Filter { stage: Stage, errno: Errno },
    /// exec (or anything else std does around it) failed.
    Exec(io::Error),
}

/// Bytes of room for a response, more than struct seccomp_notif_resp's 24.
const RESPONSE_ROOM: usize = 64;

/// The kernel's sizes of the notification structures.
#[derive(Debug, Clone, Copy)]
pub struct NotifSizes {
    notif: usize,
}

/// Asks the kernel whether it offers user notification at all (Linux 5.0), and the sizes of its
/// structures (which may grow in later kernels).
pub fn user_notification_sizes() -> Result<NotifSizes, Errno> {
    let action: u32 = libc::SECCOMP_RET_USER_NOTIF;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 through the pointer, which points at
    // `action` for the duration of the call.
    let available = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    Errno::result(available)?;
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one struct seccomp_notif_sizes through the pointer,
    // which points at `sizes`.
    let result = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0,
            &mut sizes as *mut libc::seccomp_notif_sizes,
        )
    };
    Errno::result(result)?;
    // A response is written into a zeroed buffer of RESPONSE_ROOM bytes (see send_response).
    if usize::from(sizes.seccomp_notif_resp) > RESPONSE_ROOM {
        return Err(Errno::EOVERFLOW);
    }
    Ok(NotifSizes {
        notif: usize::from(sizes.seccomp_notif).max(mem::size_of::<libc::seccomp_notif>()),
    })
}

/// Spawns `command` with `no_new_privs` and the filter installed between fork and exec, and
/// returns it with the filter's listener. The caller must not have started any thread yet: the
/// code between fork and exec allocates (see the SAFETY comment below).
pub fn spawn_under_filter(command: &mut Command) -> Result<(Child, OwnedFd), SpawnError> {
    let (ours, theirs) = UnixStream::pair().map_err(SpawnError::Exec)?;
    let child_end = theirs.as_raw_fd();
    // SAFETY: the closure runs in the child between fork and exec. It makes only system calls
    // and one small allocation in send_with_fds; allocating is safe there because the caller
    // guarantees that this process is single-threaded, so no other thread can hold the
    // allocator's lock at the moment of the fork. It touches no state shared with the parent.
    unsafe {
        command.pre_exec(move || put_under_filter(child_end));
    }
    let spawned = command.spawn();
    drop(theirs);
    let mut report = [0u8; 5];
    let received = myopen::fdpass::recv_with_fds(&ours, &mut report, 1);
    match (spawned, received) {
        (Ok(child), Ok(received)) if received.bytes == 1 && report[0] == b'L' => {
            match received.fds.into_iter().next() {
                Some(listener) => Ok((child, listener)),
                None => Err(abandon(child, "the filter's listener did not arrive")),
            }
        }
        (Ok(child), _) => Err(abandon(child, "the child did not report its filter")),
        (Err(error), Ok(received)) if received.bytes == 5 => match Stage::from_byte(report[0]) {
            Some(stage) => {
                let errno = i32::from_le_bytes([report[1], report[2], report[3], report[4]]);
                Err(SpawnError::Filter {
                    stage,
                    errno: Errno::from_raw(errno),
                })
            }
            None => Err(SpawnError::Exec(error)),
        },
        (Err(error), _) => Err(SpawnError::Exec(error)),
    }
}

fn abandon(mut child: Child, why: &str) -> SpawnError {
    let _ = child.kill();
    let _ = child.wait();
    SpawnError::Exec(io::Error::other(why.to_owned()))
}

/// In the child: no_new_privs, the filter, a check that the kernel accepts the two replies the
/// supervisor needs, then the listener goes to the supervisor and is closed here (a COMMAND
/// holding its own listener could answer its own opens). On failure the stage and errno are
/// reported to the supervisor, and the error makes std abandon the exec.
fn put_under_filter(socket: RawFd) -> io::Result<()> {
    // SAFETY: `socket` is the child's end of the pair made in spawn_under_filter, inherited
    // across the fork and open until exec closes it (it is close-on-exec).
    let socket = unsafe { BorrowedFd::borrow_raw(socket) };
    let fail = |stage: Stage, errno: Errno| {
        let mut report = [stage as u8, 0, 0, 0, 0];
        report[1..].copy_from_slice(&(errno as i32).to_le_bytes());
        let _ = myopen::fdpass::send_with_fds(socket, &report, &[]);
        io::Error::from_raw_os_error(errno as i32)
    };
    // The supervisor blocks the signals it reads through a signalfd, and std leaves the mask as
    // it is: COMMAND must start with none blocked, as it would from a shell.
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
    nix::sys::prctl::set_no_new_privs().map_err(|errno| fail(Stage::NoNewPrivs, errno))?;
    let listener = install_filter().map_err(|errno| fail(Stage::Filter, errno))?;
    check_replies(&listener).map_err(|(stage, errno)| fail(stage, errno))?;
    myopen::fdpass::send_with_fds(socket, b"L", &[listener.as_fd()]).map_err(|error| {
        fail(
            Stage::Handover,
            Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    drop(listener);
    Ok(())
}

fn install_filter() -> Result<OwnedFd, Errno> {
    let program = program();
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // Killable-only waits once the supervisor has read a notification (Linux 5.19): a signal
    // then does not interrupt an open the supervisor is already answering (which would make the
    // child ask again and the helper open the file twice). Older kernels: without.
    let flags = [
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
    ];
    let mut last = Errno::EINVAL;
    for flag in flags {
        // SAFETY: `fprog` points at `program`, which outlives the call; the kernel copies the
        // program and returns a new descriptor (close-on-exec) that we then own.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flag,
                &fprog as *const libc::sock_fprog,
            )
        };
        match Errno::result(fd) {
            // SAFETY: a non-negative result is a descriptor the kernel just installed for us.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            Err(Errno::EINVAL) => last = Errno::EINVAL,
            Err(errno) => return Err(errno),
        }
    }
    Err(last)
}

/// Both replies with an id no notification has: a kernel that knows them says `ENOENT` (no
/// such notification), one that does not says `EINVAL`.
fn check_replies(listener: &OwnedFd) -> Result<(), (Stage, Errno)> {
    const NO_SUCH_ID: u64 = u64::MAX;
    let expect_enoent = |result: Result<i32, Errno>, stage| match result {
        Err(Errno::ENOENT) => Ok(()),
        Err(errno) => Err((stage, errno)),
        Ok(_) => Err((stage, Errno::EINVAL)),
    };
    expect_enoent(
        send_response(
            listener,
            NO_SUCH_ID,
            0,
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        ),
        Stage::Continue,
    )?;
    expect_enoent(
        add_fd(listener, NO_SUCH_ID, listener.as_raw_fd(), false),
        Stage::AddFdSend,
    )?;
    Ok(())
}

/// One notification, copied out of the kernel's structure.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    pub id: u64,
    /// The thread that made the call, in our pid namespace.
    pub pid: i32,
    pub syscall: i64,
    pub args: [u64; 6],
}

/// The filter's listener: receives notifications and answers them.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    sizes: NotifSizes,
}

impl Listener {
    pub fn new(fd: OwnedFd, sizes: NotifSizes) -> Listener {
        // Best effort: without it (before Linux 6.6) only the wake-up is slower.
        // SAFETY: SECCOMP_IOCTL_NOTIF_SET_FLAGS takes its argument by value; no memory is
        // passed.
        let _ = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS as _,
                SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
            )
        };
        Listener { fd, sizes }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next notification. `ENOENT`: its caller went away before we took it.
    pub fn receive(&self) -> Result<Notification, Errno> {
        // u64 elements give the buffer the alignment of struct seccomp_notif.
        let mut buffer = vec![0u64; self.sizes.notif.div_ceil(8)];
        loop {
            // SAFETY: the kernel writes at most `sizes.notif` bytes (its own structure size),
            // and `buffer` holds at least that many, zeroed as the kernel requires.
            let result = unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                    buffer.as_mut_ptr(),
                )
            };
            match Errno::result(result) {
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
                Ok(_) => break,
            }
        }
        // SAFETY: `buffer` is aligned for and at least as large as struct seccomp_notif, and
        // the kernel filled in its prefix; every bit pattern is a valid value of it.
        let raw: libc::seccomp_notif =
            unsafe { std::ptr::read(buffer.as_ptr().cast::<libc::seccomp_notif>()) };
        Ok(Notification {
            id: raw.id,
            pid: raw.pid as i32,
            syscall: i64::from(raw.data.nr),
            args: raw.data.args,
        })
    }

    /// Whether notification `id` is still pending: its caller is still in the system call, so
    /// the pid still names that caller and what we read from it was its memory.
    pub fn is_pending(&self, id: u64) -> bool {
        // SAFETY: SECCOMP_IOCTL_NOTIF_ID_VALID reads one u64 through the pointer, which points
        // at `id`.
        let result = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
                &id as *const u64,
            )
        };
        result == 0
    }

    /// Lets the caller's own system call run, with its own rights.
    pub fn let_run(&self, id: u64) -> Result<(), Errno> {
        send_response(
            &self.fd,
            id,
            0,
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        )
        .map(drop)
    }

    /// Makes the caller's system call return `value` without running it.
    pub fn succeed(&self, id: u64, value: i64) -> Result<(), Errno> {
        send_response_value(&self.fd, id, value).map(drop)
    }

    /// Makes the caller's system call fail with `errno`.
    pub fn fail(&self, id: u64, errno: i32) -> Result<(), Errno> {
        send_response(&self.fd, id, -errno, 0).map(drop)
    }

    /// Puts `fd` into the caller's descriptor table and makes its system call return the new
    /// number, in one step; the number is returned.
    pub fn hand_over(&self, id: u64, fd: BorrowedFd<'_>, cloexec: bool) -> Result<i32, Errno> {
        add_fd(&self.fd, id, fd.as_raw_fd(), cloexec)
    }
}

fn send_response(listener: &OwnedFd, id: u64, error: i32, flags: u32) -> Result<i32, Errno> {
    send(listener, id, 0, error, flags)
}

fn send_response_value(listener: &OwnedFd, id: u64, value: i64) -> Result<i32, Errno> {
    send(listener, id, value, 0, 0)
}

fn send(listener: &OwnedFd, id: u64, val: i64, error: i32, flags: u32) -> Result<i32, Errno> {
    // Zeroed and at least as large as the kernel's structure, so that fields a later kernel
    // adds read as 0.
    let mut buffer = [0u64; RESPONSE_ROOM / 8];
    let response = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: `buffer` is 64 bytes, aligned for and larger than struct seccomp_notif_resp.
    unsafe { std::ptr::write(buffer.as_mut_ptr().cast(), response) };
    loop {
        // SAFETY: the kernel reads one struct seccomp_notif_resp from `buffer`.
        let result = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND as _,
                buffer.as_ptr(),
            )
        };
        match Errno::result(result) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

fn add_fd(listener: &OwnedFd, id: u64, fd: RawFd, cloexec: bool) -> Result<i32, Errno> {
    let request = libc::seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
        srcfd: fd as u32,
        newfd: 0,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    loop {
        // SAFETY: the kernel reads one struct seccomp_notif_addfd through the pointer.
        let result = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD as _,
                &request as *const libc::seccomp_notif_addfd,
            )
        };
        match Errno::result(result) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter on one system call, as the kernel's classic-BPF interpreter would (only
    /// the instructions the filter uses).
    fn verdict(arch: u32, number: u32) -> u32 {
        let program = program();
        let mut accumulator = 0u32;
        let mut pc = 0usize;
        loop {
            let instruction = program[pc];
            let code = u32::from(instruction.code);
            pc += 1;
            if code == LOAD_WORD {
                accumulator = match instruction.k {
                    DATA_ARCH => arch,
                    DATA_NR => number,
                    other => panic!("load of offset {other}"),
                };
            } else if code == RETURN {
                return instruction.k;
            } else if code == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K
                || code == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K
            {
                // The operation is the high nibble: JEQ 0x10, JGE 0x30.
                let taken = if code & 0xf0 == libc::BPF_JGE {
                    accumulator >= instruction.k
                } else {
                    accumulator == instruction.k
                };
                pc += usize::from(if taken {
                    instruction.jt
                } else {
                    instruction.jf
                });
            } else {
                panic!("instruction {code:#x}");
            }
        }
    }

    #[test]
    fn the_filter_notifies_exactly_the_supervised_calls_of_x86_64() {
        for number in OPEN_SYSCALLS.iter().chain(&ACCESS_SYSCALLS) {
            assert_eq!(
                verdict(AUDIT_ARCH_X86_64, *number as u32),
                libc::SECCOMP_RET_USER_NOTIF,
                "system call {number}"
            );
        }
        for number in [
            libc::SYS_read,
            libc::SYS_stat,
            libc::SYS_execve,
            libc::SYS_exit_group,
        ] {
            assert_eq!(
                verdict(AUDIT_ARCH_X86_64, number as u32),
                libc::SECCOMP_RET_ALLOW,
                "system call {number}"
            );
        }
    }

    #[test]
    fn the_filter_refuses_x32_calls_and_kills_other_architectures() {
        for number in [libc::SYS_openat, libc::SYS_read] {
            assert_eq!(
                verdict(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | number as u32),
                libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
            );
        }
        // AUDIT_ARCH_I386; 5 is open there.
        let i386 = 3 | 0x4000_0000;
        for number in [5, libc::SYS_openat as u32, 0] {
            assert_eq!(verdict(i386, number), libc::SECCOMP_RET_KILL_PROCESS);
        }
    }
}
