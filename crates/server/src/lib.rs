//! Configuration, telemetry, wiring and the command line of voice-scheduler:
//! the only crate that knows every other.

pub mod app;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod retention;
mod runtime;
pub mod secrets;
pub mod telemetry;

pub use app::Application;
pub use config::Settings;
