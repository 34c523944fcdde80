//! The `jxc-hub` binary: parses the command line, runs it, and turns the
//! outcome into a one-line message and a documented exit code.

use clap::Parser;
use jxc_hub::cli::{Cli, run};
use std::io::Write;
use std::process::ExitCode;

/// Many small allocations freed on other threads than made them (each sync
/// batch is prepared on one blocking thread and written on another): glibc
/// malloc and free were a fifth of the hub's CPU on ingest (BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // rustls warns per connection about what a client sent; see init_quieting.
    jxc_runtime::telemetry::init_quieting("info", &["rustls"]);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(cli, &mut out);
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
