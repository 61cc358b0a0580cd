use clap::Parser;
use facelab::cli::{run, Cli, Outcome};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Success) => std::process::ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("facelab: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
