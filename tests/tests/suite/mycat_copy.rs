//! mycat's output is byte-exact whatever the input size and kind and whatever standard output
//! is: each of those picks a different copy path (copy_file_range, splice, sendfile, read/write).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread;

use myopen_tests::{RUN_TIMEOUT, Scratch, helper_binary, mycat_binary, pattern, socket_sink};

const MIB: usize = 1 << 20;

/// Where the input comes from.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// A file operand.
    Operand,
    /// Standard input is a pipe the test writes into.
    StdinPipe,
    /// Standard input is the file itself (`mycat < file`).
    StdinFile,
}

/// What standard output is.
#[derive(Debug, Clone, Copy)]
enum Sink {
    RegularFile,
    AppendingFile,
    Pipe,
    DevNull,
    Socket,
}

const INPUTS: [Input; 3] = [Input::Operand, Input::StdinPipe, Input::StdinFile];
const SINKS: [Sink; 5] = [
    Sink::RegularFile,
    Sink::AppendingFile,
    Sink::Pipe,
    Sink::DevNull,
    Sink::Socket,
];

fn big_pattern() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| pattern(64 * MIB))
}

fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    let mut stdin = child.stdin.take().expect("piped");
    let owned = bytes.to_vec();
    let feeder = thread::spawn(move || stdin.write_all(&owned));
    let output = child.wait_with_output().expect("sha256sum output");
    feeder.join().expect("feeder").expect("feed sha256sum");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Waits for `child` with the harness's time limit.
fn finish(child: Child) -> Output {
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(RUN_TIMEOUT) {
        Ok(output) => output.expect("wait for mycat"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("mycat did not finish within {RUN_TIMEOUT:?}; killed");
        }
    }
}

/// Runs mycat on `file` (whose content is `content`) read as `input`, written to `sink`; checks
/// the exit status, the silence of stderr and the bytes that arrived.
fn check(scratch: &Scratch, file: &Path, content: &[u8], input: Input, sink: Sink) {
    let what = format!("{} bytes, {input:?} -> {sink:?}", content.len());
    let mut command = Command::new(mycat_binary());
    command
        .arg("--helper")
        .arg(helper_binary())
        .stderr(Stdio::piped());
    match input {
        Input::Operand => {
            command.arg(file).stdin(Stdio::null());
        }
        Input::StdinPipe => {
            command.stdin(Stdio::piped());
        }
        Input::StdinFile => {
            command.stdin(File::open(file).expect("open input"));
        }
    }
    let out_path = scratch.path().join(format!("out-{input:?}-{sink:?}"));
    let prefix: &[u8] = b"already there\n";
    let mut socket_reader = None;
    match sink {
        Sink::RegularFile => {
            command.stdout(File::create(&out_path).expect("create output"));
        }
        Sink::AppendingFile => {
            fs::write(&out_path, prefix).expect("write prefix");
            let file = OpenOptions::new()
                .append(true)
                .open(&out_path)
                .expect("open for append");
            command.stdout(file);
        }
        Sink::Pipe => {
            command.stdout(Stdio::piped());
        }
        Sink::DevNull => {
            let null = OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .expect("/dev/null");
            command.stdout(null);
        }
        Sink::Socket => {
            let (theirs, reader) = socket_sink();
            command.stdout(theirs);
            socket_reader = Some(reader);
        }
    }
    let mut child = command.spawn().expect("spawn mycat");
    // The Command keeps our copies of the child's descriptors (the socket's other end above all):
    // they must go, or the reader never sees end-of-file.
    drop(command);
    let feeder = child.stdin.take().map(|mut stdin| {
        let content = content.to_vec();
        thread::spawn(move || stdin.write_all(&content))
    });
    let output = finish(child);
    if let Some(feeder) = feeder {
        feeder.join().expect("feeder").expect("feed stdin");
    }
    assert!(
        output.status.success(),
        "{what}: {:?} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (received, expected): (Vec<u8>, Vec<u8>) = match sink {
        Sink::RegularFile => (fs::read(&out_path).expect("read output"), content.to_vec()),
        Sink::AppendingFile => (
            fs::read(&out_path).expect("read output"),
            [prefix, content].concat(),
        ),
        Sink::Pipe => (output.stdout, content.to_vec()),
        Sink::DevNull => return,
        Sink::Socket => (
            socket_reader
                .expect("reader")
                .join()
                .expect("reader thread")
                .expect("read socket"),
            content.to_vec(),
        ),
    };
    if received != expected {
        panic!(
            "{what}: output differs: {} bytes, sha256 {}; expected {} bytes, sha256 {}",
            received.len(),
            sha256(&received),
            expected.len(),
            sha256(&expected)
        );
    }
    let _ = fs::remove_file(&out_path);
}

fn check_every_combination(content: &[u8]) {
    let scratch = Scratch::new();
    let file = scratch.path().join("input");
    fs::write(&file, content).expect("write input");
    for input in INPUTS {
        for sink in SINKS {
            check(&scratch, &file, content, input, sink);
        }
    }
}

#[test]
fn empty_input_to_every_output_kind() {
    check_every_combination(b"");
}

#[test]
fn one_byte_to_every_output_kind() {
    check_every_combination(b"x");
}

#[test]
fn four_kib_to_every_output_kind() {
    check_every_combination(&pattern(4096));
}

#[test]
fn odd_size_to_every_output_kind() {
    // Not a multiple of the page size nor of the copy buffer: the tail takes its own call.
    check_every_combination(&pattern(3 * 128 * 1024 + 4097));
}

#[test]
fn sixty_four_mib_to_every_output_kind() {
    check_every_combination(big_pattern());
}

#[test]
fn sha256_of_the_output_matches_the_input() {
    // The same check as above, in the terms of the issue: the digest of what arrives through a
    // pipe is the digest of the 64 MiB file.
    let scratch = Scratch::new();
    let file = scratch.path().join("input");
    fs::write(&file, big_pattern()).expect("write input");
    let output = finish(
        Command::new(mycat_binary())
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mycat"),
    );
    assert!(output.status.success());
    assert_eq!(sha256(&output.stdout), sha256(big_pattern()));
}

#[test]
fn several_operands_and_stdin_keep_their_order_on_every_output_kind() {
    let scratch = Scratch::new();
    let first = scratch.file("first", &pattern(5000), 0o644);
    let second = scratch.file("second", b"", 0o644);
    let third = scratch.file("third", b"third\n", 0o644);
    for sink in [Sink::RegularFile, Sink::Pipe, Sink::Socket] {
        let out_path = scratch.path().join("out");
        let mut command = Command::new(mycat_binary());
        command
            .args([&first, &second])
            .arg("-")
            .arg(&third)
            .arg(&first)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped());
        let mut socket_reader = None;
        match sink {
            Sink::RegularFile => {
                command.stdout(File::create(&out_path).expect("create"));
            }
            Sink::Socket => {
                let (theirs, reader) = socket_sink();
                command.stdout(theirs);
                socket_reader = Some(reader);
            }
            _ => {
                command.stdout(Stdio::piped());
            }
        }
        let mut child = command.spawn().expect("spawn");
        drop(command);
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"from stdin\n").expect("feed");
        drop(stdin);
        let output = finish(child);
        assert!(output.status.success(), "{sink:?}");
        let received = match sink {
            Sink::RegularFile => fs::read(&out_path).expect("read"),
            Sink::Socket => socket_reader
                .expect("reader")
                .join()
                .expect("thread")
                .expect("read"),
            _ => output.stdout,
        };
        let expected = [
            &pattern(5000)[..],
            b"from stdin\n",
            b"third\n",
            &pattern(5000),
        ]
        .concat();
        assert!(received == expected, "{sink:?}: order or content differs");
    }
}
