use std::process::ExitCode;

// glibc's malloc showed up as a sixth of the engine's CPU under load
// (arena locks and consolidation across the runtime's threads); mimalloc's
// thread-local free lists make the engine's many small allocations cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<ExitCode> {
    tasker::cli::run()
}
