//! `danemail`: the command-line shell over the engine library.
//!
//! Exit codes: 0 done; 1 `doctor` found a problem; 2 bad usage, bad
//! configuration or bad input (always one line on stderr).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::args::Cli::try_parse() {
        Ok(args) => args,
        Err(err) => return cli::usage_error(err),
    };
    cli::init_logging(args.is_service());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("danemail: cannot start the async runtime: {err}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("danemail: {err:#}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
