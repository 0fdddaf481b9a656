//! The command line: `serve` (the default), `migrate`, `vapi secret`,
//! `users create-admin`, `config check`, `audit purge`, `google rotate-keys`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use voice_scheduler_domain::accounts::RegisterError;
use voice_scheduler_domain::ports::SystemClock;
use voice_scheduler_domain::{Email, PersonName};
use voice_scheduler_store::Store;

use crate::app::{Application, Services, seed_first_calendar};
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
    /// User accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Google Calendar.
    Google {
        #[command(subcommand)]
        command: GoogleCommand,
    },
}

#[derive(Debug, Subcommand)]
enum GoogleCommand {
    /// Re-encrypt every stored Google refresh token with the current
    /// ENCRYPTION_KEY (opening older ones with ENCRYPTION_OLD_KEYS); run it
    /// after rotating the key, then remove the old key.
    RotateKeys,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Delete the entries older than AUDIT_RETENTION_DAYS now (the server
    /// also does it daily) and print how many were removed.
    Purge,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print what would be used (secrets
    /// masked); exits 2 when it is invalid.
    Check,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create an administrator. The password is read from the terminal
    /// (twice, not echoed) or, when standard input is not a terminal, from
    /// its first line.
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// Shown in the staff interface (default: the part of the address before '@').
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum VapiCommand {
    /// Print the secret VAPI must send in X-Vapi-Secret (the configured one,
    /// or the one generated on first start).
    Secret,
    /// Print the VAPI tool definitions (JSON, ready to paste into VAPI's
    /// dashboard or `POST /tool`): every tool, its parameters, and the server
    /// URL with the header that carries the secret.
    Tools {
        /// This server's public address as VAPI reaches it, e.g. https://scheduler.example.com
        #[arg(long)]
        base_url: String,
        /// Route the tools to this calendar (`?calendar=<slug>` on the URL).
        #[arg(long)]
        calendar: Option<String>,
        /// Put the real secret in the definitions instead of a placeholder.
        #[arg(long)]
        include_secret: bool,
        /// With --calendar: read the calendar's services from the database
        /// and list their names as the `service` argument's enum.
        #[arg(long, requires = "calendar")]
        with_services: bool,
    },
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
            Command::Audit {
                command: AuditCommand::Purge,
            } => {
                let store = Store::connect(&settings.database_url).await?;
                store.migrate().await?;
                let done = crate::retention::purge_audit(
                    &store,
                    settings.audit_retention_days,
                    &SystemClock,
                    true,
                )
                .await?;
                println!(
                    "removed {} audit entries recorded before {} (AUDIT_RETENTION_DAYS={})",
                    done.removed,
                    done.before
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    settings.audit_retention_days
                );
                Ok(())
            }
            Command::Google {
                command: GoogleCommand::RotateKeys,
            } => {
                let Some(keys) = settings.encryption.as_ref() else {
                    return Err(InvalidInput(
                        "ENCRYPTION_KEY is not set: there is no key to re-encrypt with".to_owned(),
                    )
                    .into());
                };
                let store = Store::connect(&settings.database_url).await?;
                store.migrate().await?;
                let (resealed, current, failed) =
                    voice_scheduler_google::reseal_all(keys, &store).await?;
                println!(
                    "re-encrypted {resealed} Google tokens with key {}; {current} already used it; {failed} could not be opened with the configured keys",
                    voice_scheduler_google::key_id_hex(keys.current_key_id())
                );
                if failed > 0 {
                    anyhow::bail!(
                        "{failed} tokens could not be opened: add the key that sealed them to ENCRYPTION_OLD_KEYS, or reconnect those calendars"
                    );
                }
                Ok(())
            }
            Command::Users {
                command: UsersCommand::CreateAdmin { email, name },
            } => create_admin(&settings, &email, name.as_deref()).await,
            Command::Vapi {
                command: VapiCommand::Secret,
            } => {
                let store = Store::connect(&settings.database_url).await?;
                store.migrate().await?;
                let (secret, _) =
                    secrets::vapi_secret(
                        settings.vapi_webhook_secret.as_deref(),
                        &store,
                        settings.encryption.as_deref(),
                    ).await?;
                println!("{secret}");
                Ok(())
            }
            Command::Vapi {
                command:
                    VapiCommand::Tools {
                        base_url,
                        calendar,
                        include_secret,
                        with_services,
                    },
            } => {
                print_tools(
                    &settings,
                    &base_url,
                    calendar.as_deref(),
                    include_secret,
                    with_services,
                )
                .await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<InvalidInput>().is_some() => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            let error: anyhow::Error = error;
            tracing::error!(error = ?error, "fatal");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A value given on the command line that was refused (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InvalidInput(String);

async fn create_admin(settings: &Settings, email: &str, name: Option<&str>) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| InvalidInput(format!("--email: {e}")))?;
    let name = name.map(str::to_owned).unwrap_or_else(|| {
        email
            .as_str()
            .split('@')
            .next()
            .unwrap_or("admin")
            .to_owned()
    });
    let name = PersonName::parse(&name).map_err(|e| InvalidInput(format!("--name: {e}")))?;
    let password = read_password()?;
    let password = voice_scheduler_auth::new_password(&password)
        .map_err(|e| InvalidInput(format!("password: {e}")))?;
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    // The administrator owns the first calendar, even before the first start.
    seed_first_calendar(&store, settings, chrono::Utc::now()).await?;
    let services = Services::new(settings, &store, Arc::new(SystemClock)).await?;
    let admin = services
        .accounts
        .create_admin(email, name, password)
        .await
        .map_err(|e| match e {
            RegisterError::Unknown(e) => e,
            other => InvalidInput(other.to_string()).into(),
        })?;
    println!("administrator {} created ({})", admin.email, admin.id);
    Ok(())
}

/// From the terminal, not echoed and confirmed; otherwise the first line of
/// standard input.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        if first != again {
            return Err(InvalidInput("the passwords do not match".to_owned()).into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

async fn print_tools(
    settings: &Settings,
    base_url: &str,
    calendar: Option<&str>,
    include_secret: bool,
    with_services: bool,
) -> anyhow::Result<()> {
    if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        return Err(InvalidInput(format!(
            "--base-url: '{base_url}' is not an http(s) URL (e.g. https://scheduler.example.com)"
        ))
        .into());
    }
    let slug = match calendar {
        Some(slug) => Some(
            voice_scheduler_domain::Slug::parse(slug)
                .map_err(|e| InvalidInput(format!("--calendar: {e}")))?,
        ),
        None => None,
    };
    let store = if include_secret || with_services {
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        Some(store)
    } else {
        None
    };
    let mut services = Vec::new();
    if let (true, Some(store), Some(slug)) = (with_services, &store, &slug) {
        use voice_scheduler_domain::catalog::ServiceRepository;
        use voice_scheduler_domain::ports::CalendarRepository;
        let found = store.find_by_slug(slug).await?.ok_or_else(|| {
            InvalidInput(format!("--calendar: no calendar has the slug '{slug}'"))
        })?;
        services = store
            .list_services(found.id)
            .await?
            .into_iter()
            .map(|s| s.name.as_str().to_owned())
            .collect();
    }
    let secret = if let (true, Some(store)) = (include_secret, &store) {
        Some(
            secrets::vapi_secret(
                settings.vapi_webhook_secret.as_deref(),
                store,
                settings.encryption.as_deref(),
            )
            .await?
            .0,
        )
    } else {
        None
    };
    let tools = voice_scheduler_vapi::definitions::tool_definitions_for(
        base_url,
        calendar,
        secret.as_deref(),
        &services,
    );
    println!("{}", serde_json::to_string_pretty(&tools)?);
    if secret.is_none() {
        eprintln!(
            "replace {} with the secret from `voice-scheduler vapi secret` (or pass --include-secret), or attach a VAPI credential instead",
            voice_scheduler_vapi::definitions::SECRET_PLACEHOLDER
        );
    }
    Ok(())
}
