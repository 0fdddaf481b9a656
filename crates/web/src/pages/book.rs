//! `/book`: book on behalf of a caller, by the same rules and with the same
//! idempotency as `POST /api/v1/appointments` (a double submit books once).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;
use voice_scheduler_domain::calendars::CalendarLookupError;
use voice_scheduler_domain::desk::{DeskError, StaffBooking};
use voice_scheduler_domain::service::BookError;
use voice_scheduler_domain::{Calendar, Email, PersonName, PhoneNumber, SlotRejection};

use crate::pages::agenda::CalendarChoice;
use crate::pages::appointment::{Picker, picker};
use crate::pages::field;
use crate::session::Browser;
use crate::view::{Nav, html, see_other};
use crate::{WebError, WebState};

/// What the form shows again after a refusal.
#[derive(Default)]
pub struct Values {
    pub start: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub purpose: String,
}

#[derive(Template)]
#[template(path = "book.html")]
struct BookPage {
    title: &'static str,
    nav: Option<Nav>,
    csrf: String,
    /// A fresh idempotency key per form shown: submitting it twice books once.
    key: String,
    calendars: Vec<CalendarChoice>,
    calendar_id: String,
    calendar_name: String,
    picker: Picker,
    values: Values,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct BookQuery {
    calendar: Option<String>,
    date: Option<String>,
}

async fn calendars(state: &WebState, browser: &Browser) -> Result<Vec<Calendar>, WebError> {
    state
        .calendars
        .list(&browser.principal)
        .await
        .map_err(|e| match e {
            CalendarLookupError::NotFound => WebError::NotFound,
            CalendarLookupError::Unknown(e) => WebError::Internal(e),
        })
}

fn choose<'a>(calendars: &'a [Calendar], raw: Option<&str>) -> Result<&'a Calendar, WebError> {
    match raw.filter(|c| !c.is_empty()) {
        Some(raw) => calendars.iter().find(|c| c.id.to_string() == raw),
        None => calendars.first(),
    }
    .ok_or(WebError::NotFound)
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &WebState,
    browser: &Browser,
    calendars: &[Calendar],
    calendar: &Calendar,
    date: NaiveDate,
    key: String,
    values: Values,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let picker = picker(state, browser, calendar, date, None).await?;
    let page = BookPage {
        title: "Book an appointment",
        nav: Nav::of(browser),
        csrf: browser.csrf.clone(),
        key,
        calendars: calendars
            .iter()
            .map(|c| CalendarChoice {
                id: c.id.to_string(),
                name: c.name.clone(),
                selected: c.id == calendar.id,
            })
            .collect(),
        calendar_id: calendar.id.to_string(),
        calendar_name: calendar.name.clone(),
        picker,
        values,
        error,
    };
    Ok(html(status, &page))
}

fn parse_date(raw: Option<&str>) -> Result<Option<NaiveDate>, WebError> {
    match raw.filter(|d| !d.is_empty()) {
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| WebError::BadRequest(format!("not a date: {raw}"))),
        None => Ok(None),
    }
}

pub async fn form(
    state: web::Data<WebState>,
    browser: Browser,
    query: web::Query<BookQuery>,
) -> Result<HttpResponse, WebError> {
    let all = calendars(&state, &browser).await?;
    let calendar = choose(&all, query.calendar.as_deref())?;
    let date = parse_date(query.date.as_deref())?
        .unwrap_or_else(|| calendar.schedule.time_zone().date_of(state.clock.now()));
    render(
        &state,
        &browser,
        &all,
        calendar,
        date,
        Uuid::new_v4().to_string(),
        Values::default(),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct BookForm {
    #[serde(default)]
    csrf: String,
    key: Option<String>,
    calendar: Option<String>,
    date: Option<String>,
    start: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    purpose: Option<String>,
}

pub async fn submit(
    state: web::Data<WebState>,
    browser: Browser,
    form: web::Form<BookForm>,
) -> Result<HttpResponse, WebError> {
    browser.check_csrf(&state, &form.csrf)?;
    let all = calendars(&state, &browser).await?;
    let calendar = choose(&all, form.calendar.as_deref())?;
    let zone = calendar.schedule.time_zone();
    let start = DateTime::parse_from_rfc3339(field(&form.start))
        .ok()
        .map(|s| s.with_timezone(&Utc));
    let date = match start {
        Some(s) => zone.date_of(s),
        None => {
            parse_date(form.date.as_deref())?.unwrap_or_else(|| zone.date_of(state.clock.now()))
        }
    };
    let key = Some(field(&form.key))
        .filter(|k| Uuid::parse_str(k).is_ok())
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    let values = Values {
        start: field(&form.start).to_owned(),
        name: field(&form.name).to_owned(),
        phone: field(&form.phone).to_owned(),
        email: field(&form.email).to_owned(),
        purpose: field(&form.purpose).to_owned(),
    };
    let refuse = |message: String, status: StatusCode, values: Values| {
        render(
            &state,
            &browser,
            &all,
            calendar,
            date,
            key.clone(),
            values,
            Some(message),
            status,
        )
    };
    let Some(start) = start else {
        return refuse(
            "Choose a free time.".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
        )
        .await;
    };
    let name = match PersonName::parse(&values.name) {
        Ok(name) => name,
        Err(e) => {
            return refuse(
                format!("Name: {e}."),
                StatusCode::UNPROCESSABLE_ENTITY,
                values,
            )
            .await;
        }
    };
    let phone = match PhoneNumber::parse(&values.phone, state.phone_region) {
        Ok(phone) => phone,
        Err(e) => {
            return refuse(
                format!("Phone: {e}."),
                StatusCode::UNPROCESSABLE_ENTITY,
                values,
            )
            .await;
        }
    };
    let email = match values.email.as_str() {
        "" => None,
        raw => match Email::parse(raw) {
            Ok(email) => Some(email),
            Err(e) => {
                return refuse(
                    format!("Email: {e}."),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    values,
                )
                .await;
            }
        },
    };
    let purpose = Some(values.purpose.clone())
        .filter(|p| !p.is_empty())
        .map(|p| p.chars().take(500).collect());
    let booking = StaffBooking {
        name,
        phone,
        email,
        purpose,
        start,
        duration_minutes: None,
        time_zone: None,
        idempotency_key: Some(format!("web:{key}")),
        service_id: None,
    };
    let message = match state
        .desk
        .book(&browser.principal, calendar.id, booking)
        .await
    {
        Ok((booking, _)) => {
            return Ok(see_other(&format!(
                "/appointment/{}?done=booked",
                booking.appointment.id()
            )));
        }
        Err(DeskError::NotFound) => return Err(WebError::NotFound),
        Err(DeskError::Unknown(e) | DeskError::Operation(BookError::Unknown(e))) => {
            return Err(WebError::Internal(e));
        }
        Err(DeskError::Operation(e)) => match e {
            BookError::Unavailable { reason, .. } => match reason {
                SlotRejection::Taken => {
                    "That time has just been taken. Choose another free time.".to_owned()
                }
                SlotRejection::TooSoon { .. } | SlotRejection::InPast { .. } => {
                    "That time is too soon to book. Choose a later time.".to_owned()
                }
                SlotRejection::TooFarAhead { .. } => {
                    "That time is too far ahead. Choose an earlier day.".to_owned()
                }
                SlotRejection::OutsideHours | SlotRejection::NotOnGrid => {
                    "That time is not one of the free times. Choose one from the list.".to_owned()
                }
                SlotRejection::Closed { label, .. } => format!(
                    "The calendar is closed that day{}. Choose another day.",
                    closure_label(label.as_ref())
                ),
                SlotRejection::OutsideSpecialHours { label, .. } => format!(
                    "That day has special hours{}, and this time is outside them. Choose one from the list.",
                    closure_label(label.as_ref())
                ),
                SlotRejection::DailyLimit { .. } => {
                    "That service is fully booked that day. Choose another day.".to_owned()
                }
                SlotRejection::TimeOff { label, .. } => format!(
                    "That time is blocked{}. Choose another free time.",
                    closure_label(label.as_ref())
                ),
            },
            BookError::BadDuration(e) => format!("The length cannot be booked: {e}."),
            BookError::UnknownService => "The calendar no longer offers that service.".to_owned(),
            BookError::IdempotencyConflict => {
                "This form was already used for another booking. Start a new booking.".to_owned()
            }
            BookError::CalendarUnavailable(_) => {
                "The calendar cannot be checked right now. Try again in a moment.".to_owned()
            }
            BookError::Unknown(e) => return Err(WebError::Internal(e)),
        },
    };
    refuse(message, StatusCode::CONFLICT, values).await
}

/// " (Christmas Day)" for a labelled closure, nothing otherwise.
fn closure_label(label: Option<&voice_scheduler_domain::ClosureLabel>) -> String {
    label.map(|l| format!(" ({l})")).unwrap_or_default()
}
