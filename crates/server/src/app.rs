//! Wiring: the application as a value that tests can build on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, dev::Server, web};
use anyhow::Context;
use async_trait::async_trait;
use uuid::Uuid;
use voice_scheduler_auth::{BcryptHasher, JwtAccessTokens};
use voice_scheduler_domain::accounts::{AccountPorts, AccountService, AccountSettings};
use voice_scheduler_domain::audit::AuditTrail;
use voice_scheduler_domain::calendars::CalendarService;
use voice_scheduler_domain::calls::CallLog;
use voice_scheduler_domain::catalog::ServiceCatalog;
use voice_scheduler_domain::desk::FrontDesk;
use voice_scheduler_domain::dialer::Dialer;
use voice_scheduler_domain::ports::CalendarRepository;
use voice_scheduler_domain::ports::{CalendarGateway, Clock, LocalCalendarGateway};
use voice_scheduler_domain::privacy::{PrivacyPorts, PrivacyService};
use voice_scheduler_domain::sync::{CalendarSync, Connections, RetryPolicy};
use voice_scheduler_domain::webhooks::{DeliveryPolicy, WebhookDispatch, Webhooks};
use voice_scheduler_domain::{Calendar, CalendarId, SchedulingService, Slug, VapiRoutes};
use voice_scheduler_google::{CalendarApi, GoogleCalendar, GoogleSettings, OAuthClient};
use voice_scheduler_http::{
    AppState, CorsPolicy, MetricsAccess, MetricsRender, RateLimits, Readiness,
};
use voice_scheduler_ratelimit::{MemoryLimiter, RateLimiter, RedisLimiter};
use voice_scheduler_store::{Backend, Store};
use voice_scheduler_vapi::auth::SharedSecret;
use voice_scheduler_vapi::client::VapiClient;
use voice_scheduler_vapi::hmac::HmacVerifier;
use voice_scheduler_vapi::{ToolRunner, ToolSettings};
use voice_scheduler_webhooks::HttpTransport;

use crate::config::Settings;
use crate::retention;
use crate::runtime::OnRuntime;
use crate::secrets::{self, SecretSource};
use crate::telemetry;

/// The id of the calendar configured through environment variables.
pub const DEFAULT_CALENDAR_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

/// A built, bound, not yet running application.
pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    server: Server,
    metrics_server: Option<Server>,
    secret_source: SecretSource,
    /// The daily audit-log purge (stopped with the server).
    retention: tokio::task::JoinHandle<()>,
    /// The hourly call-transcript purge (stopped with the server).
    call_retention: tokio::task::JoinHandle<()>,
    /// The calendar-sync worker, when Google Calendar is on (stopped with
    /// the server; a job it was running is claimed again when its lease ends).
    sync_worker: Option<tokio::task::JoinHandle<()>>,
    /// The webhook delivery worker (stopped with the server; a delivery it
    /// was sending is claimed again when its lease ends).
    webhook_worker: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Connects to the database, applies migrations, and binds
    /// `settings.host:settings.port` (port 0 picks a free port).
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = Store::connect_with_pools(
            &settings.database_url,
            settings.database_max_connections,
            settings.database_booking_connections,
        )
        .await
        .context("connecting to the database")?;
        store.migrate().await.context("applying migrations")?;
        seed_first_calendar(&store, &settings, clock.now()).await?;
        let (secret, secret_source) = secrets::vapi_secret(
            settings.vapi_webhook_secret.as_deref(),
            &store,
            settings.encryption.as_deref(),
        )
        .await
        .context("reading the VAPI secret")?;
        if secret_source == SecretSource::Generated {
            tracing::warn!(
                "VAPI_WEBHOOK_SECRET is not set: /vapi/* requires the secret generated on first start and kept in the database; print it with `voice-scheduler vapi secret`"
            );
        }
        let services = Services::new(&settings, &store, clock.clone()).await?;
        let generated: Vec<&str> = [
            (secret_source, "VAPI_WEBHOOK_SECRET"),
            (services.jwt_source, "JWT_SECRET"),
        ]
        .into_iter()
        .filter(|(source, _)| *source == SecretSource::Generated)
        .map(|(_, name)| name)
        .collect();
        secrets::warn_if_unsealed(&generated, settings.encryption.as_deref());
        let dashboard =
            crate::dashboard::state(&settings, &store, &services, clock.clone()).await?;
        // For the audit-log retention job, started once everything is bound.
        let (store_for_retention, retention_clock) = (store.clone(), clock.clone());
        let runner = ToolRunner::new(
            services.scheduling.clone(),
            Arc::new(store.clone()),
            ToolSettings {
                phone_region: settings.phone_region,
                ..ToolSettings::default()
            },
        )
        .with_services(Arc::new(store.clone()));
        let metrics: Arc<dyn MetricsRender> = Arc::new(StoreMetrics {
            handle: telemetry::prometheus(),
            store: store.clone(),
        });
        let metrics_access = match &settings.metrics_token {
            Some(token) => MetricsAccess::Token(SharedSecret::new(token)),
            None => MetricsAccess::Hidden,
        };
        let state = AppState {
            runner,
            accounts: services.accounts,
            calendars: services.calendars,
            desk: services.desk,
            services: services.services.clone(),
            calls: services.calls.clone(),
            dialer: services.dialer.clone(),
            audit_trail: services.audit_trail,
            privacy: services.privacy,
            google: services.google.clone(),
            webhooks: services.webhooks.clone(),
            replies: Arc::new(store.clone()),
            phone_region: settings.phone_region,
            proxies: settings.trusted_proxies.clone(),
            vapi_secret: SharedSecret::new(&secret),
            vapi_hmac: settings.vapi_hmac.as_ref().map(HmacVerifier::new),
            clock,
            audit: Arc::new(store.clone()),
            readiness: Arc::new(StoreReadiness(store)),
            metrics: metrics.clone(),
            metrics_access,
        };
        let cors = web::Data::new(CorsPolicy::new(settings.cors_origins.clone()));
        let limiter: Arc<dyn RateLimiter> = match &settings.redis_url {
            Some(url) => Arc::new(
                RedisLimiter::connect(url, &settings.redis_key_prefix)
                    .await
                    .context("connecting to Redis (REDIS_URL) for the rate limits")?,
            ),
            None => Arc::new(MemoryLimiter::default()),
        };
        let limits = web::Data::new(RateLimits::new(
            limiter,
            settings.rate_limits,
            settings.trusted_proxies.clone(),
        ));
        let grace = settings.shutdown_grace.as_secs();
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        // Requests are polled in this runtime's context (see `runtime`).
        let runtime = tokio::runtime::Handle::current();
        let server = HttpServer::new(move || {
            let runtime = runtime.clone();
            App::new()
                .app_data(cors.clone())
                .app_data(limits.clone())
                .wrap(from_fn(voice_scheduler_http::limit))
                .wrap(from_fn(voice_scheduler_http::observe))
                .wrap(from_fn(move |request: ServiceRequest, next: Next<_>| {
                    OnRuntime::new(runtime.clone(), next.call(request))
                }))
                .configure(voice_scheduler_http::configure(state.clone()))
                .configure(voice_scheduler_web::configure(dashboard.clone()))
        })
        .workers(settings.worker_count())
        .shutdown_timeout(grace)
        .listen(listener)?
        .run();
        tracing::info!(address = %settings.host, port, workers = settings.worker_count(), "listening");

        let (metrics_server, metrics_port) = match settings.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .with_context(|| format!("binding the metrics listener {addr}"))?;
                let metrics_port = listener.local_addr()?.port();
                let render = metrics.clone();
                let server = HttpServer::new(move || {
                    let render = render.clone();
                    App::new().route(
                        "/metrics",
                        web::get().to(move || {
                            let body = render.render();
                            async move {
                                HttpResponse::Ok()
                                    .content_type("text/plain; version=0.0.4; charset=utf-8")
                                    .body(body)
                            }
                        }),
                    )
                })
                .workers(1)
                .shutdown_timeout(grace)
                .listen(listener)?
                .run();
                tracing::info!(%addr, "metrics listening");
                (Some(server), Some(metrics_port))
            }
            None => (None, None),
        };
        let retention = retention::spawn_daily_purge(
            store_for_retention,
            settings.audit_retention_days,
            retention_clock,
        );
        let call_retention = spawn_call_retention(services.calls);
        let sync_worker = services.sync.map(spawn_sync_worker);
        let webhook_worker = spawn_webhook_worker(services.dispatch);
        Ok(Self {
            port,
            metrics_port,
            server,
            metrics_server,
            secret_source,
            retention,
            call_retention,
            sync_worker,
            webhook_worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate metrics listener, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn secret_source(&self) -> SecretSource {
        self.secret_source
    }

    /// Serves until the process is asked to stop (SIGINT or SIGTERM), letting
    /// in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = match self.metrics_server {
            Some(metrics) => {
                let (main, metrics) = tokio::join!(self.server, metrics);
                main.and(metrics)
            }
            None => self.server.await,
        };
        self.retention.abort();
        self.call_retention.abort();
        if let Some(worker) = &self.sync_worker {
            worker.abort();
        }
        self.webhook_worker.abort();
        served
    }
}

/// Gives a fresh installation its first calendar: the schedule from the
/// environment, owned by nobody until the first administrator registers.
pub(crate) async fn seed_first_calendar(
    store: &Store,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let calendar = Calendar {
        id: CalendarId::from_uuid(DEFAULT_CALENDAR_ID),
        slug: Slug::parse("default").context("the default slug")?,
        name: "Appointments".to_owned(),
        schedule: settings.schedule.clone(),
        owner: None,
        routes: VapiRoutes::default(),
        created_at: now,
    };
    let seeded = store
        .create_if_none(&calendar)
        .await
        .context("creating the first calendar")?;
    if seeded {
        tracing::info!(
            "created the first calendar ('default') from the schedule settings; manage calendars through /api/v1/calendars"
        );
    }
    Ok(())
}

/// The domain services, wired to the store and the adapters.
pub struct Services {
    pub scheduling: SchedulingService,
    pub accounts: AccountService,
    pub calendars: CalendarService,
    pub desk: FrontDesk,
    /// The services (appointment types) of calendars.
    pub services: ServiceCatalog,
    /// VAPI calls (recording, listing, transcript retention).
    pub calls: CallLog,
    /// Reads the audit log (administrators).
    pub audit_trail: AuditTrail,
    /// Data export, account deletion and caller erasure.
    pub privacy: PrivacyService,
    /// Outbound calls through VAPI.
    pub dialer: Dialer,
    /// Google Calendar connections (when configured).
    pub google: Option<Connections>,
    /// The calendar-sync worker's service (when Google is configured).
    pub sync: Option<CalendarSync>,
    /// Webhook endpoints and their delivery logs.
    pub webhooks: Webhooks,
    /// The webhook delivery worker's service.
    pub dispatch: WebhookDispatch,
    /// Whether the access-token key was configured or generated.
    pub jwt_source: SecretSource,
}

impl Services {
    /// Builds every service on `store` (reading or generating the token key).
    pub async fn new(
        settings: &Settings,
        store: &Store,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let (jwt_secret, jwt_source) = secrets::jwt_secret(
            settings.jwt_secret.as_deref(),
            store,
            settings.encryption.as_deref(),
        )
        .await
        .context("reading the access-token signing key")?;
        if jwt_source == SecretSource::Generated && store.backend() == Backend::Postgres {
            tracing::warn!(
                "JWT_SECRET is not set: access tokens are signed with a key generated on first start and kept in the database; set JWT_SECRET (at least 32 random bytes) in production"
            );
        }
        let tokens = JwtAccessTokens::new(jwt_secret.as_bytes(), TOKEN_ISSUER, TOKEN_AUDIENCE)
            .context("the access-token signing key")?;
        let hasher = BcryptHasher::default();
        {
            // The dummy hash for unknown accounts, made now rather than on
            // the first failed sign-in (without delaying start-up).
            let hasher = hasher.clone();
            tokio::spawn(async move {
                if let Err(e) = hasher.warm_up().await {
                    tracing::warn!(error = %e, "could not prepare the password hasher");
                }
            });
        }
        let repo = Arc::new(store.clone());
        let google = match (&settings.google, &settings.encryption) {
            (Some(config), Some(keys)) => Some(Arc::new(
                GoogleCalendar::new(
                    OAuthClient::new(
                        config.client_id.clone(),
                        config.client_secret.clone(),
                        config.redirect_uri.clone(),
                        config.endpoints.clone(),
                    )
                    .context("the Google OAuth client")?,
                    CalendarApi::new(&config.endpoints).context("the Google Calendar client")?,
                    keys.clone(),
                    repo.clone(),
                    GoogleSettings {
                        send_updates: config.send_updates,
                        busy_fresh: Duration::from_secs(config.busy_cache_seconds),
                        busy_stale: Duration::from_secs(config.busy_stale_seconds),
                        ..GoogleSettings::default()
                    },
                )
                .audited(clock.clone()),
            )),
            _ => None,
        };
        let gateway: Arc<dyn CalendarGateway> = match &google {
            Some(g) => g.clone(),
            None => Arc::new(LocalCalendarGateway),
        };
        let scheduling = SchedulingService::new(repo.clone(), gateway, clock.clone()).audited();
        let (connections, sync) = match (&google, &settings.google) {
            (Some(g), Some(config)) => (
                Some(Connections::new(
                    repo.clone(),
                    repo.clone(),
                    repo.clone(),
                    g.clone(),
                    repo.clone(),
                    clock.clone(),
                )),
                Some(CalendarSync::new(
                    repo.clone(),
                    repo.clone(),
                    repo.clone(),
                    g.clone(),
                    clock.clone(),
                    RetryPolicy {
                        max_attempts: config.max_attempts,
                        ..RetryPolicy::default()
                    },
                )),
            ),
            _ => (None, None),
        };
        let calendars = CalendarService::new(repo.clone(), clock.clone()).with_audit(repo.clone());
        let catalog = ServiceCatalog::new(calendars.clone(), repo.clone(), clock.clone());
        let calls = CallLog::new(
            repo.clone(),
            repo.clone(),
            calendars.clone(),
            clock.clone(),
            chrono::Duration::days(settings.call_retention_days),
        );
        let audit_trail = AuditTrail::new(repo.clone());
        let privacy = PrivacyService::new(PrivacyPorts {
            privacy: repo.clone(),
            calendars: repo.clone(),
            appointments: repo.clone(),
            calls: repo.clone(),
            audit_reader: repo.clone(),
            audit: Some(repo.clone()),
            clock: clock.clone(),
        });
        let vapi = VapiClient::new(&settings.vapi_base_url, settings.vapi_api_key.clone())
            .context("the VAPI client")?;
        let dialer = Dialer::new(
            calendars.clone(),
            Arc::new(vapi),
            repo.clone(),
            clock.clone(),
        );
        let accounts = AccountService::new(
            AccountPorts {
                users: repo.clone(),
                sessions: repo.clone(),
                throttle: repo.clone(),
                hasher: Arc::new(hasher),
                pause: Arc::new(TokioPause),
                tokens: Arc::new(tokens),
                calendars: repo.clone(),
                audit: repo.clone(),
                clock: clock.clone(),
            },
            AccountSettings {
                access_ttl: chrono::Duration::minutes(settings.access_token_minutes),
                session_ttl: chrono::Duration::days(settings.refresh_token_days),
                allow_registration: settings.allow_registration,
                ..AccountSettings::default()
            },
        );
        let transport = Arc::new(
            HttpTransport::new(
                settings.encryption.as_deref().cloned(),
                settings.webhook_allow_private_targets,
            )
            .context("the webhook HTTP client")?,
        );
        let webhooks = Webhooks::new(
            repo.clone(),
            repo.clone(),
            transport.clone(),
            repo.clone(),
            clock.clone(),
        );
        let dispatch = WebhookDispatch::new(
            repo.clone(),
            transport,
            clock.clone(),
            DeliveryPolicy {
                base_delay: chrono::Duration::seconds(
                    i64::try_from(settings.webhook_retry_base_seconds).unwrap_or(30),
                ),
                ..DeliveryPolicy::default()
            },
        );
        let desk =
            FrontDesk::new(calendars.clone(), scheduling.clone(), repo.clone()).with_services(repo);
        Ok(Self {
            scheduling,
            accounts,
            calendars,
            desk,
            services: catalog,
            calls,
            audit_trail,
            privacy,
            dialer,
            google: connections,
            sync,
            webhooks,
            dispatch,
            jwt_source,
        })
    }
}

/// The `iss` and `aud` of access tokens.
const TOKEN_ISSUER: &str = "voice-scheduler";
const TOKEN_AUDIENCE: &str = "voice-scheduler-api";

/// How often call transcripts past `CALL_RETENTION_DAYS` are cleared.
const CALL_RETENTION_EVERY: Duration = Duration::from_secs(60 * 60);

/// Starts the hourly call-transcript purge (first at start-up). A failed run
/// is logged and tried again the next hour.
fn spawn_call_retention(calls: CallLog) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CALL_RETENTION_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match calls.purge_expired().await {
                Ok((0, _)) => {}
                Ok((purged, before)) => tracing::info!(
                    calls = purged,
                    %before,
                    "cleared the transcripts and recording URLs of calls past CALL_RETENTION_DAYS"
                ),
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "the call transcript retention job failed"
                ),
            }
        }
    })
}

/// How long the sync worker waits when no job is due.
const SYNC_IDLE: Duration = Duration::from_secs(1);

/// Starts this instance's calendar-sync worker: claims due jobs (several
/// instances share the queue safely, see `voice_scheduler_store`'s `sync`),
/// runs them, and counts what happened. A failure to reach the database
/// is logged and retried after a pause.
fn spawn_sync_worker(sync: CalendarSync) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sync.run_once().await {
                Ok(report) => {
                    metrics::counter!("calendar_sync_jobs_total", "outcome" => "done")
                        .increment(report.done as u64);
                    metrics::counter!("calendar_sync_jobs_total", "outcome" => "retried")
                        .increment(report.retried as u64);
                    metrics::counter!("calendar_sync_jobs_total", "outcome" => "failed")
                        .increment(report.failed as u64);
                    metrics::counter!("calendar_sync_jobs_total", "outcome" => "paused")
                        .increment(report.paused as u64);
                    if report.claimed == 0 {
                        tokio::time::sleep(SYNC_IDLE).await;
                    }
                }
                Err(e) => {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "the calendar sync worker could not claim jobs"
                    );
                    tokio::time::sleep(SYNC_IDLE * 5).await;
                }
            }
        }
    })
}

/// How long the webhook worker waits when no delivery is due.
const WEBHOOK_IDLE: Duration = Duration::from_millis(500);

/// Starts this instance's webhook delivery worker: claims due deliveries
/// (several instances share the outbox safely, see `voice_scheduler_store`'s
/// `webhooks`), sends them, and counts what happened.
fn spawn_webhook_worker(dispatch: WebhookDispatch) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match dispatch.run_once().await {
                Ok(report) => {
                    metrics::counter!("webhook_deliveries_total", "outcome" => "delivered")
                        .increment(report.delivered as u64);
                    metrics::counter!("webhook_deliveries_total", "outcome" => "retried")
                        .increment(report.retried as u64);
                    metrics::counter!("webhook_deliveries_total", "outcome" => "failed")
                        .increment(report.failed as u64);
                    if report.claimed == 0 {
                        tokio::time::sleep(WEBHOOK_IDLE).await;
                    }
                }
                Err(e) => {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "the webhook worker could not claim deliveries"
                    );
                    tokio::time::sleep(WEBHOOK_IDLE * 10).await;
                }
            }
        }
    })
}

/// Ready when the database answers within two seconds and every migration
/// is applied.
struct StoreReadiness(Store);

#[async_trait]
impl Readiness for StoreReadiness {
    async fn check(&self) -> Result<(), String> {
        let check = async {
            self.0
                .ping()
                .await
                .map_err(|_| "the database does not answer".to_owned())?;
            match self.0.pending_migrations().await {
                Ok(0) => Ok(()),
                Ok(n) => Err(format!("{n} database migrations are not applied")),
                Err(_) => Err("the migration status cannot be read".to_owned()),
            }
        };
        tokio::time::timeout(Duration::from_secs(2), check)
            .await
            .unwrap_or_else(|_| Err("the database did not answer within 2 seconds".to_owned()))
    }

    fn is_outage(&self, error: &anyhow::Error) -> bool {
        voice_scheduler_store::is_unavailable(error)
    }
}

/// Prometheus metrics, with the database pool's use read at scrape time.
struct StoreMetrics {
    handle: Option<metrics_exporter_prometheus::PrometheusHandle>,
    store: Store,
}

impl MetricsRender for StoreMetrics {
    fn render(&self) -> String {
        let pool = self.store.pool_stats();
        metrics::gauge!("db_pool_connections", "state" => "in_use")
            .set(f64::from(pool.size.saturating_sub(pool.idle)));
        metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
        metrics::gauge!("db_pool_max_connections").set(f64::from(pool.max));
        match &self.handle {
            Some(handle) => {
                handle.run_upkeep();
                handle.render()
            }
            None => String::new(),
        }
    }
}

/// The sign-in backoff's waits, on tokio's timer.
struct TokioPause;

#[async_trait::async_trait]
impl voice_scheduler_domain::ports::Pause for TokioPause {
    async fn pause(&self, duration: chrono::Duration) {
        if let Ok(duration) = duration.to_std() {
            tokio::time::sleep(duration).await;
        }
    }
}
