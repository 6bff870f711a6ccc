//! Every copy path of mycat, and every fallback between them, forced and checked byte for byte.
//!
//! Some are forced by the kind of descriptor (O_APPEND, another file system, /proc); the rest by
//! a small LD_PRELOAD library, compiled here, that stands between mycat and the C library: it
//! logs which copy calls mycat makes, and on request refuses them with a chosen errno, cuts them
//! short, interrupts them (EINTR), or fails them once some bytes have gone through.

use std::fs::{self, File, OpenOptions};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use myopen_tests::{Scratch, dynamic_mycat_binary, helper_binary, mycat_binary, pattern, run};

const SHIM_SOURCE: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static long passed;
static int interrupt_next;

static long (*real_syscall_fn)(long, ...);
static long real_syscall(long n, long a, long b, long c, long d, long e, long f) {
    if (!real_syscall_fn) real_syscall_fn = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real_syscall_fn(n, a, b, c, d, e, f);
}

static void log_call(const char *name) {
    const char *path = getenv("MYCAT_SHIM_LOG");
    if (!path) return;
    long fd = real_syscall(SYS_openat, AT_FDCWD, (long)path,
                           O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644, 0, 0);
    if (fd < 0) return;
    real_syscall(SYS_write, fd, (long)name, (long)strlen(name), 0, 0, 0);
    real_syscall(SYS_write, fd, (long)"\n", 1, 0, 0, 0);
    real_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* Non-zero errno when `name` appears as `name=errno` in MYCAT_SHIM_REFUSE. */
static int refusal(const char *name) {
    const char *list = getenv("MYCAT_SHIM_REFUSE");
    size_t length = strlen(name);
    for (const char *at = list; at && (at = strstr(at, name)); at += length)
        if (at[length] == '=' && (at == list || at[-1] == ',')) return atoi(at + length + 1);
    return 0;
}

/* -1 (errno set) to fail the call now; otherwise may shorten *count. */
static int before(const char *name, size_t *count) {
    log_call(name);
    int refused = refusal(name);
    if (refused) { errno = refused; return -1; }
    const char *after = getenv("MYCAT_SHIM_FAIL_AFTER"); /* "bytes:errno" */
    if (after) {
        long limit = atol(after);
        const char *colon = strchr(after, ':');
        if (passed >= limit && colon) { errno = atoi(colon + 1); return -1; }
        if ((long)*count > limit - passed) *count = (size_t)(limit - passed);
    }
    const char *chunk = getenv("MYCAT_SHIM_CHUNK");
    if (chunk && *count > (size_t)atol(chunk)) *count = (size_t)atol(chunk);
    if (getenv("MYCAT_SHIM_EINTR") && (interrupt_next = !interrupt_next)) {
        errno = EINTR;
        return -1;
    }
    return 0;
}

static ssize_t counted(ssize_t result) {
    if (result > 0) passed += result;
    return result;
}

ssize_t splice(int in, loff_t *in_offset, int out, loff_t *out_offset, size_t count,
               unsigned int flags) {
    static ssize_t (*real)(int, loff_t *, int, loff_t *, size_t, unsigned int);
    if (!real) real = dlsym(RTLD_NEXT, "splice");
    if (before("splice", &count)) return -1;
    return counted(real(in, in_offset, out, out_offset, count, flags));
}

ssize_t sendfile64(int out, int in, off64_t *offset, size_t count) {
    static ssize_t (*real)(int, int, off64_t *, size_t);
    if (!real) real = dlsym(RTLD_NEXT, "sendfile64");
    if (before("sendfile", &count)) return -1;
    return counted(real(out, in, offset, count));
}

ssize_t sendfile(int out, int in, off_t *offset, size_t count) {
    return sendfile64(out, in, (off64_t *)offset, count);
}

long syscall(long number, ...) {
    va_list list;
    long a[6];
    va_start(list, number);
    for (int i = 0; i < 6; i++) a[i] = va_arg(list, long);
    va_end(list);
    if (number == SYS_copy_file_range) {
        size_t count = (size_t)a[4];
        if (before("copy_file_range", &count)) return -1;
        return counted(real_syscall(number, a[0], a[1], a[2], a[3], (long)count, a[5]));
    }
    return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

ssize_t write(int fd, const void *buffer, size_t count) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = dlsym(RTLD_NEXT, "write");
    if (fd == 1) log_call("write");
    return real(fd, buffer, count);
}
"#;

/// A scratch directory with the shim compiled into it and a patterned input file.
struct Bench {
    scratch: Scratch,
    shim: PathBuf,
    input: PathBuf,
    content: Vec<u8>,
}

impl Bench {
    fn new(size: usize) -> Bench {
        let scratch = Scratch::new();
        let source = scratch.file("shim.c", SHIM_SOURCE.as_bytes(), 0o644);
        let shim = scratch.path().join("shim.so");
        let output = run(Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&shim)
            .arg(&source)
            .arg("-ldl"));
        assert!(
            output.status.success(),
            "compiling the shim: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let content = pattern(size);
        let input = scratch.file("input", &content, 0o644);
        Bench {
            scratch,
            shim,
            input,
            content,
        }
    }

    fn log(&self) -> PathBuf {
        self.scratch.path().join("calls.log")
    }

    /// mycat on the input file, under the shim with `settings`, standard output `stdout`.
    fn mycat(&self, settings: &[(&str, &str)], stdout: Stdio) -> Output {
        let _ = fs::remove_file(self.log());
        let mut command = Command::new(dynamic_mycat_binary());
        command
            .arg("--helper")
            .arg(helper_binary())
            .arg(&self.input)
            .env("LD_PRELOAD", &self.shim)
            .env("MYCAT_SHIM_LOG", self.log())
            .envs(settings.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let output = command.output().expect("run mycat");
        drop(command);
        output
    }

    /// The copy calls mycat made on standard output, in order, runs of the same call merged.
    fn calls(&self) -> Vec<String> {
        let log = fs::read_to_string(self.log()).unwrap_or_default();
        let mut calls: Vec<String> = Vec::new();
        for line in log.lines() {
            if calls.last().map(String::as_str) != Some(line) {
                calls.push(line.to_owned());
            }
        }
        calls
    }

    fn out_file(&self) -> (PathBuf, File) {
        let path = self.scratch.path().join("out");
        (path.clone(), File::create(&path).expect("create output"))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_clean(output: &Output, what: &str) {
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{what}: {:?} {}",
        output.status,
        text(&output.stderr)
    );
}

/// Runs mycat into a socket and returns what arrived.
fn to_socket(bench: &Bench, settings: &[(&str, &str)]) -> (Output, Vec<u8>) {
    use std::io::Read;
    let (mut ours, theirs) = UnixStream::pair().expect("socketpair");
    let reader = std::thread::spawn(move || {
        let mut received = Vec::new();
        ours.read_to_end(&mut received).map(|_| received)
    });
    let output = bench.mycat(settings, Stdio::from(std::os::fd::OwnedFd::from(theirs)));
    let received = reader.join().expect("reader").expect("read socket");
    (output, received)
}

fn dev_null() -> Stdio {
    Stdio::from(
        OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .expect("/dev/null"),
    )
}

fn strings(calls: &[&str]) -> Vec<String> {
    calls.iter().map(|call| (*call).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// The path each output kind takes

#[test]
fn each_output_kind_takes_its_fast_call() {
    let bench = Bench::new(300_000);

    let (path, file) = bench.out_file();
    assert_clean(&bench.mycat(&[], Stdio::from(file)), "regular file");
    assert_eq!(fs::read(&path).expect("read"), bench.content);
    assert_eq!(bench.calls(), strings(&["copy_file_range"]), "regular file");

    let output = bench.mycat(&[], Stdio::piped());
    assert_clean(&output, "pipe");
    assert!(output.stdout == bench.content, "pipe: content differs");
    assert_eq!(bench.calls(), strings(&["splice"]), "pipe");

    assert_clean(&bench.mycat(&[], dev_null()), "/dev/null");
    assert_eq!(bench.calls(), strings(&["sendfile"]), "/dev/null");

    let (output, received) = to_socket(&bench, &[]);
    assert_clean(&output, "socket");
    assert!(received == bench.content, "socket: content differs");
    assert_eq!(bench.calls(), strings(&["sendfile"]), "socket");
}

#[test]
fn append_mode_output_goes_straight_to_read_write() {
    // copy_file_range refuses O_APPEND (EBADF) and splice/sendfile too (EINVAL): not even tried.
    let bench = Bench::new(300_000);
    let path = bench.scratch.path().join("appended");
    fs::write(&path, b"head\n").expect("write");
    let file = OpenOptions::new().append(true).open(&path).expect("append");
    assert_clean(&bench.mycat(&[], Stdio::from(file)), "O_APPEND");
    assert_eq!(
        fs::read(&path).expect("read"),
        [&b"head\n"[..], &bench.content].concat()
    );
    assert_eq!(bench.calls(), strings(&["write"]));
}

#[test]
fn stdin_from_a_pipe_uses_read_write() {
    let bench = Bench::new(200_000);
    let (path, file) = bench.out_file();
    let _ = fs::remove_file(bench.log());
    let output = myopen_tests::run_with_input(
        Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" > \"$1\"")
            .arg(dynamic_mycat_binary())
            .arg(&path)
            .env("LD_PRELOAD", &bench.shim)
            .env("MYCAT_SHIM_LOG", bench.log()),
        &bench.content,
    );
    drop(file);
    assert_clean(&output, "stdin pipe");
    assert_eq!(fs::read(&path).expect("read"), bench.content);
    assert_eq!(bench.calls(), strings(&["write"]));
}

// ---------------------------------------------------------------------------------------------
// Fallbacks forced by the kind of file

#[test]
fn other_file_system_output_falls_back_from_copy_file_range() {
    // /dev/shm is tmpfs, the scratch input is not on it (or, if it is, copy_file_range works and
    // the bytes must still be right).
    let bench = Bench::new(500_000);
    let Ok(shm) = tempfile_in("/dev/shm") else {
        myopen_tests::skip(
            "other_file_system_output_falls_back_from_copy_file_range",
            "no /dev/shm",
        );
        return;
    };
    let file = File::create(&shm).expect("create in /dev/shm");
    let output = bench.mycat(&[], Stdio::from(file));
    let content = fs::read(&shm).expect("read");
    let _ = fs::remove_file(&shm);
    assert_clean(&output, "/dev/shm");
    assert!(content == bench.content, "content differs");
    let calls = bench.calls();
    assert_eq!(calls.first().map(String::as_str), Some("copy_file_range"));
    if same_file_system(&bench.input, Path::new("/dev/shm")) {
        return;
    }
    assert_eq!(calls, strings(&["copy_file_range", "sendfile"]), "EXDEV");
}

#[test]
fn proc_files_of_size_zero_are_copied_in_full() {
    // /proc reports size 0 for files that do have content: copy_file_range (which trusts the size)
    // must not be the path that decides where the file ends.
    let expected = fs::read("/proc/version").expect("/proc/version");
    assert!(!expected.is_empty());
    let scratch = Scratch::new();
    let out = scratch.path().join("out");
    let output = Command::new(mycat_binary())
        .arg("/proc/version")
        .stdout(File::create(&out).expect("create"))
        .stderr(Stdio::piped())
        .output()
        .expect("run mycat");
    assert_clean(&output, "/proc/version");
    assert_eq!(fs::read(&out).expect("read"), expected);
}

fn tempfile_in(dir: &str) -> std::io::Result<PathBuf> {
    let path = Path::new(dir).join(format!("mycat-test-{}", std::process::id()));
    File::create(&path).map(|_| path)
}

fn same_file_system(first: &Path, second: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let device = |path: &Path| fs::metadata(path).map(|meta| meta.dev()).ok();
    device(first) == device(second)
}

// ---------------------------------------------------------------------------------------------
// Fallbacks forced by refusal

#[test]
fn refused_copy_file_range_falls_back_to_sendfile_for_each_errno() {
    for errno in [libc::EINVAL, libc::ENOSYS, libc::EXDEV, libc::EOPNOTSUPP] {
        let bench = Bench::new(200_000);
        let (path, file) = bench.out_file();
        let refuse = format!("copy_file_range={errno}");
        let output = bench.mycat(&[("MYCAT_SHIM_REFUSE", &refuse)], Stdio::from(file));
        assert_clean(&output, &refuse);
        assert!(
            fs::read(&path).expect("read") == bench.content,
            "{refuse}: differs"
        );
        assert_eq!(
            bench.calls(),
            strings(&["copy_file_range", "sendfile"]),
            "{refuse}"
        );
    }
}

#[test]
fn refused_copy_file_range_and_sendfile_fall_back_to_read_write() {
    let bench = Bench::new(200_000);
    let (path, file) = bench.out_file();
    let refuse = format!("copy_file_range={},sendfile={}", libc::EXDEV, libc::EINVAL);
    let output = bench.mycat(&[("MYCAT_SHIM_REFUSE", &refuse)], Stdio::from(file));
    assert_clean(&output, &refuse);
    assert!(fs::read(&path).expect("read") == bench.content);
    assert_eq!(
        bench.calls(),
        strings(&["copy_file_range", "sendfile", "write"])
    );
}

#[test]
fn refused_splice_falls_back_to_read_write() {
    for errno in [libc::EINVAL, libc::ENOSYS, libc::EOPNOTSUPP] {
        let bench = Bench::new(200_000);
        let refuse = format!("splice={errno}");
        let output = bench.mycat(&[("MYCAT_SHIM_REFUSE", &refuse)], Stdio::piped());
        assert_clean(&output, &refuse);
        assert!(output.stdout == bench.content, "{refuse}: differs");
        assert_eq!(bench.calls(), strings(&["splice", "write"]), "{refuse}");
    }
}

#[test]
fn refused_sendfile_falls_back_to_read_write_for_sockets_and_dev_null() {
    let bench = Bench::new(200_000);
    let refuse = format!("sendfile={}", libc::EINVAL);
    let (output, received) = to_socket(&bench, &[("MYCAT_SHIM_REFUSE", &refuse)]);
    assert_clean(&output, "socket");
    assert!(received == bench.content, "socket: differs");
    assert_eq!(bench.calls(), strings(&["sendfile", "write"]), "socket");

    let refuse = format!("sendfile={}", libc::ENOSYS);
    assert_clean(
        &bench.mycat(&[("MYCAT_SHIM_REFUSE", &refuse)], dev_null()),
        "/dev/null",
    );
    assert_eq!(bench.calls(), strings(&["sendfile", "write"]), "/dev/null");
}

#[test]
fn refusal_midway_hands_over_at_the_position_reached() {
    // The first 100000 bytes go by copy_file_range, then every fast call is refused: read/write
    // must go on from byte 100000, not from the start (no byte twice, none lost).
    let bench = Bench::new(300_000);
    let (path, file) = bench.out_file();
    let fail_after = format!("100000:{}", libc::EXDEV);
    let output = bench.mycat(&[("MYCAT_SHIM_FAIL_AFTER", &fail_after)], Stdio::from(file));
    assert_clean(&output, "midway EXDEV");
    assert!(fs::read(&path).expect("read") == bench.content, "differs");
    assert_eq!(
        bench.calls(),
        strings(&["copy_file_range", "sendfile", "write"])
    );
}

// ---------------------------------------------------------------------------------------------
// Partial transfers, EINTR, failures after bytes were written

#[test]
fn short_and_interrupted_fast_calls_lose_nothing() {
    let bench = Bench::new(1_000_003);
    let settings = [("MYCAT_SHIM_CHUNK", "4099"), ("MYCAT_SHIM_EINTR", "1")];

    let (path, file) = bench.out_file();
    assert_clean(
        &bench.mycat(&settings, Stdio::from(file)),
        "copy_file_range",
    );
    assert!(
        fs::read(&path).expect("read") == bench.content,
        "copy_file_range"
    );

    let output = bench.mycat(&settings, Stdio::piped());
    assert_clean(&output, "splice");
    assert!(output.stdout == bench.content, "splice");

    let (output, received) = to_socket(&bench, &settings);
    assert_clean(&output, "sendfile");
    assert!(received == bench.content, "sendfile");
}

#[test]
fn input_error_after_bytes_were_written_is_reported_not_retried() {
    let bench = Bench::new(300_000);
    let fail_after = format!("65536:{}", libc::EIO);
    let output = bench.mycat(&[("MYCAT_SHIM_FAIL_AFTER", &fail_after)], Stdio::piped());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!("mycat: {}: Input/output error\n", bench.input.display())
    );
    assert!(
        output.stdout == bench.content[..65536],
        "exactly the bytes before the failure, once: got {}",
        output.stdout.len()
    );
    assert_eq!(bench.calls(), strings(&["splice"]), "no second attempt");
}

#[test]
fn output_error_after_bytes_were_written_is_a_write_error() {
    let bench = Bench::new(300_000);
    let (path, file) = bench.out_file();
    let fail_after = format!("131072:{}", libc::ENOSPC);
    let output = bench.mycat(&[("MYCAT_SHIM_FAIL_AFTER", &fail_after)], Stdio::from(file));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "mycat: write error: No space left on device\n"
    );
    assert!(fs::read(&path).expect("read") == bench.content[..131072]);
    assert_eq!(bench.calls(), strings(&["copy_file_range"]));
}
