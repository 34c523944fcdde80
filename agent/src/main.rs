//! The `jxc-agent` binary: parses the command line, runs it, and turns the
//! outcome into a one-line message and a documented exit code.

use clap::Parser;
use jxc_agent::cli::{Cli, run};
use jxc_agent::error::exit;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    jxc_runtime::telemetry::init("warn");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let result = run(cli, &mut out, &mut err);
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(error = ?e, "command failed");
            let _ = writeln!(err, "error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
