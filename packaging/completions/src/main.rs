//! Writes mycat's shell completions from mycat's own command-line definition.
//!
//! `myopen-completions bash|zsh|fish` prints the script for that shell on standard output
//! (`make install` and the packages install them). The definition is mycat's own (`mycat_cli`),
//! so the completions can never drift from the options mycat really accepts.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

const USAGE: &str = "usage: myopen-completions bash|zsh|fish";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let shell = match arguments.as_slice() {
        [name] if name == "bash" => Shell::Bash,
        [name] if name == "zsh" => Shell::Zsh,
        [name] if name == "fish" => Shell::Fish,
        _ => {
            let _ = writeln!(std::io::stderr(), "{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut mycat_cli::Cli::command(), "mycat", &mut script);
    match std::io::stdout().write_all(&script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(
                std::io::stderr(),
                "myopen-completions: standard output: {error}"
            );
            ExitCode::FAILURE
        }
    }
}
