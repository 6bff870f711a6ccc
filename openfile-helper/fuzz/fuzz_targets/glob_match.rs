//! Arbitrary pattern and path bytes: compiling and matching must never panic and must finish
//! quickly (libFuzzer's -timeout catches a slow input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openfile_helper::policy::Glob;

fuzz_target!(|data: &[u8]| {
    // The first NUL splits pattern from path; with no NUL, the input is both.
    let (pattern, path) = match data.iter().position(|byte| *byte == 0) {
        Some(split) => (&data[..split], &data[split + 1..]),
        None => (data, data),
    };
    let Ok(pattern) = std::str::from_utf8(pattern) else {
        return;
    };
    if let Ok(glob) = Glob::new(pattern) {
        let _ = glob.matches(path);
        // Paths far longer than the input, built from it, to stress the matcher's bounds.
        let mut long = Vec::with_capacity(4096);
        while long.len() + path.len() + 1 <= 4096 && !path.is_empty() {
            long.push(b'/');
            long.extend_from_slice(path.strip_prefix(b"/").unwrap_or(path));
        }
        let _ = glob.matches(&long);
    }
});
