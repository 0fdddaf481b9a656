//! The scheduling service: every operation a caller or a staff member can
//! ask for, each with its own error enum.

use std::sync::Arc;

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, SecondsFormat, Utc};

use crate::appointment::{
    Appointment, AppointmentId, BookedBy, BookedService, ConfirmationCode, DailyLimit,
    NewAppointment, ServiceBooking,
};
use crate::availability::{
    SlotRejection, check_slot_padded, free_slots_padded, last_bookable_date, nearest_slots,
};
use crate::calendar::Calendar;
use crate::caller::OwnNumber;
use crate::catalog::{Padding, Service};
use crate::closures::DateOverride;
use crate::person::{Email, PersonName, PhoneNumber};
use crate::ports::{
    AppointmentRepository, AuditEntry, BookOutcome, CalendarGateway, Clock, Freshness,
    GatewayError, Requester, StoreBookError, StoreCancelError, StoreRescheduleError,
};
use crate::schedule::ScheduleError;
use crate::time::{TimeRange, TimeZoneId};

/// How many alternatives a refusal offers.
pub const ALTERNATIVES: usize = 3;
/// How many days ahead alternatives are searched for when the asked day is full.
const ALTERNATIVE_SEARCH_DAYS: u64 = 14;

/// The free slots of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayAvailability {
    pub date: NaiveDate,
    /// The zone `date` is a day of.
    pub zone: TimeZoneId,
    pub duration: Duration,
    pub slots: Vec<TimeRange>,
    /// The calendar's override of `date` (read as one of the calendar's
    /// days), when it has one: closed (with its label, for "We're closed on
    /// ... (Christmas Day)") or special hours.
    pub date_override: Option<DateOverride>,
}

#[derive(Debug, thiserror::Error)]
pub enum AvailabilityError {
    #[error("the date is in the past (today is {today})")]
    DateInPast { today: NaiveDate },
    #[error("the date is past the booking horizon (last bookable date {last_date})")]
    BeyondHorizon { last_date: NaiveDate },
    #[error(transparent)]
    BadDuration(ScheduleError),
    #[error("the calendar cannot be checked right now: {0}")]
    CalendarUnavailable(String),
    /// The service asked for is not offered by the calendar.
    #[error("the calendar offers no such service")]
    UnknownService,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// A booking asked for by a caller or a staff member.
#[derive(Debug, Clone)]
pub struct BookRequest {
    pub name: PersonName,
    pub phone: PhoneNumber,
    pub email: Option<Email>,
    pub purpose: Option<String>,
    pub start: DateTime<Utc>,
    /// Minutes; the schedule's default when `None`.
    pub duration_minutes: Option<i64>,
    /// The zone the caller spoke in (kept with the appointment).
    pub time_zone: TimeZoneId,
    pub booked_by: BookedBy,
    pub idempotency_key: Option<String>,
    /// The service booked: its length (`duration_minutes` is then ignored),
    /// buffers and daily limit apply.
    pub service: Option<Service>,
}

/// Whether a booking is new or was already held by this caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookStatus {
    Booked,
    AlreadyBooked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub appointment: Appointment,
    pub status: BookStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("the time cannot be booked: {reason:?}")]
    Unavailable {
        reason: SlotRejection,
        alternatives: Vec<TimeRange>,
    },
    #[error(transparent)]
    BadDuration(ScheduleError),
    #[error("the idempotency key was already used for a different booking")]
    IdempotencyConflict,
    #[error("the calendar cannot be checked right now: {0}")]
    CalendarUnavailable(String),
    /// The service asked for is not offered by the calendar.
    #[error("the calendar offers no such service")]
    UnknownService,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// How a caller points at one of their appointments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppointmentRef {
    /// By confirmation code: anyone holding the code.
    Code(ConfirmationCode),
    /// By date (and time) among the appointments of the number calling
    /// (see [`crate::caller`]: only the caller's own number can be searched).
    PhoneOn {
        phone: OwnNumber,
        date: NaiveDate,
        time: Option<NaiveTime>,
    },
    Id(AppointmentId),
}

#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no matching appointment")]
    NotFound,
    #[error("more than one appointment matches")]
    Ambiguous(Vec<Appointment>),
    #[error("the appointment was already cancelled")]
    AlreadyCancelled(Box<Appointment>),
    #[error("the appointment has already started")]
    AlreadyPast(Box<Appointment>),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// A moved appointment and the time it held before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescheduled {
    pub previous: TimeRange,
    pub appointment: Appointment,
}

#[derive(Debug, thiserror::Error)]
pub enum RescheduleError {
    #[error("no matching appointment")]
    NotFound,
    #[error("more than one appointment matches")]
    Ambiguous(Vec<Appointment>),
    #[error("the appointment is cancelled")]
    Cancelled(Box<Appointment>),
    #[error("the appointment has already started")]
    AlreadyPast(Box<Appointment>),
    #[error("the new time cannot be booked: {reason:?}")]
    Unavailable {
        reason: SlotRejection,
        alternatives: Vec<TimeRange>,
    },
    #[error("the calendar cannot be checked right now: {0}")]
    CalendarUnavailable(String),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

enum LocateError {
    NotFound,
    Ambiguous(Vec<Appointment>),
    Unknown(anyhow::Error),
}

enum BusyError {
    Unavailable(String),
    Unknown(anyhow::Error),
}

/// The scheduling rules applied to a repository, a calendar gateway and a clock.
#[derive(Clone)]
pub struct SchedulingService {
    repo: Arc<dyn AppointmentRepository>,
    gateway: Arc<dyn CalendarGateway>,
    clock: Arc<dyn Clock>,
    /// Whether bookings, moves and cancellations are recorded in the audit
    /// log (the repository writes the entry in the change's transaction).
    audited: bool,
}

impl SchedulingService {
    pub fn new(
        repo: Arc<dyn AppointmentRepository>,
        gateway: Arc<dyn CalendarGateway>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            gateway,
            clock,
            audited: false,
        }
    }

    /// Records every booking made, moved or cancelled in the audit log
    /// (`appointment.book`, `appointment.reschedule`, `appointment.cancel`)
    /// with the caller's number masked: the repository stores the entry in
    /// the same transaction as the change, so an entry exists exactly when
    /// the change does, at no extra commit.
    #[must_use]
    pub fn audited(mut self) -> Self {
        self.audited = true;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The free slots of `date` as a day in `zone` (the caller's zone, or the
    /// calendar's), for an appointment of `duration_minutes` (the schedule's
    /// default when `None`).
    pub async fn availability(
        &self,
        calendar: &Calendar,
        date: NaiveDate,
        zone: TimeZoneId,
        duration_minutes: Option<i64>,
    ) -> Result<DayAvailability, AvailabilityError> {
        self.availability_of(calendar, date, zone, duration_minutes, None)
            .await
    }

    /// [`availability`](Self::availability) of `service` when given: its
    /// length (`duration_minutes` is ignored), its buffers around each slot,
    /// and no slot on a day its daily limit is reached.
    pub async fn availability_of(
        &self,
        calendar: &Calendar,
        date: NaiveDate,
        zone: TimeZoneId,
        duration_minutes: Option<i64>,
        service: Option<&Service>,
    ) -> Result<DayAvailability, AvailabilityError> {
        let schedule = &calendar.schedule;
        let tz = schedule.time_zone();
        let duration = match (service, duration_minutes) {
            (Some(s), _) => s.duration(),
            (None, Some(m)) => schedule
                .check_duration(m)
                .map_err(AvailabilityError::BadDuration)?,
            (None, None) => schedule.default_duration(),
        };
        let pad = padding(calendar, service);
        let now = self.now();
        let today = zone.date_of(now);
        if date < today {
            return Err(AvailabilityError::DateInPast { today });
        }
        let day_start = zone.start_of_day(date);
        let day_end = zone.start_of_day(date.succ_opt().unwrap_or(date));
        let last_date = last_bookable_date(schedule, now);
        if tz.date_of(day_start) > last_date {
            return Err(AvailabilityError::BeyondHorizon { last_date });
        }
        // The caller's day may straddle two of the calendar's days.
        let mut slots = Vec::new();
        let mut cal_date = tz.date_of(day_start);
        let last_cal_date = tz.date_of(day_end - Duration::seconds(1));
        while cal_date <= last_cal_date {
            if cal_date >= tz.date_of(now) && cal_date <= last_date {
                let busy = self
                    .busy_on(calendar, cal_date)
                    .await
                    .map_err(|e| match e {
                        BusyError::Unavailable(m) => AvailabilityError::CalendarUnavailable(m),
                        BusyError::Unknown(e) => AvailabilityError::Unknown(e),
                    })?;
                if self
                    .full_on(calendar, service, cal_date)
                    .await
                    .map_err(AvailabilityError::Unknown)?
                {
                    cal_date = match cal_date.succ_opt() {
                        Some(d) => d,
                        None => break,
                    };
                    continue;
                }
                slots.extend(
                    free_slots_padded(schedule, &busy, now, cal_date, duration, pad)
                        .into_iter()
                        .filter(|s| zone.date_of(s.start()) == date),
                );
            }
            cal_date = match cal_date.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        slots.sort();
        slots.dedup();
        Ok(DayAvailability {
            date,
            zone,
            duration,
            slots,
            date_override: schedule.closures().on(date).cloned(),
        })
    }

    /// Books `request` if its time is free and within the rules. `by` is who
    /// asked (for the audit log): the VAPI call, or the signed-in user.
    pub async fn book(
        &self,
        calendar: &Calendar,
        request: BookRequest,
        by: &Requester,
    ) -> Result<Booking, BookError> {
        let schedule = &calendar.schedule;
        let service = request.service.as_ref();
        let duration = match (service, request.duration_minutes) {
            (Some(s), _) => s.duration(),
            (None, Some(m)) => schedule.check_duration(m).map_err(BookError::BadDuration)?,
            (None, None) => schedule.default_duration(),
        };
        let pad = padding(calendar, service);
        let range = TimeRange::starting_at(request.start, duration)
            .map_err(|e| BookError::Unknown(anyhow::anyhow!(e)))?;
        let now = self.now();
        let tz = schedule.time_zone();
        let booked_date = tz.date_of(range.start());
        let service_booking = match service {
            None => None,
            Some(s) => Some(ServiceBooking {
                service: BookedService {
                    id: s.id,
                    name: s.name.as_str().to_owned(),
                    padding: pad,
                },
                buffer_before: pad.before,
                daily_limit: match s.daily_limit() {
                    None => None,
                    Some(max) => Some(DailyLimit {
                        max,
                        day: TimeRange::new(
                            tz.start_of_day(booked_date),
                            tz.start_of_day(booked_date.succ_opt().unwrap_or(booked_date)),
                        )
                        .map_err(|e| BookError::Unknown(anyhow::anyhow!(e)))?,
                    }),
                },
            }),
        };
        let new = NewAppointment {
            id: AppointmentId::new(),
            calendar_id: calendar.id,
            range,
            time_zone: request.time_zone,
            customer_name: request.name,
            customer_phone: request.phone,
            customer_email: request.email,
            purpose: request.purpose,
            booked_by: request.booked_by,
            idempotency_key: request.idempotency_key,
            created_at: now,
            service: service_booking,
        };
        // A replay returns the first outcome, even if the rules would now say
        // otherwise. When the rules pass, the repository answers a replay
        // itself (`Replayed` / `IdempotencyConflict`, in the booking's own
        // transaction), so the key is only looked up here when something
        // before the repository refuses: one database round trip less for
        // every booking.
        let external = match self.external_busy(calendar, range, pad).await {
            Ok(external) => external,
            Err(e) => {
                if let Some(first) = self.replay_instead(calendar, &new).await {
                    return first;
                }
                return Err(match e {
                    BusyError::Unavailable(m) => BookError::CalendarUnavailable(m),
                    BusyError::Unknown(e) => BookError::Unknown(e),
                });
            }
        };
        if let Err(reason) = check_slot_padded(schedule, &external, now, range, pad) {
            if let Some(first) = self.replay_instead(calendar, &new).await {
                return first;
            }
            return Err(self.unavailable(calendar, range, pad, reason).await);
        }
        let record = self.entry(
            by,
            "appointment.book",
            new.id,
            format!(
                "{} booking in calendar:{} from {} for {} minutes, caller {}",
                new.booked_by.channel.as_str(),
                new.calendar_id,
                instant(range.start()),
                range.duration().num_minutes(),
                new.customer_phone.masked()
            ),
        );
        match self.repo.book_recorded(new, pad.after, record).await {
            Ok(BookOutcome::Created(appointment)) => Ok(Booking {
                appointment,
                status: BookStatus::Booked,
            }),
            Ok(BookOutcome::Replayed(appointment)) => Ok(Booking {
                appointment,
                status: BookStatus::Booked,
            }),
            Ok(BookOutcome::AlreadyBooked(appointment)) => Ok(Booking {
                appointment,
                status: BookStatus::AlreadyBooked,
            }),
            Err(StoreBookError::SlotTaken) => Err(self
                .unavailable(calendar, range, pad, SlotRejection::Taken)
                .await),
            Err(StoreBookError::DailyLimit) => {
                // Offer times from the next day on: this one is full.
                let next = tz.start_of_day(booked_date.succ_opt().unwrap_or(booked_date));
                Err(BookError::Unavailable {
                    reason: SlotRejection::DailyLimit { date: booked_date },
                    alternatives: self
                        .alternatives_padded(calendar, next, duration, pad, service)
                        .await,
                })
            }
            Err(StoreBookError::IdempotencyConflict(_)) => Err(BookError::IdempotencyConflict),
            Err(StoreBookError::Unknown(e)) => Err(BookError::Unknown(e)),
        }
    }

    /// Before refusing `new`: the first outcome when its idempotency key was
    /// already used (the booking for the same request, `IdempotencyConflict`
    /// for another), `None` when the key is new or absent.
    async fn replay_instead(
        &self,
        calendar: &Calendar,
        new: &NewAppointment,
    ) -> Option<Result<Booking, BookError>> {
        let key = new.idempotency_key.as_ref()?;
        match self.repo.find_by_idempotency_key(calendar.id, key).await {
            Err(e) => Some(Err(BookError::Unknown(e))),
            Ok(None) => None,
            Ok(Some(existing)) if existing.is_same_request(new) => Some(Ok(Booking {
                appointment: existing,
                status: BookStatus::Booked,
            })),
            Ok(Some(_)) => Some(Err(BookError::IdempotencyConflict)),
        }
    }

    /// The caller's upcoming (not yet ended) active appointments: those of
    /// the number they call from (see [`crate::caller`]).
    pub async fn upcoming(
        &self,
        calendar: &Calendar,
        phone: &OwnNumber,
    ) -> Result<Vec<Appointment>, FindError> {
        self.repo
            .find_by_phone(calendar.id, phone.phone(), self.now())
            .await
            .map_err(FindError::Unknown)
    }

    /// The upcoming (not yet ended) active appointment with `code`, whoever
    /// asks: holding the code is the proof (see [`crate::caller`]).
    pub async fn upcoming_with_code(
        &self,
        calendar: &Calendar,
        code: &ConfirmationCode,
    ) -> Result<Option<Appointment>, FindError> {
        let now = self.now();
        Ok(self
            .repo
            .find_by_code(calendar.id, code)
            .await
            .map_err(FindError::Unknown)?
            .filter(|a| a.is_active() && a.range().end() > now))
    }

    /// Cancels the appointment `which` points at; `by` is who asked.
    pub async fn cancel(
        &self,
        calendar: &Calendar,
        which: &AppointmentRef,
        reason: Option<String>,
        by: &Requester,
    ) -> Result<Appointment, CancelError> {
        let appointment = self.locate(calendar, which).await.map_err(|e| match e {
            LocateError::NotFound => CancelError::NotFound,
            LocateError::Ambiguous(list) => CancelError::Ambiguous(list),
            LocateError::Unknown(e) => CancelError::Unknown(e),
        })?;
        if !appointment.is_active() {
            return Err(CancelError::AlreadyCancelled(Box::new(appointment)));
        }
        let now = self.now();
        if appointment.range().start() <= now {
            return Err(CancelError::AlreadyPast(Box::new(appointment)));
        }
        // The reason is the caller's own words: it is not recorded.
        let record = self.entry(
            by,
            "appointment.cancel",
            appointment.id(),
            format!(
                "cancelled in calendar:{}, was from {}, caller {}",
                appointment.calendar_id(),
                instant(appointment.range().start()),
                appointment.customer_phone().masked()
            ),
        );
        let cancelled = self
            .repo
            .cancel_recorded(calendar.id, appointment.id(), reason, now, record)
            .await
            .map_err(|e| match e {
                StoreCancelError::NotFound => CancelError::NotFound,
                StoreCancelError::AlreadyCancelled(a) => CancelError::AlreadyCancelled(a),
                StoreCancelError::Unknown(e) => CancelError::Unknown(e),
            })?;
        Ok(cancelled)
    }

    /// Moves the appointment `which` points at to `new_start`, keeping its
    /// length; `by` is who asked.
    pub async fn reschedule(
        &self,
        calendar: &Calendar,
        which: &AppointmentRef,
        new_start: DateTime<Utc>,
        by: &Requester,
    ) -> Result<Rescheduled, RescheduleError> {
        let appointment = self.locate(calendar, which).await.map_err(|e| match e {
            LocateError::NotFound => RescheduleError::NotFound,
            LocateError::Ambiguous(list) => RescheduleError::Ambiguous(list),
            LocateError::Unknown(e) => RescheduleError::Unknown(e),
        })?;
        if !appointment.is_active() {
            return Err(RescheduleError::Cancelled(Box::new(appointment)));
        }
        let now = self.now();
        if appointment.range().start() <= now {
            return Err(RescheduleError::AlreadyPast(Box::new(appointment)));
        }
        let previous = appointment.range();
        let range = TimeRange::starting_at(new_start, previous.duration())
            .map_err(|e| RescheduleError::Unknown(anyhow::anyhow!(e)))?;
        if range == previous {
            return Ok(Rescheduled {
                previous,
                appointment,
            });
        }
        let schedule = &calendar.schedule;
        // An appointment of a service keeps the buffers it was booked with.
        let pad = appointment
            .service()
            .map_or(Padding::after(schedule.buffer()), |s| s.padding);
        let external = self
            .external_busy(calendar, range, pad)
            .await
            .map_err(|e| match e {
                BusyError::Unavailable(m) => RescheduleError::CalendarUnavailable(m),
                BusyError::Unknown(e) => RescheduleError::Unknown(e),
            })?;
        if let Err(reason) = check_slot_padded(schedule, &external, now, range, pad) {
            return Err(RescheduleError::Unavailable {
                reason,
                alternatives: self
                    .alternatives_padded(calendar, range.start(), range.duration(), pad, None)
                    .await,
            });
        }
        let record = self.entry(
            by,
            "appointment.reschedule",
            appointment.id(),
            format!(
                "moved in calendar:{} from {} to {}, caller {}",
                appointment.calendar_id(),
                instant(previous.start()),
                instant(range.start()),
                appointment.customer_phone().masked()
            ),
        );
        let moved = self
            .repo
            .reschedule_recorded(calendar.id, appointment.id(), range, pad.after, now, record)
            .await;
        match moved {
            Ok(appointment) => Ok(Rescheduled {
                previous,
                appointment,
            }),
            Err(StoreRescheduleError::SlotTaken) => Err(RescheduleError::Unavailable {
                reason: SlotRejection::Taken,
                alternatives: self
                    .alternatives_padded(calendar, range.start(), range.duration(), pad, None)
                    .await,
            }),
            Err(StoreRescheduleError::NotFound) => Err(RescheduleError::NotFound),
            Err(StoreRescheduleError::Cancelled(a)) => Err(RescheduleError::Cancelled(a)),
            Err(StoreRescheduleError::Unknown(e)) => Err(RescheduleError::Unknown(e)),
        }
    }

    /// Free slots near `near`: on its day if any, else on the next days that
    /// have some. Never fails: an error yields no alternatives.
    pub async fn alternatives(
        &self,
        calendar: &Calendar,
        near: DateTime<Utc>,
        duration: Duration,
    ) -> Vec<TimeRange> {
        let pad = padding(calendar, None);
        self.alternatives_padded(calendar, near, duration, pad, None)
            .await
    }

    /// [`alternatives`](Self::alternatives) for an appointment that keeps
    /// `pad` free around it, of `service` (days it is full are skipped).
    pub async fn alternatives_padded(
        &self,
        calendar: &Calendar,
        near: DateTime<Utc>,
        duration: Duration,
        pad: Padding,
        service: Option<&Service>,
    ) -> Vec<TimeRange> {
        let schedule = &calendar.schedule;
        let tz = schedule.time_zone();
        let now = self.now();
        let today = tz.date_of(now);
        let last = last_bookable_date(schedule, now);
        let asked = tz.date_of(near);
        let mut date = asked.clamp(today, last);
        let target = if asked == date {
            near
        } else {
            tz.start_of_day(date)
        };
        for _ in 0..ALTERNATIVE_SEARCH_DAYS {
            if date > last {
                break;
            }
            if let Ok(busy) = self.busy_on(calendar, date).await {
                let full = self.full_on(calendar, service, date).await.unwrap_or(false);
                let slots = if full {
                    Vec::new()
                } else {
                    free_slots_padded(schedule, &busy, now, date, duration, pad)
                };
                if !slots.is_empty() {
                    let pick_near = if tz.date_of(target) == date {
                        target
                    } else {
                        tz.start_of_day(date)
                    };
                    return nearest_slots(&slots, pick_near, ALTERNATIVES);
                }
            } else {
                return Vec::new();
            }
            date = match date.checked_add_days(Days::new(1)) {
                Some(d) => d,
                None => break,
            };
        }
        Vec::new()
    }

    async fn unavailable(
        &self,
        calendar: &Calendar,
        range: TimeRange,
        pad: Padding,
        reason: SlotRejection,
    ) -> BookError {
        BookError::Unavailable {
            reason,
            alternatives: self
                .alternatives_padded(calendar, range.start(), range.duration(), pad, None)
                .await,
        }
    }

    /// Whether `service` has as many appointments on the calendar's `date`
    /// as its daily limit allows (never without a service or a limit).
    async fn full_on(
        &self,
        calendar: &Calendar,
        service: Option<&Service>,
        date: NaiveDate,
    ) -> anyhow::Result<bool> {
        let Some((service, max)) = service.and_then(|s| Some((s, s.daily_limit()?))) else {
            return Ok(false);
        };
        let tz = calendar.schedule.time_zone();
        let day = TimeRange::new(
            tz.start_of_day(date),
            tz.start_of_day(date.succ_opt().unwrap_or(date)),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        let count = self
            .repo
            .count_of_service(calendar.id, service.id, day)
            .await?;
        Ok(count >= u64::from(max))
    }

    async fn locate(
        &self,
        calendar: &Calendar,
        which: &AppointmentRef,
    ) -> Result<Appointment, LocateError> {
        match which {
            AppointmentRef::Code(code) => self
                .repo
                .find_by_code(calendar.id, code)
                .await
                .map_err(LocateError::Unknown)?
                .ok_or(LocateError::NotFound),
            AppointmentRef::Id(id) => self
                .repo
                .get(calendar.id, *id)
                .await
                .map_err(LocateError::Unknown)?
                .ok_or(LocateError::NotFound),
            AppointmentRef::PhoneOn { phone, date, time } => {
                let tz = calendar.schedule.time_zone();
                let from = tz.start_of_day(*date);
                let found = self
                    .repo
                    .find_by_phone(calendar.id, phone.phone(), from)
                    .await
                    .map_err(LocateError::Unknown)?;
                let mut matching: Vec<Appointment> = found
                    .into_iter()
                    .filter(|a| {
                        let local = a.range().start().with_timezone(&tz.tz());
                        local.date_naive() == *date && time.is_none_or(|t| local.time() == t)
                    })
                    .collect();
                match matching.len() {
                    0 => Err(LocateError::NotFound),
                    1 => Ok(matching.remove(0)),
                    _ => Err(LocateError::Ambiguous(matching)),
                }
            }
        }
    }

    /// The time held around `date`: our appointments with their own buffers
    /// (as stored), and the external calendar's busy times with the
    /// calendar's buffer after them.
    async fn busy_on(
        &self,
        calendar: &Calendar,
        date: NaiveDate,
    ) -> Result<Vec<TimeRange>, BusyError> {
        let tz = calendar.schedule.time_zone();
        let buffer = calendar.schedule.buffer();
        let margin =
            Duration::minutes(crate::Schedule::MAX_BUFFER_MINUTES) * 2 + Duration::hours(12);
        let start = tz.start_of_day(date) - margin;
        let end = tz.start_of_day(date.succ_opt().unwrap_or(date)) + margin;
        let window =
            TimeRange::new(start, end).map_err(|e| BusyError::Unknown(anyhow::anyhow!(e)))?;
        let mut busy = self
            .repo
            .held(calendar.id, window)
            .await
            .map_err(BusyError::Unknown)?;
        busy.extend(
            self.gateway_busy(calendar, window, Freshness::Recent)
                .await?
                .into_iter()
                .map(|b| b.with_trailing(buffer)),
        );
        busy.sort();
        Ok(busy)
    }

    /// The external calendar's busy times around `range` (kept free around
    /// by `pad`), each with the calendar's buffer after it.
    async fn external_busy(
        &self,
        calendar: &Calendar,
        range: TimeRange,
        pad: Padding,
    ) -> Result<Vec<TimeRange>, BusyError> {
        let buffer = calendar.schedule.buffer();
        let margin = buffer + pad.before + pad.after + Duration::minutes(1);
        let window = TimeRange::new(range.start() - margin, range.end() + margin)
            .map_err(|e| BusyError::Unknown(anyhow::anyhow!(e)))?;
        Ok(self
            .gateway_busy(calendar, window, Freshness::Now)
            .await?
            .into_iter()
            .map(|b| b.with_trailing(buffer))
            .collect())
    }

    async fn gateway_busy(
        &self,
        calendar: &Calendar,
        window: TimeRange,
        freshness: Freshness,
    ) -> Result<Vec<TimeRange>, BusyError> {
        self.gateway
            .busy(calendar, window, freshness)
            .await
            .map_err(|e| match e {
                GatewayError::Unavailable(m) => BusyError::Unavailable(m),
                GatewayError::Unknown(e) => BusyError::Unknown(e),
            })
    }

    /// The audit entry of a change to appointment `id`, when there is an
    /// audit log: the repository stores it in the change's own transaction.
    fn entry(
        &self,
        by: &Requester,
        action: &'static str,
        id: AppointmentId,
        detail: String,
    ) -> Option<AuditEntry> {
        if !self.audited {
            return None;
        }
        Some(AuditEntry {
            at: self.now(),
            actor: by.actor.clone(),
            action,
            resource: Some(format!("appointment:{id}")),
            outcome: "success",
            address: by.address.clone(),
            detail: Some(detail),
        })
    }
}

/// The time an appointment keeps free around itself: its service's buffers,
/// else the calendar's buffer after it.
fn padding(calendar: &Calendar, service: Option<&Service>) -> Padding {
    match service {
        Some(s) => s.padding(),
        None => Padding::after(calendar.schedule.buffer()),
    }
}

/// An instant as the audit log writes it (RFC 3339, UTC, whole seconds).
fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
