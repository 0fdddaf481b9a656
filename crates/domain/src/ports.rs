//! Ports: the traits adapters implement. Each method's documentation states
//! the contract every adapter MUST honour; the store's test suite checks them
//! on every backend.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::appointment::{
    Appointment, AppointmentId, AppointmentStatus, ConfirmationCode, NewAppointment,
};
use crate::calendar::{Calendar, CalendarId, Slug, VapiId};
use crate::person::{Email, PhoneNumber};
use crate::time::TimeRange;
use crate::user::{PasswordHash, Role, SessionId, TokenDigest, User, UserId};

/// Where call records live (defined with the call log).
pub use crate::calls::CallRepository;

/// Where services live (defined with the services).
pub use crate::catalog::{ServiceRepository, StoreServiceError};

/// Where personal data is erased (defined with the privacy service).
pub use crate::privacy::PrivacyRepository;

/// The current time. Services never read the system clock directly, so tests
/// can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved: for tests and simulations.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }
    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }
}

/// What [`AppointmentRepository::book`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookOutcome {
    /// A new appointment was stored.
    Created(Appointment),
    /// The idempotency key was seen before with the same request: the first
    /// booking, unchanged.
    Replayed(Appointment),
    /// The same caller already holds exactly this time: that appointment.
    AlreadyBooked(Appointment),
}

/// Why [`AppointmentRepository::book`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreBookError {
    #[error("the time overlaps an active appointment")]
    SlotTaken,
    /// The service's [`DailyLimit`](crate::appointment::DailyLimit) is reached.
    #[error("the service is fully booked that day")]
    DailyLimit,
    #[error("the idempotency key was already used for a different booking")]
    IdempotencyConflict(Box<Appointment>),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Why [`AppointmentRepository::cancel`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreCancelError {
    #[error("no such appointment")]
    NotFound,
    #[error("the appointment was already cancelled")]
    AlreadyCancelled(Box<Appointment>),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Why [`AppointmentRepository::reschedule`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreRescheduleError {
    #[error("no such appointment")]
    NotFound,
    #[error("the appointment is cancelled")]
    Cancelled(Box<Appointment>),
    #[error("the new time overlaps another active appointment")]
    SlotTaken,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Where appointments live.
#[async_trait]
pub trait AppointmentRepository: Send + Sync {
    /// Stores `new` if, and only if, its time is free — as one atomic step,
    /// whatever the concurrency and however many processes share the store.
    ///
    /// An appointment holds `[start - buffer_before, end + buffer)`, where
    /// `buffer_before` is its service's ([`NewAppointment::service`], zero
    /// without one); two active appointments of one calendar MUST never hold
    /// overlapping time — the database itself MUST guarantee it for both
    /// buffers. Cancelled ones hold nothing.
    ///
    /// - With a [`DailyLimit`](crate::appointment::DailyLimit), MUST return
    ///   [`StoreBookError::DailyLimit`] when that many active appointments of
    ///   the service already start within its day, atomically with
    ///   concurrent bookings of the calendar.
    ///
    /// - MUST return [`BookOutcome::Replayed`] when `new.idempotency_key` was
    ///   already used in this calendar for the same request
    ///   ([`Appointment::is_same_request`]), and
    ///   [`StoreBookError::IdempotencyConflict`] when it was used for another.
    /// - MUST return [`BookOutcome::AlreadyBooked`] when an active appointment
    ///   of the same caller (phone) has exactly the same range.
    /// - MUST return [`StoreBookError::SlotTaken`] when any other active
    ///   appointment overlaps.
    /// - MUST assign a [`ConfirmationCode`] unique within the calendar.
    /// - The appointment MUST be durable when `Ok` is returned.
    /// - MAY refuse (`Unknown`) an appointment that would hold longer than
    ///   [`Schedule::MAX_HOLD_MINUTES`](crate::Schedule::MAX_HOLD_MINUTES)
    ///   (no schedule allows one), and rely on that bound to search only
    ///   appointments that start less than that before the time asked.
    /// - When `record` is given it MUST be stored in the audit log in the
    ///   same transaction as a created appointment (and not at all when
    ///   nothing is created).
    /// - When the calendar is connected to an external calendar, a sync job
    ///   for the new appointment MUST be queued in the same transaction
    ///   ([`SyncQueue`](crate::sync::SyncQueue)).
    async fn book_recorded(
        &self,
        new: NewAppointment,
        buffer: Duration,
        record: Option<AuditEntry>,
    ) -> Result<BookOutcome, StoreBookError>;

    /// [`book_recorded`](Self::book_recorded) without an audit entry.
    async fn book(
        &self,
        new: NewAppointment,
        buffer: Duration,
    ) -> Result<BookOutcome, StoreBookError> {
        self.book_recorded(new, buffer, None).await
    }

    /// The appointment with `id` in `calendar`, whatever its status.
    async fn get(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
    ) -> anyhow::Result<Option<Appointment>>;

    /// The appointment with `code` in `calendar`, whatever its status.
    async fn find_by_code(
        &self,
        calendar: CalendarId,
        code: &ConfirmationCode,
    ) -> anyhow::Result<Option<Appointment>>;

    /// The appointment booked with `key` in `calendar`, whatever its status.
    async fn find_by_idempotency_key(
        &self,
        calendar: CalendarId,
        key: &str,
    ) -> anyhow::Result<Option<Appointment>>;

    /// Active appointments of `phone` in `calendar` that end after `from`,
    /// earliest first (at most 50).
    async fn find_by_phone(
        &self,
        calendar: CalendarId,
        phone: &PhoneNumber,
        from: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Appointment>>;

    /// The ranges of active appointments of `calendar` that overlap `window`,
    /// in start order.
    async fn busy(&self, calendar: CalendarId, window: TimeRange)
    -> anyhow::Result<Vec<TimeRange>>;

    /// The time active appointments of `calendar` hold — `[start -
    /// buffer_before, end + buffer)` as stored at booking — that overlaps
    /// `window`, in start order: what a new booking must not overlap.
    async fn held(&self, calendar: CalendarId, window: TimeRange)
    -> anyhow::Result<Vec<TimeRange>>;

    /// How many active appointments of `service` in `calendar` start within
    /// `day`.
    async fn count_of_service(
        &self,
        calendar: CalendarId,
        service: crate::catalog::ServiceId,
        day: TimeRange,
    ) -> anyhow::Result<u64>;

    /// Marks the appointment cancelled at `at`, freeing its time.
    /// MUST return [`StoreCancelError::AlreadyCancelled`] (and change nothing)
    /// when it already is. Like [`book_recorded`](Self::book_recorded), it
    /// stores `record` and queues a sync job in the same transaction.
    async fn cancel_recorded(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        reason: Option<String>,
        at: DateTime<Utc>,
        record: Option<AuditEntry>,
    ) -> Result<Appointment, StoreCancelError>;

    /// [`cancel_recorded`](Self::cancel_recorded) without an audit entry.
    async fn cancel(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        reason: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Appointment, StoreCancelError> {
        self.cancel_recorded(calendar, id, reason, at, None).await
    }

    /// Moves an active appointment to `new_range` atomically: either it holds
    /// the new time (and no longer the old), or nothing changed. The
    /// appointment's own old time never blocks the move; any other active
    /// appointment overlapping the new time (with `buffer`) MUST give
    /// [`StoreRescheduleError::SlotTaken`]. Like [`book`](Self::book), MAY
    /// refuse a time that would hold longer than
    /// [`Schedule::MAX_HOLD_MINUTES`](crate::Schedule::MAX_HOLD_MINUTES).
    /// Like [`book_recorded`](Self::book_recorded), it stores `record` and
    /// queues a sync job in the same transaction.
    async fn reschedule_recorded(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        new_range: TimeRange,
        buffer: Duration,
        at: DateTime<Utc>,
        record: Option<AuditEntry>,
    ) -> Result<Appointment, StoreRescheduleError>;

    /// [`reschedule_recorded`](Self::reschedule_recorded) without an audit
    /// entry.
    async fn reschedule(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        new_range: TimeRange,
        buffer: Duration,
        at: DateTime<Utc>,
    ) -> Result<Appointment, StoreRescheduleError> {
        self.reschedule_recorded(calendar, id, new_range, buffer, at, None)
            .await
    }

    /// The appointment with `id`, in whichever calendar, whatever its status.
    async fn find(&self, id: AppointmentId) -> anyhow::Result<Option<Appointment>>;

    /// Appointments matching `query`, ordered by (`starts_at`, `id`) — a
    /// stable order — starting strictly after `query.after`, at most
    /// `query.limit`.
    async fn list(&self, query: &AppointmentQuery) -> anyhow::Result<Vec<Appointment>>;

    /// Every appointment booked during the VAPI call `vapi_call_id` (its
    /// `booked_by.vapi_call_id`), in whichever calendar, whatever its
    /// status, ordered by (`starts_at`, `id`).
    async fn find_by_vapi_call(&self, vapi_call_id: &str) -> anyhow::Result<Vec<Appointment>>;
}

/// Which calendars a listing covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarScope {
    /// Every calendar (administrators).
    All,
    /// The calendars `owner` owns.
    OwnedBy(UserId),
    /// One calendar.
    One(CalendarId),
}

/// A filtered, paginated listing of appointments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentQuery {
    pub scope: CalendarScope,
    /// Appointments starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Appointments starting before this instant.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<AppointmentStatus>,
    pub phone: Option<PhoneNumber>,
    /// The (`starts_at`, `id`) of the last appointment of the previous page.
    pub after: Option<(DateTime<Utc>, AppointmentId)>,
    pub limit: u64,
}

/// Why [`CalendarRepository::create`] or [`CalendarRepository::update`]
/// stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreCalendarError {
    #[error("no such calendar")]
    NotFound,
    #[error("the slug is used by another calendar")]
    SlugTaken,
    #[error("the VAPI id {0} routes to another calendar")]
    RouteTaken(String),
    #[error("the owner does not exist")]
    UnknownOwner,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Why [`CalendarRepository::delete`] deleted nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreCalendarDeleteError {
    #[error("no such calendar")]
    NotFound,
    #[error("the calendar has {0} upcoming appointments")]
    HasUpcoming(u64),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Where calendars (with their schedules and VAPI routes) live.
/// The calendars a call's VAPI ids route to ([`CalendarRepository::find_by_vapi`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VapiMatch {
    /// The calendar listing the assistant id.
    pub by_assistant: Option<Calendar>,
    /// The calendar listing the phone-number id.
    pub by_phone_number: Option<Calendar>,
}

#[async_trait]
pub trait CalendarRepository: Send + Sync {
    /// Stores a new calendar with its routes, atomically.
    /// MUST return [`StoreCalendarError::SlugTaken`] when another calendar
    /// has the slug, [`StoreCalendarError::RouteTaken`] (naming the id) when
    /// one of its VAPI ids routes to another calendar, and
    /// [`StoreCalendarError::UnknownOwner`] when the owner is not a user.
    async fn create(&self, calendar: &Calendar) -> Result<(), StoreCalendarError>;

    /// Replaces the stored calendar with the same id (settings, owner and
    /// routes), atomically; the same refusals as [`create`](Self::create),
    /// plus [`StoreCalendarError::NotFound`].
    async fn update(&self, calendar: &Calendar) -> Result<(), StoreCalendarError>;

    /// Replaces the whole set of closures (closed dates, special hours and
    /// time off) of calendar `id`, atomically, and nothing else; MUST return
    /// [`StoreCalendarError::NotFound`] when there is no such calendar.
    /// [`update`](Self::update) MUST leave the closures as they are, and
    /// every read of a calendar MUST return them with it (in the same query:
    /// a booking reads its calendar on every tool call).
    async fn replace_closures(
        &self,
        id: CalendarId,
        closures: &crate::closures::Closures,
    ) -> Result<(), StoreCalendarError>;

    /// Deletes the calendar, its routes and its past or cancelled
    /// appointments. MUST refuse ([`StoreCalendarDeleteError::HasUpcoming`])
    /// while it has active appointments ending after `now`, atomically with
    /// respect to bookings.
    async fn delete(
        &self,
        id: CalendarId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreCalendarDeleteError>;

    async fn get(&self, id: CalendarId) -> anyhow::Result<Option<Calendar>>;

    async fn find_by_slug(&self, slug: &Slug) -> anyhow::Result<Option<Calendar>>;

    /// The calendar `assistant` routes to and the one `phone_number` routes
    /// to, each looked up on its own kind of route (both the same calendar
    /// when they route to one). MUST return both when both ids route, so
    /// that the caller can tell a line claimed by two owners.
    async fn find_by_vapi(
        &self,
        assistant: Option<&VapiId>,
        phone_number: Option<&VapiId>,
    ) -> anyhow::Result<VapiMatch>;

    /// The only calendar, when exactly one exists.
    async fn sole(&self) -> anyhow::Result<Option<Calendar>>;

    /// Calendars in `scope` (for [`CalendarScope::One`], that one), oldest first.
    async fn list(&self, scope: CalendarScope) -> anyhow::Result<Vec<Calendar>>;

    /// Stores `calendar` only when no calendar exists yet (the first
    /// calendar of a fresh installation); true when it did.
    async fn create_if_none(&self, calendar: &Calendar) -> anyhow::Result<bool>;

    /// Gives every calendar without an owner to `owner`; how many.
    async fn adopt_unowned(&self, owner: UserId) -> anyhow::Result<u64>;
}

/// A user to store.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub name: crate::person::PersonName,
    pub role: Role,
    pub password: PasswordHash,
    pub created_at: DateTime<Utc>,
}

/// Why [`UserRepository::create`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreUserError {
    #[error("an account with this email address exists")]
    EmailTaken,
    #[error("the installation already has users")]
    NotFirst,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Where user accounts live. Email addresses are unique ignoring case
/// ([`account_key`](crate::user::account_key)).
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores `user`. MUST return [`StoreUserError::EmailTaken`] when the
    /// address (ignoring case) has an account. With `only_if_first`, MUST
    /// store nothing and return [`StoreUserError::NotFirst`] when any user
    /// exists — atomically: of concurrent first registrations exactly one
    /// is stored.
    async fn create(&self, user: NewUser, only_if_first: bool) -> Result<User, StoreUserError>;

    /// Whether any user exists (cheap: registration answers "closed" before
    /// spending a password hash on a request it will refuse).
    async fn any(&self) -> anyhow::Result<bool>;

    async fn get(&self, id: UserId) -> anyhow::Result<Option<User>>;

    /// The account of `email` (ignoring case) and its password hash.
    async fn find_credentials(&self, email: &Email)
    -> anyhow::Result<Option<(User, PasswordHash)>>;

    /// Replaces the password hash; false when there is no such user.
    async fn set_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    /// Every user, oldest first.
    async fn list(&self) -> anyhow::Result<Vec<User>>;
}

/// A sign-in: one refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user: UserId,
    pub created_at: DateTime<Utc>,
    /// The family's absolute end: no rotation extends it.
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Why [`SessionRepository::rotate`] issued nothing.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("unknown refresh token")]
    Unknown,
    /// The token was used before: the store has ended its whole family.
    #[error("the refresh token was already used")]
    Reused(Session),
    /// The family was ended (logout, reuse, password change) or has expired.
    #[error("the sign-in has ended")]
    Ended(Session),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Where sign-ins and their refresh tokens (as digests) live.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new family with its first refresh token.
    async fn start(&self, session: &Session, first_token: &TokenDigest) -> anyhow::Result<()>;

    /// Marks `presented` used and stores `next` in the same family, as one
    /// atomic step (`UPDATE … WHERE used_at IS NULL`): of concurrent
    /// rotations of one token exactly one succeeds. MUST return
    /// [`RotateError::Reused`] for a token already used — after ending its
    /// family — and [`RotateError::Ended`] when the family has ended or
    /// expired at `now`.
    async fn rotate(
        &self,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Session, RotateError>;

    /// The family a token (used or not) belongs to.
    async fn find_by_token(&self, token: &TokenDigest) -> anyhow::Result<Option<Session>>;

    async fn get(&self, id: SessionId) -> anyhow::Result<Option<Session>>;

    /// Ends one family (idempotent).
    async fn end(&self, id: SessionId, at: DateTime<Utc>) -> anyhow::Result<()>;

    /// Ends every family of `user` except `keep`; how many were ended.
    async fn end_all(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
}

/// Failed sign-in attempts, counted per key (an account, a client address)
/// in the database, so every instance sees the same counts.
#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// How many failures `key` has had since `since`, and when the earliest
    /// of them was.
    async fn failures_since(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<(u32, Option<DateTime<Utc>>)>;

    /// Records one failure for each key at `at` (and MAY forget failures
    /// older than a day).
    async fn record_failure(&self, keys: &[String], at: DateTime<Utc>) -> anyhow::Result<()>;

    /// Forgets the failures of `key` (after a successful sign-in).
    async fn clear(&self, key: &str) -> anyhow::Result<()>;
}

/// Waits (the sign-in backoff). A port so the domain needs no async runtime
/// and tests can see or skip the waits.
#[async_trait]
pub trait Pause: Send + Sync {
    /// Returns after `duration` (at once for zero or less).
    async fn pause(&self, duration: Duration);
}

/// Hashes and checks passwords (bcrypt in production), off the async runtime.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &crate::user::NewPassword) -> anyhow::Result<PasswordHash>;

    /// Whether `password` matches `hash`. With `None` (no such account) it
    /// MUST still do the same work against a dummy hash and return false, so
    /// the answer takes as long as for a real account.
    async fn verify(&self, password: &str, hash: Option<&PasswordHash>) -> anyhow::Result<bool>;
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user: UserId,
    pub session: SessionId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why an access token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the access token is not valid: {0}")]
pub struct TokenRejected(pub String);

/// Signs and verifies access tokens (JWT in production).
pub trait AccessTokens: Send + Sync {
    fn issue(&self, claims: &AccessClaims) -> anyhow::Result<String>;

    /// The claims of `token` when its signature, algorithm, issuer and
    /// audience are right and it is valid at `now` (`nbf`/`iat` not in the
    /// future, `exp` not passed, small leeway).
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenRejected>;
}

/// Who did something recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    /// Someone not signed in (a failed sign-in, a registration).
    Anonymous,
    System,
    VapiCall(String),
}

/// Who asked for an operation and from which client address: what the
/// audit log records about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub actor: Actor,
    /// The client address (API requests); `None` for VAPI and the system.
    pub address: Option<String>,
}

impl From<Actor> for Requester {
    fn from(actor: Actor) -> Self {
        Self {
            actor,
            address: None,
        }
    }
}

/// One entry of the append-only audit log. Personal data is masked before
/// it gets here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// What happened: `auth.login`, `auth.refresh_reused`, `calendar.update`, …
    pub action: &'static str,
    /// The resource acted on (`user:<id>`, `calendar:<id>`, …).
    pub resource: Option<String>,
    /// `success`, `failure`, `denied`.
    pub outcome: &'static str,
    pub address: Option<String>,
    /// Extra facts, already masked.
    pub detail: Option<String>,
}

/// The append-only audit log: there is no way to change or delete an entry
/// through the application.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, entry: AuditEntry) -> anyhow::Result<()>;
}

impl Actor {
    /// The actor of a voice request: its VAPI call when known, else anonymous.
    pub fn voice(call_id: Option<&str>) -> Actor {
        match call_id {
            Some(call) if !call.is_empty() => Actor::VapiCall(call.to_owned()),
            _ => Actor::Anonymous,
        }
    }
}

/// An entry as the audit log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Grows with every entry.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `user`, `anonymous`, `system` or `vapi_call`.
    pub actor_kind: String,
    /// The user id or VAPI call id.
    pub actor_id: Option<String>,
    pub action: String,
    pub resource: Option<String>,
    pub outcome: String,
    pub address: Option<String>,
    pub detail: Option<String>,
}

/// A filtered, paginated reading of the audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub outcome: Option<String>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub to: Option<DateTime<Utc>>,
    /// The (`at`, `id`) of the last entry of the previous page.
    pub before: Option<(DateTime<Utc>, i64)>,
    pub limit: u64,
}

/// Reads the audit log (administrators).
#[async_trait]
pub trait AuditReader: Send + Sync {
    /// Entries matching every filter of `query` (exact matches), ordered by
    /// (`at`, `id`) descending — a stable order — strictly after
    /// `query.before` in that order, at most `query.limit`.
    async fn list(&self, query: &AuditQuery) -> anyhow::Result<Vec<AuditRecord>>;
}

/// Why the external calendar could not answer.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The calendar cannot be reached or refused (temporary), and no recent
    /// enough answer is known.
    #[error("the calendar is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// How fresh busy times must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Offering slots: a few seconds old is fine.
    Recent,
    /// Right before confirming: ask the external calendar now.
    Now,
}

/// The calendar a business looks at, for its busy times (Google Calendar in
/// production; the local, database-only gateway by default). Mirroring our
/// appointments into it goes through the outbox ([`crate::sync`]).
#[async_trait]
pub trait CalendarGateway: Send + Sync {
    /// Times in `window` that the external calendar reports busy, beyond our
    /// own appointments. The local gateway, and a calendar that is not
    /// connected, have none.
    async fn busy(
        &self,
        calendar: &Calendar,
        window: TimeRange,
        freshness: Freshness,
    ) -> Result<Vec<TimeRange>, GatewayError>;
}

/// The local gateway: our database is the only calendar, so nothing is busy
/// beyond our own appointments.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalCalendarGateway;

#[async_trait]
impl CalendarGateway for LocalCalendarGateway {
    async fn busy(
        &self,
        _: &Calendar,
        _: TimeRange,
        _: Freshness,
    ) -> Result<Vec<TimeRange>, GatewayError> {
        Ok(Vec::new())
    }
}

/// A reply stored for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    /// A digest of the request that produced the reply.
    pub fingerprint: String,
    /// The reply, opaque to the store (JSON text).
    pub body: String,
}

/// Remembers replies by key so a retried request (the same VAPI tool-call id,
/// the same `Idempotency-Key`) gets the first answer again.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// The reply stored under (`scope`, `key`), if any.
    async fn find_reply(&self, scope: &str, key: &str) -> anyhow::Result<Option<StoredReply>>;

    /// Stores `reply` under (`scope`, `key`) unless one is stored already;
    /// MUST return the reply that is stored after the call (the first one wins).
    async fn save_reply(
        &self,
        scope: &str,
        key: &str,
        reply: StoredReply,
    ) -> anyhow::Result<StoredReply>;
}
