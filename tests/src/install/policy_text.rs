//! Policy text for the tests to write.

use super::*;

/// `users = ["a", "b"]`.
pub fn users(names: &[&str]) -> String {
    format!("users = {}", toml_list(names))
}

/// `groups = ["a", "b"]`.
pub fn groups(names: &[&str]) -> String {
    format!("groups = {}", toml_list(names))
}

pub(crate) fn toml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// An `[[allow]]` table: `glob`, the principals line (see [`users`], [`groups`]), `access`, and
/// `types` unless empty (the default, files only).
pub fn allow_rule(glob: impl AsRef<Path>, who: &str, access: &[&str], types: &[&str]) -> String {
    let mut text = format!(
        "[[allow]]\npath = {:?}\n{who}\naccess = {}\n",
        glob.as_ref().display().to_string(),
        toml_list(access)
    );
    if !types.is_empty() {
        text.push_str(&format!("types = {}\n", toml_list(types)));
    }
    text
}

/// A `[[deny]]` table for `glob`; `who` empty means everyone.
pub fn deny_rule(glob: impl AsRef<Path>, who: &str) -> String {
    let mut text = format!(
        "[[deny]]\npath = {:?}\n",
        glob.as_ref().display().to_string()
    );
    if !who.is_empty() {
        text.push_str(who);
        text.push('\n');
    }
    text
}

/// The 1-based line of the first line of `text` equal to `line` (after trimming).
pub fn line_of(text: &str, line: &str) -> usize {
    text.lines()
        .position(|candidate| candidate.trim() == line)
        .map(|index| index + 1)
        .unwrap_or_else(|| panic!("{line:?} is not a line of the policy:\n{text}"))
}
