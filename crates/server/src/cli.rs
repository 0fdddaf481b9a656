//! The command line: `serve` (the default), `migrate`, `vapi secret`,
//! `config check`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use voice_scheduler_domain::ports::SystemClock;
use voice_scheduler_store::Store;

use crate::app::Application;
use crate::config::Settings;
use crate::{secrets, telemetry};

/// A VAPI voice-assistant scheduling backend. Configuration comes from
/// environment variables and a `.env` file; see docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "voice-scheduler", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP server (the default when no command is given).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// VAPI integration helpers.
    Vapi {
        #[command(subcommand)]
        command: VapiCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print what would be used (secrets
    /// masked); exits 2 when it is invalid.
    Check,
}

#[derive(Debug, Subcommand)]
enum VapiCommand {
    /// Print the secret VAPI must send in X-Vapi-Secret (the configured one,
    /// or the one generated on first start).
    Secret,
}

/// Runs the command line; the binary's `main` calls only this.
pub fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Config {
        command: ConfigCommand::Check,
    }) = &cli.command
    {
        println!("configuration is valid; the server would use:");
        for (name, value) in settings.describe() {
            println!("  {name}={value}");
        }
        return ExitCode::SUCCESS;
    }
    telemetry::init(&settings.log_level, settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                let app = Application::build(settings, Arc::new(SystemClock)).await?;
                app.run_until_stopped().await?;
                tracing::info!("stopped");
                Ok(())
            }
            Command::Migrate => {
                let store = Store::connect(&settings.database_url).await?;
                store.migrate().await?;
                println!("migrations applied");
                Ok(())
            }
            Command::Config { .. } => Ok(()),
            Command::Vapi {
                command: VapiCommand::Secret,
            } => {
                let store = Store::connect(&settings.database_url).await?;
                store.migrate().await?;
                let (secret, _) =
                    secrets::vapi_secret(settings.vapi_webhook_secret.as_deref(), &store).await?;
                println!("{secret}");
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let error: anyhow::Error = error;
            tracing::error!(error = ?error, "fatal");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
