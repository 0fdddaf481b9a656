//! `/calendar/{id}/settings`: a calendar's name, time zone, working hours and
//! booking rules, changed through the calendar service's `update` — the same
//! call, rules and messages as `PATCH /api/v1/calendars/{id}` — with each
//! refusal shown at its field; the VAPI ids that route calls to it
//! (administrators change them, as in the API); and the Google Calendar
//! connection's status, read-only.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use voice_scheduler_domain::calendars::{CalendarFields, CalendarLookupError, CalendarWriteError};
use voice_scheduler_domain::sync::{ConnectStartError, ConnectionError, ConnectionStatus};
use voice_scheduler_domain::{Calendar, CalendarId};

use crate::pages::first_run::{Input, sentence};
use crate::pages::uuid_in_path;
use crate::session::Browser;
use crate::view::{Nav, Notice, html, long_date, see_other};
use crate::{WebError, WebState};

/// The form's fields, in the order shown (and the API's field names).
pub struct Fields {
    pub name: Input,
    pub time_zone: Input,
    pub working_hours: Input,
    pub slot_minutes: Input,
    pub default_duration_minutes: Input,
    pub min_notice_minutes: Input,
    pub horizon_days: Input,
    pub buffer_minutes: Input,
    pub vapi_assistant_ids: Input,
    pub vapi_phone_number_ids: Input,
}

impl Fields {
    fn of(c: &Calendar) -> Self {
        let s = &c.schedule;
        let text = |value: String| Input { value, error: None };
        let ids = |ids: Vec<&str>| text(ids.join(", "));
        Self {
            name: text(c.name.clone()),
            time_zone: text(s.time_zone().name().to_owned()),
            working_hours: text(s.hours().to_string()),
            slot_minutes: text(s.slot().num_minutes().to_string()),
            default_duration_minutes: text(s.default_duration().num_minutes().to_string()),
            min_notice_minutes: text(s.min_notice().num_minutes().to_string()),
            horizon_days: text(s.horizon_days().to_string()),
            buffer_minutes: text(s.buffer().num_minutes().to_string()),
            vapi_assistant_ids: ids(c.routes.assistant_ids.iter().map(|i| i.as_str()).collect()),
            vapi_phone_number_ids: ids(c
                .routes
                .phone_number_ids
                .iter()
                .map(|i| i.as_str())
                .collect()),
        }
    }

    /// The field the API names `name`.
    fn by_name(&mut self, name: &str) -> Option<&mut Input> {
        Some(match name {
            "name" => &mut self.name,
            "time_zone" => &mut self.time_zone,
            "working_hours" => &mut self.working_hours,
            "slot_minutes" => &mut self.slot_minutes,
            "default_duration_minutes" => &mut self.default_duration_minutes,
            "min_notice_minutes" => &mut self.min_notice_minutes,
            "horizon_days" => &mut self.horizon_days,
            "buffer_minutes" => &mut self.buffer_minutes,
            "vapi_assistant_ids" => &mut self.vapi_assistant_ids,
            "vapi_phone_number_ids" => &mut self.vapi_phone_number_ids,
            _ => return None,
        })
    }

    fn invalid(&self) -> bool {
        [
            &self.name,
            &self.time_zone,
            &self.working_hours,
            &self.slot_minutes,
            &self.default_duration_minutes,
            &self.min_notice_minutes,
            &self.horizon_days,
            &self.buffer_minutes,
            &self.vapi_assistant_ids,
            &self.vapi_phone_number_ids,
        ]
        .iter()
        .any(|f| f.error.is_some())
    }
}

/// The Google Calendar line.
pub struct Google {
    pub ok: bool,
    pub text: String,
    pub detail: Vec<String>,
    /// Google Calendar is set up on this server (the buttons make sense).
    pub configured: bool,
    /// Connected (or needing to be connected again): it can be disconnected.
    pub connected: bool,
    /// Failed changes that "retry" would queue again.
    pub failed: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<Notice>,
    csrf: String,
    action: String,
    agenda_href: String,
    calendar_name: String,
    admin: bool,
    fields: Fields,
    /// A refusal that belongs to no single field.
    error: Option<String>,
    google: Google,
}

#[derive(Deserialize)]
pub struct SettingsQuery {
    done: Option<String>,
}

async fn calendar(state: &WebState, browser: &Browser, raw: &str) -> Result<Calendar, WebError> {
    let id = CalendarId::from_uuid(uuid_in_path(raw)?);
    state
        .calendars
        .get(&browser.principal, id)
        .await
        .map_err(|e| match e {
            CalendarLookupError::NotFound => WebError::NotFound,
            CalendarLookupError::Unknown(e) => WebError::Internal(e),
        })
}

/// `/settings`: the first calendar's settings.
pub async fn first(state: web::Data<WebState>, browser: Browser) -> Result<HttpResponse, WebError> {
    let calendars = state
        .calendars
        .list(&browser.principal)
        .await
        .map_err(|e| match e {
            CalendarLookupError::NotFound => WebError::NotFound,
            CalendarLookupError::Unknown(e) => WebError::Internal(e),
        })?;
    match calendars.first() {
        Some(c) => Ok(see_other(&format!("/calendar/{}/settings", c.id))),
        None => Ok(see_other("/")),
    }
}

pub async fn form(
    state: web::Data<WebState>,
    browser: Browser,
    id: web::Path<String>,
    query: web::Query<SettingsQuery>,
) -> Result<HttpResponse, WebError> {
    let calendar = calendar(&state, &browser, &id).await?;
    let fields = Fields::of(&calendar);
    let page = page(
        &state,
        &browser,
        &calendar,
        fields,
        None,
        Notice::from_code(query.done.as_deref()),
    )
    .await?;
    Ok(html(StatusCode::OK, &page))
}

async fn page(
    state: &WebState,
    browser: &Browser,
    calendar: &Calendar,
    fields: Fields,
    error: Option<String>,
    notice: Option<Notice>,
) -> Result<SettingsPage, WebError> {
    Ok(SettingsPage {
        title: format!("Settings · {}", calendar.name),
        nav: Nav::of(browser),
        notice,
        csrf: browser.csrf.clone(),
        action: format!("/calendar/{}/settings", calendar.id),
        agenda_href: format!("/?calendar={}", calendar.id),
        calendar_name: calendar.name.clone(),
        admin: browser.principal.user.is_admin(),
        fields,
        error,
        google: google(state, browser, calendar).await?,
    })
}

fn when(instant: DateTime<Utc>, calendar: &Calendar) -> String {
    let zone = calendar.schedule.time_zone();
    format!(
        "{}, {} {}",
        long_date(zone.date_of(instant)),
        crate::view::clock(instant, zone),
        zone.abbreviation(instant)
    )
}

async fn google(
    state: &WebState,
    browser: &Browser,
    calendar: &Calendar,
) -> Result<Google, WebError> {
    let Some(connections) = state.google.as_ref() else {
        return Ok(Google {
            ok: false,
            text: "Google Calendar is not set up on this server (see the configuration guide: GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET).".to_owned(),
            detail: Vec::new(),
            configured: false,
            connected: false,
            failed: false,
        });
    };
    let view = connections
        .status(&browser.principal, calendar.id)
        .await
        .map_err(|e| match e {
            ConnectionError::NotFound | ConnectionError::NotConnected => WebError::NotFound,
            ConnectionError::Unknown(e) => WebError::Internal(e),
        })?;
    let mut detail = Vec::new();
    if view.jobs.pending > 0 {
        detail.push(format!(
            "{} change(s) waiting to be copied to Google Calendar.",
            view.jobs.pending
        ));
    }
    if view.jobs.failed > 0 {
        detail.push(format!(
            "{} change(s) failed to reach Google Calendar{}",
            view.jobs.failed,
            view.jobs
                .last_error
                .as_deref()
                .map_or_else(|| ".".to_owned(), |e| format!(": {e}"))
        ));
    }
    let (ok, text) = match &view.connection {
        None => (
            false,
            "No Google Calendar is connected to this calendar yet: connect one to copy bookings to it and keep its busy times free.".to_owned(),
        ),
        Some(c) if c.status == ConnectionStatus::Connected => (
            true,
            format!(
                "Connected to Google Calendar “{}”{}.",
                c.google_calendar_id,
                c.last_synced_at.map_or_else(String::new, |at| format!(
                    ", last copied to it on {}",
                    when(at, calendar)
                ))
            ),
        ),
        Some(c) => (
            false,
            format!(
                "Google Calendar needs to be connected again{}; changes wait until then.",
                c.last_error
                    .as_deref()
                    .map_or_else(String::new, |e| format!(" ({e})"))
            ),
        ),
    };
    Ok(Google {
        ok,
        text,
        detail,
        configured: true,
        connected: view.connection.is_some(),
        failed: view.jobs.failed > 0,
    })
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    working_hours: String,
    #[serde(default)]
    slot_minutes: String,
    #[serde(default)]
    default_duration_minutes: String,
    #[serde(default)]
    min_notice_minutes: String,
    #[serde(default)]
    horizon_days: String,
    #[serde(default)]
    buffer_minutes: String,
    vapi_assistant_ids: Option<String>,
    vapi_phone_number_ids: Option<String>,
}

/// A whole number typed into a field (or its message at the field).
fn number(input: &mut Input, unit: &str) -> Option<i64> {
    match input.value.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            input.error = Some(format!("Enter a whole number of {unit}."));
            None
        }
    }
}

fn ids(raw: &str) -> Vec<String> {
    raw.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn submit(
    state: web::Data<WebState>,
    browser: Browser,
    id: web::Path<String>,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    browser.check_csrf(&state, &form.csrf)?;
    let calendar = calendar(&state, &browser, &id).await?;
    let admin = browser.principal.user.is_admin();
    let text = |value: &str| Input {
        value: value.trim().to_owned(),
        error: None,
    };
    let current = Fields::of(&calendar);
    let mut fields = Fields {
        name: text(&form.name),
        time_zone: text(&form.time_zone),
        working_hours: text(&form.working_hours),
        slot_minutes: text(&form.slot_minutes),
        default_duration_minutes: text(&form.default_duration_minutes),
        min_notice_minutes: text(&form.min_notice_minutes),
        horizon_days: text(&form.horizon_days),
        buffer_minutes: text(&form.buffer_minutes),
        // Only administrators route calls (staff see them, unchanged).
        vapi_assistant_ids: match (&form.vapi_assistant_ids, admin) {
            (Some(raw), true) => text(raw),
            _ => current.vapi_assistant_ids,
        },
        vapi_phone_number_ids: match (&form.vapi_phone_number_ids, admin) {
            (Some(raw), true) => text(raw),
            _ => current.vapi_phone_number_ids,
        },
    };
    let slot = number(&mut fields.slot_minutes, "minutes");
    let duration = number(&mut fields.default_duration_minutes, "minutes");
    let notice = number(&mut fields.min_notice_minutes, "minutes");
    let horizon = number(&mut fields.horizon_days, "days");
    let buffer = number(&mut fields.buffer_minutes, "minutes");
    let mut error = None;
    if !fields.invalid() {
        let changes = CalendarFields {
            name: Some(fields.name.value.clone()),
            slug: None,
            time_zone: Some(fields.time_zone.value.clone()),
            working_hours: Some(fields.working_hours.value.clone()),
            slot_minutes: slot,
            default_duration_minutes: duration,
            min_notice_minutes: notice,
            horizon_days: horizon,
            buffer_minutes: buffer,
            vapi_assistant_ids: admin.then(|| ids(&fields.vapi_assistant_ids.value)),
            vapi_phone_number_ids: admin.then(|| ids(&fields.vapi_phone_number_ids.value)),
            owner_id: None,
        };
        match state
            .calendars
            .update(&browser.principal, calendar.id, changes)
            .await
        {
            Ok(saved) => {
                return Ok(see_other(&format!(
                    "/calendar/{}/settings?done=saved",
                    saved.id
                )));
            }
            Err(CalendarWriteError::NotFound) => return Err(WebError::NotFound),
            Err(CalendarWriteError::Invalid(problems)) => {
                for p in problems {
                    // "slot_minutes must be …" is shown at the field as "Must be …".
                    let message = sentence(
                        p.message
                            .strip_prefix(p.field.as_str())
                            .map_or(p.message.as_str(), str::trim_start),
                    );
                    match fields.by_name(&p.field) {
                        Some(input) if input.error.is_none() => input.error = Some(message),
                        Some(_) => {}
                        None => error = Some(message),
                    }
                }
            }
            Err(CalendarWriteError::RouteTaken(taken)) => {
                let message = sentence(&CalendarWriteError::RouteTaken(taken.clone()).to_string());
                if ids(&fields.vapi_phone_number_ids.value).contains(&taken) {
                    fields.vapi_phone_number_ids.error = Some(message);
                } else {
                    fields.vapi_assistant_ids.error = Some(message);
                }
            }
            Err(
                e @ (CalendarWriteError::SlugTaken(_)
                | CalendarWriteError::Forbidden
                | CalendarWriteError::AdminOnly(_)),
            ) => error = Some(sentence(&e.to_string())),
            Err(CalendarWriteError::Unknown(e)) => return Err(WebError::Internal(e)),
        }
    }
    let page = page(&state, &browser, &calendar, fields, error, None).await?;
    Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Deserialize)]
pub struct GoogleForm {
    #[serde(default)]
    csrf: String,
    /// The Google calendar to copy bookings to (`primary` when empty).
    google_calendar_id: Option<String>,
}

#[derive(Template)]
#[template(path = "google_continue.html")]
struct ContinuePage {
    title: &'static str,
    nav: Option<Nav>,
    url: String,
    back: String,
    calendar_name: String,
}

fn google_of(state: &WebState) -> Result<&voice_scheduler_domain::sync::Connections, WebError> {
    state.google.as_ref().ok_or(WebError::NotFound)
}

fn connection_error(e: ConnectionError) -> WebError {
    match e {
        ConnectionError::NotFound => WebError::NotFound,
        ConnectionError::NotConnected => WebError::NotFound,
        ConnectionError::Unknown(e) => WebError::Internal(e),
    }
}

/// Starts connecting Google Calendar (the API's OAuth flow): a page with
/// the link to Google's consent screen. A link, not a redirect: the pages'
/// `form-action 'self'` policy stops a form from leading to another site.
pub async fn google_connect(
    state: web::Data<WebState>,
    browser: Browser,
    id: web::Path<String>,
    form: web::Form<GoogleForm>,
) -> Result<HttpResponse, WebError> {
    browser.check_csrf(&state, &form.csrf)?;
    let calendar = calendar(&state, &browser, &id).await?;
    let chosen = form
        .google_calendar_id
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty());
    let url = google_of(&state)?
        .start(&browser.principal, calendar.id, chosen)
        .await
        .map_err(|e| match e {
            ConnectStartError::NotFound => WebError::NotFound,
            ConnectStartError::BadGoogleCalendarId => WebError::BadRequest(e.to_string()),
            ConnectStartError::Unknown(e) => WebError::Internal(e),
        })?;
    let page = ContinuePage {
        title: "Connect Google Calendar",
        nav: Nav::of(&browser),
        url,
        back: format!("/calendar/{}/settings", calendar.id),
        calendar_name: calendar.name.clone(),
    };
    Ok(html(StatusCode::OK, &page))
}

/// Queues the calendar's failed Google Calendar changes again.
pub async fn google_retry(
    state: web::Data<WebState>,
    browser: Browser,
    id: web::Path<String>,
    form: web::Form<GoogleForm>,
) -> Result<HttpResponse, WebError> {
    browser.check_csrf(&state, &form.csrf)?;
    let calendar = calendar(&state, &browser, &id).await?;
    google_of(&state)?
        .retry_failed(&browser.principal, calendar.id)
        .await
        .map_err(connection_error)?;
    Ok(see_other(&format!(
        "/calendar/{}/settings?done=google-retried",
        calendar.id
    )))
}

/// Disconnects Google Calendar (revokes the grant, forgets the tokens).
pub async fn google_disconnect(
    state: web::Data<WebState>,
    browser: Browser,
    id: web::Path<String>,
    form: web::Form<GoogleForm>,
) -> Result<HttpResponse, WebError> {
    browser.check_csrf(&state, &form.csrf)?;
    let calendar = calendar(&state, &browser, &id).await?;
    google_of(&state)?
        .disconnect(&browser.principal, calendar.id)
        .await
        .map_err(connection_error)?;
    Ok(see_other(&format!(
        "/calendar/{}/settings?done=google-disconnected",
        calendar.id
    )))
}
