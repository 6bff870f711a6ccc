//! Fluent checks on what a finished command printed and how it ended: one line per expectation
//! in a test, and every failure shows the exit status, stdout and stderr.

use std::os::unix::process::ExitStatusExt;
use std::process::Output;

/// Checks on `output`, chained: `check(&output).success().stdout(b"...").stderr_empty()`.
pub fn check(output: &Output) -> Checked<'_> {
    Checked { output }
}

/// See [`check`].
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    output: &'a Output,
}

impl Checked<'_> {
    fn context(&self) -> String {
        format!(
            "status {:?} (signal {:?})\nstdout: {}\nstderr: {}",
            self.output.status.code(),
            self.output.status.signal(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    /// Exited 0.
    #[track_caller]
    pub fn success(self) -> Self {
        assert!(
            self.output.status.success(),
            "expected success\n{}",
            self.context()
        );
        self
    }

    /// Exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(
            self.output.status.code(),
            Some(code),
            "expected exit status {code}\n{}",
            self.context()
        );
        self
    }

    /// Printed exactly `expected` on stdout.
    #[track_caller]
    pub fn stdout(self, expected: &[u8]) -> Self {
        assert!(
            self.output.stdout == expected,
            "expected stdout {:?}\n{}",
            String::from_utf8_lossy(expected),
            self.context()
        );
        self
    }

    /// Printed exactly `expected` on stderr.
    #[track_caller]
    pub fn stderr(self, expected: &str) -> Self {
        assert!(
            self.output.stderr == expected.as_bytes(),
            "expected stderr {expected:?}\n{}",
            self.context()
        );
        self
    }

    /// Printed nothing on stderr.
    #[track_caller]
    pub fn stderr_empty(self) -> Self {
        assert!(
            self.output.stderr.is_empty(),
            "expected no stderr\n{}",
            self.context()
        );
        self
    }

    /// Printed `needle` somewhere on stdout.
    #[track_caller]
    pub fn stdout_contains(self, needle: &str) -> Self {
        assert!(
            String::from_utf8_lossy(&self.output.stdout).contains(needle),
            "expected {needle:?} on stdout\n{}",
            self.context()
        );
        self
    }

    /// Printed `needle` somewhere on stderr.
    #[track_caller]
    pub fn stderr_contains(self, needle: &str) -> Self {
        assert!(
            String::from_utf8_lossy(&self.output.stderr).contains(needle),
            "expected {needle:?} on stderr\n{}",
            self.context()
        );
        self
    }
}

#[cfg(test)]
mod tests {
    use super::check;
    use std::process::Command;

    #[test]
    fn passing_checks_chain_and_a_wrong_one_fails() {
        let output = Command::new("sh")
            .args(["-c", "printf out; printf err >&2; exit 3"])
            .output()
            .unwrap();
        check(&output)
            .code(3)
            .stdout(b"out")
            .stderr("err")
            .stdout_contains("ou")
            .stderr_contains("rr");
        let wrong = std::panic::catch_unwind(|| {
            check(&output).success();
        });
        assert!(wrong.is_err(), "a failing check fails the test");
    }
}
