//! Wiring: the application as a value that tests can build on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, dev::Server};
use anyhow::Context;
use async_trait::async_trait;
use tracing_actix_web::TracingLogger;
use uuid::Uuid;
use voice_scheduler_domain::ports::{Clock, LocalCalendarGateway};
use voice_scheduler_domain::{Calendar, CalendarId, SchedulingService};
use voice_scheduler_http::{AppState, Readiness};
use voice_scheduler_store::Store;
use voice_scheduler_vapi::auth::SharedSecret;
use voice_scheduler_vapi::{ToolRunner, ToolSettings};

use crate::config::Settings;
use crate::secrets::{self, SecretSource};

/// The id of the calendar configured through environment variables.
pub const DEFAULT_CALENDAR_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

/// A built, bound, not yet running application.
pub struct Application {
    port: u16,
    server: Server,
    secret_source: SecretSource,
}

impl Application {
    /// Connects to the database, applies migrations, and binds
    /// `settings.host:settings.port` (port 0 picks a free port).
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url)
            .await
            .context("connecting to the database")?;
        store.migrate().await.context("applying migrations")?;
        let calendar_id = CalendarId::from_uuid(DEFAULT_CALENDAR_ID);
        let time_zone = settings.schedule.time_zone();
        store
            .ensure_calendar(calendar_id, "default", "Appointments", time_zone.name())
            .await
            .context("creating the default calendar")?;
        let calendar = Arc::new(Calendar {
            id: calendar_id,
            name: "Appointments".to_owned(),
            schedule: settings.schedule.clone(),
        });
        let (secret, secret_source) =
            secrets::vapi_secret(settings.vapi_webhook_secret.as_deref(), &store)
                .await
                .context("reading the VAPI secret")?;
        if secret_source == SecretSource::Generated {
            tracing::warn!(
                "VAPI_WEBHOOK_SECRET is not set: /vapi/* requires the secret generated on first start and kept in the database; print it with `voice-scheduler vapi secret`"
            );
        }
        let repo = Arc::new(store.clone());
        let service = SchedulingService::new(repo.clone(), Arc::new(LocalCalendarGateway), clock);
        let runner = ToolRunner::new(
            service,
            repo,
            ToolSettings {
                phone_region: settings.phone_region,
                ..ToolSettings::default()
            },
        );
        let state = AppState {
            runner,
            calendar,
            vapi_secret: SharedSecret::new(&secret),
            readiness: Arc::new(StoreReadiness(store)),
        };
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .configure(voice_scheduler_http::configure(state.clone()))
        })
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        tracing::info!(address = %settings.host, port, "listening");
        Ok(Self {
            port,
            server,
            secret_source,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn secret_source(&self) -> SecretSource {
        self.secret_source
    }

    /// Serves until the process is asked to stop (SIGINT or SIGTERM), letting
    /// in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Ready when the database answers within two seconds.
struct StoreReadiness(Store);

#[async_trait]
impl Readiness for StoreReadiness {
    async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(Duration::from_secs(2), self.0.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("the database does not answer".to_owned()),
            Err(_) => Err("the database did not answer within 2 seconds".to_owned()),
        }
    }
}
