//! Managing calendars (create, change, delete, list) for signed-in users, and
//! finding the calendar a VAPI request is for.

use std::sync::Arc;

use crate::accounts::Principal;
use crate::calendar::{Calendar, CalendarId, CalendarName, Slug, VapiId, VapiRoutes};
use crate::closures::Closures;
use crate::ports::{
    Actor, AuditEntry, AuditLog, CalendarRepository, CalendarScope, Clock,
    StoreCalendarDeleteError, StoreCalendarError,
};
use crate::schedule::{Schedule, ScheduleError, ScheduleSettings, WeeklyHours};
use crate::time::TimeZoneId;
use crate::user::UserId;

/// A calendar's settings as submitted: on creation a missing field takes its
/// default (name and time zone are required); on a change it keeps its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarFields {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub time_zone: Option<String>,
    pub working_hours: Option<String>,
    pub slot_minutes: Option<i64>,
    pub default_duration_minutes: Option<i64>,
    pub min_notice_minutes: Option<i64>,
    pub horizon_days: Option<i64>,
    pub buffer_minutes: Option<i64>,
    pub vapi_assistant_ids: Option<Vec<String>>,
    pub vapi_phone_number_ids: Option<Vec<String>>,
    /// Administrators only: whose calendar it is.
    pub owner_id: Option<UserId>,
}

/// One field that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarWriteError {
    #[error("no such calendar")]
    NotFound,
    #[error("invalid calendar settings")]
    Invalid(Vec<FieldError>),
    #[error("the slug '{0}' is used by another calendar")]
    SlugTaken(String),
    #[error("the VAPI id '{0}' already routes to another calendar")]
    RouteTaken(String),
    #[error("only administrators can give a calendar to another user")]
    Forbidden,
    /// A staff member tried to assign or change routing fields: which
    /// calls a calendar takes is an administrator's decision, or anyone
    /// could claim another tenant's phone line.
    #[error("{}: only administrators can assign or change a calendar's VAPI ids (which calls it takes)", .0.join(", "))]
    AdminOnly(Vec<&'static str>),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarDeleteError {
    #[error("no such calendar")]
    NotFound,
    #[error("the calendar still has {0} upcoming appointments; cancel them first")]
    HasUpcoming(u64),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarLookupError {
    #[error("no such calendar")]
    NotFound,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// What a VAPI request says about the calendar it is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteHints<'a> {
    /// `?calendar=<slug>` on the tool URL.
    pub slug: Option<&'a str>,
    pub assistant_id: Option<&'a str>,
    pub phone_number_id: Option<&'a str>,
    /// VAPI's call id: who a refused call is recorded as in the audit log.
    pub call_id: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no calendar has the slug '{0}'")]
    UnknownSlug(String),
    /// Several calendars exist and nothing in the request picks one.
    #[error(
        "no calendar is set up for this line (assistant {assistant:?}, phone number {phone_number:?})"
    )]
    NotConfigured {
        assistant: Option<String>,
        phone_number: Option<String>,
    },
    /// The assistant and the phone number route to calendars of different
    /// owners: one tenant's assistant id cannot take another tenant's line.
    #[error(
        "the assistant {assistant} and the phone number {phone_number} route to calendars of different owners"
    )]
    OwnerMismatch {
        assistant: String,
        phone_number: String,
    },
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// Calendars as staff and administrators see them.
#[derive(Clone)]
pub struct CalendarService {
    repo: Arc<dyn CalendarRepository>,
    clock: Arc<dyn Clock>,
    /// Where calendar changes are recorded (none: not recorded).
    audit: Option<Arc<dyn AuditLog>>,
    /// Recent routing answers (shared by the clones of this service).
    routes: Arc<RouteCache>,
}

/// How long [`CalendarService::route`] reuses an answer. Every VAPI request
/// is routed; on a busy line the same answer is asked for many times a
/// second, and reading it (up to three queries) cost as much as a booking's
/// own statement (docs/performance.md). A change made through this
/// instance is seen at once (the cache is cleared); one made through
/// another instance sharing the database, within this time.
pub const ROUTE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// The most routing answers kept (a request's hints are its key).
const ROUTE_CACHE_MAX: usize = 1024;

type RouteKey = (Option<String>, Option<String>, Option<String>);

#[derive(Default)]
struct RouteCache {
    entries: std::sync::Mutex<std::collections::HashMap<RouteKey, (Calendar, std::time::Instant)>>,
}

impl RouteCache {
    fn entries(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<RouteKey, (Calendar, std::time::Instant)>,
    > {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &RouteKey) -> Option<Calendar> {
        self.entries()
            .get(key)
            .filter(|(_, at)| at.elapsed() < ROUTE_CACHE_TTL)
            .map(|(calendar, _)| calendar.clone())
    }

    fn put(&self, key: RouteKey, calendar: &Calendar) {
        let mut entries = self.entries();
        if entries.len() >= ROUTE_CACHE_MAX {
            entries.retain(|_, (_, at)| at.elapsed() < ROUTE_CACHE_TTL);
            if entries.len() >= ROUTE_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key, (calendar.clone(), std::time::Instant::now()));
    }

    fn clear(&self) {
        self.entries().clear();
    }
}

impl CalendarService {
    pub fn new(repo: Arc<dyn CalendarRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            repo,
            clock,
            audit: None,
            routes: Arc::default(),
        }
    }

    /// Records every calendar created, changed or deleted in `audit`
    /// (`calendar.create`, `calendar.update`, `calendar.delete`), and every
    /// refused attempt to give a calendar to another user (`denied`).
    #[must_use]
    pub fn with_audit(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The calendars the principal may see: all for administrators, their own
    /// for staff.
    pub async fn list(&self, principal: &Principal) -> Result<Vec<Calendar>, CalendarLookupError> {
        let scope = if principal.user.is_admin() {
            CalendarScope::All
        } else {
            CalendarScope::OwnedBy(principal.user.id)
        };
        self.repo
            .list(scope)
            .await
            .map_err(CalendarLookupError::Unknown)
    }

    /// The calendar `id` if the principal may see it; `NotFound` otherwise
    /// (another user's calendar is indistinguishable from a missing one).
    pub async fn get(
        &self,
        principal: &Principal,
        id: CalendarId,
    ) -> Result<Calendar, CalendarLookupError> {
        match self.repo.get(id).await {
            Ok(Some(c)) if principal.user.can_access(&c) => Ok(c),
            Ok(_) => Err(CalendarLookupError::NotFound),
            Err(e) => Err(CalendarLookupError::Unknown(e)),
        }
    }

    pub async fn create(
        &self,
        principal: &Principal,
        fields: CalendarFields,
    ) -> Result<Calendar, CalendarWriteError> {
        let owner = match fields.owner_id {
            Some(owner) if owner != principal.user.id && !principal.user.is_admin() => {
                self.audit(
                    principal,
                    "calendar.create",
                    None,
                    "denied",
                    format!("only administrators can create a calendar for user:{owner}"),
                )
                .await;
                return Err(CalendarWriteError::Forbidden);
            }
            Some(owner) => owner,
            None => principal.user.id,
        };
        self.only_admins_route(principal, "calendar.create", None, &fields, None)
            .await?;
        let calendar = build(None, &fields, CalendarId::new(), owner, self.clock.now())?;
        self.repo
            .create(&calendar)
            .await
            .map_err(|e| write_error(e, &calendar))?;
        self.routes.clear();
        self.audit(
            principal,
            "calendar.create",
            Some(calendar.id),
            "success",
            format!("owner user:{owner}"),
        )
        .await;
        Ok(calendar)
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: CalendarId,
        fields: CalendarFields,
    ) -> Result<Calendar, CalendarWriteError> {
        let current = self.get(principal, id).await.map_err(|e| match e {
            CalendarLookupError::NotFound => CalendarWriteError::NotFound,
            CalendarLookupError::Unknown(e) => CalendarWriteError::Unknown(e),
        })?;
        let owner = match (fields.owner_id, current.owner) {
            (Some(new), old) if Some(new) != old && !principal.user.is_admin() => {
                self.audit(
                    principal,
                    "calendar.update",
                    Some(id),
                    "denied",
                    format!("only administrators can give a calendar to user:{new}"),
                )
                .await;
                return Err(CalendarWriteError::Forbidden);
            }
            (Some(new), _) => new,
            (None, Some(old)) => old,
            (None, None) => principal.user.id,
        };
        self.only_admins_route(
            principal,
            "calendar.update",
            Some(id),
            &fields,
            Some(&current.routes),
        )
        .await?;
        let calendar = build(Some(&current), &fields, id, owner, current.created_at)?;
        self.repo
            .update(&calendar)
            .await
            .map_err(|e| write_error(e, &calendar))?;
        self.routes.clear();
        self.audit(
            principal,
            "calendar.update",
            Some(id),
            "success",
            describe_changes(&current, &calendar),
        )
        .await;
        Ok(calendar)
    }

    /// Replaces the closures of calendar `id` (the principal's, or any for
    /// an administrator) with `closures`; the calendar as it is now.
    pub async fn replace_closures(
        &self,
        principal: &Principal,
        id: CalendarId,
        closures: Closures,
    ) -> Result<Calendar, CalendarWriteError> {
        let current = self.get(principal, id).await.map_err(|e| match e {
            CalendarLookupError::NotFound => CalendarWriteError::NotFound,
            CalendarLookupError::Unknown(e) => CalendarWriteError::Unknown(e),
        })?;
        self.repo
            .replace_closures(id, &closures)
            .await
            .map_err(|e| write_error(e, &current))?;
        self.routes.clear();
        let closed = closures.days().iter().filter(|d| d.is_closed()).count();
        self.audit(
            principal,
            "calendar.closures",
            Some(id),
            "success",
            format!(
                "replaced the closures: {closed} closed dates, {} dates with special hours, {} time-off periods",
                closures.days().len() - closed,
                closures.time_off().len()
            ),
        )
        .await;
        let schedule = current.schedule.clone().with_closures(Arc::new(closures));
        Ok(Calendar {
            schedule,
            ..current
        })
    }

    /// Deletes a calendar without upcoming appointments (with its history).
    pub async fn delete(
        &self,
        principal: &Principal,
        id: CalendarId,
    ) -> Result<(), CalendarDeleteError> {
        self.get(principal, id).await.map_err(|e| match e {
            CalendarLookupError::NotFound => CalendarDeleteError::NotFound,
            CalendarLookupError::Unknown(e) => CalendarDeleteError::Unknown(e),
        })?;
        self.repo
            .delete(id, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreCalendarDeleteError::NotFound => CalendarDeleteError::NotFound,
                StoreCalendarDeleteError::HasUpcoming(n) => CalendarDeleteError::HasUpcoming(n),
                StoreCalendarDeleteError::Unknown(e) => CalendarDeleteError::Unknown(e),
            })?;
        self.routes.clear();
        self.audit(
            principal,
            "calendar.delete",
            Some(id),
            "success",
            "deleted with its past and cancelled appointments".to_owned(),
        )
        .await;
        Ok(())
    }

    /// Refuses (and audits) a staff member's attempt to assign or change a
    /// calendar's VAPI ids: the routes decide which calls, and so which
    /// callers, a calendar's owner gets. Giving the ids a calendar already
    /// has (a client sending the whole calendar back) changes nothing and
    /// passes.
    async fn only_admins_route(
        &self,
        principal: &Principal,
        action: &'static str,
        calendar: Option<CalendarId>,
        fields: &CalendarFields,
        current: Option<&VapiRoutes>,
    ) -> Result<(), CalendarWriteError> {
        if principal.user.is_admin() {
            return Ok(());
        }
        let none = Vec::new();
        let refused: Vec<&'static str> = [
            (
                "vapi_assistant_ids",
                fields.vapi_assistant_ids.as_deref(),
                current.map_or(&none, |r| &r.assistant_ids),
            ),
            (
                "vapi_phone_number_ids",
                fields.vapi_phone_number_ids.as_deref(),
                current.map_or(&none, |r| &r.phone_number_ids),
            ),
        ]
        .into_iter()
        .filter(|(_, given, current)| given.is_some_and(|g| changes_ids(g, current)))
        .map(|(field, _, _)| field)
        .collect();
        if refused.is_empty() {
            return Ok(());
        }
        self.audit(
            principal,
            action,
            calendar,
            "denied",
            format!(
                "only administrators can assign or change {}",
                refused.join(", ")
            ),
        )
        .await;
        Err(CalendarWriteError::AdminOnly(refused))
    }

    /// Records a calendar action of `principal` (a failure is only logged).
    async fn audit(
        &self,
        principal: &Principal,
        action: &'static str,
        calendar: Option<CalendarId>,
        outcome: &'static str,
        detail: String,
    ) {
        crate::audit::record(
            self.audit.as_ref(),
            AuditEntry {
                at: self.clock.now(),
                actor: Actor::User(principal.user.id),
                action,
                resource: calendar.map(|id| format!("calendar:{id}")),
                outcome,
                address: principal.address.clone(),
                detail: Some(detail),
            },
        )
        .await;
    }

    /// The calendar a VAPI request is for: the slug on the URL wins; then the
    /// assistant or phone number the call came through; then the only
    /// calendar, when there is exactly one. An answer is reused for
    /// [`ROUTE_CACHE_TTL`].
    pub async fn route(&self, hints: &RouteHints<'_>) -> Result<Calendar, RouteError> {
        let key: RouteKey = (
            hints.slug.map(str::to_owned),
            hints.assistant_id.map(str::to_owned),
            hints.phone_number_id.map(str::to_owned),
        );
        if let Some(calendar) = self.routes.get(&key) {
            return Ok(calendar);
        }
        let calendar = self.route_uncached(hints).await?;
        self.routes.put(key, &calendar);
        Ok(calendar)
    }

    async fn route_uncached(&self, hints: &RouteHints<'_>) -> Result<Calendar, RouteError> {
        if let Some(raw) = hints.slug {
            let found = match Slug::parse(raw) {
                Ok(slug) => self
                    .repo
                    .find_by_slug(&slug)
                    .await
                    .map_err(RouteError::Unknown)?,
                Err(_) => None,
            };
            return found.ok_or_else(|| RouteError::UnknownSlug(raw.to_owned()));
        }
        let assistant = hints.assistant_id.and_then(|a| VapiId::parse(a).ok());
        let phone = hints.phone_number_id.and_then(|p| VapiId::parse(p).ok());
        if assistant.is_some() || phone.is_some() {
            let found = self
                .repo
                .find_by_vapi(assistant.as_ref(), phone.as_ref())
                .await
                .map_err(RouteError::Unknown)?;
            match (found.by_assistant, found.by_phone_number) {
                // One owner's assistant on another owner's line: refused,
                // whichever would win.
                (Some(by_assistant), Some(by_phone)) if by_assistant.owner != by_phone.owner => {
                    return Err(self.refuse_mismatch(hints, &by_assistant, &by_phone).await);
                }
                // The assistant's route wins over the phone number's.
                (Some(calendar), _) | (None, Some(calendar)) => return Ok(calendar),
                (None, None) => {}
            }
        }
        self.repo
            .sole()
            .await
            .map_err(RouteError::Unknown)?
            .ok_or_else(|| RouteError::NotConfigured {
                assistant: hints.assistant_id.map(str::to_owned),
                phone_number: hints.phone_number_id.map(str::to_owned),
            })
    }
}

impl CalendarService {
    /// Audits a call whose assistant and phone number route to calendars of
    /// different owners (`vapi.route_refused`, `denied`, naming both ids and
    /// both calendars) and returns the refusal.
    async fn refuse_mismatch(
        &self,
        hints: &RouteHints<'_>,
        by_assistant: &Calendar,
        by_phone: &Calendar,
    ) -> RouteError {
        let assistant = hints.assistant_id.unwrap_or_default().trim().to_owned();
        let phone_number = hints.phone_number_id.unwrap_or_default().trim().to_owned();
        crate::audit::record(
            self.audit.as_ref(),
            AuditEntry {
                at: self.clock.now(),
                actor: Actor::voice(hints.call_id),
                action: "vapi.route_refused",
                resource: Some(format!("calendar:{}", by_phone.id)),
                outcome: "denied",
                address: None,
                detail: Some(format!(
                    "assistant {assistant} routes to calendar:{} and phone number {phone_number} to calendar:{}, which have different owners",
                    by_assistant.id, by_phone.id
                )),
            },
        )
        .await;
        RouteError::OwnerMismatch {
            assistant,
            phone_number,
        }
    }
}

/// Whether `given` (as submitted) differs from a calendar's `current` ids.
/// An id that does not parse is a change (it is refused either way).
fn changes_ids(given: &[String], current: &[VapiId]) -> bool {
    let mut ids = Vec::with_capacity(given.len());
    for raw in given {
        match VapiId::parse(raw) {
            Ok(id) => ids.push(id),
            Err(_) => return true,
        }
    }
    ids.sort();
    ids.dedup();
    ids != current
}

/// Which settings a change touched (names only: a calendar's name or slug
/// may name a person), and the new owner when it changed.
fn describe_changes(before: &Calendar, after: &Calendar) -> String {
    let (b, a) = (&before.schedule, &after.schedule);
    let mut changed: Vec<String> = [
        ("name", before.name != after.name),
        ("slug", before.slug != after.slug),
        ("time_zone", b.time_zone() != a.time_zone()),
        ("working_hours", b.hours() != a.hours()),
        ("slot_minutes", b.slot() != a.slot()),
        (
            "default_duration_minutes",
            b.default_duration() != a.default_duration(),
        ),
        ("min_notice_minutes", b.min_notice() != a.min_notice()),
        ("horizon_days", b.horizon_days() != a.horizon_days()),
        ("buffer_minutes", b.buffer() != a.buffer()),
        (
            "vapi_assistant_ids",
            before.routes.assistant_ids != after.routes.assistant_ids,
        ),
        (
            "vapi_phone_number_ids",
            before.routes.phone_number_ids != after.routes.phone_number_ids,
        ),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(field, _)| field.to_owned())
    .collect();
    if before.owner != after.owner {
        changed.push(match after.owner {
            Some(owner) => format!("owner_id (now user:{owner})"),
            None => "owner_id".to_owned(),
        });
    }
    if changed.is_empty() {
        "no setting changed".to_owned()
    } else {
        format!("changed {}", changed.join(", "))
    }
}

fn write_error(e: StoreCalendarError, calendar: &Calendar) -> CalendarWriteError {
    match e {
        StoreCalendarError::NotFound => CalendarWriteError::NotFound,
        StoreCalendarError::SlugTaken => CalendarWriteError::SlugTaken(calendar.slug.to_string()),
        StoreCalendarError::RouteTaken(id) => CalendarWriteError::RouteTaken(id),
        StoreCalendarError::UnknownOwner => {
            CalendarWriteError::Invalid(vec![FieldError::new("owner_id", "no user has this id")])
        }
        StoreCalendarError::Unknown(e) => CalendarWriteError::Unknown(e),
    }
}

/// Defaults of a new calendar's settings.
const DEFAULT_HOURS: &str = "mon-fri 09:00-17:00";
const DEFAULT_SLOT: i64 = 30;
const DEFAULT_DURATION: i64 = 30;
const DEFAULT_NOTICE: i64 = 60;
const DEFAULT_HORIZON: i64 = 60;
const DEFAULT_BUFFER: i64 = 0;

/// Validates `fields` over `current` (or the defaults), collecting every
/// refused field.
fn build(
    current: Option<&Calendar>,
    fields: &CalendarFields,
    id: CalendarId,
    owner: UserId,
    created_at: chrono::DateTime<chrono::Utc>,
) -> Result<Calendar, CalendarWriteError> {
    let mut errors = Vec::new();
    let name = match (&fields.name, current) {
        (Some(raw), _) => CalendarName::parse(raw)
            .map_err(|e| errors.push(FieldError::new("name", e.to_string())))
            .ok(),
        (None, Some(c)) => CalendarName::parse(&c.name).ok(),
        (None, None) => {
            errors.push(FieldError::new("name", "the name is required"));
            None
        }
    };
    let slug = match (&fields.slug, current, &name) {
        (Some(raw), _, _) => Slug::parse(raw)
            .map_err(|e| errors.push(FieldError::new("slug", e.to_string())))
            .ok(),
        (None, Some(c), _) => Some(c.slug.clone()),
        (None, None, Some(name)) => Some(Slug::from_name(name.as_str())),
        (None, None, None) => None,
    };
    let time_zone = match (&fields.time_zone, current) {
        (Some(raw), _) => TimeZoneId::parse(raw)
            .map_err(|e| errors.push(FieldError::new("time_zone", e.to_string())))
            .ok(),
        (None, Some(c)) => Some(c.schedule.time_zone()),
        (None, None) => {
            errors.push(FieldError::new(
                "time_zone",
                "the time zone is required (an IANA name such as America/New_York)",
            ));
            None
        }
    };
    let hours = match (&fields.working_hours, current) {
        (Some(raw), _) => WeeklyHours::parse(raw)
            .map_err(|e| errors.push(FieldError::new("working_hours", e.to_string())))
            .ok(),
        (None, Some(c)) => Some(c.schedule.hours().clone()),
        (None, None) => WeeklyHours::parse(DEFAULT_HOURS).ok(),
    };
    let minutes = |d: chrono::Duration| d.num_minutes();
    let pick =
        |given: Option<i64>, from: Option<i64>, default: i64| given.or(from).unwrap_or(default);
    let s = current.map(|c| &c.schedule);
    let slot = pick(
        fields.slot_minutes,
        s.map(|s| minutes(s.slot())),
        DEFAULT_SLOT,
    );
    let duration = pick(
        fields.default_duration_minutes,
        s.map(|s| minutes(s.default_duration())),
        DEFAULT_DURATION,
    );
    let notice = pick(
        fields.min_notice_minutes,
        s.map(|s| minutes(s.min_notice())),
        DEFAULT_NOTICE,
    );
    let horizon = pick(
        fields.horizon_days,
        s.map(|s| i64::from(s.horizon_days())),
        DEFAULT_HORIZON,
    );
    let buffer = pick(
        fields.buffer_minutes,
        s.map(|s| minutes(s.buffer())),
        DEFAULT_BUFFER,
    );
    let routes = VapiRoutes {
        assistant_ids: vapi_ids(
            "vapi_assistant_ids",
            fields.vapi_assistant_ids.as_deref(),
            current.map(|c| &c.routes.assistant_ids),
            &mut errors,
        ),
        phone_number_ids: vapi_ids(
            "vapi_phone_number_ids",
            fields.vapi_phone_number_ids.as_deref(),
            current.map(|c| &c.routes.phone_number_ids),
            &mut errors,
        ),
    };
    let settings = ScheduleSettings {
        // Stand-ins where the zone or hours were refused, so that the
        // numbers are still checked and named.
        time_zone: time_zone
            .unwrap_or_else(|| current.map_or(TimeZoneId::UTC, |c| c.schedule.time_zone())),
        hours: hours.clone().unwrap_or_default(),
        slot_minutes: slot,
        default_duration_minutes: duration,
        min_notice_minutes: notice,
        horizon_days: horizon,
        buffer_minutes: buffer,
    };
    for_each_bound_error(&settings, &mut errors);
    let schedule = match (time_zone, hours) {
        // A change of settings keeps the closures (they are replaced on their own).
        (Some(_), Some(_)) => Schedule::new(settings).ok().map(|s| match current {
            Some(c) => s.with_closures(c.schedule.closures_arc()),
            None => s,
        }),
        _ => None,
    };
    match (name, slug, schedule) {
        (Some(name), Some(slug), Some(schedule)) if errors.is_empty() => Ok(Calendar {
            id,
            slug,
            name: name.to_string(),
            schedule,
            owner: Some(owner),
            routes,
            created_at,
        }),
        _ => Err(CalendarWriteError::Invalid(errors)),
    }
}

/// Collects the out-of-bounds error of every numeric setting (a schedule
/// stops at the first one).
fn for_each_bound_error(settings: &ScheduleSettings, errors: &mut Vec<FieldError>) {
    // Checking one field at a time: every other field at its (valid) default.
    for field in [
        "slot_minutes",
        "default_duration_minutes",
        "min_notice_minutes",
        "horizon_days",
        "buffer_minutes",
    ] {
        let mut alone = ScheduleSettings {
            time_zone: settings.time_zone,
            hours: settings.hours.clone(),
            slot_minutes: DEFAULT_SLOT,
            default_duration_minutes: DEFAULT_DURATION,
            min_notice_minutes: DEFAULT_NOTICE,
            horizon_days: DEFAULT_HORIZON,
            buffer_minutes: DEFAULT_BUFFER,
        };
        match field {
            "slot_minutes" => alone.slot_minutes = settings.slot_minutes,
            "default_duration_minutes" => {
                alone.default_duration_minutes = settings.default_duration_minutes
            }
            "min_notice_minutes" => alone.min_notice_minutes = settings.min_notice_minutes,
            "horizon_days" => alone.horizon_days = settings.horizon_days,
            _ => alone.buffer_minutes = settings.buffer_minutes,
        }
        if let Err(e @ ScheduleError::OutOfBounds { .. }) = Schedule::new(alone) {
            errors.push(FieldError::new(field, e.to_string()));
        }
    }
}

fn vapi_ids(
    field: &str,
    given: Option<&[String]>,
    current: Option<&Vec<VapiId>>,
    errors: &mut Vec<FieldError>,
) -> Vec<VapiId> {
    let Some(given) = given else {
        return current.cloned().unwrap_or_default();
    };
    let mut ids = Vec::new();
    for (i, raw) in given.iter().enumerate() {
        match VapiId::parse(raw) {
            Ok(id) => ids.push(id),
            Err(e) => errors.push(FieldError::new(format!("{field}[{i}]"), e.to_string())),
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn fields() -> CalendarFields {
        CalendarFields {
            name: Some("Dr. Lee".to_owned()),
            time_zone: Some("Europe/Paris".to_owned()),
            ..CalendarFields::default()
        }
    }

    fn create(f: &CalendarFields) -> Result<Calendar, CalendarWriteError> {
        let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        build(None, f, CalendarId::new(), UserId::new(), at)
    }

    fn named(e: CalendarWriteError) -> Vec<String> {
        match e {
            CalendarWriteError::Invalid(list) => list.into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_new_calendar_takes_defaults_and_a_slug_from_its_name() {
        let c = create(&fields()).unwrap();
        assert_eq!(c.slug.as_str(), "dr-lee");
        assert_eq!(c.schedule.hours().to_string(), "mon-fri 09:00-17:00");
        assert_eq!(c.schedule.slot().num_minutes(), 30);
        assert_eq!(c.schedule.min_notice().num_minutes(), 60);
        assert_eq!(c.schedule.horizon_days(), 60);
        assert_eq!(c.schedule.time_zone().name(), "Europe/Paris");
    }

    #[test]
    fn every_refused_field_is_named() {
        let f = CalendarFields {
            name: Some(" ".to_owned()),
            slug: Some("No Spaces".to_owned()),
            time_zone: Some("Atlantis/Capital".to_owned()),
            working_hours: Some("weekdays".to_owned()),
            slot_minutes: Some(1),
            default_duration_minutes: Some(10_000),
            min_notice_minutes: Some(-1),
            horizon_days: Some(0),
            buffer_minutes: Some(241),
            vapi_assistant_ids: Some(vec!["ok".to_owned(), "has space".to_owned()]),
            vapi_phone_number_ids: None,
            owner_id: None,
        };
        assert_eq!(
            named(create(&f).unwrap_err()),
            [
                "name",
                "slug",
                "time_zone",
                "working_hours",
                "vapi_assistant_ids[1]",
                "slot_minutes",
                "default_duration_minutes",
                "min_notice_minutes",
                "horizon_days",
                "buffer_minutes",
            ]
        );
        assert_eq!(
            named(create(&CalendarFields::default()).unwrap_err()),
            ["name", "time_zone"]
        );
    }

    #[test]
    fn a_change_is_described_by_field_names_only() {
        let current = create(&fields()).unwrap();
        let patch = CalendarFields {
            name: Some("Dr. Jane Roe".to_owned()),
            buffer_minutes: Some(10),
            vapi_assistant_ids: Some(vec!["asst-1".to_owned()]),
            ..CalendarFields::default()
        };
        let new_owner = UserId::new();
        let changed = build(
            Some(&current),
            &patch,
            current.id,
            new_owner,
            current.created_at,
        )
        .unwrap();
        let described = describe_changes(&current, &changed);
        assert_eq!(
            described,
            format!(
                "changed name, buffer_minutes, vapi_assistant_ids, owner_id (now user:{new_owner})"
            )
        );
        assert!(!described.contains("Jane"));
        assert_eq!(describe_changes(&current, &current), "no setting changed");
    }

    #[test]
    fn sending_back_the_same_vapi_ids_is_no_change() {
        let current = [VapiId::parse("a1").unwrap(), VapiId::parse("a2").unwrap()];
        let given = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(!changes_ids(&given(&["a2", " a1", "a2"]), &current));
        assert!(changes_ids(&given(&["a1"]), &current));
        assert!(changes_ids(&given(&["a1", "a2", "a3"]), &current));
        assert!(changes_ids(&given(&[]), &current));
        assert!(changes_ids(&given(&["a1", "has space"]), &current));
        assert!(!changes_ids(&given(&[]), &[]));
    }

    #[test]
    fn a_change_keeps_what_it_does_not_name() {
        let mut f = fields();
        f.vapi_phone_number_ids = Some(vec![
            "pn-2".to_owned(),
            "pn-1".to_owned(),
            "pn-2".to_owned(),
        ]);
        f.buffer_minutes = Some(15);
        let current = create(&f).unwrap();
        assert_eq!(
            current
                .routes
                .phone_number_ids
                .iter()
                .map(VapiId::as_str)
                .collect::<Vec<_>>(),
            ["pn-1", "pn-2"]
        );
        let patch = CalendarFields {
            slot_minutes: Some(15),
            ..CalendarFields::default()
        };
        let changed = build(
            Some(&current),
            &patch,
            current.id,
            current.owner.unwrap(),
            current.created_at,
        )
        .unwrap();
        assert_eq!(changed.schedule.slot().num_minutes(), 15);
        assert_eq!(changed.schedule.buffer().num_minutes(), 15);
        assert_eq!(changed.slug, current.slug);
        assert_eq!(changed.routes, current.routes);
        assert_eq!(changed.name, current.name);
    }
}
