//! Calls from VAPI: one record per VAPI call, built from the server messages
//! VAPI sends about it (`status-update`, `end-of-call-report`), whatever
//! order they arrive in and however often.
//!
//! # The merge rule
//!
//! A message tells part of the story ([`CallUpdate`]); [`Call::apply`] folds
//! it into the record. The fold is a *join*: commutative, associative and
//! idempotent, so any order of any multiset of the same messages gives the
//! same record (a property test checks it):
//!
//! - **Status** only moves forward, in the order `scheduled < queued <
//!   ringing < in-progress < forwarding < ended`; an end-of-call report
//!   means `ended`.
//! - **Every other fact** (calendar, direction, caller, ended reason, start
//!   and end, cost, summary, success evaluation, transcript, recording URL)
//!   keeps the value of the strongest message that told it: an end-of-call
//!   report beats a status update (the record remembers, per fact, whether
//!   its value came from a report: [`ReportedFacts`]). A message that lacks
//!   a fact never erases it. Two messages of the same kind that disagree —
//!   which VAPI does not send — resolve to the greater value, so even then
//!   the result does not depend on the order.
//! - A status update's own `timestamp` stands in for the start
//!   (`in-progress`) or the end (`ended`) when the message names none; any
//!   time from a report wins over it.
//! - Once retention has cleared a call's transcript and recording URL
//!   ([`Call::transcript_purged_at`]), no message fills them again; once the
//!   caller's data was erased from the call ([`Call::erased_at`]), no
//!   message fills the caller's number, the summary, the transcript or the
//!   recording URL again.
//!
//! The duration is derived from the start and the end (VAPI sends no
//! duration).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::accounts::Principal;
use crate::appointment::Appointment;
use crate::calendar::CalendarId;
use crate::calendars::{CalendarLookupError, CalendarService};
use crate::person::PhoneNumber;
use crate::ports::{AppointmentRepository, CalendarScope, Clock};

/// The most calls one page holds.
pub const MAX_PAGE: u64 = 200;

/// How long transcripts and recording URLs are kept by default
/// (`CALL_RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: i64 = 90;

/// Our id of a call record (a UUIDv7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(Uuid);

impl CallId {
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

impl Default for CallId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who called whom (VAPI's `call.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallDirection {
    /// `inboundPhoneCall`: a caller rang our number.
    Inbound,
    /// `outboundPhoneCall`: the assistant rang the customer.
    Outbound,
    /// `webCall`: from a browser.
    Web,
}

impl CallDirection {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Web => "web",
        }
    }

    /// Reads [`as_str`](Self::as_str)'s form.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "inbound" => Some(Self::Inbound),
            "outbound" => Some(Self::Outbound),
            "web" => Some(Self::Web),
            _ => None,
        }
    }

    /// Reads VAPI's `call.type`.
    pub fn from_vapi_type(raw: &str) -> Option<Self> {
        match raw {
            "inboundPhoneCall" => Some(Self::Inbound),
            "outboundPhoneCall" => Some(Self::Outbound),
            "webCall" => Some(Self::Web),
            _ => None,
        }
    }
}

/// Where a call is in its life, in the order it moves (`Ord` follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallStatus {
    Scheduled,
    Queued,
    Ringing,
    InProgress,
    Forwarding,
    Ended,
}

impl CallStatus {
    pub const ALL: [CallStatus; 6] = [
        Self::Scheduled,
        Self::Queued,
        Self::Ringing,
        Self::InProgress,
        Self::Forwarding,
        Self::Ended,
    ];

    /// VAPI's spelling, also the stored one.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Forwarding => "forwarding",
            Self::Ended => "ended",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// 0 (`scheduled`) to 5 (`ended`): the status never moves to a lower rank.
    pub fn rank(&self) -> i16 {
        match self {
            Self::Scheduled => 0,
            Self::Queued => 1,
            Self::Ringing => 2,
            Self::InProgress => 3,
            Self::Forwarding => 4,
            Self::Ended => 5,
        }
    }
}

/// The kind of message a [`CallUpdate`] comes from; a report's facts win
/// over a status update's (`Ord` follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallSource {
    /// `status-update`.
    StatusUpdate,
    /// `end-of-call-report`.
    EndOfCallReport,
}

/// One fact of a call that a message may tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallFact {
    Calendar,
    Direction,
    CustomerPhone,
    EndedReason,
    StartedAt,
    EndedAt,
    Cost,
    Summary,
    SuccessEvaluation,
    Transcript,
    RecordingUrl,
}

impl CallFact {
    pub const ALL: [CallFact; 11] = [
        Self::Calendar,
        Self::Direction,
        Self::CustomerPhone,
        Self::EndedReason,
        Self::StartedAt,
        Self::EndedAt,
        Self::Cost,
        Self::Summary,
        Self::SuccessEvaluation,
        Self::Transcript,
        Self::RecordingUrl,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// Which facts of a record came from an end-of-call report (a set of
/// [`CallFact`]s; stored as a bit mask). A fact without a value is never in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReportedFacts(u16);

impl ReportedFacts {
    /// The set of `facts`.
    pub fn of(facts: &[CallFact]) -> Self {
        Self(facts.iter().fold(0, |all, f| all | f.bit()))
    }
    /// Rebuilds the set from [`bits`](Self::bits); unknown bits are dropped.
    pub fn from_bits(bits: u16) -> Self {
        Self(bits & Self::of(&CallFact::ALL).0)
    }
    pub fn bits(&self) -> u16 {
        self.0
    }
    pub fn contains(&self, fact: CallFact) -> bool {
        self.0 & fact.bit() != 0
    }
    fn set(&mut self, fact: CallFact, reported: bool) {
        if reported {
            self.0 |= fact.bit();
        } else {
            self.0 &= !fact.bit();
        }
    }
}

/// What one message tells about a call: every fact optional.
#[derive(Debug, Clone, PartialEq)]
pub struct CallUpdate {
    pub vapi_call_id: String,
    pub source: CallSource,
    /// The message's own `timestamp`.
    pub timestamp: Option<DateTime<Utc>>,
    /// The calendar the call was routed to (decided by the receiver).
    pub calendar_id: Option<CalendarId>,
    pub direction: Option<CallDirection>,
    /// The caller (inbound) or the number dialled (outbound).
    pub customer_phone: Option<PhoneNumber>,
    pub status: Option<CallStatus>,
    pub ended_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// In US dollars, as VAPI reports it.
    pub cost: Option<f64>,
    pub summary: Option<String>,
    pub success_evaluation: Option<String>,
    pub transcript: Option<String>,
    pub recording_url: Option<String>,
}

impl CallUpdate {
    /// An update that tells nothing but the call's id.
    pub fn new(vapi_call_id: impl Into<String>, source: CallSource) -> Self {
        Self {
            vapi_call_id: vapi_call_id.into(),
            source,
            timestamp: None,
            calendar_id: None,
            direction: None,
            customer_phone: None,
            status: None,
            ended_reason: None,
            started_at: None,
            ended_at: None,
            cost: None,
            summary: None,
            success_evaluation: None,
            transcript: None,
            recording_url: None,
        }
    }

    /// The status this message stands for: a report means `ended`.
    pub fn effective_status(&self) -> Option<CallStatus> {
        match self.source {
            CallSource::EndOfCallReport => Some(CallStatus::Ended),
            CallSource::StatusUpdate => self.status,
        }
    }

    /// The start this message tells (a status update's `timestamp` when it
    /// says `in-progress` without a start).
    pub fn effective_started_at(&self) -> Option<DateTime<Utc>> {
        let inferred = match (self.source, self.status) {
            (CallSource::StatusUpdate, Some(CallStatus::InProgress)) => self.timestamp,
            _ => None,
        };
        self.started_at.or(inferred)
    }

    /// The end this message tells (a status update's `timestamp` when it
    /// says `ended` without an end).
    pub fn effective_ended_at(&self) -> Option<DateTime<Utc>> {
        let inferred = match (self.source, self.status) {
            (CallSource::StatusUpdate, Some(CallStatus::Ended)) => self.timestamp,
            _ => None,
        };
        self.ended_at.or(inferred)
    }
}

/// One VAPI call as we know it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: CallId,
    pub vapi_call_id: String,
    /// `None` when no calendar could be decided (or it was deleted).
    pub calendar_id: Option<CalendarId>,
    pub direction: Option<CallDirection>,
    pub customer_phone: Option<PhoneNumber>,
    pub status: Option<CallStatus>,
    pub ended_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cost: Option<f64>,
    pub summary: Option<String>,
    pub success_evaluation: Option<String>,
    pub transcript: Option<String>,
    pub recording_url: Option<String>,
    /// Which of the facts above came from an end-of-call report.
    pub reported: ReportedFacts,
    /// When retention cleared the transcript and the recording URL; no
    /// message fills them again.
    pub transcript_purged_at: Option<DateTime<Utc>>,
    /// When the caller's personal data was erased from the call (a privacy
    /// request): no message fills the caller's number, the summary, the
    /// transcript or the recording URL again.
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Call {
    /// A record that knows nothing yet.
    pub fn new(id: CallId, vapi_call_id: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            id,
            vapi_call_id: vapi_call_id.into(),
            calendar_id: None,
            direction: None,
            customer_phone: None,
            status: None,
            ended_reason: None,
            started_at: None,
            ended_at: None,
            cost: None,
            summary: None,
            success_evaluation: None,
            transcript: None,
            recording_url: None,
            reported: ReportedFacts::default(),
            transcript_purged_at: None,
            erased_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// From the start to the end, when both are known and in that order.
    pub fn duration(&self) -> Option<Duration> {
        match (self.started_at, self.ended_at) {
            (Some(start), Some(end)) if end >= start => Some(end - start),
            _ => None,
        }
    }

    /// The time a listing orders calls by: the start, else when we first
    /// heard of the call.
    pub fn listed_at(&self) -> DateTime<Utc> {
        self.started_at.unwrap_or(self.created_at)
    }

    /// Folds one message into the record (see the module documentation);
    /// `updated_at` becomes `now` when anything changed. True when it did.
    pub fn apply(&mut self, update: &CallUpdate, now: DateTime<Utc>) -> bool {
        let reported = update.source == CallSource::EndOfCallReport;
        let mut changed = false;

        if let Some(status) = update.effective_status()
            && self.status.is_none_or(|current| status > current)
        {
            self.status = Some(status);
            changed = true;
        }

        let by_uuid = |a: &CalendarId, b: &CalendarId| a.as_uuid().cmp(&b.as_uuid());
        let by_phone = |a: &PhoneNumber, b: &PhoneNumber| a.as_str().cmp(b.as_str());
        let mut facts = Facts {
            reported: &mut self.reported,
            from_report: reported,
            changed: false,
        };
        facts.pick(
            CallFact::Calendar,
            &mut self.calendar_id,
            update.calendar_id,
            by_uuid,
        );
        facts.pick(
            CallFact::Direction,
            &mut self.direction,
            update.direction,
            Ord::cmp,
        );
        let erased = self.erased_at.is_some();
        if !erased {
            facts.pick(
                CallFact::CustomerPhone,
                &mut self.customer_phone,
                update.customer_phone.clone(),
                by_phone,
            );
        }
        facts.pick(
            CallFact::EndedReason,
            &mut self.ended_reason,
            update.ended_reason.clone(),
            Ord::cmp,
        );
        facts.pick(
            CallFact::StartedAt,
            &mut self.started_at,
            update.effective_started_at(),
            Ord::cmp,
        );
        facts.pick(
            CallFact::EndedAt,
            &mut self.ended_at,
            update.effective_ended_at(),
            Ord::cmp,
        );
        facts.pick(
            CallFact::Cost,
            &mut self.cost,
            update.cost.filter(|c| c.is_finite()),
            f64::total_cmp,
        );
        if !erased {
            facts.pick(
                CallFact::Summary,
                &mut self.summary,
                update.summary.clone(),
                Ord::cmp,
            );
        }
        facts.pick(
            CallFact::SuccessEvaluation,
            &mut self.success_evaluation,
            update.success_evaluation.clone(),
            Ord::cmp,
        );
        if self.transcript_purged_at.is_none() && !erased {
            facts.pick(
                CallFact::Transcript,
                &mut self.transcript,
                update.transcript.clone(),
                Ord::cmp,
            );
            facts.pick(
                CallFact::RecordingUrl,
                &mut self.recording_url,
                update.recording_url.clone(),
                Ord::cmp,
            );
        }
        changed |= facts.changed;
        if changed {
            self.updated_at = now;
        }
        changed
    }

    /// Clears the transcript and the recording URL for good (retention).
    /// True when there was anything to clear.
    pub fn purge_transcript(&mut self, now: DateTime<Utc>) -> bool {
        let had = self.transcript.is_some() || self.recording_url.is_some();
        self.transcript = None;
        self.recording_url = None;
        self.reported.set(CallFact::Transcript, false);
        self.reported.set(CallFact::RecordingUrl, false);
        if had {
            self.transcript_purged_at = Some(now);
            self.updated_at = now;
        }
        had
    }

    /// The instant retention counts from: the end, else the last change.
    pub fn retention_from(&self) -> DateTime<Utc> {
        self.ended_at.unwrap_or(self.updated_at)
    }
}

/// `call` with `update` folded in (see [`Call::apply`]).
pub fn merge(call: &Call, update: &CallUpdate, now: DateTime<Utc>) -> Call {
    let mut merged = call.clone();
    merged.apply(update, now);
    merged
}

/// The per-fact join of [`Call::apply`].
struct Facts<'a> {
    reported: &'a mut ReportedFacts,
    from_report: bool,
    changed: bool,
}

impl Facts<'_> {
    /// Keeps the greater of the stored value and `candidate`, comparing
    /// (from a report, value): a missing candidate changes nothing.
    fn pick<T>(
        &mut self,
        fact: CallFact,
        slot: &mut Option<T>,
        candidate: Option<T>,
        cmp: impl Fn(&T, &T) -> Ordering,
    ) {
        let Some(candidate) = candidate else {
            return;
        };
        let wins = match slot.as_ref() {
            None => true,
            Some(current) => {
                self.from_report
                    .cmp(&self.reported.contains(fact))
                    .then_with(|| cmp(&candidate, current))
                    == Ordering::Greater
            }
        };
        if wins {
            *slot = Some(candidate);
            self.reported.set(fact, self.from_report);
            self.changed = true;
        }
    }
}

/// A filtered page of calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallQuery {
    pub scope: CalendarScope,
    /// Calls listed at (see [`Call::listed_at`]) or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Calls listed before this instant.
    pub to: Option<DateTime<Utc>>,
    pub phone: Option<PhoneNumber>,
    /// The (`listed_at`, `id`) of the last call of the previous page.
    pub before: Option<(DateTime<Utc>, CallId)>,
    pub limit: u64,
}

/// Where call records live.
#[async_trait]
pub trait CallRepository: Send + Sync {
    /// Folds `update` into the record of its VAPI call, creating it (with a
    /// new [`CallId`], at `now`) when there is none, and returns the record
    /// as stored.
    ///
    /// - MUST keep ONE record per VAPI call id whatever the concurrency:
    ///   concurrent or repeated deliveries of messages of one call never
    ///   make two records.
    /// - MUST store exactly `merge(current, update, now)` ([`merge`]),
    ///   read and written atomically (no update applied concurrently is
    ///   lost), so messages in any order, or repeated, give the same record.
    async fn record(&self, update: &CallUpdate, now: DateTime<Utc>) -> anyhow::Result<Call>;

    async fn get(&self, id: CallId) -> anyhow::Result<Option<Call>>;

    async fn find_by_vapi_id(&self, vapi_call_id: &str) -> anyhow::Result<Option<Call>>;

    /// Calls matching `query`, newest first: ordered by (`listed_at`, `id`)
    /// descending — a stable order — starting strictly before
    /// `query.before`, at most `query.limit`. [`CalendarScope::All`] includes
    /// calls without a calendar; the other scopes do not.
    async fn list(&self, query: &CallQuery) -> anyhow::Result<Vec<Call>>;

    /// Clears the transcript and recording URL of every call whose
    /// [`retention_from`](Call::retention_from) is before `before`, as
    /// [`Call::purge_transcript`] at `now` does; how many calls changed.
    async fn purge_transcripts(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
}

/// A listing as asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub calendar_id: Option<CalendarId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub phone: Option<PhoneNumber>,
    /// Where the previous page ended.
    pub before: Option<(DateTime<Utc>, CallId)>,
    /// 1..=[`MAX_PAGE`] (clamped).
    pub limit: u64,
}

/// One page of calls, and where the next one starts (if there is one).
#[derive(Debug, Clone, PartialEq)]
pub struct CallPage {
    pub items: Vec<Call>,
    pub next: Option<(DateTime<Utc>, CallId)>,
}

/// A call or calendar the principal cannot see, or a failure.
#[derive(Debug, thiserror::Error)]
pub enum CallLookupError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

impl From<CalendarLookupError> for CallLookupError {
    fn from(e: CalendarLookupError) -> Self {
        match e {
            CalendarLookupError::NotFound => Self::NotFound,
            CalendarLookupError::Unknown(e) => Self::Unknown(e),
        }
    }
}

/// The call log: records what VAPI tells, shows calls to the calendar's
/// owner and to administrators (calls without a calendar to administrators
/// only; anyone else's call is `NotFound`), and forgets transcripts after
/// the retention period.
#[derive(Clone)]
pub struct CallLog {
    calls: Arc<dyn CallRepository>,
    appointments: Arc<dyn AppointmentRepository>,
    calendars: CalendarService,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl CallLog {
    pub fn new(
        calls: Arc<dyn CallRepository>,
        appointments: Arc<dyn AppointmentRepository>,
        calendars: CalendarService,
        clock: Arc<dyn Clock>,
        retention: Duration,
    ) -> Self {
        Self {
            calls,
            appointments,
            calendars,
            clock,
            retention,
        }
    }

    /// How long transcripts and recording URLs are kept after a call ends.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Folds one VAPI message into its call's record.
    pub async fn record(&self, update: &CallUpdate) -> anyhow::Result<Call> {
        self.calls.record(update, self.clock.now()).await
    }

    pub async fn list(
        &self,
        principal: &Principal,
        filter: CallFilter,
    ) -> Result<CallPage, CallLookupError> {
        let scope = match filter.calendar_id {
            Some(id) => {
                self.calendars.get(principal, id).await?;
                CalendarScope::One(id)
            }
            None if principal.user.is_admin() => CalendarScope::All,
            None => CalendarScope::OwnedBy(principal.user.id),
        };
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let mut items = self
            .calls
            .list(&CallQuery {
                scope,
                from: filter.from,
                to: filter.to,
                phone: filter.phone,
                before: filter.before,
                limit: limit + 1,
            })
            .await
            .map_err(CallLookupError::Unknown)?;
        let more = u64::try_from(items.len()).unwrap_or(u64::MAX) > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = if more {
            items.last().map(|c| (c.listed_at(), c.id))
        } else {
            None
        };
        Ok(CallPage { items, next })
    }

    /// The call and the appointments booked during it (those the principal
    /// may see), earliest first.
    pub async fn get(
        &self,
        principal: &Principal,
        id: CallId,
    ) -> Result<(Call, Vec<Appointment>), CallLookupError> {
        let call = self
            .calls
            .get(id)
            .await
            .map_err(CallLookupError::Unknown)?
            .ok_or(CallLookupError::NotFound)?;
        self.check(principal, &call).await?;
        let booked = self
            .appointments
            .find_by_vapi_call(&call.vapi_call_id)
            .await
            .map_err(CallLookupError::Unknown)?;
        let mut visible = Vec::with_capacity(booked.len());
        let mut allowed: Vec<CalendarId> = call.calendar_id.into_iter().collect();
        let mut refused: Vec<CalendarId> = Vec::new();
        for appointment in booked {
            let calendar = appointment.calendar_id();
            let may = if principal.user.is_admin() || allowed.contains(&calendar) {
                true
            } else if refused.contains(&calendar) {
                false
            } else {
                match self.calendars.get(principal, calendar).await {
                    Ok(_) => {
                        allowed.push(calendar);
                        true
                    }
                    Err(CalendarLookupError::NotFound) => {
                        refused.push(calendar);
                        false
                    }
                    Err(CalendarLookupError::Unknown(e)) => {
                        return Err(CallLookupError::Unknown(e));
                    }
                }
            };
            if may {
                visible.push(appointment);
            }
        }
        visible.sort_by_key(|a| (a.range().start(), a.id()));
        Ok((call, visible))
    }

    /// The call VAPI knows as `vapi_call_id`, when the principal may see it
    /// (the link from an appointment booked by voice to its call).
    pub async fn find_by_vapi_id(
        &self,
        principal: &Principal,
        vapi_call_id: &str,
    ) -> Result<Call, CallLookupError> {
        let call = self
            .calls
            .find_by_vapi_id(vapi_call_id)
            .await
            .map_err(CallLookupError::Unknown)?
            .ok_or(CallLookupError::NotFound)?;
        self.check(principal, &call).await?;
        Ok(call)
    }

    /// Clears the transcripts and recording URLs of calls that ended more
    /// than the retention period ago: how many calls changed, and the
    /// instant they ended before.
    pub async fn purge_expired(&self) -> anyhow::Result<(u64, DateTime<Utc>)> {
        let now = self.clock.now();
        let before = now - self.retention;
        let purged = self.calls.purge_transcripts(before, now).await?;
        Ok((purged, before))
    }

    /// `NotFound` unless the principal may see `call`.
    async fn check(&self, principal: &Principal, call: &Call) -> Result<(), CallLookupError> {
        match call.calendar_id {
            _ if principal.user.is_admin() => Ok(()),
            Some(calendar) => self
                .calendars
                .get(principal, calendar)
                .await
                .map(|_| ())
                .map_err(CallLookupError::from),
            None => Err(CallLookupError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 3, 1, 17, minute, 0).unwrap()
    }

    fn phone(raw: &str) -> PhoneNumber {
        PhoneNumber::from_e164(raw).unwrap()
    }

    fn fold(updates: &[&CallUpdate]) -> Call {
        let mut call = Call::new(CallId::from_uuid(Uuid::nil()), "vapi-1", t(0));
        for u in updates {
            call.apply(u, t(59));
        }
        call
    }

    fn status(s: CallStatus, at: u32) -> CallUpdate {
        let mut u = CallUpdate::new("vapi-1", CallSource::StatusUpdate);
        u.status = Some(s);
        u.timestamp = Some(t(at));
        u
    }

    /// The fixtures' shapes: a status update that says `ended`, a current
    /// report, and status updates that came before.
    fn report() -> CallUpdate {
        let mut u = CallUpdate::new("vapi-1", CallSource::EndOfCallReport);
        u.timestamp = Some(t(30));
        u.direction = Some(CallDirection::Inbound);
        u.customer_phone = Some(phone("+14155550123"));
        u.ended_reason = Some("customer-ended-call".into());
        u.cost = Some(0.1342);
        u.started_at = Some(t(14));
        u.ended_at = Some(t(17));
        u.summary = Some("Jane booked.".into());
        u.success_evaluation = Some("true".into());
        u.transcript = Some("AI: Hi. User: Hello.".into());
        u.recording_url = Some("https://example.com/r.wav".into());
        u
    }

    fn ended_update() -> CallUpdate {
        let mut u = status(CallStatus::Ended, 25);
        u.ended_reason = Some("hangup".into());
        u.direction = Some(CallDirection::Inbound);
        u.customer_phone = Some(phone("+14155550123"));
        u
    }

    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut all = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, first.clone());
                all.push(tail);
            }
        }
        all
    }

    #[test]
    fn a_report_fills_every_fact_and_derives_the_duration() {
        let call = fold(&[&report()]);
        assert_eq!(call.status, Some(CallStatus::Ended));
        assert_eq!(call.duration(), Some(Duration::minutes(3)));
        assert_eq!(call.summary.as_deref(), Some("Jane booked."));
        assert_eq!(call.cost, Some(0.1342));
        assert_eq!(call.listed_at(), t(14));
        for fact in CallFact::ALL {
            assert_eq!(
                call.reported.contains(fact),
                fact != CallFact::Calendar,
                "{fact:?}"
            );
        }
        assert_eq!(call.updated_at, t(59));
    }

    #[test]
    fn status_only_moves_forward() {
        let call = fold(&[
            &status(CallStatus::Ringing, 1),
            &status(CallStatus::Ended, 9),
            &status(CallStatus::InProgress, 2),
            &status(CallStatus::Queued, 0),
        ]);
        assert_eq!(call.status, Some(CallStatus::Ended));
        // the timestamps stand in for the start and the end
        assert_eq!(call.started_at, Some(t(2)));
        assert_eq!(call.ended_at, Some(t(9)));
        assert_eq!(call.duration(), Some(Duration::minutes(7)));
        assert!(
            CallStatus::ALL
                .windows(2)
                .all(|w| w[0].rank() < w[1].rank())
        );
    }

    #[test]
    fn report_facts_win_over_status_updates_in_either_order() {
        let (s, r) = (ended_update(), report());
        for call in [fold(&[&s, &r]), fold(&[&r, &s])] {
            assert_eq!(call.ended_reason.as_deref(), Some("customer-ended-call"));
            assert_eq!(call.ended_at, Some(t(17)));
            assert!(call.reported.contains(CallFact::EndedReason));
        }
    }

    #[test]
    fn a_message_lacking_a_fact_never_erases_it() {
        let r = report();
        let mut bare = CallUpdate::new("vapi-1", CallSource::EndOfCallReport);
        bare.summary = Some("Jane booked.".into());
        let call = fold(&[&r, &bare, &status(CallStatus::Queued, 0)]);
        assert_eq!(call, fold(&[&r]));
    }

    #[test]
    fn a_duplicate_changes_nothing_not_even_updated_at() {
        let r = report();
        let mut call = Call::new(CallId::new(), "vapi-1", t(0));
        assert!(call.apply(&r, t(1)));
        let before = call.clone();
        assert!(!call.apply(&r, t(2)));
        assert_eq!(call, before);
    }

    #[test]
    fn every_order_of_the_fixture_messages_gives_one_record() {
        let mut routed = status(CallStatus::InProgress, 15);
        routed.calendar_id = Some(CalendarId::from_uuid(Uuid::from_u128(7)));
        let messages = [
            status(CallStatus::Queued, 10),
            status(CallStatus::Ringing, 12),
            routed,
            ended_update(),
            report(),
            report(), // delivered twice
        ];
        let expected = fold(&messages.iter().collect::<Vec<_>>());
        let orders = permutations(&messages);
        assert_eq!(orders.len(), 720);
        for order in orders {
            assert_eq!(fold(&order.iter().collect::<Vec<_>>()), expected);
        }
        assert_eq!(expected.status, Some(CallStatus::Ended));
        assert_eq!(expected.started_at, Some(t(14)), "the report's start wins");
        assert_eq!(
            expected.calendar_id.map(|c| c.as_uuid()),
            Some(Uuid::from_u128(7))
        );
    }

    #[test]
    fn purged_transcripts_are_never_filled_again() {
        let r = report();
        let mut call = fold(&[&r]);
        assert!(call.purge_transcript(t(40)));
        assert!(!call.purge_transcript(t(41)));
        assert_eq!(call.transcript_purged_at, Some(t(40)));
        assert!(!call.apply(&r, t(42)));
        assert_eq!(call.transcript, None);
        assert_eq!(call.recording_url, None);
        assert_eq!(call.summary.as_deref(), Some("Jane booked."));
    }

    /// After an erasure (what the store's `erase_caller` writes), a late
    /// message brings none of the caller's data back; other facts still
    /// merge.
    #[test]
    fn erased_calls_take_no_personal_facts_from_later_messages() {
        let mut call = fold(&[&status(CallStatus::InProgress, 15)]);
        call.customer_phone = None;
        call.summary = None;
        call.transcript = None;
        call.recording_url = None;
        call.transcript_purged_at = Some(t(20));
        call.erased_at = Some(t(20));
        assert!(call.apply(&report(), t(42)), "the report's other facts");
        assert_eq!(call.customer_phone, None);
        assert_eq!(call.summary, None);
        assert_eq!(call.transcript, None);
        assert_eq!(call.recording_url, None);
        assert_eq!(call.status, Some(CallStatus::Ended));
        assert_eq!(call.ended_at, Some(t(17)));
        assert!(!call.apply(&ended_update(), t(43)));
        assert_eq!(call.customer_phone, None);
    }

    #[test]
    fn directions_and_statuses_read_vapi_spellings() {
        assert_eq!(
            CallDirection::from_vapi_type("inboundPhoneCall"),
            Some(CallDirection::Inbound)
        );
        assert_eq!(
            CallDirection::from_vapi_type("outboundPhoneCall"),
            Some(CallDirection::Outbound)
        );
        assert_eq!(
            CallDirection::from_vapi_type("webCall"),
            Some(CallDirection::Web)
        );
        assert_eq!(CallDirection::from_vapi_type("smsCall"), None);
        for d in [
            CallDirection::Inbound,
            CallDirection::Outbound,
            CallDirection::Web,
        ] {
            assert_eq!(CallDirection::parse(d.as_str()), Some(d));
        }
        for s in CallStatus::ALL {
            assert_eq!(CallStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            CallStatus::parse("in-progress"),
            Some(CallStatus::InProgress)
        );
        assert_eq!(CallStatus::parse("done"), None);
        assert_eq!(ReportedFacts::from_bits(u16::MAX).bits(), (1 << 11) - 1);
    }

    // ------------------------------------------------------------ properties

    /// Updates drawn from small domains, so that they often disagree.
    fn update() -> impl Strategy<Value = CallUpdate> {
        let time = || prop::option::of((0u32..6).prop_map(t));
        let text =
            || prop::option::of(prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from));
        (
            prop::bool::ANY,
            time(),
            prop::option::of((0u128..3).prop_map(|n| CalendarId::from_uuid(Uuid::from_u128(n)))),
            prop::option::of(prop::sample::select(vec![
                CallDirection::Inbound,
                CallDirection::Outbound,
                CallDirection::Web,
            ])),
            prop::option::of(
                prop::sample::select(vec!["+14155550123", "+14155550124"]).prop_map(phone),
            ),
            prop::option::of(prop::sample::select(CallStatus::ALL.to_vec())),
            (text(), time(), time()),
            prop::option::of(prop::sample::select(vec![0.5f64, 0.25, 1.0])),
            (text(), text(), text(), text()),
        )
            .prop_map(
                |(
                    report,
                    timestamp,
                    calendar_id,
                    direction,
                    customer_phone,
                    status,
                    (ended_reason, started_at, ended_at),
                    cost,
                    (summary, success_evaluation, transcript, recording_url),
                )| CallUpdate {
                    vapi_call_id: "vapi-1".into(),
                    source: if report {
                        CallSource::EndOfCallReport
                    } else {
                        CallSource::StatusUpdate
                    },
                    timestamp,
                    calendar_id,
                    direction,
                    customer_phone,
                    status,
                    ended_reason,
                    started_at,
                    ended_at,
                    cost,
                    summary,
                    success_evaluation,
                    transcript,
                    recording_url,
                },
            )
    }

    fn messages_and_a_shuffle() -> impl Strategy<Value = (Vec<CallUpdate>, Vec<CallUpdate>)> {
        prop::collection::vec(update(), 1..8).prop_flat_map(|updates| {
            // the same messages, shuffled, some delivered twice
            let mut doubled = updates.clone();
            doubled.extend(updates.iter().take(2).cloned());
            (Just(updates), Just(doubled).prop_shuffle())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_order_and_any_repeats_give_the_same_record((updates, shuffled) in messages_and_a_shuffle()) {
            let in_order = fold(&updates.iter().collect::<Vec<_>>());
            let reordered = fold(&shuffled.iter().collect::<Vec<_>>());
            prop_assert_eq!(&in_order, &reordered);
            // once known, a fact stays known; the status is the highest told
            let highest = updates.iter().filter_map(CallUpdate::effective_status).max();
            prop_assert_eq!(in_order.status, highest);
            if updates.iter().any(|u| u.summary.is_some()) {
                prop_assert!(in_order.summary.is_some());
            }
            // a reported fact's value is one a report told
            if let Some(reason) = &in_order.ended_reason
                && in_order.reported.contains(CallFact::EndedReason)
            {
                prop_assert!(updates.iter().any(|u| u.source == CallSource::EndOfCallReport
                    && u.ended_reason.as_ref() == Some(reason)));
            } else if updates.iter().any(|u| u.source == CallSource::EndOfCallReport && u.ended_reason.is_some()) {
                prop_assert!(false, "a report's ended reason was lost");
            }
        }

        #[test]
        fn merging_is_associative(a in update(), b in update(), c in update()) {
            let now = t(59);
            let base = Call::new(CallId::from_uuid(Uuid::nil()), "vapi-1", t(0));
            let left = merge(&merge(&merge(&base, &a, now), &b, now), &c, now);
            let right = merge(&merge(&merge(&base, &c, now), &a, now), &b, now);
            prop_assert_eq!(left, right);
        }
    }
}
