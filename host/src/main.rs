use clap::Parser;
use facelab::cli::{run, Cli, Outcome};

fn main() -> std::process::ExitCode {
    one_heap();
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Success) => std::process::ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => std::process::ExitCode::from(1),
        // A reader that stopped early (`facelab detect --json … | head -1`) is not an error,
        // as in ripgrep: what it read was complete.
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("facelab: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// One glibc heap for every thread, unless `MALLOC_ARENA_MAX` says otherwise. glibc gives
/// each thread that allocates its own arena, and each keeps the high-water mark of the
/// photo-sized tensors its thread has seen (their shape changes with every photo). With one
/// arena, freed memory is reused by every thread: a WIDER mini scan's peak RSS fell from
/// 491–678 to 405 MB and a camera-size one from 743 to 520 MB, with less system time and no
/// slower (docs/speed.md). Set before any thread starts.
fn one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes the allocator's parameters; no thread runs yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
