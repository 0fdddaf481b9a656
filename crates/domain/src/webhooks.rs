//! Signed webhooks: the business's other systems hear about bookings, moves,
//! cancellations and ended calls.
//!
//! - Registering ([`Webhooks`]): administrators register endpoints for every
//!   calendar or one; a calendar's owner for their calendars. The URL must be
//!   `https` and must not name (or, checked by the transport, resolve to) a
//!   private, loopback, link-local, multicast or unspecified address
//!   ([`forbidden_ip`]) unless the operator allows private targets. The
//!   signing secret is generated here, shown once and stored sealed by the
//!   transport ([`WebhookTransport::seal`]).
//! - Events: the store writes one delivery row per (event, matching
//!   endpoint) in the same transaction as the change (see the store's
//!   `webhooks` module); nothing is written when no endpoint matches.
//! - Delivering ([`WebhookDispatch`]): workers in every instance claim due
//!   deliveries ([`WebhookRepository::claim`], `FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL), POST them signed, and retry failures with exponential
//!   backoff until [`DeliveryPolicy::give_up_after`] has passed since the
//!   event (then the delivery is `failed` and audited). Delivery is
//!   at-least-once: a receiver de-duplicates by the event id.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, RngCore};
use uuid::Uuid;

use crate::accounts::Principal;
use crate::calendar::CalendarId;
use crate::ports::{Actor, AuditEntry, AuditLog, CalendarRepository, Clock};
use crate::sync::SealedToken;
use crate::user::UserId;

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// The most endpoints one installation keeps.
pub const MAX_WEBHOOKS: usize = 100;
/// The most deliveries one log page shows.
pub const MAX_DELIVERY_PAGE: u64 = 100;

/// What an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookEvent {
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    CallEnded,
    /// Accepted for the reminder calls to come; never emitted yet.
    ReminderAnswered,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 5] = [
        Self::AppointmentBooked,
        Self::AppointmentRescheduled,
        Self::AppointmentCancelled,
        Self::CallEnded,
        Self::ReminderAnswered,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::AppointmentBooked => "appointment.booked",
            Self::AppointmentRescheduled => "appointment.rescheduled",
            Self::AppointmentCancelled => "appointment.cancelled",
            Self::CallEnded => "call.ended",
            Self::ReminderAnswered => "reminder.answered",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }

    /// The event's bit in an endpoint's stored event mask.
    pub fn bit(&self) -> i64 {
        match self {
            Self::AppointmentBooked => 1,
            Self::AppointmentRescheduled => 2,
            Self::AppointmentCancelled => 4,
            Self::CallEnded => 8,
            Self::ReminderAnswered => 16,
        }
    }

    /// The mask of `events`.
    pub fn mask(events: &[WebhookEvent]) -> i64 {
        events.iter().fold(0, |m, e| m | e.bit())
    }

    /// The events of `mask`, in [`ALL`](Self::ALL)'s order.
    pub fn from_mask(mask: i64) -> Vec<WebhookEvent> {
        Self::ALL
            .into_iter()
            .filter(|e| mask & e.bit() != 0)
            .collect()
    }
}

/// The id of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WebhookId(Uuid);

impl WebhookId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for WebhookId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether a delivery to `ip` is refused unless private targets are
/// allowed: loopback, private (RFC 1918, unique local), shared (CGNAT),
/// link-local (cloud metadata at 169.254.169.254 included), multicast,
/// broadcast, unspecified, reserved, documentation and benchmarking
/// addresses; IPv4-mapped and -compatible IPv6 addresses by their IPv4.
pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_ip(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96).
            if segments[..6] == [0, 0, 0, 0, 0, 0] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let v4 = std::net::Ipv4Addr::new(
                    (segments[6] >> 8) as u8,
                    segments[6] as u8,
                    (segments[7] >> 8) as u8,
                    segments[7] as u8,
                );
                if forbidden_ip(IpAddr::V4(v4)) {
                    return true;
                }
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local
                || (segments[0] & 0xffc0) == 0xfe80 // link-local
                || (segments[0] & 0xffc0) == 0xfec0 // site-local
                || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        }
    }
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the URL is not a valid absolute URL")]
    Malformed,
    #[error("the URL must use https")]
    NotHttps,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL must be at most 2048 characters")]
    TooLong,
    #[error("the URL's host is a private, loopback, link-local or otherwise internal address")]
    Forbidden,
    #[error("the URL's host could not be resolved")]
    Unresolvable,
}

/// A webhook URL, checked for its form: absolute `https` (or `http` when
/// private targets are allowed), a host, no credentials, no fragment, and
/// not an internal IP literal unless allowed. Host names are checked after
/// resolution by the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, TargetError> {
        if raw.len() > MAX_URL_LEN {
            return Err(TargetError::TooLong);
        }
        let mut parsed = url::Url::parse(raw.trim()).map_err(|_| TargetError::Malformed)?;
        match parsed.scheme() {
            "https" => {}
            "http" if allow_private => {}
            _ => return Err(TargetError::NotHttps),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(TargetError::Credentials);
        }
        let forbidden = match parsed.host() {
            None => return Err(TargetError::Malformed),
            Some(url::Host::Domain(d)) => {
                d.is_empty() || d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost")
            }
            Some(url::Host::Ipv4(ip)) => forbidden_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => forbidden_ip(IpAddr::V6(ip)),
        };
        if forbidden && !allow_private {
            return Err(TargetError::Forbidden);
        }
        parsed.set_fragment(None);
        Ok(Self(parsed))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

/// A registered endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    /// `None`: every calendar (administrators only).
    pub calendar_id: Option<CalendarId>,
    pub description: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    /// The signing secret, sealed by the transport.
    pub secret: SealedToken,
}

/// How one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One event's delivery to one endpoint, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: WebhookId,
    pub event_id: Uuid,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The last response's status code.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the next attempt is due (pending ones).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A claimed delivery, with what sending it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingDelivery {
    pub id: i64,
    pub webhook_id: WebhookId,
    pub url: String,
    pub secret: SealedToken,
    pub event_id: Uuid,
    pub event: String,
    pub event_created_at: DateTime<Utc>,
    /// The event's `data`, JSON.
    pub data: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// When the delivery was queued (or redelivered): retries stop a
    /// [`DeliveryPolicy::give_up_after`] later.
    pub queued_at: DateTime<Utc>,
}

impl OutgoingDelivery {
    /// The body POSTed: `{"id", "type", "created_at", "data"}`.
    pub fn body(&self) -> String {
        format!(
            r#"{{"id":"{}","type":"{}","created_at":"{}","data":{}}}"#,
            self.event_id,
            self.event,
            self.event_created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.data
        )
    }
}

/// Where endpoints and their deliveries are kept.
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Stores a new endpoint and its audit entry, atomically.
    async fn create_webhook(&self, hook: &Webhook, record: &AuditEntry) -> anyhow::Result<()>;
    async fn webhook(&self, id: WebhookId) -> anyhow::Result<Option<Webhook>>;
    async fn webhooks(&self) -> anyhow::Result<Vec<Webhook>>;
    /// Deletes the endpoint (its deliveries with it) and writes `record`;
    /// `false` when it was not there.
    async fn delete_webhook(&self, id: WebhookId, record: &AuditEntry) -> anyhow::Result<bool>;
    /// The endpoint's deliveries, newest first.
    async fn deliveries(&self, id: WebhookId, limit: u64) -> anyhow::Result<Vec<Delivery>>;
    /// Queues delivery `delivery` of endpoint `id` again, due `at`, with no
    /// attempts (a delivery being sent right now keeps its lease, so it is
    /// not sent twice at once); `None` when there is no such delivery of
    /// that endpoint.
    async fn redeliver(
        &self,
        id: WebhookId,
        delivery: i64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<Delivery>>;
    /// Claims up to `limit` due deliveries for `lease`: no other worker (in
    /// any instance) gets them until the lease ends. Counts the attempt.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> anyhow::Result<Vec<OutgoingDelivery>>;
    async fn delivered(
        &self,
        d: &OutgoingDelivery,
        status: u16,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    async fn retry_delivery(
        &self,
        d: &OutgoingDelivery,
        status: Option<u16>,
        error: &str,
        next: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// Gives up and writes `record`, atomically.
    async fn fail_delivery(
        &self,
        d: &OutgoingDelivery,
        status: Option<u16>,
        error: &str,
        at: DateTime<Utc>,
        record: &AuditEntry,
    ) -> anyhow::Result<()>;
}

/// Why a delivery did not reach the receiver with a 2xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The receiver answered, not with a 2xx (a 3xx included: redirects are
    /// not followed).
    #[error("the receiver answered {0}")]
    Status(u16),
    /// The target is refused (resolved to an internal address).
    #[error("refused target: {0}")]
    Refused(String),
    /// Network, TLS or timeout.
    #[error("{0}")]
    Network(String),
}

/// The HTTP side of webhooks (an adapter: DNS, TLS, signing, sealing).
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    /// Whether private targets (and `http`) are allowed by the operator.
    fn allow_private(&self) -> bool;
    /// Refuses a URL whose host resolves to a forbidden address (unless
    /// private targets are allowed).
    async fn vet(&self, url: &WebhookUrl) -> Result<(), TargetError>;
    /// Seals `secret` for endpoint `id`.
    fn seal(&self, id: WebhookId, secret: &str) -> anyhow::Result<SealedToken>;
    /// POSTs the delivery signed with its endpoint's secret at `at`;
    /// `Ok(status)` for a 2xx.
    async fn send(&self, delivery: &OutgoingDelivery, at: DateTime<Utc>) -> Result<u16, SendError>;
}

/// A registration as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub calendar_id: Option<CalendarId>,
    pub description: Option<String>,
}

/// A new endpoint and its secret, shown this once.
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no such webhook")]
    NotFound,
    #[error("no such calendar")]
    NoSuchCalendar,
    /// Only administrators register endpoints for every calendar.
    #[error("choose a calendar: only administrators register webhooks for every calendar")]
    CalendarRequired,
    #[error("{0}")]
    Url(TargetError),
    #[error("unknown event '{0}'")]
    UnknownEvent(String),
    #[error("choose at least one event")]
    NoEvents,
    #[error("the description must be at most 200 characters without control characters")]
    BadDescription,
    #[error("at most 100 webhooks can be registered")]
    TooMany,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Registering, listing and removing endpoints, and their delivery logs.
#[derive(Clone)]
pub struct Webhooks {
    repo: Arc<dyn WebhookRepository>,
    calendars: Arc<dyn CalendarRepository>,
    transport: Arc<dyn WebhookTransport>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

/// A fresh signing secret: `whsec_` and 256 random bits in hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("whsec_{hex}")
}

impl Webhooks {
    pub fn new(
        repo: Arc<dyn WebhookRepository>,
        calendars: Arc<dyn CalendarRepository>,
        transport: Arc<dyn WebhookTransport>,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            calendars,
            transport,
            audit,
            clock,
        }
    }

    /// Whether `principal` may see and manage `hook`.
    async fn may_manage(&self, principal: &Principal, hook: &Webhook) -> anyhow::Result<bool> {
        if principal.user.is_admin() {
            return Ok(true);
        }
        let Some(calendar) = hook.calendar_id else {
            return Ok(false);
        };
        Ok(self
            .calendars
            .get(calendar)
            .await?
            .is_some_and(|c| principal.user.can_access(&c)))
    }

    /// Registers an endpoint: validated, vetted, its secret generated
    /// (returned this once) and stored sealed.
    pub async fn create(
        &self,
        principal: &Principal,
        new: NewWebhook,
    ) -> Result<CreatedWebhook, WebhookError> {
        let allow_private = self.transport.allow_private();
        let url = WebhookUrl::parse(&new.url, allow_private).map_err(WebhookError::Url)?;
        let mut events = Vec::new();
        for raw in &new.events {
            let event = WebhookEvent::parse(raw.trim())
                .ok_or_else(|| WebhookError::UnknownEvent(raw.chars().take(64).collect()))?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        if events.is_empty() {
            return Err(WebhookError::NoEvents);
        }
        events.sort();
        let description = match new.description.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(d) if d.chars().count() > 200 || d.chars().any(char::is_control) => {
                return Err(WebhookError::BadDescription);
            }
            Some(d) => Some(d.to_owned()),
        };
        match new.calendar_id {
            Some(calendar) => match self.calendars.get(calendar).await? {
                Some(c) if principal.user.can_access(&c) => {}
                _ => return Err(WebhookError::NoSuchCalendar),
            },
            None if !principal.user.is_admin() => return Err(WebhookError::CalendarRequired),
            None => {}
        }
        self.transport.vet(&url).await.map_err(WebhookError::Url)?;
        if self.repo.webhooks().await?.len() >= MAX_WEBHOOKS {
            return Err(WebhookError::TooMany);
        }
        let id = WebhookId::new();
        let secret = new_secret();
        let now = self.clock.now();
        let hook = Webhook {
            id,
            url: url.as_str().to_owned(),
            events,
            calendar_id: new.calendar_id,
            description,
            created_by: Some(principal.user.id),
            created_at: now,
            secret: self.transport.seal(id, &secret)?,
        };
        let record = AuditEntry {
            at: now,
            actor: Actor::User(principal.user.id),
            action: "webhook.create",
            resource: Some(format!("webhook:{id}")),
            outcome: "success",
            address: principal.address.clone(),
            detail: Some(format!(
                "{} for {}",
                hook.events
                    .iter()
                    .map(WebhookEvent::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                hook.calendar_id
                    .map_or_else(|| "every calendar".to_owned(), |c| format!("calendar {c}"))
            )),
        };
        self.repo.create_webhook(&hook, &record).await?;
        Ok(CreatedWebhook {
            webhook: hook,
            secret,
        })
    }

    /// The endpoints `principal` may manage.
    pub async fn list(&self, principal: &Principal) -> Result<Vec<Webhook>, WebhookError> {
        let mut mine = Vec::new();
        for hook in self.repo.webhooks().await? {
            if self.may_manage(principal, &hook).await? {
                mine.push(hook);
            }
        }
        Ok(mine)
    }

    pub async fn get(&self, principal: &Principal, id: WebhookId) -> Result<Webhook, WebhookError> {
        match self.repo.webhook(id).await? {
            Some(hook) if self.may_manage(principal, &hook).await? => Ok(hook),
            _ => Err(WebhookError::NotFound),
        }
    }

    pub async fn delete(&self, principal: &Principal, id: WebhookId) -> Result<(), WebhookError> {
        self.get(principal, id).await?;
        let record = AuditEntry {
            at: self.clock.now(),
            actor: Actor::User(principal.user.id),
            action: "webhook.delete",
            resource: Some(format!("webhook:{id}")),
            outcome: "success",
            address: principal.address.clone(),
            detail: None,
        };
        if self.repo.delete_webhook(id, &record).await? {
            Ok(())
        } else {
            Err(WebhookError::NotFound)
        }
    }

    pub async fn deliveries(
        &self,
        principal: &Principal,
        id: WebhookId,
        limit: u64,
    ) -> Result<Vec<Delivery>, WebhookError> {
        self.get(principal, id).await?;
        Ok(self
            .repo
            .deliveries(id, limit.clamp(1, MAX_DELIVERY_PAGE))
            .await?)
    }

    /// Sends a delivery again (with the same event id), from a fresh
    /// retry budget.
    pub async fn redeliver(
        &self,
        principal: &Principal,
        id: WebhookId,
        delivery: i64,
    ) -> Result<Delivery, WebhookError> {
        self.get(principal, id).await?;
        let now = self.clock.now();
        let queued = self
            .repo
            .redeliver(id, delivery, now)
            .await?
            .ok_or(WebhookError::NotFound)?;
        crate::audit::record(
            Some(&self.audit),
            AuditEntry {
                at: now,
                actor: Actor::User(principal.user.id),
                action: "webhook.redeliver",
                resource: Some(format!("webhook:{id}")),
                outcome: "success",
                address: principal.address.clone(),
                detail: Some(format!("event {}", queued.event_id)),
            },
        )
        .await;
        Ok(queued)
    }
}

/// How failed deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// The delay after the first failure; it doubles with every attempt.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// After this long since the delivery was queued, a failure is final.
    pub give_up_after: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::seconds(30),
            max_delay: Duration::hours(1),
            give_up_after: Duration::hours(24),
        }
    }
}

impl DeliveryPolicy {
    /// The delay before attempt `attempts + 1`: `base · 2^(attempts-1)`,
    /// capped at `max_delay`, with equal jitter (between half and all).
    pub fn delay(&self, attempts: u32) -> Duration {
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

/// What one round of [`WebhookDispatch::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
}

/// The delivery worker.
#[derive(Clone)]
pub struct WebhookDispatch {
    repo: Arc<dyn WebhookRepository>,
    transport: Arc<dyn WebhookTransport>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    /// Longer than one delivery can take (the transport's timeout).
    lease: Duration,
    batch: u64,
}

impl WebhookDispatch {
    pub fn new(
        repo: Arc<dyn WebhookRepository>,
        transport: Arc<dyn WebhookTransport>,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
    ) -> Self {
        Self {
            repo,
            transport,
            clock,
            policy,
            // A batch is sent one delivery after another, each within the
            // transport's timeout (10 s): 8 of them end well inside the lease.
            lease: Duration::minutes(5),
            batch: 8,
        }
    }

    /// Claims one batch of due deliveries and sends them.
    pub async fn run_once(&self) -> anyhow::Result<DispatchReport> {
        let claimed = self
            .repo
            .claim(self.clock.now(), self.lease, self.batch)
            .await?;
        let mut report = DispatchReport {
            claimed: claimed.len(),
            ..DispatchReport::default()
        };
        for d in &claimed {
            match self.deliver(d).await {
                Ok(Sent::Delivered) => report.delivered += 1,
                Ok(Sent::Retried) => report.retried += 1,
                Ok(Sent::Failed) => report.failed += 1,
                Err(e) => {
                    // The lease runs out and the delivery is claimed again.
                    tracing::error!(delivery = d.id, error = %e, "a webhook delivery could not be recorded");
                }
            }
        }
        Ok(report)
    }

    async fn deliver(&self, d: &OutgoingDelivery) -> anyhow::Result<Sent> {
        let result = self.transport.send(d, self.clock.now()).await;
        let now = self.clock.now();
        let (status, error) = match result {
            Ok(status) => {
                self.repo.delivered(d, status, now).await?;
                return Ok(Sent::Delivered);
            }
            Err(SendError::Status(s)) => (Some(s), format!("the receiver answered {s}")),
            Err(e) => (None, e.to_string()),
        };
        let next = now + self.policy.delay(d.attempts);
        if next <= d.queued_at + self.policy.give_up_after {
            tracing::warn!(delivery = d.id, webhook = %d.webhook_id, attempts = d.attempts, %error, retry_at = %next, "webhook delivery will be retried");
            self.repo
                .retry_delivery(d, status, &error, next, now)
                .await?;
            return Ok(Sent::Retried);
        }
        tracing::error!(delivery = d.id, webhook = %d.webhook_id, attempts = d.attempts, %error, "webhook delivery failed for good");
        let record = AuditEntry {
            at: now,
            actor: Actor::System,
            action: "webhook.delivery_failed",
            resource: Some(format!("webhook:{}", d.webhook_id)),
            outcome: "failure",
            address: None,
            detail: Some(format!(
                "event {} ({}) after {} attempts: {error}",
                d.event_id, d.event, d.attempts
            )),
        };
        self.repo
            .fail_delivery(d, status, &error, now, &record)
            .await?;
        Ok(Sent::Failed)
    }
}

enum Sent {
    Delivered,
    Retried,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_targets() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls() {
        assert!(WebhookUrl::parse("https://example.com/hook", false).is_ok());
        assert_eq!(
            WebhookUrl::parse("http://example.com/hook", false),
            Err(TargetError::NotHttps)
        );
        assert!(WebhookUrl::parse("http://127.0.0.1:9/hook", true).is_ok());
        for bad in [
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://localhost/x",
            "https://2130706433/x",
        ] {
            assert_eq!(
                WebhookUrl::parse(bad, false),
                Err(TargetError::Forbidden),
                "{bad}"
            );
        }
        assert_eq!(
            WebhookUrl::parse("https://u:p@example.com/", false),
            Err(TargetError::Credentials)
        );
        assert_eq!(
            WebhookUrl::parse("ftp://example.com/", false),
            Err(TargetError::NotHttps)
        );
        assert_eq!(
            WebhookUrl::parse("not a url", false),
            Err(TargetError::Malformed)
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(WebhookUrl::parse(&long, false), Err(TargetError::TooLong));
    }

    #[test]
    fn events_round_trip_through_the_mask() {
        for e in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(e.as_str()), Some(e));
            assert_eq!(WebhookEvent::from_mask(e.bit()), vec![e]);
        }
        let all = WebhookEvent::mask(&WebhookEvent::ALL);
        assert_eq!(WebhookEvent::from_mask(all), WebhookEvent::ALL.to_vec());
    }

    #[test]
    fn delays_grow_and_stay_capped() {
        let policy = DeliveryPolicy::default();
        for attempts in 1..=12 {
            let full = (30_000_i64 << (attempts - 1)).min(3_600_000);
            let d = policy.delay(attempts).num_milliseconds();
            assert!(d >= full / 2 && d <= full, "{attempts}: {d}");
        }
    }

    #[test]
    fn the_body_is_the_event() {
        let d = OutgoingDelivery {
            id: 1,
            webhook_id: WebhookId::new(),
            url: "https://example.com".into(),
            secret: SealedToken {
                bytes: vec![],
                key_id: "plain".into(),
            },
            event_id: Uuid::nil(),
            event: "appointment.booked".into(),
            event_created_at: "2030-03-01T17:14:12Z".parse().unwrap(),
            data: r#"{"a":1}"#.into(),
            attempts: 1,
            queued_at: "2030-03-01T17:14:12Z".parse().unwrap(),
        };
        assert_eq!(
            d.body(),
            r#"{"id":"00000000-0000-0000-0000-000000000000","type":"appointment.booked","created_at":"2030-03-01T17:14:12Z","data":{"a":1}}"#
        );
    }
}
