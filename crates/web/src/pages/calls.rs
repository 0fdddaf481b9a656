//! `/calls` and `/call/{id}`: the VAPI calls of the calendars the user may
//! see, newest first, and one call with its transcript, recording and the
//! appointments booked during it — through the call log the JSON API's
//! `/api/v1/calls` uses (same scoping: another user's call is a 404 page).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use voice_scheduler_domain::calendars::CalendarLookupError;
use voice_scheduler_domain::calls::{CallFilter, CallLookupError};
use voice_scheduler_domain::{Calendar, CalendarId, Call, CallId, TimeZoneId};

use crate::pages::agenda::CalendarChoice;
use crate::pages::uuid_in_path;
use crate::session::Browser;
use crate::view::{AppointmentView, Nav, html, long_date};
use crate::{WebError, WebState};

/// Calls per page of the list.
const PAGE: u64 = 25;

/// A call as a row of the list or the head of its page.
pub struct CallView {
    pub href: String,
    pub vapi_id: String,
    pub caller: String,
    pub direction: &'static str,
    pub calendar: Option<String>,
    /// "Monday 4 March 2030, 09:14 PST" (or when we first heard of it).
    pub when: String,
    pub ended: Option<String>,
    pub duration: Option<String>,
    pub status: String,
    pub ended_reason: Option<String>,
    pub summary: Option<String>,
    pub success: Option<String>,
    pub cost: Option<String>,
    pub erased: bool,
    pub purged: bool,
}

/// One speaker's turn of a transcript.
pub struct Turn {
    pub speaker: String,
    pub assistant: bool,
    pub text: String,
}

impl CallView {
    fn new(call: &Call, calendars: &[Calendar]) -> Self {
        let calendar = call
            .calendar_id
            .and_then(|id| calendars.iter().find(|c| c.id == id));
        let zone = calendar.map(|c| c.schedule.time_zone());
        let at = |instant: DateTime<Utc>| moment(instant, zone);
        Self {
            href: format!("/call/{}", call.id.as_uuid()),
            vapi_id: call.vapi_call_id.clone(),
            caller: call
                .customer_phone
                .as_ref()
                .map_or_else(|| "Unknown number".to_owned(), ToString::to_string),
            direction: match call.direction.map(|d| d.as_str()) {
                Some("inbound") => "Inbound",
                Some("outbound") => "Outbound",
                Some("web") => "Web call",
                _ => "Call",
            },
            calendar: calendar.map(|c| c.name.clone()),
            when: at(call.started_at.unwrap_or(call.created_at)),
            ended: call.ended_at.map(at),
            duration: call.duration().map(|d| {
                let s = d.num_seconds();
                if s >= 60 {
                    format!("{} min {:02} s", s / 60, s % 60)
                } else {
                    format!("{s} s")
                }
            }),
            status: call
                .status
                .map_or_else(|| "unknown".to_owned(), |s| s.as_str().replace('-', " ")),
            ended_reason: call.ended_reason.as_ref().map(|r| r.replace('-', " ")),
            summary: call.summary.clone().filter(|s| !s.trim().is_empty()),
            success: call.success_evaluation.clone(),
            cost: call.cost.map(|c| format!("${c:.2}")),
            erased: call.erased_at.is_some(),
            purged: call.transcript_purged_at.is_some(),
        }
    }
}

/// An instant as a date and time in `zone` (UTC when the call has no calendar).
fn moment(instant: DateTime<Utc>, zone: Option<TimeZoneId>) -> String {
    match zone {
        Some(zone) => format!(
            "{}, {} {}",
            long_date(zone.date_of(instant)),
            crate::view::clock(instant, zone),
            zone.abbreviation(instant)
        ),
        None => format!(
            "{}, {} UTC",
            long_date(instant.date_naive()),
            instant.format("%H:%M")
        ),
    }
}

/// The turns of a VAPI transcript ("AI: … User: …", one turn a line or
/// several on one line).
pub fn turns(transcript: &str) -> Vec<Turn> {
    const SPEAKERS: [(&str, bool); 6] = [
        ("AI:", true),
        ("Assistant:", true),
        ("Bot:", true),
        ("User:", false),
        ("Customer:", false),
        ("Caller:", false),
    ];
    let mut turns: Vec<Turn> = Vec::new();
    let mut rest = transcript.trim();
    let label_at = |text: &str, i: usize| -> Option<(usize, bool)> {
        let before_ok = i == 0
            || text[..i]
                .chars()
                .next_back()
                .is_some_and(char::is_whitespace);
        if !before_ok {
            return None;
        }
        SPEAKERS
            .iter()
            .find(|(label, _)| text[i..].starts_with(label))
            .map(|(label, assistant)| (label.len(), *assistant))
    };
    // Where the next label starts (after position `from`).
    let next_label = |text: &str, from: usize| -> Option<usize> {
        text.char_indices()
            .map(|(i, _)| i)
            .filter(|&i| i >= from)
            .find(|&i| label_at(text, i).is_some())
    };
    while !rest.is_empty() {
        let (speaker, assistant, body_start) = match label_at(rest, 0) {
            Some((len, assistant)) => (
                if assistant { "Assistant" } else { "Caller" }.to_owned(),
                assistant,
                len,
            ),
            None => (String::new(), false, 0),
        };
        let end = next_label(rest, body_start.max(1)).unwrap_or(rest.len());
        let text = rest[body_start..end].trim();
        if !text.is_empty() {
            turns.push(Turn {
                speaker,
                assistant,
                text: text.to_owned(),
            });
        }
        rest = rest[end..].trim_start();
    }
    turns
}

fn lookup_error(e: CallLookupError) -> WebError {
    match e {
        CallLookupError::NotFound => WebError::NotFound,
        CallLookupError::Unknown(e) => WebError::Internal(e),
    }
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

#[derive(Template)]
#[template(path = "calls.html")]
struct CallsPage {
    title: &'static str,
    nav: Option<Nav>,
    calendars: Vec<CalendarChoice>,
    calendar_id: String,
    calls: Vec<CallView>,
    /// The next page, when there is one.
    next_href: Option<String>,
    first_href: Option<String>,
}

#[derive(Deserialize)]
pub struct CallsQuery {
    calendar: Option<String>,
    /// `<unix seconds>_<call id>`: where the previous page ended (as the
    /// API's `next_cursor`).
    before: Option<String>,
}

fn cursor(raw: &str) -> Result<(DateTime<Utc>, CallId), WebError> {
    let bad = || WebError::BadRequest(format!("not a page of calls: {raw}"));
    let (at, id) = raw.split_once('_').ok_or_else(bad)?;
    let at = at
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or_else(bad)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at, CallId::from_uuid(id)))
}

pub async fn list(
    state: web::Data<WebState>,
    browser: Browser,
    query: web::Query<CallsQuery>,
) -> Result<HttpResponse, WebError> {
    let calendars = calendars(&state, &browser).await?;
    let chosen = match query.calendar.as_deref().filter(|c| !c.is_empty()) {
        Some(raw) => Some(
            calendars
                .iter()
                .find(|c| c.id.to_string() == raw)
                .map(|c| c.id)
                .ok_or(WebError::NotFound)?,
        ),
        None => None,
    };
    let before = query
        .before
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(cursor)
        .transpose()?;
    let page = state
        .calls
        .list(
            &browser.principal,
            CallFilter {
                calendar_id: chosen,
                from: None,
                to: None,
                phone: None,
                before,
                limit: PAGE,
            },
        )
        .await
        .map_err(lookup_error)?;
    let cal = chosen
        .map(|id: CalendarId| id.to_string())
        .unwrap_or_default();
    let page = CallsPage {
        title: "Calls",
        nav: Nav::of(&browser),
        calendars: calendars
            .iter()
            .map(|c| CalendarChoice {
                id: c.id.to_string(),
                name: c.name.clone(),
                selected: Some(c.id) == chosen,
            })
            .collect(),
        calls: page
            .items
            .iter()
            .map(|c| CallView::new(c, &calendars))
            .collect(),
        next_href: page.next.map(|(at, id)| {
            format!(
                "/calls?calendar={cal}&before={}_{}",
                at.timestamp(),
                id.as_uuid()
            )
        }),
        first_href: before.map(|_| format!("/calls?calendar={cal}")),
        calendar_id: cal,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "call.html")]
struct CallPage {
    title: String,
    nav: Option<Nav>,
    call: CallView,
    turns: Vec<Turn>,
    /// Played in an `<audio>` element (https only) and linked.
    recording: Option<String>,
    appointments: Vec<AppointmentView>,
}

pub async fn show(
    state: web::Data<WebState>,
    browser: Browser,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = CallId::from_uuid(uuid_in_path(&id)?);
    let (call, booked) = state
        .calls
        .get(&browser.principal, id)
        .await
        .map_err(lookup_error)?;
    let calendars = calendars(&state, &browser).await?;
    let now = state.clock.now();
    let zone_of = |calendar: CalendarId| {
        calendars
            .iter()
            .find(|c| c.id == calendar)
            .map(|c| c.schedule.time_zone())
    };
    let appointments = booked
        .iter()
        .filter_map(|a| zone_of(a.calendar_id()).map(|zone| AppointmentView::new(a, zone, now)))
        .collect();
    let view = CallView::new(&call, &calendars);
    let page = CallPage {
        title: format!("Call from {}", view.caller),
        nav: Nav::of(&browser),
        turns: call.transcript.as_deref().map(turns).unwrap_or_default(),
        // Only a web address is linked: never `javascript:` or the like.
        recording: call
            .recording_url
            .clone()
            .filter(|u| u.starts_with("https://") && !u.chars().any(char::is_whitespace)),
        appointments,
        call: view,
    };
    Ok(html(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_split_into_speaker_turns() {
        let t = turns(
            "AI: Hi, this is the booking line. User: I'd like to book a session on Tuesday at 2.",
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].speaker, "Assistant");
        assert!(t[0].assistant);
        assert_eq!(t[0].text, "Hi, this is the booking line.");
        assert_eq!(t[1].speaker, "Caller");
        assert_eq!(t[1].text, "I'd like to book a session on Tuesday at 2.");
        let t = turns("AI: Hello\nUser: Hi\nthere\nAI: Bye");
        assert_eq!(
            t.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(),
            ["Hello", "Hi\nthere", "Bye"]
        );
        // Text without labels is one turn; a label inside a word is not one.
        let t = turns("just words, SUser: not a label");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].speaker, "");
        assert!(turns("  ").is_empty());
        // Multi-byte text does not break the scan.
        let t = turns("AI: Grüß Gott — ça va? User: 👍");
        assert_eq!(t[1].text, "👍");
    }
}
