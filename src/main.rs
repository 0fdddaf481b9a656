//! The `voice-scheduler` binary: everything lives in `voice-scheduler-server`.
fn main() -> std::process::ExitCode {
    voice_scheduler_server::cli::main()
}
