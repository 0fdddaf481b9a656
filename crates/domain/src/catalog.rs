//! Services (appointment types) a calendar offers: "a cleaning", "a
//! check-up". Each has a spoken name, an optional spoken description, a
//! length, buffers kept free before and after, and an optional limit of
//! appointments per day; one is the calendar's default.
//!
//! [`match_service`] reads what a caller said ("teeth cleanings", "the
//! cleaning") forgivingly.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::calendar::CalendarId;
use crate::schedule::Schedule;

/// The most services one calendar may offer (a voice agent reads them out).
pub const MAX_SERVICES: usize = 50;

/// The id of a service (a UUIDv7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(Uuid);

impl ServiceId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for ServiceId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a service's settings were refused; each names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("name must be 1 to {max} characters, with a letter or digit and no control characters")]
    BadName { max: usize },
    #[error("description must be at most {max} characters, without control characters")]
    BadDescription { max: usize },
    #[error("{field} must be between {min} and {max} (got {got})")]
    OutOfBounds {
        field: &'static str,
        min: i64,
        max: i64,
        got: i64,
    },
}

impl ServiceError {
    /// The field the error is about (for a 422 naming it).
    pub fn field(&self) -> &'static str {
        match self {
            Self::BadName { .. } => "name",
            Self::BadDescription { .. } => "description",
            Self::OutOfBounds { field, .. } => field,
        }
    }
}

/// A service's spoken name: whitespace collapsed, 1–60 characters, at least
/// one letter or digit, no control characters. Unique in its calendar
/// ignoring case ([`ServiceName::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceName(String);

impl ServiceName {
    pub const MAX_CHARS: usize = 60;

    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty()
            || collapsed.chars().count() > Self::MAX_CHARS
            || collapsed.chars().any(char::is_control)
            || !collapsed.chars().any(char::is_alphanumeric)
        {
            return Err(ServiceError::BadName {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(collapsed))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as compared for uniqueness: lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A service's spoken description: whitespace collapsed, at most 300
/// characters, no control characters; empty means none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceDescription(String);

impl ServiceDescription {
    pub const MAX_CHARS: usize = 300;

    /// `None` for an empty (or blank) description.
    pub fn parse(raw: &str) -> Result<Option<Self>, ServiceError> {
        let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.chars().count() > Self::MAX_CHARS || collapsed.chars().any(char::is_control) {
            return Err(ServiceError::BadDescription {
                max: Self::MAX_CHARS,
            });
        }
        Ok((!collapsed.is_empty()).then_some(Self(collapsed)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The time kept free around an appointment: it holds
/// `[start - before, end + after)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Padding {
    pub before: Duration,
    pub after: Duration,
}

impl Padding {
    /// Only a buffer after (a calendar's own buffer).
    pub fn after(after: Duration) -> Self {
        Self {
            before: Duration::zero(),
            after,
        }
    }
}

/// The raw settings of a [`Service`], in minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    pub name: ServiceName,
    pub description: Option<ServiceDescription>,
    pub duration_minutes: i64,
    pub buffer_before_minutes: i64,
    pub buffer_after_minutes: i64,
    pub daily_limit: Option<i64>,
}

/// The most appointments of one service per day a limit may allow.
pub const MAX_DAILY_LIMIT: i64 = 1000;

/// A service a calendar offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: ServiceId,
    pub calendar_id: CalendarId,
    pub name: ServiceName,
    pub description: Option<ServiceDescription>,
    duration: Duration,
    padding: Padding,
    daily_limit: Option<u32>,
    /// The service booked when a caller names none.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

impl Service {
    /// A service with checked settings: length 5–480 minutes, each buffer
    /// 0–240 minutes, the limit 1–1000 a day.
    pub fn new(
        id: ServiceId,
        calendar_id: CalendarId,
        settings: ServiceSettings,
        is_default: bool,
        created_at: DateTime<Utc>,
    ) -> Result<Self, ServiceError> {
        let s = settings;
        bounded(
            "duration_minutes",
            s.duration_minutes,
            5,
            Schedule::MAX_DURATION_MINUTES,
        )?;
        bounded(
            "buffer_before_minutes",
            s.buffer_before_minutes,
            0,
            Schedule::MAX_BUFFER_MINUTES,
        )?;
        bounded(
            "buffer_after_minutes",
            s.buffer_after_minutes,
            0,
            Schedule::MAX_BUFFER_MINUTES,
        )?;
        if let Some(limit) = s.daily_limit {
            bounded("daily_limit", limit, 1, MAX_DAILY_LIMIT)?;
        }
        Ok(Self {
            id,
            calendar_id,
            name: s.name,
            description: s.description,
            duration: Duration::minutes(s.duration_minutes),
            padding: Padding {
                before: Duration::minutes(s.buffer_before_minutes),
                after: Duration::minutes(s.buffer_after_minutes),
            },
            daily_limit: s.daily_limit.and_then(|l| u32::try_from(l).ok()),
            is_default,
            created_at,
        })
    }

    /// The settings, to change and check again.
    pub fn settings(&self) -> ServiceSettings {
        ServiceSettings {
            name: self.name.clone(),
            description: self.description.clone(),
            duration_minutes: self.duration.num_minutes(),
            buffer_before_minutes: self.padding.before.num_minutes(),
            buffer_after_minutes: self.padding.after.num_minutes(),
            daily_limit: self.daily_limit.map(i64::from),
        }
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }
    pub fn padding(&self) -> Padding {
        self.padding
    }
    pub fn daily_limit(&self) -> Option<u32> {
        self.daily_limit
    }
}

fn bounded(field: &'static str, got: i64, min: i64, max: i64) -> Result<(), ServiceError> {
    if got < min || got > max {
        return Err(ServiceError::OutOfBounds {
            field,
            min,
            max,
            got,
        });
    }
    Ok(())
}

/// The service a caller asked for, matched forgivingly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceMatch<'a> {
    Found(&'a Service),
    /// Nothing offered sounds like it (or several do equally).
    Unknown,
}

/// Words that say nothing about which service is meant.
const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "my",
    "our",
    "for",
    "of",
    "to",
    "some",
    "please",
    "just",
    "appointment",
    "appt",
    "booking",
    "session",
    "visit",
    "service",
    "and",
    "with",
    "i",
    "want",
    "need",
    "like",
    "would",
    "get",
    "book",
];

/// The words of `raw` as compared: lower case, split on anything not a
/// letter or digit, filler words dropped, plurals made singular.
pub fn words(raw: &str) -> Vec<String> {
    raw.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !FILLER.contains(w))
        .map(singular)
        .collect()
}

/// A plural made singular, roughly ("cleanings" → "cleaning", "brushes" →
/// "brush", "therapies" → "therapy", "teeth" → "tooth"); other words as they are.
fn singular(word: &str) -> String {
    match word {
        "teeth" => return "tooth".to_owned(),
        "feet" => return "foot".to_owned(),
        "children" => return "child".to_owned(),
        "men" => return "man".to_owned(),
        "women" => return "woman".to_owned(),
        _ => {}
    }
    let n = word.chars().count();
    if n > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    if n > 4
        && (word.ends_with("ches")
            || word.ends_with("shes")
            || word.ends_with("sses")
            || word.ends_with("xes"))
    {
        return word[..word.len() - 2].to_owned();
    }
    if n > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_owned();
    }
    word.to_owned()
}

/// The service `said` names, among `offered`:
///
/// 1. the same words (ignoring case, punctuation, filler words and plurals):
///    "Teeth Cleanings" is "teeth cleaning";
/// 2. otherwise the one service whose words contain all of the caller's or
///    are all contained in them ("cleaning" or "a deep teeth cleaning" for
///    "Teeth cleaning"), preferring the most words in common;
/// 3. otherwise the one service whose words are a spelling away from the
///    caller's (a missed letter: "cleening").
///
/// Several equally good candidates, or none, give [`ServiceMatch::Unknown`].
pub fn match_service<'a>(offered: &'a [Service], said: &str) -> ServiceMatch<'a> {
    let asked = words(said);
    if asked.is_empty() {
        return ServiceMatch::Unknown;
    }
    let named: Vec<(&Service, Vec<String>)> = offered
        .iter()
        .map(|s| (s, words(s.name.as_str())))
        .collect();
    let joined = asked.concat();
    let exact: Vec<&Service> = named
        .iter()
        .filter(|(_, w)| same_set(w, &asked) || w.concat() == joined)
        .map(|(s, _)| *s)
        .collect();
    if let [one] = exact.as_slice() {
        return ServiceMatch::Found(one);
    }
    if exact.len() > 1 {
        return ServiceMatch::Unknown;
    }
    let best = |score: &dyn Fn(&[String]) -> usize| -> ServiceMatch<'a> {
        let mut top = 0;
        let mut found: Vec<&'a Service> = Vec::new();
        for (s, w) in &named {
            let got = score(w);
            if got == 0 || got < top {
                continue;
            }
            if got > top {
                top = got;
                found.clear();
            }
            found.push(s);
        }
        match found.as_slice() {
            [one] => ServiceMatch::Found(one),
            _ => ServiceMatch::Unknown,
        }
    };
    let contained = best(&|w: &[String]| {
        let common = asked.iter().filter(|a| w.contains(a)).count();
        let nested = asked.iter().all(|a| w.contains(a)) || w.iter().all(|x| asked.contains(x));
        if nested && !w.is_empty() { common } else { 0 }
    });
    if contained != ServiceMatch::Unknown {
        return contained;
    }
    best(&|w: &[String]| {
        asked
            .iter()
            .filter(|a| a.chars().count() >= 4 && w.iter().any(|x| near(a, x)))
            .count()
    })
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// Whether two words are at most one edit apart (and long enough to tell).
fn near(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if b.len() < 4 || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    // Levenshtein distance, stopping early.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()] <= 1
}

/// The names of `offered` as one spoken list: "a cleaning, a check-up or a
/// filling" without articles: "Cleaning, Check-up or Filling".
pub fn spoken_list(offered: &[Service]) -> String {
    let names: Vec<&str> = offered.iter().map(|s| s.name.as_str()).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Why [`ServiceRepository`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreServiceError {
    #[error("no such service")]
    NotFound,
    #[error("the calendar already offers a service named '{0}'")]
    NameTaken(String),
    #[error("a calendar offers at most {0} services")]
    TooMany(usize),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Where services live.
#[async_trait::async_trait]
pub trait ServiceRepository: Send + Sync {
    /// The services of `calendar`, oldest first.
    async fn list_services(&self, calendar: CalendarId) -> anyhow::Result<Vec<Service>>;

    /// Stores `service`. MUST return [`StoreServiceError::NameTaken`] when
    /// the calendar has a service of the same [`ServiceName::key`], and
    /// [`StoreServiceError::TooMany`] when it has [`MAX_SERVICES`] already
    /// (atomically with concurrent creations). The calendar's first service
    /// MUST become its default whatever `service.is_default` says; a new
    /// default MUST take the flag from the previous one in the same
    /// transaction: a calendar with services has exactly one default.
    async fn create_service(&self, service: &Service) -> Result<(), StoreServiceError>;

    /// Replaces the stored service with the same id and calendar; the same
    /// refusals as [`create_service`](Self::create_service) for the name and
    /// the default, plus [`StoreServiceError::NotFound`]. Clearing the
    /// default flag of the default service is ignored (one is always the
    /// default).
    async fn update_service(&self, service: &Service) -> Result<(), StoreServiceError>;

    /// Deletes the service; when it was the default, the oldest remaining
    /// one becomes the default in the same transaction. Appointments keep
    /// the service's id and name.
    async fn delete_service(
        &self,
        calendar: CalendarId,
        id: ServiceId,
    ) -> Result<(), StoreServiceError>;
}

/// A service's settings as submitted: on creation a missing field takes its
/// default (the name is required); on a change it keeps its value.
/// `description: Some(None)` clears it, so does `daily_limit: Some(None)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub duration_minutes: Option<i64>,
    pub buffer_before_minutes: Option<i64>,
    pub buffer_after_minutes: Option<i64>,
    pub daily_limit: Option<Option<i64>>,
    pub is_default: Option<bool>,
}

/// Why a service could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceWriteError {
    /// No such calendar or service (or not the principal's).
    #[error("no such calendar or service")]
    NotFound,
    #[error("invalid service settings")]
    Invalid(Vec<crate::calendars::FieldError>),
    #[error("the calendar already offers a service named '{0}'")]
    NameTaken(String),
    #[error("a calendar offers at most {0} services")]
    TooMany(usize),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

impl From<StoreServiceError> for ServiceWriteError {
    fn from(e: StoreServiceError) -> Self {
        match e {
            StoreServiceError::NotFound => Self::NotFound,
            StoreServiceError::NameTaken(n) => Self::NameTaken(n),
            StoreServiceError::TooMany(n) => Self::TooMany(n),
            StoreServiceError::Unknown(e) => Self::Unknown(e),
        }
    }
}

/// The services of calendars, as staff and administrators manage them:
/// the calendar must be the principal's (any, for an administrator),
/// otherwise it does not exist for them.
#[derive(Clone)]
pub struct ServiceCatalog {
    calendars: crate::calendars::CalendarService,
    repo: std::sync::Arc<dyn ServiceRepository>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
}

impl ServiceCatalog {
    pub fn new(
        calendars: crate::calendars::CalendarService,
        repo: std::sync::Arc<dyn ServiceRepository>,
        clock: std::sync::Arc<dyn crate::ports::Clock>,
    ) -> Self {
        Self {
            calendars,
            repo,
            clock,
        }
    }

    /// The services of calendar `id`, oldest first.
    pub async fn list(
        &self,
        principal: &crate::accounts::Principal,
        id: CalendarId,
    ) -> Result<Vec<Service>, ServiceWriteError> {
        self.calendar(principal, id).await?;
        self.repo
            .list_services(id)
            .await
            .map_err(ServiceWriteError::Unknown)
    }

    /// The services of a calendar a VAPI request was routed to (no principal:
    /// routing decided the tenant).
    pub async fn offered(&self, calendar: CalendarId) -> anyhow::Result<Vec<Service>> {
        self.repo.list_services(calendar).await
    }

    pub async fn get(
        &self,
        principal: &crate::accounts::Principal,
        id: CalendarId,
        service: ServiceId,
    ) -> Result<Service, ServiceWriteError> {
        self.list(principal, id)
            .await?
            .into_iter()
            .find(|s| s.id == service)
            .ok_or(ServiceWriteError::NotFound)
    }

    pub async fn create(
        &self,
        principal: &crate::accounts::Principal,
        id: CalendarId,
        fields: ServiceFields,
    ) -> Result<Service, ServiceWriteError> {
        self.calendar(principal, id).await?;
        let service = build(None, fields, id, ServiceId::new(), self.clock.now())?;
        self.repo.create_service(&service).await?;
        // The store makes the first service the default.
        self.get(principal, id, service.id).await
    }

    pub async fn update(
        &self,
        principal: &crate::accounts::Principal,
        id: CalendarId,
        service: ServiceId,
        fields: ServiceFields,
    ) -> Result<Service, ServiceWriteError> {
        let current = self.get(principal, id, service).await?;
        let created_at = current.created_at;
        let changed = build(Some(current), fields, id, service, created_at)?;
        self.repo.update_service(&changed).await?;
        self.get(principal, id, service).await
    }

    pub async fn delete(
        &self,
        principal: &crate::accounts::Principal,
        id: CalendarId,
        service: ServiceId,
    ) -> Result<(), ServiceWriteError> {
        self.calendar(principal, id).await?;
        self.repo.delete_service(id, service).await?;
        Ok(())
    }

    async fn calendar(
        &self,
        principal: &crate::accounts::Principal,
        id: CalendarId,
    ) -> Result<(), ServiceWriteError> {
        match self.calendars.get(principal, id).await {
            Ok(_) => Ok(()),
            Err(crate::calendars::CalendarLookupError::NotFound) => {
                Err(ServiceWriteError::NotFound)
            }
            Err(crate::calendars::CalendarLookupError::Unknown(e)) => {
                Err(ServiceWriteError::Unknown(e))
            }
        }
    }
}

/// A service from submitted fields over `current` (a change) or the
/// defaults (a creation: 30 minutes, no buffers, no limit); every refused
/// field is named.
fn build(
    current: Option<Service>,
    fields: ServiceFields,
    calendar: CalendarId,
    id: ServiceId,
    created_at: DateTime<Utc>,
) -> Result<Service, ServiceWriteError> {
    use crate::calendars::FieldError;
    let mut errors = Vec::new();
    let base = current.as_ref().map(Service::settings);
    let name = match (&fields.name, &base) {
        (Some(raw), _) => ServiceName::parse(raw)
            .map_err(|e| errors.push(FieldError::new("name", e.to_string())))
            .ok(),
        (None, Some(b)) => Some(b.name.clone()),
        (None, None) => {
            errors.push(FieldError::new("name", "name is required"));
            None
        }
    };
    let description = match (&fields.description, &base) {
        (Some(Some(raw)), _) => ServiceDescription::parse(raw)
            .map_err(|e| errors.push(FieldError::new("description", e.to_string())))
            .unwrap_or(None),
        (Some(None), _) => None,
        (None, Some(b)) => b.description.clone(),
        (None, None) => None,
    };
    let pick =
        |given: Option<i64>, old: Option<i64>, default: i64| given.or(old).unwrap_or(default);
    let settings = name.map(|name| ServiceSettings {
        name,
        description,
        duration_minutes: pick(
            fields.duration_minutes,
            base.as_ref().map(|b| b.duration_minutes),
            30,
        ),
        buffer_before_minutes: pick(
            fields.buffer_before_minutes,
            base.as_ref().map(|b| b.buffer_before_minutes),
            0,
        ),
        buffer_after_minutes: pick(
            fields.buffer_after_minutes,
            base.as_ref().map(|b| b.buffer_after_minutes),
            0,
        ),
        daily_limit: match fields.daily_limit {
            Some(limit) => limit,
            None => base.as_ref().and_then(|b| b.daily_limit),
        },
    });
    // The numbers alone, to check them when the name is refused.
    let numbers = match (&settings, ServiceName::parse("x")) {
        (None, Ok(placeholder)) => Some(ServiceSettings {
            name: placeholder,
            description: None,
            duration_minutes: pick(
                fields.duration_minutes,
                base.as_ref().map(|b| b.duration_minutes),
                30,
            ),
            buffer_before_minutes: pick(
                fields.buffer_before_minutes,
                base.as_ref().map(|b| b.buffer_before_minutes),
                0,
            ),
            buffer_after_minutes: pick(
                fields.buffer_after_minutes,
                base.as_ref().map(|b| b.buffer_after_minutes),
                0,
            ),
            daily_limit: fields.daily_limit.flatten(),
        }),
        _ => None,
    };
    let is_default = fields
        .is_default
        .or(current.as_ref().map(|c| c.is_default))
        .unwrap_or(false);
    // Check every bounded field, so each refused one is named (even when
    // the name is refused too).
    if let Some(s) = settings.as_ref().or(numbers.as_ref()) {
        for (field, got, min, max) in [
            (
                "duration_minutes",
                s.duration_minutes,
                5,
                Schedule::MAX_DURATION_MINUTES,
            ),
            (
                "buffer_before_minutes",
                s.buffer_before_minutes,
                0,
                Schedule::MAX_BUFFER_MINUTES,
            ),
            (
                "buffer_after_minutes",
                s.buffer_after_minutes,
                0,
                Schedule::MAX_BUFFER_MINUTES,
            ),
            (
                "daily_limit",
                s.daily_limit.unwrap_or(1),
                1,
                MAX_DAILY_LIMIT,
            ),
        ] {
            if let Err(e) = bounded(field, got, min, max) {
                errors.push(FieldError::new(field, e.to_string()));
            }
        }
    }
    match settings {
        Some(s) if errors.is_empty() => Service::new(id, calendar, s, is_default, created_at)
            .map_err(|e| {
                ServiceWriteError::Invalid(vec![FieldError::new(e.field(), e.to_string())])
            }),
        _ => Err(ServiceWriteError::Invalid(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn service(name: &str) -> Service {
        Service::new(
            ServiceId::new(),
            CalendarId::new(),
            ServiceSettings {
                name: ServiceName::parse(name).unwrap(),
                description: None,
                duration_minutes: 30,
                buffer_before_minutes: 0,
                buffer_after_minutes: 0,
                daily_limit: None,
            },
            false,
            Utc::now(),
        )
        .unwrap()
    }

    fn offered(names: &[&str]) -> Vec<Service> {
        names.iter().map(|n| service(n)).collect()
    }

    fn found<'a>(m: ServiceMatch<'a>) -> Option<&'a str> {
        match m {
            ServiceMatch::Found(s) => Some(s.name.as_str()),
            ServiceMatch::Unknown => None,
        }
    }

    #[test]
    fn callers_words_are_matched_forgivingly() {
        let list = offered(&["Teeth cleaning", "Check-up", "Filling", "Root canal"]);
        for (said, want) in [
            ("teeth cleaning", Some("Teeth cleaning")),
            ("Teeth Cleaning", Some("Teeth cleaning")),
            ("a teeth cleaning please", Some("Teeth cleaning")),
            ("cleaning", Some("Teeth cleaning")),
            ("cleanings", Some("Teeth cleaning")),
            ("tooth cleaning", Some("Teeth cleaning")),
            ("a deep teeth cleaning", Some("Teeth cleaning")),
            ("checkup", Some("Check-up")),
            ("check up", Some("Check-up")),
            ("CHECK-UPS", Some("Check-up")),
            ("fillings", Some("Filling")),
            ("filling appointment", Some("Filling")),
            ("root canals", Some("Root canal")),
            ("cleening", Some("Teeth cleaning")),
            ("haircut", None),
            ("", None),
            ("the appointment", None),
        ] {
            assert_eq!(found(match_service(&list, said)), want, "{said}");
        }
    }

    #[test]
    fn equally_good_candidates_are_not_guessed() {
        let list = offered(&["Deep cleaning", "Quick cleaning"]);
        assert_eq!(found(match_service(&list, "cleaning")), None);
        assert_eq!(
            found(match_service(&list, "a quick cleaning")),
            Some("Quick cleaning")
        );
    }

    #[test]
    fn plurals_become_singular() {
        for (plural, one) in [
            ("cleanings", "cleaning"),
            ("brushes", "brush"),
            ("therapies", "therapy"),
            ("teeth", "tooth"),
            ("massages", "massage"),
            ("glass", "glass"),
            ("bus", "bus"),
            ("cuts", "cut"),
        ] {
            assert_eq!(singular(plural), one, "{plural}");
        }
    }

    #[test]
    fn names_and_descriptions_are_checked() {
        assert_eq!(
            ServiceName::parse("  Teeth   cleaning ").unwrap().as_str(),
            "Teeth cleaning"
        );
        assert!(ServiceName::parse("  ").is_err());
        assert!(ServiceName::parse("--").is_err());
        assert!(ServiceName::parse("a\u{7}b").is_err());
        assert!(ServiceName::parse(&"n".repeat(61)).is_err());
        assert!(ServiceName::parse(&"n".repeat(60)).is_ok());
        assert_eq!(ServiceDescription::parse(" ").unwrap(), None);
        assert!(ServiceDescription::parse(&"d".repeat(301)).is_err());
    }

    #[test]
    fn settings_are_bounded_and_name_their_field() {
        let base = service("Cut").settings();
        let err = |s: ServiceSettings| {
            Service::new(ServiceId::new(), CalendarId::new(), s, false, Utc::now())
                .unwrap_err()
                .field()
        };
        assert_eq!(
            err(ServiceSettings {
                duration_minutes: 4,
                ..base.clone()
            }),
            "duration_minutes"
        );
        assert_eq!(
            err(ServiceSettings {
                buffer_before_minutes: -1,
                ..base.clone()
            }),
            "buffer_before_minutes"
        );
        assert_eq!(
            err(ServiceSettings {
                buffer_after_minutes: 241,
                ..base.clone()
            }),
            "buffer_after_minutes"
        );
        assert_eq!(
            err(ServiceSettings {
                daily_limit: Some(0),
                ..base
            }),
            "daily_limit"
        );
    }

    #[test]
    fn the_offered_list_is_spoken() {
        assert_eq!(spoken_list(&offered(&["Cut"])), "Cut");
        assert_eq!(
            spoken_list(&offered(&["Cut", "Colour", "Shave"])),
            "Cut, Colour or Shave"
        );
    }

    proptest! {
        /// Every offered name is found from itself in any case and with
        /// surrounding filler, and the matcher never panics.
        #[test]
        fn a_name_finds_itself(
            names in proptest::collection::btree_set("[a-z]{3,9}( [a-z]{3,9}){0,2}", 1..6),
            upper in any::<bool>(),
            junk in ".{0,40}",
        ) {
            let names: Vec<String> = names.into_iter().collect();
            let list: Vec<Service> = names.iter().map(|n| service(n)).collect();
            let _ = match_service(&list, &junk);
            for s in &list {
                let words_of = words(s.name.as_str());
                // Names whose words equal another's (after plurals) cannot be told apart.
                let twins = list.iter().filter(|o| same_set(&words(o.name.as_str()), &words_of)).count();
                if twins > 1 || words_of.is_empty() {
                    continue;
                }
                let said = if upper { s.name.as_str().to_uppercase() } else { s.name.as_str().to_owned() };
                let said = format!("a {said} appointment please");
                prop_assert_eq!(found(match_service(&list, &said)), Some(s.name.as_str()));
            }
        }
    }
}
