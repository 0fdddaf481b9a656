//! `/appointment/{id}`: details, reschedule through a picker of free slots,
//! cancel after a confirmation page.

use std::convert::Infallible;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use voice_scheduler_domain::desk::DeskError;
use voice_scheduler_domain::service::{AvailabilityError, CancelError, RescheduleError};
use voice_scheduler_domain::{Appointment, AppointmentId, Calendar};

use crate::pages::{field, uuid_in_path};
use crate::session::Browser;
use crate::view::{AppointmentView, Nav, Notice, clock, html, long_date, see_other};
use crate::{WebError, WebState};

pub struct Slot {
    /// RFC 3339 in UTC: what the form sends back.
    pub value: String,
    pub label: String,
}

/// The free times of one day, or why there are none to show.
pub struct Picker {
    pub date: String,
    pub day: String,
    pub slots: Vec<Slot>,
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "appointment.html")]
struct AppointmentPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<Notice>,
    csrf: String,
    a: AppointmentView,
    calendar_name: String,
    picker: Option<Picker>,
    /// The page of the call it was booked in, when there is a record of it.
    call_href: Option<String>,
}

#[derive(Template)]
#[template(path = "cancel.html")]
struct CancelPage {
    title: String,
    nav: Option<Nav>,
    csrf: String,
    a: AppointmentView,
}

#[derive(Deserialize)]
pub struct ShowQuery {
    date: Option<String>,
    done: Option<String>,
}

async fn find(
    state: &WebState,
    browser: &Browser,
    raw: &str,
) -> Result<(Appointment, Calendar), WebError> {
    let id = AppointmentId::from_uuid(uuid_in_path(raw)?);
    state
        .desk
        .get(&browser.principal, id)
        .await
        .map_err(lookup_error)
}

fn lookup_error(e: DeskError<Infallible>) -> WebError {
    match e {
        DeskError::NotFound => WebError::NotFound,
        DeskError::Operation(never) => match never {},
        DeskError::Unknown(e) => WebError::Internal(e),
    }
}

/// The free slots of `date` for an appointment of `minutes` (same service
/// as the voice tool's availability).
pub async fn picker(
    state: &WebState,
    browser: &Browser,
    calendar: &Calendar,
    date: NaiveDate,
    minutes: Option<i64>,
) -> Result<Picker, WebError> {
    let zone = calendar.schedule.time_zone();
    let (slots, problem) = match state
        .desk
        .availability(&browser.principal, calendar.id, date, None, minutes, None)
        .await
    {
        Ok(day) => (
            day.slots
                .iter()
                .map(|s| Slot {
                    value: s.start().to_rfc3339(),
                    label: format!("{}–{}", clock(s.start(), zone), clock(s.end(), zone)),
                })
                .collect(),
            None,
        ),
        Err(DeskError::NotFound) => return Err(WebError::NotFound),
        Err(DeskError::Unknown(e)) => return Err(WebError::Internal(e)),
        Err(DeskError::Operation(e)) => (
            Vec::new(),
            Some(match e {
                AvailabilityError::DateInPast { today } => {
                    format!("That day is in the past; today is {}.", long_date(today))
                }
                AvailabilityError::BeyondHorizon { last_date } => format!(
                    "That day is too far ahead; the last bookable day is {}.",
                    long_date(last_date)
                ),
                AvailabilityError::BadDuration(e) => format!("The length cannot be booked: {e}."),
                AvailabilityError::CalendarUnavailable(_) => {
                    "The calendar cannot be checked right now. Try again in a moment.".to_owned()
                }
                AvailabilityError::UnknownService => {
                    "The calendar no longer offers that service.".to_owned()
                }
                AvailabilityError::Unknown(e) => return Err(WebError::Internal(e)),
            }),
        ),
    };
    Ok(Picker {
        date: date.to_string(),
        day: long_date(date),
        slots,
        problem,
    })
}

pub async fn show(
    state: web::Data<WebState>,
    browser: Browser,
    path: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, WebError> {
    let (appointment, calendar) = find(&state, &browser, &path).await?;
    let zone = calendar.schedule.time_zone();
    let now = state.clock.now();
    let a = AppointmentView::new(&appointment, zone, now);
    let picker = if a.changeable {
        let date = match query.date.as_deref().filter(|d| !d.is_empty()) {
            Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| WebError::BadRequest(format!("not a date: {raw}")))?,
            None => zone.date_of(appointment.range().start()),
        };
        Some(picker(&state, &browser, &calendar, date, Some(a.duration_minutes)).await?)
    } else {
        None
    };
    let call_href = match a.call_id.as_deref() {
        Some(vapi) => match state.calls.find_by_vapi_id(&browser.principal, vapi).await {
            Ok(call) => Some(format!("/call/{}", call.id.as_uuid())),
            Err(voice_scheduler_domain::calls::CallLookupError::NotFound) => None,
            Err(voice_scheduler_domain::calls::CallLookupError::Unknown(e)) => {
                return Err(WebError::Internal(e));
            }
        },
        None => None,
    };
    let page = AppointmentPage {
        call_href,
        title: format!("{} · {} {}", a.name, a.date, a.start),
        nav: Nav::of(&browser),
        notice: Notice::from_code(query.done.as_deref()),
        csrf: browser.csrf.clone(),
        calendar_name: calendar.name.clone(),
        a,
        picker,
    };
    Ok(html(StatusCode::OK, &page))
}

pub async fn confirm_cancel(
    state: web::Data<WebState>,
    browser: Browser,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (appointment, calendar) = find(&state, &browser, &path).await?;
    let a = AppointmentView::new(
        &appointment,
        calendar.schedule.time_zone(),
        state.clock.now(),
    );
    if !a.changeable {
        return Ok(see_other(&a.href));
    }
    let page = CancelPage {
        title: format!("Cancel {}’s appointment", a.name),
        nav: Nav::of(&browser),
        csrf: browser.csrf.clone(),
        a,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
    reason: Option<String>,
}

pub async fn cancel(
    state: web::Data<WebState>,
    browser: Browser,
    path: web::Path<String>,
    form: web::Form<CancelForm>,
) -> Result<HttpResponse, WebError> {
    browser.check_csrf(&state, &form.csrf)?;
    let id = AppointmentId::from_uuid(uuid_in_path(&path)?);
    let reason = Some(field(&form.reason))
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(500).collect());
    let code = match state.desk.cancel(&browser.principal, id, reason).await {
        Ok(_) => "cancelled",
        Err(DeskError::NotFound | DeskError::Operation(CancelError::NotFound)) => {
            return Err(WebError::NotFound);
        }
        Err(DeskError::Operation(CancelError::AlreadyCancelled(_))) => "already-cancelled",
        Err(DeskError::Operation(CancelError::AlreadyPast(_))) => "started",
        Err(DeskError::Operation(CancelError::Ambiguous(_))) => {
            return Err(WebError::Internal(anyhow::anyhow!(
                "cancelling by id matched several appointments"
            )));
        }
        Err(DeskError::Operation(CancelError::Unknown(e)) | DeskError::Unknown(e)) => {
            return Err(WebError::Internal(e));
        }
    };
    Ok(see_other(&format!("/appointment/{id}?done={code}")))
}

#[derive(Deserialize)]
pub struct RescheduleForm {
    #[serde(default)]
    csrf: String,
    start: Option<String>,
    date: Option<String>,
}

pub async fn reschedule(
    state: web::Data<WebState>,
    browser: Browser,
    path: web::Path<String>,
    form: web::Form<RescheduleForm>,
) -> Result<HttpResponse, WebError> {
    browser.check_csrf(&state, &form.csrf)?;
    let id = AppointmentId::from_uuid(uuid_in_path(&path)?);
    let back = |code: &str| {
        let date = field(&form.date);
        if NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok() {
            format!("/appointment/{id}?date={date}&done={code}")
        } else {
            format!("/appointment/{id}?done={code}")
        }
    };
    let Ok(start) = DateTime::parse_from_rfc3339(field(&form.start)) else {
        return Ok(see_other(&back("no-slot")));
    };
    let code = match state
        .desk
        .reschedule(&browser.principal, id, start.with_timezone(&Utc))
        .await
    {
        Ok(_) => return Ok(see_other(&format!("/appointment/{id}?done=rescheduled"))),
        Err(DeskError::NotFound | DeskError::Operation(RescheduleError::NotFound)) => {
            return Err(WebError::NotFound);
        }
        Err(DeskError::Operation(RescheduleError::Cancelled(_))) => "already-cancelled",
        Err(DeskError::Operation(RescheduleError::AlreadyPast(_))) => "started",
        Err(DeskError::Operation(RescheduleError::Unavailable { .. })) => "slot-taken",
        Err(DeskError::Operation(RescheduleError::CalendarUnavailable(_))) => {
            "calendar-unavailable"
        }
        Err(DeskError::Operation(RescheduleError::Ambiguous(_))) => {
            return Err(WebError::Internal(anyhow::anyhow!(
                "moving by id matched several appointments"
            )));
        }
        Err(DeskError::Operation(RescheduleError::Unknown(e)) | DeskError::Unknown(e)) => {
            return Err(WebError::Internal(e));
        }
    };
    Ok(see_other(&back(code)))
}
