//! The C side of the interop tests, called in-process (the benchmark's book-style `my_open`).

use std::ffi::{CStr, c_char, c_int};
use std::os::fd::{FromRawFd, OwnedFd};

unsafe extern "C" {
    fn unp_my_open(helper: *const c_char, path: *const c_char, mode: c_int) -> c_int;
}

/// Opens `path` through `helper` with the C `my_open` written the book's way (fork + exec).
pub fn c_my_open(helper: &CStr, path: &CStr, flags: i32) -> Result<OwnedFd, i32> {
    // SAFETY: both pointers are NUL-terminated strings that outlive the call; the C function
    // only reads them.
    let fd = unsafe { unp_my_open(helper.as_ptr(), path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    // SAFETY: a non-negative result is a descriptor the C code just received and owns nothing
    // else of; we take it over.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets SIGCHLD to SIG_IGN for the whole process, as some daemons do: the kernel then reaps
/// children itself and `waitpid` fails with ECHILD. Only for test binaries that do nothing else.
pub fn ignore_sigchld() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety concern arises.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }.expect("signal(SIGCHLD, SIG_IGN)");
}

/// Forks; the child runs `child` and exits with its result, without returning. Returns the
/// child's pid in the parent. Only for single-purpose test binaries: the child must touch
/// nothing another thread of the parent might have held at the moment of the fork.
pub fn fork_running(child: impl FnOnce() -> i32) -> nix::unistd::Pid {
    // SAFETY: the child calls only `child` and `_exit`; the test binaries that use this keep
    // their other threads away from any lock the child uses.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Parent { child } => child,
        nix::unistd::ForkResult::Child => {
            let code = child();
            // SAFETY: _exit ends the process at once, running no atexit handlers or destructors
            // that belong to the parent's state.
            unsafe { libc::_exit(code) }
        }
    }
}

/// Sets the soft RLIMIT_NOFILE of process `pid` to `soft`, keeping its hard limit: what any
/// process of the same uid may do to another (prlimit(2)).
pub fn set_soft_file_limit(pid: u32, soft: u64) -> Result<(), nix::errno::Errno> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| nix::errno::Errno::ESRCH)?;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit with a null new limit only writes the current limits into `old`, a live
    // rlimit the call may overwrite.
    let read = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    nix::errno::Errno::result(read)?;
    let new = libc::rlimit {
        rlim_cur: soft.min(old.rlim_max),
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` is a live, initialised rlimit the kernel only reads; no old value is asked for.
    let set = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    nix::errno::Errno::result(set).map(drop)
}

/// What the child of [`exec_with_no_arguments`] hands to execve, built before the fork.
struct ExecImage {
    program: std::ffi::CString,
    _environment: Vec<std::ffi::CString>,
    /// Pointers into `_environment`, then a null.
    environment_pointers: Vec<*const c_char>,
    /// An argument vector of one null: argc == 0.
    no_arguments: [*const c_char; 1],
}

impl ExecImage {
    /// Replaces the process; returns only the error when that failed.
    fn exec(&self) -> std::io::Error {
        // SAFETY: every pointer is into `self`, alive until execve replaces the process; both
        // vectors end with a null, as execve requires.
        unsafe {
            libc::execve(
                self.program.as_ptr(),
                self.no_arguments.as_ptr(),
                self.environment_pointers.as_ptr(),
            )
        };
        std::io::Error::last_os_error()
    }
}

// SAFETY: the pointers point into CStrings owned by the same value, which nothing mutates; the
// value only moves into the spawned child's pre-exec hook, where one thread reads it.
unsafe impl Send for ExecImage {}
// SAFETY: as for Send: nothing writes through the pointers, so shared reads are sound.
unsafe impl Sync for ExecImage {}

/// Makes `command`, when spawned, become `uid`/`gid` with supplementary `groups` and execute
/// `program` with no arguments at all (argv `{NULL}`, argc == 0, as in pkexec's CVE-2021-4034)
/// and exactly `environment`, whose entries need not be `NAME=value` (Linux 5.18 and later turn
/// the empty argv into `{""}` and log "launched ... with NULL argv"). Its standard streams,
/// working directory and process group apply; its own program, arguments and environment do not.
/// An error in the child (a failed exec) is returned by `spawn`.
pub fn exec_with_no_arguments(
    command: &mut std::process::Command,
    program: &std::path::Path,
    environment: &[&[u8]],
    (uid, gid, groups): (u32, u32, &[u32]),
) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;

    use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

    let program = CString::new(program.as_os_str().as_bytes()).expect("no NUL in the program");
    let environment: Vec<CString> = environment
        .iter()
        .map(|entry| CString::new(*entry).expect("no NUL in an environment entry"))
        .collect();
    let mut environment_pointers: Vec<*const c_char> =
        environment.iter().map(|entry| entry.as_ptr()).collect();
    environment_pointers.push(std::ptr::null());
    let image = ExecImage {
        program,
        _environment: environment,
        environment_pointers,
        no_arguments: [std::ptr::null()],
    };
    let groups: Vec<Gid> = groups.iter().map(|&group| Gid::from_raw(group)).collect();
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    let hook = move || {
        setgroups(&groups)?;
        setresgid(gid, gid, gid)?;
        setresuid(uid, uid, uid)?;
        Err(image.exec())
    };
    // SAFETY: the hook runs in the forked child before exec and allocates nothing (everything it
    // uses was built above); it makes only the setgroups, setresgid, setresuid and execve system
    // calls, which are async-signal-safe.
    unsafe { command.pre_exec(hook) };
}

/// libmyopen loaded at run time (dlopen), its functions called through the C ABI exactly as a C
/// program calls them: the benchmark's side-by-side with the Rust API and the book's C.
pub struct LibMyopen {
    my_open: unsafe extern "C" fn(*const c_char, c_int) -> c_int,
    session_open: unsafe extern "C" fn(*mut libc::c_void, *const c_char, c_int, u32) -> c_int,
    session_free: unsafe extern "C" fn(*mut libc::c_void),
    session: *mut libc::c_void,
}

// SAFETY: the only state is the function pointers (immutable) and the session, which libmyopen
// documents as usable from any number of threads at once (it wraps the Sync `myopen::Session`).
unsafe impl Send for LibMyopen {}
// SAFETY: as above.
unsafe impl Sync for LibMyopen {}

impl LibMyopen {
    /// Loads the library at `path` and starts a session through it (the helper from
    /// `MYOPEN_HELPER`, as every C caller gets it).
    pub fn load(path: &std::path::Path) -> Result<LibMyopen, String> {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| "library path with a NUL byte".to_owned())?;
        // SAFETY: a NUL-terminated path; the handle is never closed, so the function pointers
        // taken from it stay valid for the life of the process.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(format!("dlopen {}: {}", path.display(), dl_error()));
        }
        let symbol = |name: &CStr| {
            // SAFETY: a live handle and a NUL-terminated name.
            let address = unsafe { libc::dlsym(handle, name.as_ptr()) };
            if address.is_null() {
                Err(format!("dlsym {name:?}: {}", dl_error()))
            } else {
                Ok(address)
            }
        };
        // SAFETY: the signatures are those of myopen.h (mode_t is u32 on Linux); dlsym returned
        // non-NULL addresses of those functions.
        let (my_open, session_new, session_open, session_free) = unsafe {
            (
                std::mem::transmute::<
                    *mut libc::c_void,
                    unsafe extern "C" fn(*const c_char, c_int) -> c_int,
                >(symbol(c"my_open")?),
                std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn() -> *mut libc::c_void>(
                    symbol(c"myopen_session_new")?,
                ),
                std::mem::transmute::<
                    *mut libc::c_void,
                    unsafe extern "C" fn(*mut libc::c_void, *const c_char, c_int, u32) -> c_int,
                >(symbol(c"myopen_session_open")?),
                std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn(*mut libc::c_void)>(
                    symbol(c"myopen_session_free")?,
                ),
            )
        };
        // SAFETY: takes no arguments; returns a session or NULL.
        let session = unsafe { session_new() };
        if session.is_null() {
            return Err(format!(
                "myopen_session_new: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(LibMyopen {
            my_open,
            session_open,
            session_free,
            session,
        })
    }

    /// `my_open(path, flags)` through the C ABI.
    pub fn my_open(&self, path: &CStr, flags: i32) -> Result<OwnedFd, i32> {
        // SAFETY: a NUL-terminated path that outlives the call.
        descriptor(unsafe { (self.my_open)(path.as_ptr(), flags) })
    }

    /// `myopen_session_open(session, path, flags, 0)` through the C ABI.
    pub fn session_open(&self, path: &CStr, flags: i32) -> Result<OwnedFd, i32> {
        // SAFETY: the live session made in `load`, a NUL-terminated path that outlives the call.
        descriptor(unsafe { (self.session_open)(self.session, path.as_ptr(), flags, 0) })
    }
}

impl Drop for LibMyopen {
    fn drop(&mut self) {
        // SAFETY: the session made in `load`, freed once, here, with no other user left (&mut).
        unsafe { (self.session_free)(self.session) }
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message valid until the next dl call on
    // this thread; it is copied at once.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        "unknown error".to_owned()
    } else {
        // SAFETY: non-NULL, NUL-terminated (see above).
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    }
}

/// A C descriptor result as Rust's: the descriptor, owned, or the errno.
fn descriptor(fd: c_int) -> Result<OwnedFd, i32> {
    if fd < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    // SAFETY: a non-negative result of a libmyopen open is a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets an environment variable for the whole process. Only at the start of a single-threaded
/// `main` (the benchmark's, before any thread exists).
pub fn set_env_before_threads(key: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: called before the process starts any thread, so nothing reads the environment
    // concurrently.
    unsafe { std::env::set_var(key, value) }
}

/// The running kernel's Landlock ABI version, 0 without Landlock (or with it disabled).
pub fn landlock_abi() -> i64 {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: with the VERSION flag the kernel reads no attribute (NULL, size 0) and creates no
    // descriptor; it returns the version or an error.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    version.max(0)
}

/// The next connection on `listener`, owned (nix's accept returns a raw descriptor).
pub fn accept_connection(
    listener: std::os::fd::BorrowedFd<'_>,
) -> Result<OwnedFd, nix::errno::Errno> {
    use std::os::fd::AsRawFd;
    let fd = nix::sys::socket::accept4(
        listener.as_raw_fd(),
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )?;
    // SAFETY: accept4 just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
