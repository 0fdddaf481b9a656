//! Connecting a calendar to the business's Google Calendar, and mirroring
//! every booking, move and cancellation into it exactly once.
//!
//! - Connecting ([`Connections`]): a staff member starts a connection for a
//!   calendar they may manage and gets Google's consent address with a
//!   `state` that is random, stored only as a digest, bound to that user and
//!   calendar, single-use and short-lived ([`STATE_LIFETIME_MINUTES`]), and
//!   a PKCE code verifier (RFC 7636) kept with it on the server: the consent
//!   address carries only its `S256` challenge, and the code exchange sends
//!   the verifier, so a code issued for one state cannot be exchanged
//!   through another. The callback takes the state (deleting it), the
//!   adapter exchanges the code and seals the refresh token
//!   ([`GoogleAccount`]); the domain never sees a token in clear.
//!   Disconnecting revokes the grant and deletes the row.
//! - Mirroring ([`CalendarSync`]): the store writes "sync appointment X" into
//!   an outbox in the same transaction as the change
//!   ([`AppointmentRepository`](crate::ports::AppointmentRepository)); workers
//!   in every instance claim due jobs ([`SyncQueue::claim`]), read the
//!   appointment as it is *now* and make Google agree (an active appointment
//!   has its event, a cancelled one has none). Event ids are derived from
//!   the appointment id, so a retry after a crash converges on one event.
//!   Temporary failures are retried with exponential backoff and jitter
//!   (honouring `Retry-After`); after [`RetryPolicy::max_attempts`] the job
//!   is marked failed and counted, never dropped. A dead grant
//!   (`invalid_grant`) marks the connection `needs_reconnect`, which pauses
//!   its jobs until it is connected again.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, RngCore};

use crate::accounts::Principal;
use crate::appointment::{Appointment, AppointmentId};
use crate::calendar::{Calendar, CalendarId};
use crate::ports::{Actor, AppointmentRepository, AuditEntry, AuditLog, CalendarRepository, Clock};
use crate::user::{RefreshToken, UserId};

/// How long a connection's `state` can be used.
pub const STATE_LIFETIME_MINUTES: i64 = 10;

/// The longest Google calendar id accepted (Google's ids are far shorter).
const MAX_GOOGLE_CALENDAR_ID: usize = 255;

/// Whether a connection's grant still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    Connected,
    /// Google answered `invalid_grant`: someone must connect again. Its
    /// jobs wait.
    NeedsReconnect,
}

impl ConnectionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::NeedsReconnect => "needs_reconnect",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "connected" => Some(Self::Connected),
            "needs_reconnect" => Some(Self::NeedsReconnect),
            _ => None,
        }
    }
}

/// A refresh token as stored: sealed by the adapter, opaque here.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedToken {
    /// `key_id || nonce || ciphertext`.
    pub bytes: Vec<u8>,
    /// The id of the key that sealed it (hex), to find rows to re-seal.
    pub key_id: String,
}

impl std::fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SealedToken(key {}, {} bytes)",
            self.key_id,
            self.bytes.len()
        )
    }
}

/// A calendar's connection to a Google calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub calendar_id: CalendarId,
    /// The Google calendar events go to (`primary` unless chosen).
    pub google_calendar_id: String,
    pub status: ConnectionStatus,
    pub refresh_token: SealedToken,
    /// The scopes Google granted, space-separated.
    pub scopes: Option<String>,
    pub connected_by: Option<UserId>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Why it needs reconnecting (no secrets).
    pub last_error: Option<String>,
}

/// A connection in progress, between "start" and Google's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingConnect {
    /// SHA-256 of the `state` handed to Google (hex).
    pub state_digest: String,
    pub user_id: UserId,
    pub calendar_id: CalendarId,
    pub google_calendar_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The PKCE code verifier whose `S256` challenge the consent address
    /// carried; `None` for a state started before PKCE.
    pub code_verifier: Option<String>,
}

/// A fresh PKCE code verifier (RFC 7636 §4.1): 256 random bits as 64 hex
/// digits, within the 43 to 128 unreserved characters the RFC allows.
pub fn new_code_verifier() -> String {
    let mut bytes = [0u8; 32];
    // ThreadRng: ChaCha12 seeded from the operating system, a CSPRNG.
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Jobs of one calendar that are not done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub pending: u64,
    pub failed: u64,
    /// The most recent failure of a job still pending or failed (no secrets).
    pub last_error: Option<String>,
}

/// One claimed outbox job: make Google agree with appointment
/// `appointment_id` as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncJob {
    pub id: i64,
    pub calendar_id: CalendarId,
    pub appointment_id: AppointmentId,
    /// The appointment's change count when claimed: [`SyncQueue::done`]
    /// deletes the job only if no change came since.
    pub generation: i64,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// Where connections and pending connects are kept.
#[async_trait]
pub trait ConnectionRepository: Send + Sync {
    /// Stores `connection`, replacing the calendar's previous one.
    async fn save_connection(&self, connection: &Connection) -> anyhow::Result<()>;
    async fn connection(&self, calendar: CalendarId) -> anyhow::Result<Option<Connection>>;
    /// Deletes the calendar's connection and returns it.
    async fn remove_connection(&self, calendar: CalendarId) -> anyhow::Result<Option<Connection>>;
    /// Marks the connection `needs_reconnect` with `reason`; `true` when it
    /// was connected until now. `record`, when given, is stored in the audit
    /// log in the same transaction and only if the status changed, so the
    /// flag is never seen without its entry.
    async fn mark_needs_reconnect(
        &self,
        calendar: CalendarId,
        reason: &str,
        at: DateTime<Utc>,
        record: Option<&AuditEntry>,
    ) -> anyhow::Result<bool>;
    /// Records a successful sync.
    async fn mark_synced(&self, calendar: CalendarId, at: DateTime<Utc>) -> anyhow::Result<()>;
    /// Every connection (for re-sealing with a new key).
    async fn connections(&self) -> anyhow::Result<Vec<Connection>>;
    /// Connections a user made (to revoke when they delete their account).
    async fn connections_by(&self, user: UserId) -> anyhow::Result<Vec<Connection>>;
    /// Replaces the sealed token if it is still `old`; `false` otherwise.
    async fn reseal(
        &self,
        calendar: CalendarId,
        old: &SealedToken,
        new: &SealedToken,
    ) -> anyhow::Result<bool>;
    async fn save_pending(&self, pending: &PendingConnect) -> anyhow::Result<()>;
    /// Takes (deletes) the pending connect with `state_digest` if it has
    /// not expired at `now`: a state works once.
    async fn take_pending(
        &self,
        state_digest: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<PendingConnect>>;
}

/// The outbox of calendar-sync jobs.
#[async_trait]
pub trait SyncQueue: Send + Sync {
    /// Claims up to `limit` due jobs of connected calendars for `lease`:
    /// no other worker (in any instance) gets them until the lease ends.
    /// PostgreSQL: `FOR UPDATE SKIP LOCKED`.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> anyhow::Result<Vec<SyncJob>>;
    /// The job is done: deleted, unless the appointment changed since it
    /// was claimed (then it is released to run again at once).
    async fn done(&self, job: &SyncJob) -> anyhow::Result<()>;
    /// Runs the job again at `at`, recording `error`.
    async fn retry_at(&self, job: &SyncJob, at: DateTime<Utc>, error: &str) -> anyhow::Result<()>;
    /// Gives up: the job stays, `failed`, until [`retry_failed`](Self::retry_failed).
    async fn fail(&self, job: &SyncJob, error: &str, at: DateTime<Utc>) -> anyhow::Result<()>;
    /// Queues every appointment of `calendar` that ends after `from`, active
    /// or cancelled (on connecting: active ones get their event, cancelled
    /// ones lose one left from an earlier connection); returns how many.
    async fn enqueue_upcoming(
        &self,
        calendar: CalendarId,
        from: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
    /// Puts the calendar's failed jobs back in the queue; returns how many.
    async fn retry_failed(&self, calendar: CalendarId, at: DateTime<Utc>) -> anyhow::Result<u64>;
    async fn counts(&self, calendar: CalendarId) -> anyhow::Result<SyncCounts>;
}

/// Why Google did not take a change.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// Temporary (429, rate-limit 403, 5xx, network): try again later.
    #[error("temporary failure: {reason}")]
    Retry {
        reason: String,
        /// Google's `Retry-After`, when it said.
        after: Option<Duration>,
    },
    /// The grant is dead (`invalid_grant`): someone must connect again.
    #[error("the Google grant is no longer valid: {0}")]
    Reconnect(String),
    /// Google refused the change for good (another 4xx).
    #[error("refused: {0}")]
    Rejected(String),
}

/// Google Calendar as the sync workers use it (the adapter opens the
/// connection's sealed token, refreshes access tokens, derives event ids).
#[async_trait]
pub trait CalendarMirror: Send + Sync {
    /// Creates or updates the appointment's event.
    async fn upsert(
        &self,
        connection: &Connection,
        appointment: &Appointment,
    ) -> Result<(), MirrorError>;
    /// Deletes the appointment's event; an event already gone is success.
    async fn remove(
        &self,
        connection: &Connection,
        appointment: &Appointment,
    ) -> Result<(), MirrorError>;
}

/// Why the code from Google's callback gave no connection.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// Google refused the code (used, expired, wrong client).
    #[error("Google refused the authorization code: {0}")]
    Refused(String),
    /// Google granted access but gave no refresh token.
    #[error(
        "Google returned no refresh token; remove this app's access in the Google account and connect again"
    )]
    NoRefreshToken,
    /// Google could not be reached.
    #[error("Google could not be reached: {0}")]
    Unavailable(String),
}

/// A grant as the adapter hands it over: its refresh token sealed for the
/// calendar.
#[derive(Debug, Clone)]
pub struct Grant {
    pub refresh_token: SealedToken,
    pub scopes: Option<String>,
}

/// Google's OAuth side, as the connect flow uses it.
#[async_trait]
pub trait GoogleAccount: Send + Sync {
    /// Google's consent address for `state`, carrying the `S256` challenge
    /// of `code_verifier` (the verifier itself stays on the server).
    fn consent_url(&self, state: &str, code_verifier: &str) -> String;
    /// Exchanges the callback's code, proving the PKCE `code_verifier` the
    /// consent was started with (`None`: started without PKCE), and seals
    /// the refresh token, bound to `calendar`.
    async fn exchange(
        &self,
        code: &str,
        code_verifier: Option<&str>,
        calendar: CalendarId,
    ) -> Result<Grant, GrantError>;
    /// Revokes the connection's grant at Google.
    async fn revoke(&self, connection: &Connection) -> anyhow::Result<()>;
}

/// What [`Connections::status`] shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionView {
    /// `None`: not connected.
    pub connection: Option<Connection>,
    pub jobs: SyncCounts,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectStartError {
    #[error("no such calendar")]
    NotFound,
    #[error("the Google calendar id must be 1 to 255 characters without control characters")]
    BadGoogleCalendarId,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectFinishError {
    /// Unknown, used or expired state.
    #[error("this connection link is invalid, used or expired; start again")]
    BadState,
    #[error(transparent)]
    Grant(#[from] GrantError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("no such calendar")]
    NotFound,
    #[error("the calendar is not connected to Google Calendar")]
    NotConnected,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// What disconnecting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected {
    /// Whether Google confirmed the revocation (the tokens are deleted
    /// either way).
    pub revoked: bool,
}

/// Connecting calendars to Google Calendar: start, finish, status,
/// disconnect, retry failed jobs.
#[derive(Clone)]
pub struct Connections {
    calendars: Arc<dyn CalendarRepository>,
    repo: Arc<dyn ConnectionRepository>,
    queue: Arc<dyn SyncQueue>,
    google: Arc<dyn GoogleAccount>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl Connections {
    pub fn new(
        calendars: Arc<dyn CalendarRepository>,
        repo: Arc<dyn ConnectionRepository>,
        queue: Arc<dyn SyncQueue>,
        google: Arc<dyn GoogleAccount>,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            calendars,
            repo,
            queue,
            google,
            audit,
            clock,
        }
    }

    async fn managed(
        &self,
        principal: &Principal,
        calendar: CalendarId,
    ) -> Result<Calendar, ConnectionError> {
        match self.calendars.get(calendar).await? {
            Some(c) if principal.user.can_access(&c) => Ok(c),
            _ => Err(ConnectionError::NotFound),
        }
    }

    /// Starts connecting `calendar` to `google_calendar_id` (`primary` when
    /// `None`): Google's consent address, with a fresh state.
    pub async fn start(
        &self,
        principal: &Principal,
        calendar: CalendarId,
        google_calendar_id: Option<&str>,
    ) -> Result<String, ConnectStartError> {
        let google_calendar_id = google_calendar_id.map(str::trim).unwrap_or("primary");
        if google_calendar_id.is_empty()
            || google_calendar_id.len() > MAX_GOOGLE_CALENDAR_ID
            || google_calendar_id.chars().any(char::is_control)
        {
            return Err(ConnectStartError::BadGoogleCalendarId);
        }
        match self.managed(principal, calendar).await {
            Ok(_) => {}
            Err(ConnectionError::Unknown(e)) => return Err(ConnectStartError::Unknown(e)),
            Err(_) => return Err(ConnectStartError::NotFound),
        }
        let state = RefreshToken::generate();
        let code_verifier = new_code_verifier();
        let now = self.clock.now();
        self.repo
            .save_pending(&PendingConnect {
                state_digest: state.digest().0,
                user_id: principal.user.id,
                calendar_id: calendar,
                google_calendar_id: google_calendar_id.to_owned(),
                created_at: now,
                expires_at: now + Duration::minutes(STATE_LIFETIME_MINUTES),
                code_verifier: Some(code_verifier.clone()),
            })
            .await?;
        Ok(self.google.consent_url(state.expose(), &code_verifier))
    }

    /// Google's callback: takes the state, exchanges the code, stores the
    /// sealed refresh token and queues the calendar's upcoming appointments.
    /// Nothing is stored unless all of that works.
    pub async fn finish(&self, code: &str, state: &str) -> Result<Connection, ConnectFinishError> {
        let now = self.clock.now();
        let Some(token) = RefreshToken::from_presented(state) else {
            return Err(ConnectFinishError::BadState);
        };
        let Some(pending) = self.repo.take_pending(&token.digest().0, now).await? else {
            self.record(
                Actor::Anonymous,
                "google.connect",
                None,
                "denied",
                "unknown, used or expired state".to_owned(),
            )
            .await;
            return Err(ConnectFinishError::BadState);
        };
        // The state was handed to a user who could manage the calendar at
        // most STATE_LIFETIME_MINUTES ago; the calendar must still exist
        // (its deletion also deletes the state).
        let calendar = self.calendars.get(pending.calendar_id).await?;
        if calendar.is_none() {
            return Err(ConnectFinishError::BadState);
        }
        let grant = match self
            .google
            .exchange(code, pending.code_verifier.as_deref(), pending.calendar_id)
            .await
        {
            Ok(grant) => grant,
            Err(e) => {
                self.record(
                    Actor::User(pending.user_id),
                    "google.connect",
                    Some(pending.calendar_id),
                    "failure",
                    e.to_string(),
                )
                .await;
                return Err(e.into());
            }
        };
        let connection = Connection {
            calendar_id: pending.calendar_id,
            google_calendar_id: pending.google_calendar_id,
            status: ConnectionStatus::Connected,
            refresh_token: grant.refresh_token,
            scopes: grant.scopes,
            connected_by: Some(pending.user_id),
            connected_at: now,
            updated_at: now,
            last_synced_at: None,
            last_error: None,
        };
        self.repo.save_connection(&connection).await?;
        let queued = self
            .queue
            .enqueue_upcoming(connection.calendar_id, now)
            .await?;
        self.record(
            Actor::User(pending.user_id),
            "google.connect",
            Some(connection.calendar_id),
            "success",
            format!(
                "connected to Google calendar '{}', {queued} upcoming appointments queued",
                connection.google_calendar_id
            ),
        )
        .await;
        Ok(connection)
    }

    /// The calendar's connection and its jobs.
    pub async fn status(
        &self,
        principal: &Principal,
        calendar: CalendarId,
    ) -> Result<ConnectionView, ConnectionError> {
        self.managed(principal, calendar).await?;
        Ok(ConnectionView {
            connection: self.repo.connection(calendar).await?,
            jobs: self.queue.counts(calendar).await?,
        })
    }

    /// Revokes the grant at Google and deletes the tokens. Pending jobs stay
    /// (paused) and run if the calendar is connected again.
    pub async fn disconnect(
        &self,
        principal: &Principal,
        calendar: CalendarId,
    ) -> Result<Disconnected, ConnectionError> {
        self.managed(principal, calendar).await?;
        let Some(connection) = self.repo.remove_connection(calendar).await? else {
            return Err(ConnectionError::NotConnected);
        };
        let revoked = self
            .revoke(&connection, Actor::User(principal.user.id), "by request")
            .await;
        Ok(Disconnected { revoked })
    }

    /// The connections `user` made (read before their account is deleted,
    /// which forgets who made them).
    pub async fn made_by(&self, user: UserId) -> anyhow::Result<Vec<Connection>> {
        self.repo.connections_by(user).await
    }

    /// Deletes and revokes `connections` (those a deleted account made);
    /// returns how many were removed.
    pub async fn revoke_all(&self, connections: &[Connection]) -> anyhow::Result<usize> {
        let mut removed = 0;
        for connection in connections {
            if self
                .repo
                .remove_connection(connection.calendar_id)
                .await?
                .is_some()
            {
                removed += 1;
                // By the system: the account's entries are anonymised.
                self.revoke(connection, Actor::System, "its account was deleted")
                    .await;
            }
        }
        Ok(removed)
    }

    async fn revoke(&self, connection: &Connection, actor: Actor, why: &str) -> bool {
        let revoked = match self.google.revoke(connection).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(calendar = %connection.calendar_id, error = %e, "could not revoke the Google grant; its tokens are deleted anyway");
                false
            }
        };
        self.record(
            actor,
            "google.disconnect",
            Some(connection.calendar_id),
            "success",
            format!(
                "{why}; grant {}",
                if revoked {
                    "revoked at Google"
                } else {
                    "not confirmed revoked by Google"
                }
            ),
        )
        .await;
        revoked
    }

    /// Puts the calendar's failed jobs back in the queue.
    pub async fn retry_failed(
        &self,
        principal: &Principal,
        calendar: CalendarId,
    ) -> Result<u64, ConnectionError> {
        self.managed(principal, calendar).await?;
        Ok(self.queue.retry_failed(calendar, self.clock.now()).await?)
    }

    async fn record(
        &self,
        actor: Actor,
        action: &'static str,
        calendar: Option<CalendarId>,
        outcome: &'static str,
        detail: String,
    ) {
        crate::audit::record(
            Some(&self.audit),
            AuditEntry {
                at: self.clock.now(),
                actor,
                action,
                resource: calendar.map(|c| format!("calendar:{c}")),
                outcome,
                address: None,
                detail: Some(detail),
            },
        )
        .await;
    }
}

/// How failed jobs are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a job is marked failed.
    pub max_attempts: u32,
    /// The delay after the first failure; it doubles with every attempt.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::seconds(2),
            max_delay: Duration::minutes(15),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`: Google's `Retry-After` when
    /// it gave one (capped at `max_delay`), else `base · 2^(attempts-1)`,
    /// capped, with "equal jitter" (between half and all of it) so workers
    /// do not retry in step.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.clamp(Duration::zero(), self.max_delay);
        }
        let exponent = attempts.saturating_sub(1).min(30);
        let full_ms = self
            .base_delay
            .num_milliseconds()
            .saturating_mul(1_i64 << exponent)
            .min(self.max_delay.num_milliseconds())
            .max(1);
        let half = full_ms / 2;
        Duration::milliseconds(half + rand::rng().random_range(0..=full_ms - half))
    }
}

/// What one round of [`CalendarSync::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub claimed: usize,
    pub done: usize,
    pub retried: usize,
    pub failed: usize,
    /// Jobs whose connection needs reconnecting (they wait).
    pub paused: usize,
}

/// The outbox worker: claims due jobs and makes Google agree with our
/// appointments.
#[derive(Clone)]
pub struct CalendarSync {
    queue: Arc<dyn SyncQueue>,
    connections: Arc<dyn ConnectionRepository>,
    appointments: Arc<dyn AppointmentRepository>,
    mirror: Arc<dyn CalendarMirror>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    /// How long a claim lasts: longer than one job can take.
    lease: Duration,
    batch: u64,
}

impl CalendarSync {
    pub fn new(
        queue: Arc<dyn SyncQueue>,
        connections: Arc<dyn ConnectionRepository>,
        appointments: Arc<dyn AppointmentRepository>,
        mirror: Arc<dyn CalendarMirror>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            queue,
            connections,
            appointments,
            mirror,
            clock,
            policy,
            lease: Duration::minutes(2),
            batch: 16,
        }
    }

    /// Claims one batch of due jobs and runs them.
    pub async fn run_once(&self) -> anyhow::Result<SyncReport> {
        let jobs = self
            .queue
            .claim(self.clock.now(), self.lease, self.batch)
            .await?;
        let mut report = SyncReport {
            claimed: jobs.len(),
            ..SyncReport::default()
        };
        for job in &jobs {
            match self.run(job).await {
                Ok(Ran::Done) => report.done += 1,
                Ok(Ran::Retried) => report.retried += 1,
                Ok(Ran::Failed) => report.failed += 1,
                Ok(Ran::Paused) => report.paused += 1,
                Err(e) => {
                    // The lease runs out and the job is claimed again.
                    tracing::error!(job = job.id, error = %e, "calendar sync job could not be recorded");
                }
            }
        }
        Ok(report)
    }

    async fn run(&self, job: &SyncJob) -> anyhow::Result<Ran> {
        let now = self.clock.now();
        let Some(connection) = self.connections.connection(job.calendar_id).await? else {
            self.queue
                .retry_at(
                    job,
                    now + Duration::minutes(1),
                    "the calendar is not connected",
                )
                .await?;
            return Ok(Ran::Paused);
        };
        if connection.status != ConnectionStatus::Connected {
            self.queue
                .retry_at(job, now, "the connection needs reconnecting")
                .await?;
            return Ok(Ran::Paused);
        }
        let Some(appointment) = self.appointments.find(job.appointment_id).await? else {
            self.queue.done(job).await?;
            return Ok(Ran::Done);
        };
        let result = if appointment.is_active() {
            self.mirror.upsert(&connection, &appointment).await
        } else {
            self.mirror.remove(&connection, &appointment).await
        };
        let now = self.clock.now();
        match result {
            Ok(()) => {
                self.queue.done(job).await?;
                self.connections.mark_synced(job.calendar_id, now).await?;
                Ok(Ran::Done)
            }
            Err(MirrorError::Retry { reason, after })
                if job.attempts < self.policy.max_attempts =>
            {
                let at = now + self.policy.delay(job.attempts, after);
                tracing::warn!(job = job.id, attempts = job.attempts, %reason, retry_at = %at, "calendar sync will be retried");
                self.queue.retry_at(job, at, &reason).await?;
                Ok(Ran::Retried)
            }
            Err(MirrorError::Retry { reason, .. }) | Err(MirrorError::Rejected(reason)) => {
                tracing::error!(job = job.id, attempts = job.attempts, %reason, "calendar sync job failed");
                self.queue.fail(job, &reason, now).await?;
                Ok(Ran::Failed)
            }
            Err(MirrorError::Reconnect(reason)) => {
                let entry = needs_reconnect_entry(job.calendar_id, &reason, now);
                self.connections
                    .mark_needs_reconnect(job.calendar_id, &reason, now, Some(&entry))
                    .await?;
                self.queue.retry_at(job, now, &reason).await?;
                Ok(Ran::Paused)
            }
        }
    }
}

/// The audit entry of a connection found to need reconnecting (a revoked
/// grant, unreadable tokens), for [`ConnectionRepository::mark_needs_reconnect`].
pub fn needs_reconnect_entry(calendar: CalendarId, reason: &str, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        at,
        actor: Actor::System,
        action: "google.needs_reconnect",
        resource: Some(format!("calendar:{calendar}")),
        outcome: "failure",
        address: None,
        detail: Some(reason.to_owned()),
    }
}

enum Ran {
    Done,
    Retried,
    Failed,
    Paused,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_jittered_and_capped() {
        let policy = RetryPolicy::default();
        for attempts in 1..=12 {
            let full = (2_000_i64 << (attempts - 1)).min(15 * 60 * 1000);
            for _ in 0..50 {
                let d = policy.delay(attempts, None).num_milliseconds();
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempts}: {d} ms of {full}"
                );
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::seconds(7))),
            Duration::seconds(7)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::hours(3))),
            Duration::minutes(15)
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            ConnectionStatus::Connected,
            ConnectionStatus::NeedsReconnect,
        ] {
            assert_eq!(ConnectionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ConnectionStatus::parse("other"), None);
    }
}
