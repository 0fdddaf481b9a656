//! The front desk: appointments as signed-in staff and administrators see and
//! manage them. Every operation first checks that the principal may see the
//! calendar involved; another user's calendar or appointment is `NotFound`.

use std::convert::Infallible;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::accounts::Principal;
use crate::appointment::{Appointment, AppointmentId, AppointmentStatus, BookedBy, Channel};
use crate::availability::closure_conflict;
use crate::calendar::{Calendar, CalendarId};
use crate::calendars::{CalendarLookupError, CalendarService, CalendarWriteError, FieldError};
use crate::catalog::{Service, ServiceId, ServiceRepository};
use crate::closures::{ClosureFields, Closures};
use crate::person::{Email, PersonName, PhoneNumber};
use crate::ports::{Actor, AppointmentQuery, AppointmentRepository, CalendarScope, Requester};
use crate::service::{
    AppointmentRef, AvailabilityError, BookError, BookRequest, Booking, CancelError,
    DayAvailability, RescheduleError, Rescheduled, SchedulingService,
};
use crate::time::TimeZoneId;

/// The most appointments one page holds.
pub const MAX_PAGE: u64 = 200;
/// The most affected appointments a change of closures lists.
pub const MAX_AFFECTED: usize = 1000;

/// Closures replaced: the calendar with its new closures, and the upcoming
/// appointments they strand (kept, for staff to move or cancel).
#[derive(Debug, Clone)]
pub struct ClosuresReplaced {
    pub calendar: Calendar,
    pub affected: Vec<Appointment>,
}

/// Why closures were not replaced.
#[derive(Debug, thiserror::Error)]
pub enum ClosuresRefused {
    #[error("invalid closures")]
    Invalid(Vec<FieldError>),
}

/// A listing as asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppointmentFilter {
    pub calendar_id: Option<CalendarId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub status: Option<AppointmentStatus>,
    pub phone: Option<PhoneNumber>,
    /// Where the previous page ended.
    pub after: Option<(DateTime<Utc>, AppointmentId)>,
    /// 1..=[`MAX_PAGE`] (clamped).
    pub limit: u64,
}

/// A booking a staff member makes for a caller.
#[derive(Debug, Clone)]
pub struct StaffBooking {
    pub name: PersonName,
    pub phone: PhoneNumber,
    pub email: Option<Email>,
    pub purpose: Option<String>,
    pub start: DateTime<Utc>,
    /// The calendar's default when `None`.
    pub duration_minutes: Option<i64>,
    /// The caller's zone (the calendar's when `None`).
    pub time_zone: Option<TimeZoneId>,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// The service to book (its length and buffers apply); the calendar's
    /// default service when `None` and no `duration_minutes` is given.
    pub service_id: Option<ServiceId>,
}

/// One page of appointments, and where the next one starts (if there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Appointment>,
    pub next: Option<(DateTime<Utc>, AppointmentId)>,
}

/// A request that names a calendar or appointment the principal cannot see,
/// or that failed for another reason.
#[derive(Debug, thiserror::Error)]
pub enum DeskError<E: std::error::Error + 'static> {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Operation(E),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// Why the service of a staff request could not be had.
enum UnknownService {
    Missing,
    Unknown(anyhow::Error),
}

/// Appointments for signed-in users.
#[derive(Clone)]
pub struct FrontDesk {
    calendars: CalendarService,
    scheduling: SchedulingService,
    repo: Arc<dyn AppointmentRepository>,
    services: Option<Arc<dyn ServiceRepository>>,
}

impl FrontDesk {
    /// Books and offers the calendars' services (without, every booking
    /// is of the calendar's own length).
    #[must_use]
    pub fn with_services(mut self, services: Arc<dyn ServiceRepository>) -> Self {
        self.services = Some(services);
        self
    }

    /// The service `id` of `calendar` (422 when it has none such), or its
    /// default when `id` is `None` and no length is asked for.
    async fn service_of(
        &self,
        calendar: &Calendar,
        id: Option<ServiceId>,
        duration_minutes: Option<i64>,
    ) -> Result<Option<Service>, UnknownService> {
        let Some(repo) = &self.services else {
            return if id.is_some() {
                Err(UnknownService::Missing)
            } else {
                Ok(None)
            };
        };
        if id.is_none() && duration_minutes.is_some() {
            return Ok(None);
        }
        let offered = repo
            .list_services(calendar.id)
            .await
            .map_err(UnknownService::Unknown)?;
        match id {
            Some(id) => offered
                .into_iter()
                .find(|s| s.id == id)
                .map(Some)
                .ok_or(UnknownService::Missing),
            None => Ok(offered.into_iter().find(|s| s.is_default)),
        }
    }

    pub fn new(
        calendars: CalendarService,
        scheduling: SchedulingService,
        repo: Arc<dyn AppointmentRepository>,
    ) -> Self {
        Self {
            calendars,
            scheduling,
            repo,
            services: None,
        }
    }

    pub async fn list(
        &self,
        principal: &Principal,
        filter: AppointmentFilter,
    ) -> Result<Page, DeskError<Infallible>> {
        let scope = match filter.calendar_id {
            Some(id) => {
                self.calendar(principal, id).await?;
                CalendarScope::One(id)
            }
            None if principal.user.is_admin() => CalendarScope::All,
            None => CalendarScope::OwnedBy(principal.user.id),
        };
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let mut items = self
            .repo
            .list(&AppointmentQuery {
                scope,
                from: filter.from,
                to: filter.to,
                status: filter.status,
                phone: filter.phone,
                after: filter.after,
                limit: limit + 1,
            })
            .await
            .map_err(DeskError::Unknown)?;
        let more = u64::try_from(items.len()).unwrap_or(u64::MAX) > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = if more {
            items.last().map(|a| (a.range().start(), a.id()))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// The appointment and its calendar.
    pub async fn get(
        &self,
        principal: &Principal,
        id: AppointmentId,
    ) -> Result<(Appointment, Calendar), DeskError<Infallible>> {
        let appointment = self
            .repo
            .find(id)
            .await
            .map_err(DeskError::Unknown)?
            .ok_or(DeskError::NotFound)?;
        let calendar = self.calendar(principal, appointment.calendar_id()).await?;
        Ok((appointment, calendar))
    }

    pub async fn availability(
        &self,
        principal: &Principal,
        calendar: CalendarId,
        date: NaiveDate,
        zone: Option<TimeZoneId>,
        duration_minutes: Option<i64>,
        service_id: Option<ServiceId>,
    ) -> Result<DayAvailability, DeskError<AvailabilityError>> {
        let calendar = self.calendar(principal, calendar).await?;
        let zone = zone.unwrap_or_else(|| calendar.schedule.time_zone());
        let service = self
            .service_of(&calendar, service_id, duration_minutes)
            .await
            .map_err(|e| match e {
                UnknownService::Missing => DeskError::Operation(AvailabilityError::UnknownService),
                UnknownService::Unknown(e) => DeskError::Unknown(e),
            })?;
        self.scheduling
            .availability_of(&calendar, date, zone, duration_minutes, service.as_ref())
            .await
            .map_err(DeskError::Operation)
    }

    /// Books on behalf of a caller, by the same rules as the voice tool.
    pub async fn book(
        &self,
        principal: &Principal,
        calendar: CalendarId,
        booking: StaffBooking,
    ) -> Result<(Booking, Calendar), DeskError<BookError>> {
        let calendar = self.calendar(principal, calendar).await?;
        let service = self
            .service_of(&calendar, booking.service_id, booking.duration_minutes)
            .await
            .map_err(|e| match e {
                UnknownService::Missing => DeskError::Operation(BookError::UnknownService),
                UnknownService::Unknown(e) => DeskError::Unknown(e),
            })?;
        let request = BookRequest {
            name: booking.name,
            phone: booking.phone,
            email: booking.email,
            purpose: booking.purpose,
            start: booking.start,
            duration_minutes: booking.duration_minutes,
            time_zone: booking
                .time_zone
                .unwrap_or_else(|| calendar.schedule.time_zone()),
            booked_by: BookedBy {
                channel: Channel::Api,
                vapi_call_id: None,
                tool_call_id: None,
            },
            // Keys are the user's own: two users' keys never meet.
            idempotency_key: booking
                .idempotency_key
                .map(|key| format!("api:{}:{key}", principal.user.id)),
            service,
        };
        let booking = self
            .scheduling
            .book(&calendar, request, &requester(principal))
            .await
            .map_err(DeskError::Operation)?;
        Ok((booking, calendar))
    }

    pub async fn cancel(
        &self,
        principal: &Principal,
        id: AppointmentId,
        reason: Option<String>,
    ) -> Result<Appointment, DeskError<CancelError>> {
        let (_, calendar) = self.get(principal, id).await.map_err(relabel)?;
        self.scheduling
            .cancel(
                &calendar,
                &AppointmentRef::Id(id),
                reason,
                &requester(principal),
            )
            .await
            .map_err(DeskError::Operation)
    }

    pub async fn reschedule(
        &self,
        principal: &Principal,
        id: AppointmentId,
        start: DateTime<Utc>,
    ) -> Result<Rescheduled, DeskError<RescheduleError>> {
        let (_, calendar) = self.get(principal, id).await.map_err(relabel)?;
        self.scheduling
            .reschedule(
                &calendar,
                &AppointmentRef::Id(id),
                start,
                &requester(principal),
            )
            .await
            .map_err(DeskError::Operation)
    }

    /// The calendar whose closures the principal asks for (its schedule
    /// carries them).
    pub async fn closures(
        &self,
        principal: &Principal,
        calendar: CalendarId,
    ) -> Result<Calendar, DeskError<Infallible>> {
        self.calendar(principal, calendar).await
    }

    /// Replaces a calendar's closures with `fields` (the whole set). The
    /// appointments that now fall on a closed date, outside special hours or
    /// into time off are listed, not cancelled: staff decide what to do.
    pub async fn replace_closures(
        &self,
        principal: &Principal,
        calendar: CalendarId,
        fields: &ClosureFields,
    ) -> Result<ClosuresReplaced, DeskError<ClosuresRefused>> {
        let now = self.scheduling.now();
        // The calendar first: another user's is NotFound, whatever the body says.
        self.calendar::<ClosuresRefused>(principal, calendar)
            .await?;
        let closures = Closures::parse(fields, now)
            .map_err(|e| DeskError::Operation(ClosuresRefused::Invalid(e)))?;
        let calendar = self
            .calendars
            .replace_closures(principal, calendar, closures)
            .await
            .map_err(|e| match e {
                CalendarWriteError::NotFound => DeskError::NotFound,
                CalendarWriteError::Invalid(fields) => {
                    DeskError::Operation(ClosuresRefused::Invalid(fields))
                }
                other => DeskError::Unknown(anyhow::Error::new(other)),
            })?;
        let affected = self.stranded(&calendar, now).await?;
        Ok(ClosuresReplaced { calendar, affected })
    }

    /// The active appointments of `calendar` starting after `now` that its
    /// closures would refuse now (at most [`MAX_AFFECTED`]).
    async fn stranded<E: std::error::Error + 'static>(
        &self,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, DeskError<E>> {
        let schedule = &calendar.schedule;
        let closures = schedule.closures();
        let tz = schedule.time_zone();
        // Nothing can be affected past the last date or period.
        let last_day = closures
            .days()
            .last()
            .and_then(|d| d.date().succ_opt())
            .map(|d| tz.start_of_day(d));
        let last_off = closures.time_off().iter().map(|t| t.range().end()).max();
        let Some(to) = last_day.max(last_off) else {
            return Ok(Vec::new());
        };
        let mut affected = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .repo
                .list(&AppointmentQuery {
                    scope: CalendarScope::One(calendar.id),
                    from: Some(now),
                    to: Some(to),
                    status: Some(AppointmentStatus::Confirmed),
                    phone: None,
                    after,
                    limit: MAX_PAGE,
                })
                .await
                .map_err(DeskError::Unknown)?;
            let full = u64::try_from(page.len()).unwrap_or(u64::MAX) >= MAX_PAGE;
            after = page.last().map(|a| (a.range().start(), a.id()));
            affected.extend(
                page.into_iter()
                    .filter(|a| closure_conflict(schedule, a.range()).is_some()),
            );
            if !full || affected.len() >= MAX_AFFECTED {
                break;
            }
        }
        affected.truncate(MAX_AFFECTED);
        Ok(affected)
    }

    async fn calendar<E: std::error::Error + 'static>(
        &self,
        principal: &Principal,
        id: CalendarId,
    ) -> Result<Calendar, DeskError<E>> {
        self.calendars
            .get(principal, id)
            .await
            .map_err(|e| match e {
                CalendarLookupError::NotFound => DeskError::NotFound,
                CalendarLookupError::Unknown(e) => DeskError::Unknown(e),
            })
    }
}

/// A lookup's `NotFound` or failure, as another operation's.
fn relabel<E: std::error::Error + 'static>(e: DeskError<Infallible>) -> DeskError<E> {
    match e {
        DeskError::NotFound => DeskError::NotFound,
        DeskError::Operation(never) => match never {},
        DeskError::Unknown(e) => DeskError::Unknown(e),
    }
}

/// The principal as the audit log records them: their id and address.
fn requester(principal: &Principal) -> Requester {
    Requester {
        actor: Actor::User(principal.user.id),
        address: principal.address.clone(),
    }
}
