//! What the templates show: plain strings prepared from domain values.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use voice_scheduler_domain::appointment::Channel;
use voice_scheduler_domain::{Appointment, TimeZoneId};

use crate::session::Browser;

/// The strict policy of every page: our stylesheet, no script, forms only
/// to ourselves; audio (a call's recording) from HTTPS addresses.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; media-src https:; script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The signed-in header: who, and the sign-out form's token.
pub struct Nav {
    pub name: String,
    pub admin: bool,
    pub csrf: String,
}

impl Nav {
    pub fn of(browser: &Browser) -> Option<Nav> {
        Some(Nav {
            name: browser.principal.user.name.as_str().to_owned(),
            admin: browser.principal.user.is_admin(),
            csrf: browser.csrf.clone(),
        })
    }
}

/// Renders a page with the dashboard's headers.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard template failed to render");
            HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("Something went wrong on our side.")
        }
    }
}

/// A redirect after a form (303: the browser follows with GET).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// "Friday 1 March 2030"
pub fn long_date(date: NaiveDate) -> String {
    date.format("%A %-d %B %Y").to_string()
}

/// "Fri 1 Mar"
pub fn short_date(date: NaiveDate) -> String {
    date.format("%a %-d %b").to_string()
}

/// "09:30" in `zone`.
pub fn clock(instant: DateTime<Utc>, zone: TimeZoneId) -> String {
    instant
        .with_timezone(&zone.tz())
        .format("%H:%M")
        .to_string()
}

/// An appointment as a row of the agenda or the head of its page.
pub struct AppointmentView {
    pub id: String,
    pub href: String,
    pub date: String,
    pub start: String,
    pub end: String,
    /// The zone's abbreviation at the start ("PST").
    pub zone: String,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    pub purpose: Option<String>,
    pub code: String,
    pub by_voice: bool,
    pub channel: &'static str,
    pub call_id: Option<String>,
    pub cancelled: bool,
    pub cancel_reason: Option<String>,
    /// Not cancelled and not started: can still be moved or cancelled.
    pub changeable: bool,
    pub duration_minutes: i64,
}

impl AppointmentView {
    pub fn new(a: &Appointment, zone: TimeZoneId, now: DateTime<Utc>) -> Self {
        let range = a.range();
        let by_voice = a.booked_by().channel == Channel::Voice;
        Self {
            id: a.id().to_string(),
            href: format!("/appointment/{}", a.id()),
            date: long_date(zone.date_of(range.start())),
            start: clock(range.start(), zone),
            end: clock(range.end(), zone),
            zone: zone.abbreviation(range.start()),
            name: a.customer_name().as_str().to_owned(),
            phone: a.customer_phone().as_str().to_owned(),
            email: a.customer_email().map(|e| e.as_str().to_owned()),
            purpose: a.purpose().map(str::to_owned),
            code: a.confirmation_code().as_str().to_owned(),
            by_voice,
            channel: if by_voice { "Voice call" } else { "Staff" },
            call_id: a.booked_by().vapi_call_id.clone(),
            cancelled: !a.is_active(),
            cancel_reason: a.cancel_reason().map(str::to_owned),
            changeable: a.is_active() && range.start() > now,
            duration_minutes: range.duration().num_minutes(),
        }
    }
}

/// A message after a redirect, chosen from a fixed list by a code in the
/// address (nothing from the address is shown as text).
pub struct Notice {
    pub ok: bool,
    pub text: &'static str,
}

impl Notice {
    pub fn from_code(code: Option<&str>) -> Option<Notice> {
        let (ok, text) = match code? {
            "booked" => (true, "The appointment is booked."),
            "rescheduled" => (true, "The appointment has been moved."),
            "cancelled" => (true, "The appointment has been cancelled."),
            "signed-out" => (true, "You have signed out."),
            "saved" => (true, "The settings are saved."),
            "google-retried" => (
                true,
                "The failed changes are queued again for Google Calendar.",
            ),
            "google-disconnected" => (
                true,
                "Google Calendar is disconnected. Bookings are no longer copied to it.",
            ),
            "welcome" => (
                true,
                "Your administrator account is ready and you are signed in. Calls booked by voice appear here.",
            ),
            "set-up" => (
                true,
                "This installation already has an account: sign in (an administrator can create more).",
            ),
            "slot-taken" => (
                false,
                "That time cannot be booked any more. Choose another free time.",
            ),
            "no-slot" => (false, "Choose a free time first."),
            "already-cancelled" => (false, "The appointment was already cancelled."),
            "started" => (
                false,
                "The appointment has already started, so it cannot be changed.",
            ),
            "calendar-unavailable" => (
                false,
                "The calendar cannot be checked right now. Try again in a moment.",
            ),
            _ => return None,
        };
        Some(Notice { ok, text })
    }
}
