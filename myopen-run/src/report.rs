//! What myopen-run says on standard error: each escalation and refusal with `--verbose`, and
//! once, always, when the helper cannot be asked at all.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where messages go; cheap to clone (shared by the supervisor and the escalation worker).
#[derive(Debug, Clone)]
pub struct Report {
    verbose: bool,
    helper_trouble_told: Arc<AtomicBool>,
}

impl Report {
    pub fn new(verbose: bool) -> Report {
        Report {
            verbose,
            helper_trouble_told: Arc::new(AtomicBool::new(false)),
        }
    }

    /// With `--verbose`: one line.
    pub fn verbose(&self, message: fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("myopen-run: {message}");
        }
    }

    /// The helper could not be asked: said once per run (every time with `--verbose`), since the
    /// opens it would have helped with now fail as they would without myopen-run.
    pub fn helper_trouble(&self, error: &myopen::Error) {
        if !self.helper_trouble_told.swap(true, Ordering::Relaxed) || self.verbose {
            eprintln!("myopen-run: {error}; opens run with your own rights only");
        }
    }
}

/// `read`, `write`, `read-write`, then `append`, `create`, `truncate` where asked for.
pub fn describe_flags(flags: i32) -> String {
    let mut words = vec![match flags & libc::O_ACCMODE {
        libc::O_WRONLY => "write",
        libc::O_RDWR => "read-write",
        _ => "read",
    }];
    for (bit, word) in [
        (libc::O_APPEND, "append"),
        (libc::O_CREAT, "create"),
        (libc::O_TRUNC, "truncate"),
    ] {
        if flags & bit != 0 {
            words.push(word);
        }
    }
    words.join(", ")
}
