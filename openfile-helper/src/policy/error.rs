//! Errors and warnings from parsing and loading a policy. Every one names the file (and for
//! parse problems the line) so that `--check` and the audit log can say exactly what is wrong.

use std::fmt;
use std::path::PathBuf;

/// A policy that cannot be used. Any of these makes every privileged open fail closed (P7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// The text of a policy file is wrong: bad TOML, unknown key, bad glob, ...
    Parse {
        file: PathBuf,
        line: u32,
        message: String,
    },
    /// A policy file or a directory above it cannot be trusted or read.
    File { path: PathBuf, problem: FileProblem },
    /// The user or group database could not answer for a name the policy uses (an outage, no
    /// free descriptor, no memory). Never read as "no such name": that would switch off denies.
    Lookup {
        file: PathBuf,
        line: u32,
        name: String,
        errno: i32,
    },
}

impl PolicyError {
    pub(crate) fn parse(file: &std::path::Path, line: u32, message: impl Into<String>) -> Self {
        PolicyError::Parse {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, problem: FileProblem) -> Self {
        PolicyError::File {
            path: path.into(),
            problem,
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Parse {
                file,
                line,
                message,
            } => write!(formatter, "{}:{line}: {message}", file.display()),
            PolicyError::File { path, problem } => {
                write!(formatter, "{}: {problem}", path.display())
            }
            PolicyError::Lookup {
                file,
                line,
                name,
                errno,
            } => write!(
                formatter,
                "{}:{line}: cannot look up {name:?}: {}",
                file.display(),
                myopen::strerror(*errno)
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Why a policy file or directory was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileProblem {
    /// policy.toml does not exist; without it there is no policy, so nothing is allowed.
    Missing,
    /// The configured directory is not an absolute path without `..`.
    NotAbsolute,
    SymbolicLink,
    NotADirectory,
    NotARegularFile,
    NotRootOwned {
        uid: u32,
    },
    WritableByGroupOrOther,
    TooLarge {
        limit: u64,
    },
    NotUtf8,
    /// A system call failed; `errno` says why.
    Io {
        call: &'static str,
        errno: i32,
    },
}

impl fmt::Display for FileProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::Missing => formatter.write_str("missing (no policy: failing closed)"),
            FileProblem::NotAbsolute => {
                formatter.write_str("configuration directory must be an absolute path without '..'")
            }
            FileProblem::SymbolicLink => formatter.write_str("is a symbolic link"),
            FileProblem::NotADirectory => formatter.write_str("is not a directory"),
            FileProblem::NotARegularFile => formatter.write_str("is not a regular file"),
            FileProblem::NotRootOwned { uid } => write!(formatter, "owned by uid {uid}, not root"),
            FileProblem::WritableByGroupOrOther => {
                formatter.write_str("writable by group or other")
            }
            FileProblem::TooLarge { limit } => {
                write!(formatter, "larger than the {limit}-byte limit")
            }
            FileProblem::NotUtf8 => formatter.write_str("is not valid UTF-8"),
            FileProblem::Io { call, errno } => {
                write!(formatter, "{call} failed: {}", myopen::strerror(*errno))
            }
        }
    }
}

/// Something worth telling the administrator that does not stop the policy from loading, like
/// a user name that does not exist (that entry then matches nobody).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}: warning: {}",
            self.file.display(),
            self.line,
            self.message
        )
    }
}
