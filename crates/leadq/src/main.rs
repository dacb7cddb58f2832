//! `leadq`: the command line of the lead qualification engine.

/// Appends formatted text to a `String` (commands build their output and
/// write it at once, see `output::emit`).
macro_rules! out {
    ($o:expr, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = write!($o, $($t)*);
    }};
}

macro_rules! outln {
    ($o:expr) => {
        $o.push('\n')
    };
    ($o:expr, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($o, $($t)*);
    }};
}

mod alloc;
mod backtest;
mod cli;
mod demo;
mod explain;
mod frameworks;
mod output;
mod pipeline;
mod predict_cmd;
mod progress;
mod qualify;
mod report;
mod serve;

use clap::Parser;

use std::process::ExitCode;

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        cli::Command::Qualify(args) => qualify::run(args),
        cli::Command::Explain(args) => explain::run(args),
        cli::Command::Backtest(args) => backtest::run(args),
        cli::Command::Frameworks(args) => frameworks::run(args),
        cli::Command::Demo(args) => demo::run(args),
        cli::Command::Serve(args) => serve::serve(args),
        cli::Command::Migrate(args) => serve::migrate(args),
        cli::Command::Admin(args) => serve::admin(args),
        cli::Command::Privacy(args) => serve::privacy(args),
        cli::Command::Tasks(args) => serve::tasks(args),
        cli::Command::Train(args) => predict_cmd::train(args),
        cli::Command::Predict(args) => predict_cmd::predict(args),
        cli::Command::Evaluate(args) => predict_cmd::evaluate(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(usage) = e.downcast_ref::<cli::UsageError>() {
                eprintln!("error: {usage}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
