//! The Calendar API calls booking needs: free/busy, and idempotent event
//! writes keyed by an id derived from the appointment.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use google_calendar3::CalendarHub;
use google_calendar3::api::{
    Event, EventAttendee, EventDateTime, EventExtendedProperties, FreeBusyRequest,
    FreeBusyRequestItem,
};
use google_calendar3::common::{self, Delegate, Retry};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use url::Url;
use voice_scheduler_domain::{Appointment, AppointmentId, TimeRange};

use crate::oauth::{EVENTS_SCOPE, FREEBUSY_SCOPE, GoogleEndpoints};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The private extended property that marks the events this service
/// writes (`extendedProperties.private`), so [`CalendarApi::own_events`] can
/// find them with `privateExtendedProperty=voiceScheduler=appointment`.
pub const OWN_EVENT_PROPERTY: (&str, &str) = ("voiceScheduler", "appointment");

/// The most pages of our own events read for one window (2500 each).
const MAX_OWN_EVENT_PAGES: usize = 8;

/// What must be escaped in a path segment: everything but RFC 3986's
/// unreserved characters and `@` (common in calendar ids).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// `google-calendar3` pastes path parameters into the URL unescaped (and
/// panics if the result does not parse): a calendar id such as
/// `en.usa#holiday@group.v.calendar.google.com` would lose everything after
/// `#`. Escaping them first keeps ids intact; `%` itself is escaped, so
/// nothing is decoded twice.
fn segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

type Connector = HttpsConnector<HttpConnector>;

/// Whom Google notifies about a change to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SendUpdates {
    /// Every guest (the caller gets Google's invitation and updates).
    #[default]
    All,
    /// Only guests outside the calendar owner's Google Workspace domain.
    ExternalOnly,
    /// Nobody.
    None,
}

impl SendUpdates {
    /// The value of Google's `sendUpdates` parameter.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::ExternalOnly => "externalOnly",
            Self::None => "none",
        }
    }
}

impl fmt::Display for SendUpdates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `sendUpdates` setting that is none of the accepted values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a sendUpdates value; use one of: all, externalOnly, none")]
pub struct BadSendUpdates(pub String);

impl FromStr for SendUpdates {
    type Err = BadSendUpdates;

    /// Reads a configured value, in any case (`externalonly` too).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(Self::All),
            "externalonly" | "external_only" | "external-only" => Ok(Self::ExternalOnly),
            "none" => Ok(Self::None),
            _ => Err(BadSendUpdates(raw.to_owned())),
        }
    }
}

/// Why a Calendar API call failed, sorted by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: the access token is bad or expired: refresh it and retry once.
    #[error("Google refused the access token (401)")]
    Unauthorized,
    /// 429, 5xx, 403 rate limits, network errors and timeouts: retry later
    /// with backoff, no sooner than `retry_after` when Google said so.
    #[error("Google Calendar is unavailable for now: {reason}")]
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The call succeeded but Google could not answer for the calendar (for
    /// example `notFound` in a free/busy answer): free/busy is unknown.
    #[error("Google could not read the calendar: {0}")]
    Unavailable(String),
    /// Any other 4xx: retrying the same request will not help.
    #[error("Google Calendar refused the request ({status}: {reason})")]
    Rejected { status: u16, reason: String },
}

impl ApiError {
    /// Whether retrying later (with backoff) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

/// An event as we write it to Google: everything derived from an
/// [`Appointment`], so a rewrite converges on the same content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContent {
    /// Deterministic ([`event_id`]): makes writes idempotent.
    pub id: String,
    pub summary: String,
    pub description: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// IANA name, so Google shows the event in the calendar's zone.
    pub time_zone: String,
    /// The caller, invited when they gave an email address.
    pub attendee_email: Option<String>,
}

/// The Google event id of an appointment: base32hex (Google's `0-9a-v`
/// alphabet) of the UUID's 16 bytes, 26 characters. Deterministic, so a retry
/// after a crash finds the event it already created (409) instead of creating
/// a second one.
pub fn event_id(appointment: AppointmentId) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let bytes = appointment.as_uuid().into_bytes();
    let mut out = String::with_capacity(26);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize],
        ));
    }
    out
}

/// What the calendar owner sees for an appointment: the purpose and caller
/// in the title, the contact details and confirmation code in the body.
pub fn event_for(appointment: &Appointment) -> EventContent {
    let name = appointment.customer_name().as_str();
    let purpose = appointment
        .purpose()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("Appointment");
    let email = appointment.customer_email().map(|e| e.as_str().to_owned());
    let mut description = format!(
        "Caller: {name}\nPhone: {}\n",
        appointment.customer_phone().as_str()
    );
    if let Some(email) = &email {
        description.push_str(&format!("Email: {email}\n"));
    }
    description.push_str(&format!(
        "Confirmation code: {}\nBooked by voice-scheduler.",
        appointment.confirmation_code().as_str()
    ));
    let range = appointment.range();
    EventContent {
        id: event_id(appointment.id()),
        summary: format!("{purpose} — {name}"),
        description,
        start: range.start(),
        end: range.end(),
        time_zone: appointment.time_zone().name().to_owned(),
        attendee_email: email,
    }
}

/// The Calendar API through `google-calendar3`, for any user whose access
/// token the caller passes in (tokens are refreshed and stored by our own
/// code, see [`crate::OAuthClient`]). Cheap to clone: one connection pool.
#[derive(Clone)]
pub struct CalendarApi {
    client: Client<Connector, common::Body>,
    base_url: String,
    root_url: String,
    timeout: Duration,
}

impl fmt::Debug for CalendarApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CalendarApi")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Sees each failed response before `google-calendar3` turns it into an
/// error, which drops the headers: keeps the status and `Retry-After`.
#[derive(Default)]
struct FailureHeaders {
    status: Option<u16>,
    retry_after: Option<Duration>,
}

impl Delegate for FailureHeaders {
    fn http_failure(&mut self, response: &common::Response, _: Option<&Value>) -> Retry {
        self.status = Some(response.status().as_u16());
        self.retry_after = response
            .headers()
            .get(google_calendar3::hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // Retrying is the caller's decision (the outbox backs off).
        Retry::Abort
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = DateTime::parse_from_rfc2822(raw).ok()?.with_timezone(&Utc);
    Some((when - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

impl CalendarApi {
    /// A client for the Calendar API at `endpoints.api_base_url`. Plain
    /// `http://` is accepted so tests can use a local fake.
    pub fn new(endpoints: &GoogleEndpoints) -> anyhow::Result<Self> {
        let mut base = endpoints.api_base_url.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let url = Url::parse(&base)
            .map_err(|e| anyhow::anyhow!("the Google API base URL '{base}' is not a URL: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("the Google API base URL '{base}' has no host"))?;
        let root_url = match url.port() {
            Some(port) => format!("{}://{host}:{port}/", url.scheme()),
            None => format!("{}://{host}/", url.scheme()),
        };
        // One TLS stack: rustls with ring, explicitly, so a second provider
        // elsewhere in the binary cannot make rustls pick at run time.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            client,
            base_url: base,
            root_url,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Changes how long one call may take (10 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A hub for one call: the hub holds the token, the client is shared.
    fn hub(&self, access_token: &str) -> CalendarHub<Connector> {
        let mut hub = CalendarHub::new(self.client.clone(), access_token.to_owned());
        hub.base_url(self.base_url.clone());
        hub.root_url(self.root_url.clone());
        hub.user_agent(concat!("voice-scheduler/", env!("CARGO_PKG_VERSION")).to_owned());
        hub
    }

    /// The busy times of a calendar within `window`. A calendar Google could
    /// not read is [`ApiError::Unavailable`], never "free".
    pub async fn free_busy(
        &self,
        access_token: &str,
        google_calendar_id: &str,
        window: TimeRange,
    ) -> Result<Vec<TimeRange>, ApiError> {
        let hub = self.hub(access_token);
        let request = FreeBusyRequest {
            time_min: Some(window.start()),
            time_max: Some(window.end()),
            time_zone: Some("UTC".to_owned()),
            items: Some(vec![FreeBusyRequestItem {
                id: Some(google_calendar_id.to_owned()),
            }]),
            ..FreeBusyRequest::default()
        };
        let mut failure = FailureHeaders::default();
        let call = hub
            .freebusy()
            .query(request)
            .add_scope(FREEBUSY_SCOPE)
            .delegate(&mut failure)
            .doit();
        let result = self.timed("freeBusy.query", call).await;
        let (_, answer) = result.map_err(|e| classify(e, &failure))?;
        let calendar = answer
            .calendars
            .and_then(|mut calendars| calendars.remove(google_calendar_id))
            .ok_or_else(|| {
                ApiError::Unavailable("the calendar is missing from the free/busy answer".into())
            })?;
        if let Some(errors) = calendar.errors.filter(|e| !e.is_empty()) {
            let reasons = errors
                .iter()
                .map(|e| e.reason.as_deref().unwrap_or("unknown"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::Unavailable(reasons));
        }
        Ok(calendar
            .busy
            .unwrap_or_default()
            .into_iter()
            .filter_map(|period| match (period.start, period.end) {
                (Some(start), Some(end)) if end > start => TimeRange::new(start, end).ok(),
                _ => None,
            })
            .collect())
    }

    /// The times of the events this service wrote (marked with
    /// [`OWN_EVENT_PROPERTY`]) that overlap `window`, where Google has them
    /// now: a moved or cancelled appointment's event stays at its old time
    /// until the outbox has synced it. Only these events are read, and only
    /// their id, status and times (`fields`).
    pub async fn own_events(
        &self,
        access_token: &str,
        google_calendar_id: &str,
        window: TimeRange,
    ) -> Result<Vec<TimeRange>, ApiError> {
        let hub = self.hub(access_token);
        let property = format!("{}={}", OWN_EVENT_PROPERTY.0, OWN_EVENT_PROPERTY.1);
        let calendar = segment(google_calendar_id);
        let mut own = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_OWN_EVENT_PAGES {
            let mut failure = FailureHeaders::default();
            let mut call = hub
                .events()
                .list(&calendar)
                .time_min(window.start())
                .time_max(window.end())
                .single_events(true)
                .show_deleted(false)
                .max_results(2500)
                .add_private_extended_property(&property)
                .param("fields", "items(id,status,start,end),nextPageToken")
                .add_scope(EVENTS_SCOPE);
            if let Some(token) = &page {
                call = call.page_token(token);
            }
            let call = call.delegate(&mut failure).doit();
            let (_, events) = self
                .timed("events.list", call)
                .await
                .map_err(|e| classify(e, &failure))?;
            own.extend(
                events
                    .items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|e| {
                        if e.status.as_deref() == Some("cancelled") {
                            return None;
                        }
                        let start = e.start?.date_time?;
                        let end = e.end?.date_time?;
                        TimeRange::new(start, end).ok()
                    }),
            );
            match events.next_page_token {
                Some(token) if !token.is_empty() => page = Some(token),
                _ => return Ok(own),
            }
        }
        Err(ApiError::Unavailable(
            "too many of our own events in the window to read".to_owned(),
        ))
    }

    /// Creates the event, or brings an existing one with the same id to
    /// `event`'s content (confirmed again if it was cancelled). A reschedule,
    /// a retry after a crash and re-creating a cancelled booking all end with
    /// exactly one event.
    pub async fn upsert_event(
        &self,
        access_token: &str,
        google_calendar_id: &str,
        event: &EventContent,
        send_updates: SendUpdates,
    ) -> Result<(), ApiError> {
        let hub = self.hub(access_token);
        let mut failure = FailureHeaders::default();
        let call = hub
            .events()
            .insert(to_google(event), &segment(google_calendar_id))
            .send_updates(send_updates.as_str())
            .add_scope(EVENTS_SCOPE)
            .delegate(&mut failure)
            .doit();
        let inserted = self.timed("events.insert", call).await;
        match inserted.map_err(|e| classify(e, &failure)) {
            Ok(_) => return Ok(()),
            Err(ApiError::Rejected { status: 409, .. }) => {
                tracing::debug!(event_id = %event.id, "event exists; updating it");
            }
            Err(error) => return Err(error),
        }
        let mut failure = FailureHeaders::default();
        let call = hub
            .events()
            .update(
                to_google(event),
                &segment(google_calendar_id),
                &segment(&event.id),
            )
            .send_updates(send_updates.as_str())
            .add_scope(EVENTS_SCOPE)
            .delegate(&mut failure)
            .doit();
        self.timed("events.update", call)
            .await
            .map(|_| ())
            .map_err(|e| classify(e, &failure))
    }

    /// Cancels the event. One that is already gone (404, 410) counts as done.
    pub async fn delete_event(
        &self,
        access_token: &str,
        google_calendar_id: &str,
        event_id: &str,
        send_updates: SendUpdates,
    ) -> Result<(), ApiError> {
        let hub = self.hub(access_token);
        let mut failure = FailureHeaders::default();
        let call = hub
            .events()
            .delete(&segment(google_calendar_id), &segment(event_id))
            .send_updates(send_updates.as_str())
            .add_scope(EVENTS_SCOPE)
            .delegate(&mut failure)
            .doit();
        match self
            .timed("events.delete", call)
            .await
            .map_err(|e| classify(e, &failure))
        {
            Ok(_) => Ok(()),
            Err(ApiError::Rejected {
                status: 404 | 410, ..
            }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Runs a call with the timeout; a timeout is [`Failed::TimedOut`].
    async fn timed<T>(
        &self,
        method: &'static str,
        call: impl Future<Output = google_calendar3::Result<T>>,
    ) -> Result<T, Failed> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Failed::Call(error)),
            Err(_) => {
                tracing::warn!(method, timeout = ?self.timeout, "Google Calendar call timed out");
                Err(Failed::TimedOut)
            }
        }
    }
}

enum Failed {
    Call(google_calendar3::Error),
    TimedOut,
}

fn to_google(event: &EventContent) -> Event {
    let at = |instant: DateTime<Utc>| EventDateTime {
        date_time: Some(instant),
        time_zone: Some(event.time_zone.clone()),
        date: None,
    };
    Event {
        id: Some(event.id.clone()),
        summary: Some(event.summary.clone()),
        description: Some(event.description.clone()),
        start: Some(at(event.start)),
        end: Some(at(event.end)),
        status: Some("confirmed".to_owned()),
        extended_properties: Some(EventExtendedProperties {
            private: Some(
                [(
                    OWN_EVENT_PROPERTY.0.to_owned(),
                    OWN_EVENT_PROPERTY.1.to_owned(),
                )]
                .into(),
            ),
            shared: None,
        }),
        attendees: event.attendee_email.as_ref().map(|email| {
            vec![EventAttendee {
                email: Some(email.clone()),
                ..EventAttendee::default()
            }]
        }),
        ..Event::default()
    }
}

/// Sorts a failed call by what the caller should do. Bodies are not logged
/// or copied into messages beyond Google's reason code.
fn classify(failed: Failed, failure: &FailureHeaders) -> ApiError {
    let error = match failed {
        Failed::TimedOut => {
            return ApiError::Retryable {
                reason: "timed out".into(),
                retry_after: None,
            };
        }
        Failed::Call(error) => error,
    };
    match error {
        google_calendar3::Error::BadRequest(json) => {
            let status = json["error"]["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .or(failure.status)
                .unwrap_or(400);
            let reason = json["error"]["errors"][0]["reason"]
                .as_str()
                .or_else(|| json["error"]["status"].as_str())
                .or_else(|| json["error"].as_str())
                .unwrap_or("unknown")
                .to_owned();
            by_status(status, reason, failure.retry_after)
        }
        google_calendar3::Error::Failure(response) => {
            let status = response.status();
            let reason = status.canonical_reason().unwrap_or("unknown").to_owned();
            by_status(status.as_u16(), reason, failure.retry_after)
        }
        google_calendar3::Error::HttpError(error) => ApiError::Retryable {
            reason: format!("network error: {}", error_chain(&error)),
            retry_after: None,
        },
        google_calendar3::Error::Io(error) => ApiError::Retryable {
            reason: format!("I/O error: {error}"),
            retry_after: None,
        },
        // A 2xx whose body is not the expected resource: the write may have
        // happened; retrying converges (409 then update).
        google_calendar3::Error::JsonDecodeError(_, error) => ApiError::Retryable {
            reason: format!("undecodable answer: {error}"),
            retry_after: None,
        },
        // Not reachable with a String token and no uploads; reported as a
        // refusal rather than retried forever.
        other => ApiError::Rejected {
            status: 0,
            reason: match other {
                google_calendar3::Error::MissingToken(_) => "no access token".into(),
                google_calendar3::Error::MissingAPIKey => "no API key".into(),
                google_calendar3::Error::Cancelled => "cancelled".into(),
                google_calendar3::Error::FieldClash(field) => format!("parameter clash: {field}"),
                google_calendar3::Error::UploadSizeLimitExceeded(..) => "upload too large".into(),
                _ => "client error".into(),
            },
        },
    }
}

fn by_status(status: u16, reason: String, retry_after: Option<Duration>) -> ApiError {
    match status {
        401 => ApiError::Unauthorized,
        429 | 500..=599 => ApiError::Retryable {
            reason: format!("{status} {reason}"),
            retry_after,
        },
        403 if matches!(
            reason.as_str(),
            "rateLimitExceeded" | "userRateLimitExceeded"
        ) =>
        {
            ApiError::Retryable {
                reason: format!("{status} {reason}"),
                retry_after,
            }
        }
        _ => ApiError::Rejected { status, reason },
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashSet;

    use chrono::TimeZone;
    use uuid::Uuid;
    use voice_scheduler_domain::appointment::{AppointmentParts, AppointmentStatus};
    use voice_scheduler_domain::{
        BookedBy, CalendarId, Channel, ConfirmationCode, Email, PersonName, PhoneNumber, TimeZoneId,
    };

    use super::*;

    fn id(raw: &str) -> AppointmentId {
        AppointmentId::from_uuid(Uuid::parse_str(raw).unwrap())
    }

    #[test]
    fn event_ids_are_base32hex_of_the_uuid() {
        assert_eq!(
            event_id(id("00000000-0000-7000-8000-000000000001")),
            "0000000001o010000000000004"
        );
        assert_eq!(
            event_id(id("0192d4e5-6f7a-7b8c-9d0e-1f2a3b4c5d6e")),
            "069d9pbff9top78e3sl3mj2tdo"
        );
        assert_eq!(
            event_id(id("ffffffff-ffff-ffff-ffff-ffffffffffff")),
            "vvvvvvvvvvvvvvvvvvvvvvvvvs"
        );
    }

    #[test]
    fn event_ids_fit_googles_rules_and_differ() {
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            let appointment = AppointmentId::new();
            let id = event_id(appointment);
            assert_eq!(id.len(), 26, "{id}");
            assert!(
                id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'v')),
                "{id}"
            );
            assert_eq!(event_id(appointment), id, "deterministic");
            assert!(seen.insert(id), "distinct appointments get distinct ids");
        }
    }

    #[test]
    fn path_segments_are_escaped_once() {
        assert_eq!(segment("primary"), "primary");
        assert_eq!(
            segment("en.usa#holiday@group.v.calendar.google.com"),
            "en.usa%23holiday@group.v.calendar.google.com"
        );
        assert_eq!(segment("a/b?c d%"), "a%2Fb%3Fc%20d%25");
    }

    #[test]
    fn send_updates_reads_and_writes_googles_values() {
        for value in [
            SendUpdates::All,
            SendUpdates::ExternalOnly,
            SendUpdates::None,
        ] {
            assert_eq!(value.as_str().parse::<SendUpdates>().unwrap(), value);
        }
        assert_eq!(
            "EXTERNALONLY".parse::<SendUpdates>().unwrap(),
            SendUpdates::ExternalOnly
        );
        assert_eq!(SendUpdates::default(), SendUpdates::All);
        let err = "everyone".parse::<SendUpdates>().unwrap_err().to_string();
        assert!(err.contains("all, externalOnly, none"), "{err}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = (Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        let parsed = parse_retry_after(&later).unwrap();
        assert!(parsed > Duration::from_secs(100), "{parsed:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn statuses_are_sorted_by_what_to_do() {
        assert_eq!(
            by_status(401, "authError".into(), None),
            ApiError::Unauthorized
        );
        assert!(by_status(500, "backendError".into(), None).is_retryable());
        assert!(by_status(429, "rateLimitExceeded".into(), None).is_retryable());
        assert!(by_status(403, "userRateLimitExceeded".into(), None).is_retryable());
        assert_eq!(
            by_status(403, "forbidden".into(), None),
            ApiError::Rejected {
                status: 403,
                reason: "forbidden".into()
            }
        );
        assert!(!by_status(404, "notFound".into(), None).is_retryable());
    }

    fn appointment(purpose: Option<&str>, email: Option<&str>) -> Appointment {
        let start = Utc.with_ymd_and_hms(2030, 3, 4, 15, 0, 0).unwrap();
        Appointment::from_parts(AppointmentParts {
            id: id("0192d4e5-6f7a-7b8c-9d0e-1f2a3b4c5d6e"),
            calendar_id: CalendarId::new(),
            confirmation_code: ConfirmationCode::parse("K7M2QX").unwrap(),
            range: TimeRange::new(start, start + chrono::Duration::minutes(30)).unwrap(),
            time_zone: TimeZoneId::parse("America/New_York").unwrap(),
            status: AppointmentStatus::Confirmed,
            customer_name: PersonName::parse("Ada Lovelace").unwrap(),
            customer_phone: PhoneNumber::from_e164("+14155550123").unwrap(),
            customer_email: email.map(|e| Email::parse(e).unwrap()),
            purpose: purpose.map(str::to_owned),
            booked_by: BookedBy {
                channel: Channel::Voice,
                vapi_call_id: None,
                tool_call_id: None,
            },
            idempotency_key: None,
            created_at: start,
            updated_at: start,
            cancelled_at: None,
            cancel_reason: None,
            service: None,
        })
    }

    #[test]
    fn events_describe_the_booking() {
        let event = event_for(&appointment(
            Some("Dental cleaning"),
            Some("ada@example.com"),
        ));
        assert_eq!(event.id, "069d9pbff9top78e3sl3mj2tdo");
        assert_eq!(event.summary, "Dental cleaning — Ada Lovelace");
        assert_eq!(
            event.description,
            "Caller: Ada Lovelace\nPhone: +14155550123\nEmail: ada@example.com\n\
             Confirmation code: K7M2QX\nBooked by voice-scheduler."
        );
        assert_eq!(event.time_zone, "America/New_York");
        assert_eq!(event.attendee_email.as_deref(), Some("ada@example.com"));
        assert_eq!(event.end - event.start, chrono::Duration::minutes(30));

        let event = event_for(&appointment(None, None));
        assert_eq!(event.summary, "Appointment — Ada Lovelace");
        assert!(!event.description.contains("Email:"));
        assert_eq!(event.attendee_email, None);
    }
}
