//! `/`: the agenda of one calendar, a day or a week, in the calendar's zone.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;
use voice_scheduler_domain::Calendar;
use voice_scheduler_domain::calendars::CalendarLookupError;
use voice_scheduler_domain::desk::{AppointmentFilter, DeskError, MAX_PAGE};

use crate::session::Browser;
use crate::view::{AppointmentView, Nav, Notice, clock, html, long_date, short_date};
use crate::{WebError, WebState};

/// At most this many pages of [`MAX_PAGE`] appointments are read for one
/// view (a week of a very busy calendar); beyond it the page says so.
const MAX_PAGES: usize = 10;

#[derive(Deserialize)]
pub struct AgendaQuery {
    date: Option<String>,
    view: Option<String>,
    calendar: Option<String>,
    done: Option<String>,
}

pub struct CalendarChoice {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

pub struct Row {
    /// The "now" line (before the first appointment that starts later).
    pub now: Option<String>,
    pub appointment: Option<AppointmentView>,
}

pub struct Day {
    pub title: String,
    pub today: bool,
    pub rows: Vec<Row>,
    pub count: usize,
}

#[derive(Template)]
#[template(path = "agenda.html")]
struct AgendaPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<Notice>,
    calendars: Vec<CalendarChoice>,
    calendar_id: String,
    calendar_name: String,
    zone: String,
    week: bool,
    date: String,
    heading: String,
    days: Vec<Day>,
    truncated: bool,
    prev_href: String,
    next_href: String,
    today_href: String,
    day_href: String,
    week_href: String,
    book_href: String,
}

#[derive(Template)]
#[template(path = "no_calendar.html")]
struct NoCalendarPage {
    title: &'static str,
    nav: Option<Nav>,
}

pub async fn show(
    state: web::Data<WebState>,
    browser: Browser,
    query: web::Query<AgendaQuery>,
) -> Result<HttpResponse, WebError> {
    let calendars = state
        .calendars
        .list(&browser.principal)
        .await
        .map_err(|e| match e {
            CalendarLookupError::NotFound => WebError::NotFound,
            CalendarLookupError::Unknown(e) => WebError::Internal(e),
        })?;
    let chosen: Option<&Calendar> = match query.calendar.as_deref().filter(|c| !c.is_empty()) {
        Some(raw) => Some(
            calendars
                .iter()
                .find(|c| c.id.to_string() == raw)
                .ok_or(WebError::NotFound)?,
        ),
        None => calendars.first(),
    };
    let Some(calendar) = chosen else {
        return Ok(html(
            StatusCode::OK,
            &NoCalendarPage {
                title: "Agenda",
                nav: Nav::of(&browser),
            },
        ));
    };
    let zone = calendar.schedule.time_zone();
    let now = state.clock.now();
    let today = zone.date_of(now);
    let date = match query.date.as_deref().filter(|d| !d.is_empty()) {
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| WebError::BadRequest(format!("not a date: {raw}")))?,
        None => today,
    };
    let week = query.view.as_deref() == Some("week");
    let (first, length) = if week {
        (
            date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
            7,
        )
    } else {
        (date, 1)
    };
    let mut appointments = Vec::new();
    let mut after = None;
    let mut truncated = false;
    for page in 0.. {
        let found = state
            .desk
            .list(
                &browser.principal,
                AppointmentFilter {
                    calendar_id: Some(calendar.id),
                    from: Some(zone.start_of_day(first)),
                    to: Some(zone.start_of_day(first + Duration::days(length))),
                    after,
                    limit: MAX_PAGE,
                    ..AppointmentFilter::default()
                },
            )
            .await
            .map_err(|e| match e {
                DeskError::NotFound => WebError::NotFound,
                DeskError::Operation(never) => match never {},
                DeskError::Unknown(e) => WebError::Internal(e),
            })?;
        appointments.extend(found.items);
        match found.next {
            Some(next) if page + 1 < MAX_PAGES => after = Some(next),
            Some(_) => {
                truncated = true;
                break;
            }
            None => break,
        }
    }
    let days = (0..length)
        .map(|offset| {
            let day = first + Duration::days(offset);
            let mut rows = Vec::new();
            let mut count = 0;
            let mut marker = day == today;
            for a in appointments
                .iter()
                .filter(|a| zone.date_of(a.range().start()) == day)
            {
                if marker && a.range().start() > now {
                    rows.push(now_row(now, zone));
                    marker = false;
                }
                count += 1;
                rows.push(Row {
                    now: None,
                    appointment: Some(AppointmentView::new(a, zone, now)),
                });
            }
            if marker {
                rows.push(now_row(now, zone));
            }
            Day {
                title: if week {
                    short_date(day)
                } else {
                    long_date(day)
                },
                today: day == today,
                rows,
                count,
            }
        })
        .collect();
    let step = Duration::days(length);
    let cal = calendar.id.to_string();
    let view = if week { "week" } else { "day" };
    let href = |view: &str, d: NaiveDate| format!("/?calendar={cal}&view={view}&date={d}");
    let heading = if week {
        format!(
            "Week of {} – {}",
            short_date(first),
            short_date(first + Duration::days(6))
        )
    } else {
        long_date(date)
    };
    let page = AgendaPage {
        title: format!("Agenda · {}", calendar.name),
        nav: Nav::of(&browser),
        notice: Notice::from_code(query.done.as_deref()),
        calendars: calendars
            .iter()
            .map(|c| CalendarChoice {
                id: c.id.to_string(),
                name: c.name.clone(),
                selected: c.id == calendar.id,
            })
            .collect(),
        calendar_id: cal.clone(),
        calendar_name: calendar.name.clone(),
        zone: zone.name().to_owned(),
        week,
        date: date.to_string(),
        heading,
        days,
        truncated,
        prev_href: href(view, date - step),
        next_href: href(view, date + step),
        today_href: href(view, today),
        day_href: href("day", date),
        week_href: href("week", date),
        book_href: format!(
            "/book?calendar={cal}&date={}",
            if date < today { today } else { date }
        ),
    };
    Ok(html(StatusCode::OK, &page))
}

fn now_row(now: chrono::DateTime<chrono::Utc>, zone: voice_scheduler_domain::TimeZoneId) -> Row {
    Row {
        now: Some(clock(now, zone)),
        appointment: None,
    }
}
