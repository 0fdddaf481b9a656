//! Ports: the traits adapters implement. Each method's documentation states
//! the contract every adapter MUST honour; the store's test suite checks them
//! on every backend.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::appointment::{Appointment, AppointmentId, ConfirmationCode, NewAppointment};
use crate::calendar::{Calendar, CalendarId};
use crate::person::PhoneNumber;
use crate::time::TimeRange;

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
    /// An appointment holds `[start, end + buffer)`; two active appointments
    /// of one calendar MUST never hold overlapping time. Cancelled ones hold
    /// nothing.
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
    async fn book(
        &self,
        new: NewAppointment,
        buffer: Duration,
    ) -> Result<BookOutcome, StoreBookError>;

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

    /// Marks the appointment cancelled at `at`, freeing its time.
    /// MUST return [`StoreCancelError::AlreadyCancelled`] (and change nothing)
    /// when it already is.
    async fn cancel(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        reason: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Appointment, StoreCancelError>;

    /// Moves an active appointment to `new_range` atomically: either it holds
    /// the new time (and no longer the old), or nothing changed. The
    /// appointment's own old time never blocks the move; any other active
    /// appointment overlapping the new time (with `buffer`) MUST give
    /// [`StoreRescheduleError::SlotTaken`]. Like [`book`](Self::book), MAY
    /// refuse a time that would hold longer than
    /// [`Schedule::MAX_HOLD_MINUTES`](crate::Schedule::MAX_HOLD_MINUTES).
    async fn reschedule(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        new_range: TimeRange,
        buffer: Duration,
        at: DateTime<Utc>,
    ) -> Result<Appointment, StoreRescheduleError>;
}

/// Why the external calendar could not answer.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The calendar cannot be reached or refused (temporary).
    #[error("the calendar is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// The calendar a business looks at (Google Calendar in production; the
/// local, database-only gateway by default).
#[async_trait]
pub trait CalendarGateway: Send + Sync {
    /// Times in `window` that the external calendar reports busy, beyond our
    /// own appointments. The local gateway has none.
    async fn busy(
        &self,
        calendar: &Calendar,
        window: TimeRange,
    ) -> Result<Vec<TimeRange>, GatewayError>;

    /// Mirrors a new or moved appointment. MUST be idempotent: calling it
    /// again for the same appointment leaves one event.
    async fn upsert_event(&self, appointment: &Appointment) -> Result<(), GatewayError>;

    /// Removes a cancelled appointment's event. Removing an event that is
    /// already gone is success.
    async fn delete_event(&self, appointment: &Appointment) -> Result<(), GatewayError>;
}

/// The local gateway: our database is the only calendar, so nothing is busy
/// beyond our own appointments and there is nothing to mirror.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalCalendarGateway;

#[async_trait]
impl CalendarGateway for LocalCalendarGateway {
    async fn busy(&self, _: &Calendar, _: TimeRange) -> Result<Vec<TimeRange>, GatewayError> {
        Ok(Vec::new())
    }
    async fn upsert_event(&self, _: &Appointment) -> Result<(), GatewayError> {
        Ok(())
    }
    async fn delete_event(&self, _: &Appointment) -> Result<(), GatewayError> {
        Ok(())
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
