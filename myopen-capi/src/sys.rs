//! The exported C functions: the crate's only unsafe code, because the arguments are raw
//! pointers from C. Each function checks what can be checked (NULL), turns the pointer into a
//! borrowed Rust value and hands it to the safe code in lib.rs, inside `guarded` so that no
//! panic unwinds into the caller. The names and signatures are those of include/myopen.h.

use std::ffi::{CStr, c_char, c_int};

use libc::mode_t;
use myopen::Session;

use crate::{descriptor_or_errno, guarded, open, open_with_mode, session_new, session_open};

/// The C string at `pathname`, or `EFAULT` for NULL (as `open(2)` answers a bad address).
///
/// # Safety
/// `pathname` is NULL or points to a NUL-terminated string that stays valid and unchanged for
/// the lifetime `'a` chosen by the caller.
unsafe fn c_path<'a>(pathname: *const c_char) -> Result<&'a CStr, i32> {
    if pathname.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: not NULL, and NUL-terminated and valid for 'a by this function's contract.
    Ok(unsafe { CStr::from_ptr(pathname) })
}

/// `int my_open(const char *pathname, int flags);`
///
/// # Safety
/// `pathname` is NULL or a NUL-terminated string valid for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn my_open(pathname: *const c_char, flags: c_int) -> c_int {
    descriptor_or_errno(guarded(|| {
        // SAFETY: the caller's contract above; the borrow ends with this call.
        let pathname = unsafe { c_path(pathname) }?;
        open(pathname, flags)
    }))
}

/// `int my_open_mode(const char *pathname, int flags, mode_t mode);`
///
/// # Safety
/// `pathname` is NULL or a NUL-terminated string valid for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn my_open_mode(
    pathname: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    descriptor_or_errno(guarded(|| {
        // SAFETY: the caller's contract above; the borrow ends with this call.
        let pathname = unsafe { c_path(pathname) }?;
        open_with_mode(pathname, flags, mode)
    }))
}

/// `struct myopen_session *myopen_session_new(void);` NULL with `errno` set on failure.
#[unsafe(no_mangle)]
pub extern "C" fn myopen_session_new() -> *mut Session {
    match guarded(session_new) {
        Ok(session) => Box::into_raw(session),
        Err(errno) => {
            nix::errno::Errno::set_raw(errno);
            std::ptr::null_mut()
        }
    }
}

/// `int myopen_session_open(struct myopen_session *, const char *, int flags, mode_t mode);`
///
/// # Safety
/// `session` is NULL or a pointer returned by `myopen_session_new` and not yet freed; `pathname`
/// is NULL or a NUL-terminated string valid for the duration of the call. Any number of threads
/// may call this at once with the same session (`Session` is `Sync`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myopen_session_open(
    session: *const Session,
    pathname: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    descriptor_or_errno(guarded(|| {
        // SAFETY: NULL or a live Box<Session> from myopen_session_new (the caller's contract);
        // only shared references are made, and Session is Sync.
        let session = unsafe { session.as_ref() }.ok_or(libc::EINVAL)?;
        // SAFETY: the caller's contract above; the borrow ends with this call.
        let pathname = unsafe { c_path(pathname) }?;
        session_open(session, pathname, flags, mode)
    }))
}

/// `void myopen_session_free(struct myopen_session *);` Ends and reaps the session's helper.
/// NULL is ignored, as by `free(3)`.
///
/// # Safety
/// `session` is NULL or a pointer returned by `myopen_session_new`, not freed before, that no
/// other thread is using or will use.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myopen_session_free(session: *mut Session) {
    if session.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw in myopen_session_new and handed back exactly once, with no
    // other user left (the caller's contract).
    let session = unsafe { Box::from_raw(session) };
    // Dropping reaps the helper; a panic there must not unwind into C either.
    let _ = guarded(move || {
        drop(session);
        Ok(())
    });
}
