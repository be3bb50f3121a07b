use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    tasker::cli::run()
}
