//! Runs VAPI tool calls against the scheduling service.
//!
//! Tools (names and arguments are a contract with the assistants that call
//! them): `check_availability`, `book_appointment`, `list_services`,
//! `find_appointments`, `cancel_appointment`, `reschedule_appointment`. Each call yields exactly
//! one [`ToolResult`]: a sentence to speak plus `metadata` with the
//! structured outcome.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use voice_scheduler_domain::availability::SlotRejection;
use voice_scheduler_domain::catalog::{ServiceRepository, spoken_list};
use voice_scheduler_domain::ports::{Actor, ReplayStore, Requester, StoredReply};
use voice_scheduler_domain::service::{
    AppointmentRef, AvailabilityError, BookError, BookRequest, BookStatus, CancelError,
    RescheduleError,
};
use voice_scheduler_domain::{
    Appointment, BookedBy, Calendar, Caller, Channel, ConfirmationCode, Email, PersonName,
    PhoneNumber, PhoneRegion, PrivacyRefusal, SchedulingService, Service, ServiceMatch, TimeRange,
    TimeZoneId, match_service, nearest_slots,
};

use crate::args::{self, ArgProblem, Args, ReadingContext, TimeInput, WhenProblem, describe};
use crate::speech;
use crate::wire::{CallContext, ToolCall, ToolResult};

/// The tools this server answers.
pub const TOOL_NAMES: [&str; 6] = [
    "check_availability",
    "book_appointment",
    "list_services",
    "find_appointments",
    "cancel_appointment",
    "reschedule_appointment",
];

/// The replay scope of tool calls in the [`ReplayStore`].
const REPLAY_SCOPE: &str = "vapi-tool-call";

/// Settings of the tool runner.
#[derive(Debug, Clone)]
pub struct ToolSettings {
    /// The region national phone numbers are read in.
    pub phone_region: PhoneRegion,
    /// How many slots a spoken answer lists at most.
    pub spoken_slots: usize,
}

impl Default for ToolSettings {
    fn default() -> Self {
        Self {
            phone_region: PhoneRegion::default(),
            spoken_slots: 5,
        }
    }
}

/// Runs tool calls; cheap to clone.
#[derive(Clone)]
pub struct ToolRunner {
    service: SchedulingService,
    replies: Arc<dyn ReplayStore>,
    settings: ToolSettings,
    /// The calendars' services (none: every booking is of the calendar's
    /// own length, and `service` arguments are not read).
    services: Option<Arc<dyn ServiceRepository>>,
}

/// What a `service` argument resolved to.
enum Chosen {
    /// No service: the calendar's own length and buffer.
    None,
    Service(Box<Service>),
}

impl Chosen {
    fn as_ref(&self) -> Option<&Service> {
        match self {
            Chosen::None => None,
            Chosen::Service(s) => Some(s),
        }
    }
}

/// An answer, and whether it may be replayed to a retry of the same call
/// (business outcomes may; passing failures must not).
struct Answer {
    result: ToolResult,
    replayable: bool,
}

impl Answer {
    fn ok(call: &ToolCall, text: impl Into<String>, metadata: Value) -> Self {
        Self {
            result: ToolResult::ok(call, text, metadata),
            replayable: true,
        }
    }
    fn refuse(call: &ToolCall, text: impl Into<String>, metadata: Value) -> Self {
        Self {
            result: ToolResult::err(call, text, metadata),
            replayable: true,
        }
    }
    fn transient(call: &ToolCall, text: impl Into<String>, metadata: Value) -> Self {
        Self {
            result: ToolResult::err(call, text, metadata),
            replayable: false,
        }
    }

    /// Says back what was read from words: a zone name leads the spoken
    /// answer ("Eastern" is taken as America/New_York time.), and every
    /// reading is in the metadata under `heard`.
    fn say_back(&mut self, reading: &ReadingContext) {
        if let Some(sentence) = reading.said_back() {
            for text in [&mut self.result.result, &mut self.result.error]
                .into_iter()
                .flatten()
            {
                *text = format!("{sentence} {text}");
            }
        }
        let heard = reading.heard_json();
        if heard.as_array().is_some_and(|h| !h.is_empty())
            && let Some(metadata) = self.result.metadata.as_object_mut()
        {
            metadata.insert("heard".to_owned(), heard);
        }
    }
}

const SYSTEM_TROUBLE: &str = "The booking system had a problem and could not finish this request. Apologize, and offer to try again in a moment or to take a message.";
const CALENDAR_TROUBLE: &str = "The calendar cannot be checked right now, so no time can be confirmed. Apologize, and offer to try again in a moment or to take a message.";

impl ToolRunner {
    pub fn new(
        service: SchedulingService,
        replies: Arc<dyn ReplayStore>,
        settings: ToolSettings,
    ) -> Self {
        Self {
            service,
            replies,
            settings,
            services: None,
        }
    }

    /// Reads `service` arguments and answers `list_services` from `services`.
    #[must_use]
    pub fn with_services(mut self, services: Arc<dyn ServiceRepository>) -> Self {
        self.services = Some(services);
        self
    }

    /// The service a tool call asks for: the one the caller's words name
    /// (matched forgivingly), else the calendar's default — unless a length
    /// was asked for. Services are read (one query) only when the calendar
    /// could have some: when this runner has a service store. An unknown
    /// name is answered with what is offered.
    async fn choose(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        said: Option<String>,
        length_asked: bool,
    ) -> Result<Chosen, Answer> {
        let Some(repo) = &self.services else {
            return Ok(Chosen::None);
        };
        if said.is_none() && length_asked {
            return Ok(Chosen::None);
        }
        let offered = match repo.list_services(calendar.id).await {
            Ok(offered) => offered,
            Err(e) => return Err(trouble(call, e)),
        };
        let Some(said) = said else {
            return Ok(offered
                .into_iter()
                .find(|s| s.is_default)
                .map_or(Chosen::None, |s| Chosen::Service(Box::new(s))));
        };
        if offered.is_empty() {
            // Nothing to choose from: any appointment is the calendar's own.
            return Ok(Chosen::None);
        }
        match match_service(&offered, &said) {
            ServiceMatch::Found(s) => Ok(Chosen::Service(Box::new(s.clone()))),
            ServiceMatch::Unknown => {
                let heard: String = said.chars().take(60).collect();
                Err(Answer::refuse(
                    call,
                    format!(
                        "We don't offer \"{}\". We offer {}. Ask the caller which of these they would like.",
                        heard.trim(),
                        spoken_list(&offered)
                    ),
                    json!({
                        "status": "unknown_service",
                        "service": heard.trim(),
                        "offered": offered.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
                    }),
                ))
            }
        }
    }

    async fn list_services(&self, calendar: &Calendar, call: &ToolCall) -> Answer {
        let offered = match &self.services {
            Some(repo) => match repo.list_services(calendar.id).await {
                Ok(offered) => offered,
                Err(e) => return trouble(call, e),
            },
            None => Vec::new(),
        };
        if offered.is_empty() {
            let minutes = calendar.schedule.default_duration().num_minutes();
            return Answer::ok(
                call,
                format!(
                    "There is no list of services: any appointment can be booked, and it lasts {minutes} minutes. Ask the caller what the appointment is for."
                ),
                json!({"status": "no_services", "duration_minutes": minutes, "services": []}),
            );
        }
        let spoken: Vec<String> = offered
            .iter()
            .map(|s| {
                format!(
                    "{} ({} minutes{}{})",
                    s.name,
                    s.duration().num_minutes(),
                    if s.is_default { ", the usual" } else { "" },
                    s.description
                        .as_ref()
                        .map(|d| format!("; {}", d.as_str()))
                        .unwrap_or_default()
                )
            })
            .collect();
        Answer::ok(
            call,
            format!(
                "We offer {}. Ask the caller which one they would like.",
                speech::list(&spoken)
            ),
            json!({
                "status": "ok",
                "services": offered.iter().map(|s| json!({
                    "name": s.name.as_str(),
                    "description": s.description.as_ref().map(|d| d.as_str()),
                    "duration_minutes": s.duration().num_minutes(),
                    "default": s.is_default,
                })).collect::<Vec<_>>(),
            }),
        )
    }

    /// Answers one tool call. Never fails: every problem becomes an `error`
    /// sentence for the assistant.
    pub async fn run(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        context: &CallContext,
    ) -> ToolResult {
        let arguments = match &call.arguments {
            Ok(map) => map,
            Err(problem) => {
                return ToolResult::err(
                    call,
                    format!(
                        "The arguments of {} could not be read: {problem}. Call the tool again with the arguments as a JSON object.",
                        display_name(call)
                    ),
                    json!({"status": "invalid_arguments"}),
                );
            }
        };
        // A retried cancellation or move (same toolCallId) gets the first
        // answer again from the replay store. A booking needs no kept answer:
        // a new one is stored with the idempotency key `vapi:<toolCallId>` in
        // its own transaction, so a retry is answered from the appointment
        // (`Replayed`, the same words); a refused one changed nothing, so a
        // retry may simply run again. Skipping the store saves a read on every
        // booking and a commit on every refused one, and keeps no extra copy
        // of the caller's details.
        let replayed_from_store = matches!(
            call.name.as_str(),
            "cancel_appointment" | "reschedule_appointment"
        );
        if !replayed_from_store {
            return self
                .execute(calendar, call, arguments, context)
                .await
                .result;
        }
        // A retried tool call (same toolCallId) gets the first answer again.
        let fingerprint = fingerprint(call, arguments);
        if !call.id.is_empty() {
            match self.replies.find_reply(REPLAY_SCOPE, &call.id).await {
                Ok(Some(stored)) => return self.replayed(call, &fingerprint, stored),
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(error = ?error, tool_call_id = %call.id, "reading the replay store failed");
                    return ToolResult::err(call, SYSTEM_TROUBLE, json!({"status": "error"}));
                }
            }
        }
        let answer = self.execute(calendar, call, arguments, context).await;
        if call.id.is_empty() || !answer.replayable {
            return answer.result;
        }
        let body = match serde_json::to_string(&answer.result) {
            Ok(body) => body,
            Err(_) => return answer.result,
        };
        let stored = self
            .replies
            .save_reply(
                REPLAY_SCOPE,
                &call.id,
                StoredReply {
                    fingerprint: fingerprint.clone(),
                    body,
                },
            )
            .await;
        match stored {
            Ok(stored) => self.replayed(call, &fingerprint, stored),
            Err(error) => {
                // The outcome itself is durable; only the replay record is missing.
                tracing::warn!(error = ?error, tool_call_id = %call.id, "storing the tool reply failed");
                answer.result
            }
        }
    }

    fn replayed(&self, call: &ToolCall, fingerprint: &str, stored: StoredReply) -> ToolResult {
        if stored.fingerprint != fingerprint {
            return ToolResult::err(
                call,
                "This tool call id was already used with different arguments, so nothing was changed. Call the tool again as a new call.",
                json!({"status": "idempotency_conflict"}),
            );
        }
        match serde_json::from_str::<ToolResult>(&stored.body) {
            Ok(mut result) => {
                result.tool_call_id = call.id.clone();
                result
            }
            Err(_) => ToolResult::err(call, SYSTEM_TROUBLE, json!({"status": "error"})),
        }
    }

    async fn execute(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        arguments: &Map<String, Value>,
        context: &CallContext,
    ) -> Answer {
        // Arguments are read against the calendar's today and region; what
        // was read from words is said back with the answer.
        let today = calendar.schedule.time_zone().date_of(self.service.now());
        let reading = ReadingContext::new(today, &self.settings.phone_region.code());
        let args = Args::new(arguments, &reading);
        let mut answer = match call.name.as_str() {
            "check_availability" => self.check_availability(calendar, call, args).await,
            "book_appointment" => self.book(calendar, call, args, context).await,
            "list_services" => self.list_services(calendar, call).await,
            "find_appointments" => self.find(calendar, call, args, context).await,
            "cancel_appointment" => self.cancel(calendar, call, args, context).await,
            "reschedule_appointment" => self.reschedule(calendar, call, args, context).await,
            _ => Answer::refuse(
                call,
                format!(
                    "There is no tool named {}. The available tools are {}.",
                    display_name(call),
                    speech::list(&TOOL_NAMES.map(String::from))
                ),
                json!({"status": "unknown_tool"}),
            ),
        };
        answer.say_back(&reading);
        answer
    }

    async fn check_availability(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        args: Args<'_>,
    ) -> Answer {
        let mut problems = Vec::new();
        let zone = caller_zone(&mut problems, args, calendar);
        let duration = keep(&mut problems, args.minutes("duration_minutes")).flatten();
        let date = keep(&mut problems, args.date("date")).flatten();
        let preferred = keep(&mut problems, args.time("time")).flatten();
        let date = match (date, preferred) {
            (Some(d), _) => Some(d),
            (None, Some(TimeInput::Local(l))) => Some(l.date()),
            (None, Some(TimeInput::Exact(e))) => Some(zone.date_of(e.with_timezone(&chrono::Utc))),
            _ => None,
        };
        let Some(date) = date else {
            problems.push(args.date_missing("date"));
            return invalid(call, &problems);
        };
        if !problems.is_empty() {
            return invalid(call, &problems);
        }
        let chosen = match self
            .choose(calendar, call, args.text("service"), duration.is_some())
            .await
        {
            Ok(chosen) => chosen,
            Err(answer) => return answer,
        };
        let service = chosen.as_ref();
        let service_name = service.map(|s| s.name.as_str().to_owned());
        let day = match self
            .service
            .availability_of(calendar, date, zone, duration, service)
            .await
        {
            Ok(day) => day,
            Err(AvailabilityError::DateInPast { today }) => return date_in_past(call, date, today),
            Err(AvailabilityError::BeyondHorizon { last_date }) => {
                return Answer::refuse(
                    call,
                    format!(
                        "{} is too far ahead: bookings can be made up to {}. Ask the caller for an earlier date.",
                        speech::date(date),
                        speech::date(last_date)
                    ),
                    json!({"status": "beyond_horizon", "date": date.to_string(), "last_date": last_date.to_string()}),
                );
            }
            Err(AvailabilityError::BadDuration(e)) => {
                return invalid(
                    call,
                    &[ArgProblem {
                        field: "duration_minutes",
                        message: e.to_string(),
                    }],
                );
            }
            Err(AvailabilityError::CalendarUnavailable(m)) => {
                tracing::warn!(reason = %m, "calendar unavailable for availability");
                return Answer::transient(
                    call,
                    CALENDAR_TROUBLE,
                    json!({"status": "calendar_unavailable"}),
                );
            }
            Err(AvailabilityError::UnknownService) => {
                return invalid(
                    call,
                    &[ArgProblem {
                        field: "service",
                        message: "the calendar offers no such service".to_owned(),
                    }],
                );
            }
            Err(AvailabilityError::Unknown(e)) => return trouble(call, e),
        };
        let of_service = service_name
            .as_deref()
            .map(|n| format!(" for {n}"))
            .unwrap_or_default();
        let slots_json: Vec<Value> = day
            .slots
            .iter()
            .map(|s| speech::slot_json(s, zone))
            .collect();
        let duration_minutes = day.duration.num_minutes();
        if day.slots.is_empty() {
            let near = zone.start_of_day(date);
            let pad = service.map_or(
                voice_scheduler_domain::Padding::after(calendar.schedule.buffer()),
                Service::padding,
            );
            let alternatives = self
                .service
                .alternatives_padded(calendar, near, day.duration, pad, service)
                .await;
            let next = if alternatives.is_empty() {
                "There are no free times in the following days either.".to_owned()
            } else {
                format!(
                    "The next free times are {}.",
                    speech::slot_times(&alternatives, zone)
                )
            };
            let closed = day.date_override.as_ref().filter(|o| o.is_closed());
            let (status, why) = match closed {
                Some(o) => (
                    "closed",
                    format!(
                        "We're closed on {}{}.",
                        speech::date(date),
                        speech::labelled(o.label())
                    ),
                ),
                None => (
                    "unavailable",
                    format!(
                        "There are no free times{of_service} on {}.",
                        speech::date(date)
                    ),
                ),
            };
            let next = if closed.is_some() {
                next.replacen("The next free times", "The nearest free times", 1)
            } else {
                next
            };
            return Answer::ok(
                call,
                format!("{why} {next} Ask the caller which time suits them."),
                json!({
                    "status": status,
                    "label": closed.and_then(|o| o.label()).map(|l| l.as_str()),
                    "service": service_name,
                    "date": date.to_string(),
                    "timezone": zone.name(),
                    "duration_minutes": duration_minutes,
                    "slots": slots_json,
                    "alternatives": alternatives.iter().map(|s| speech::slot_json(s, zone)).collect::<Vec<_>>(),
                }),
            );
        }
        let n = self.settings.spoken_slots.max(1);
        let text = match preferred {
            Some(TimeInput::Clock(_) | TimeInput::Local(_) | TimeInput::Exact(_)) => {
                let target = match args::resolve_instant(
                    Some(date),
                    preferred,
                    zone,
                    ("date", "time"),
                    args.today(),
                ) {
                    Ok(at) => at,
                    Err(_) => zone.start_of_day(date),
                };
                let exact = day.slots.iter().any(|s| s.start() == target);
                let near = nearest_slots(&day.slots, target, n);
                if exact {
                    format!(
                        "{} on {} is free. Other free times nearby are {}. Ask the caller which time they want.",
                        speech::clock(target, zone),
                        speech::date(date),
                        speech::list(
                            &near
                                .iter()
                                .filter(|s| s.start() != target)
                                .map(|s| speech::clock(s.start(), zone))
                                .collect::<Vec<_>>()
                        )
                    )
                } else {
                    format!(
                        "{} is not free. The closest free times are {} ({}). Ask the caller which time they want.",
                        speech::clock(target, zone),
                        speech::slot_times(&near, zone),
                        speech::zone_name(target, zone)
                    )
                }
            }
            None => {
                let picked = speech::spread(&day.slots, n);
                let first = day
                    .slots
                    .first()
                    .map(TimeRange::start)
                    .unwrap_or(near_noon(zone, date));
                let last = day.slots.last().map(TimeRange::start).unwrap_or(first);
                if day.slots.len() <= n {
                    format!(
                        "The free times{of_service} on {} are {} ({}). Ask the caller which time they want.",
                        speech::date(date),
                        speech::list(
                            &picked
                                .iter()
                                .map(|s| speech::clock(s.start(), zone))
                                .collect::<Vec<_>>()
                        ),
                        speech::zone_name(first, zone)
                    )
                } else {
                    format!(
                        "On {} there are {} free times{of_service} between {} and {} {}, for example {}. Ask the caller which time suits them.",
                        speech::date(date),
                        day.slots.len(),
                        speech::clock(first, zone),
                        speech::clock(last, zone),
                        speech::zone_name(first, zone),
                        speech::list(
                            &picked
                                .iter()
                                .map(|s| speech::clock(s.start(), zone))
                                .collect::<Vec<_>>()
                        )
                    )
                }
            }
        };
        Answer::ok(
            call,
            text,
            json!({
                "status": "available",
                "service": service_name,
                "date": date.to_string(),
                "timezone": zone.name(),
                "duration_minutes": duration_minutes,
                "slots": slots_json,
            }),
        )
    }

    async fn book(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        args: Args<'_>,
        context: &CallContext,
    ) -> Answer {
        let mut problems = Vec::new();
        let zone = caller_zone(&mut problems, args, calendar);
        let name = match args.text("name") {
            None => {
                problems.push(ArgProblem::missing("name", "the caller's full name"));
                None
            }
            Some(raw) => keep(
                &mut problems,
                PersonName::parse(&raw).map_err(|e| ArgProblem {
                    field: "name",
                    message: format!("name: {e}"),
                }),
            ),
        };
        let phone = self.phone_or_caller(&mut problems, args, context);
        let email = match args.text("email") {
            None => None,
            Some(raw) => keep(
                &mut problems,
                Email::parse(&raw).map_err(|_| {
                    ArgProblem::invalid(
                        "email",
                        &raw,
                        "an email address such as jane@example.com, or leave it out",
                    )
                }),
            ),
        };
        let purpose = args
            .text("purpose")
            .map(|p| p.chars().take(200).collect::<String>());
        let duration = keep(&mut problems, args.minutes("duration_minutes")).flatten();
        let date = keep(&mut problems, args.date("date")).flatten();
        let time = keep(&mut problems, args.time("time")).flatten();
        let start_arg = keep(&mut problems, args.time("start")).flatten();
        let start = start_from(
            &mut problems,
            date,
            time.or(start_arg),
            zone,
            ("date", "time"),
            args.today(),
        );
        let (Some(name), Some(phone), Some(start), true) =
            (name, phone, start, problems.is_empty())
        else {
            return invalid(call, &problems);
        };
        let chosen = match self
            .choose(calendar, call, args.text("service"), duration.is_some())
            .await
        {
            Ok(chosen) => chosen,
            Err(answer) => return answer,
        };
        let service = match chosen {
            Chosen::None => None,
            Chosen::Service(s) => Some(*s),
        };
        let request = BookRequest {
            name,
            phone,
            email,
            purpose,
            start,
            duration_minutes: duration,
            time_zone: zone,
            booked_by: BookedBy {
                channel: Channel::Voice,
                vapi_call_id: context.call_id.clone(),
                tool_call_id: (!call.id.is_empty()).then(|| call.id.clone()),
            },
            idempotency_key: (!call.id.is_empty()).then(|| format!("vapi:{}", call.id)),
            service,
        };
        let by = Requester::from(Actor::voice(context.call_id.as_deref()));
        match self.service.book(calendar, request, &by).await {
            Ok(booking)
                if booking.status == BookStatus::AlreadyBooked
                    && !self.caller(context).owns(&booking.appointment) =>
            {
                // The number given already holds this time, and it is not
                // the caller's: its code, name and purpose are not told.
                let a = &booking.appointment;
                Answer::ok(
                    call,
                    format!(
                        "The phone number given already has an appointment at {}, so nothing new was booked. For privacy its details are only given to a call from that number; the confirmation code was given when it was booked.",
                        speech::when(a.range().start(), zone)
                    ),
                    json!({
                        "status": "already_booked",
                        "start": speech::rfc3339(a.range().start(), zone),
                        "end": speech::rfc3339(a.range().end(), zone),
                    }),
                )
            }
            Ok(booking) => {
                let a = &booking.appointment;
                let (status, lead) = match booking.status {
                    BookStatus::Booked => (
                        "booked",
                        format!("Booked: {} is confirmed for", a.customer_name()),
                    ),
                    BookStatus::AlreadyBooked => (
                        "already_booked",
                        format!(
                            "{} already has this appointment, so nothing new was booked. It is",
                            a.customer_name()
                        ),
                    ),
                };
                let metadata = with_status(appointment_json(a, zone), status);
                let of_service = a
                    .service()
                    .map(|s| format!(" a {}", s.name))
                    .unwrap_or_default();
                Answer::ok(
                    call,
                    format!(
                        "{lead}{of_service} {}, for {} minutes. The confirmation code is {}. Read the code back to the caller and ask if there is anything else.",
                        speech::when(a.range().start(), zone),
                        a.range().duration().num_minutes(),
                        a.confirmation_code().spelled()
                    ),
                    metadata,
                )
            }
            Err(BookError::Unavailable {
                reason,
                alternatives,
            }) => unavailable(call, start, zone, &reason, &alternatives, None),
            Err(BookError::BadDuration(e)) => invalid(
                call,
                &[ArgProblem {
                    field: "duration_minutes",
                    message: e.to_string(),
                }],
            ),
            Err(BookError::UnknownService) => invalid(
                call,
                &[ArgProblem {
                    field: "service",
                    message: "the calendar offers no such service".to_owned(),
                }],
            ),
            Err(BookError::IdempotencyConflict) => Answer::refuse(
                call,
                "This request repeats an earlier booking request with different details, so nothing was booked. Call the tool again as a new call.",
                json!({"status": "idempotency_conflict"}),
            ),
            Err(BookError::CalendarUnavailable(m)) => {
                tracing::warn!(reason = %m, "calendar unavailable for booking");
                Answer::transient(
                    call,
                    CALENDAR_TROUBLE,
                    json!({"status": "calendar_unavailable"}),
                )
            }
            Err(BookError::Unknown(e)) => trouble(call, e),
        }
    }

    async fn find(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        args: Args<'_>,
        context: &CallContext,
    ) -> Answer {
        let mut problems = Vec::new();
        let zone = caller_zone(&mut problems, args, calendar);
        if let Some(raw) = args.text("confirmation_code") {
            let code = keep(&mut problems, confirmation_code(&raw));
            let (Some(code), true) = (code, problems.is_empty()) else {
                return invalid(call, &problems);
            };
            return self
                .find_by_code(calendar, call, &code, zone, context)
                .await;
        }
        let asked = self.phone_arg(&mut problems, args);
        if !problems.is_empty() {
            return invalid(call, &problems);
        }
        let own = match self.caller(context).searchable(asked.as_ref()) {
            Ok(own) => own,
            Err(refusal) => return private(call, refusal),
        };
        let phone = own.phone();
        match self.service.upcoming(calendar, &own).await {
            Ok(list) if list.is_empty() => Answer::ok(
                call,
                format!(
                    "There are no upcoming appointments for the phone number ending in {}. If the caller booked from another number, ask for the confirmation code (only the code reaches another number's appointments); otherwise offer to book one.",
                    spaced(phone.last_four())
                ),
                json!({"status": "none", "appointments": []}),
            ),
            Ok(list) => {
                let spoken: Vec<String> = list
                    .iter()
                    .take(5)
                    .map(|a| {
                        format!(
                            "{} (code {})",
                            speech::when(a.range().start(), zone),
                            a.confirmation_code().spelled()
                        )
                    })
                    .collect();
                let count = if list.len() == 1 {
                    "one upcoming appointment".to_owned()
                } else {
                    format!("{} upcoming appointments", list.len())
                };
                Answer::ok(
                    call,
                    format!(
                        "The caller has {count}: {}. Ask what they would like to do.",
                        speech::list(&spoken)
                    ),
                    json!({
                        "status": "found",
                        "appointments": list.iter().map(|a| appointment_json(a, zone)).collect::<Vec<_>>(),
                    }),
                )
            }
            Err(e) => trouble(call, anyhow::anyhow!(e)),
        }
    }

    /// `find_appointments` with a confirmation code: that appointment, from
    /// any number (told without its purpose to another number).
    async fn find_by_code(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        code: &ConfirmationCode,
        zone: TimeZoneId,
        context: &CallContext,
    ) -> Answer {
        match self.service.upcoming_with_code(calendar, code).await {
            Ok(Some(a)) => Answer::ok(
                call,
                format!(
                    "The appointment with that confirmation code is on {}. Ask what they would like to do.",
                    speech::when(a.range().start(), zone)
                ),
                json!({
                    "status": "found",
                    "appointments": [told(&a, zone, &self.caller(context))],
                }),
            ),
            Ok(None) => Answer::ok(
                call,
                "No upcoming appointment has that confirmation code. Ask the caller to check the code, letter by letter.",
                json!({"status": "none", "appointments": []}),
            ),
            Err(e) => trouble(call, anyhow::anyhow!(e)),
        }
    }

    async fn cancel(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        args: Args<'_>,
        context: &CallContext,
    ) -> Answer {
        let mut problems = Vec::new();
        let zone = caller_zone(&mut problems, args, calendar);
        let caller = self.caller(context);
        let which = match self.appointment_ref(&mut problems, args, &caller, zone) {
            Ok(which) => which,
            Err(refusal) => return private(call, refusal),
        };
        let (Some(which), true) = (which, problems.is_empty()) else {
            return invalid(call, &problems);
        };
        let reason = args.text("reason");
        let by = Requester::from(Actor::voice(context.call_id.as_deref()));
        match self.service.cancel(calendar, &which, reason, &by).await {
            Ok(a) => {
                let metadata = with_status(told(&a, zone, &caller), "cancelled");
                Answer::ok(
                    call,
                    format!(
                        "The appointment on {} is cancelled and the time is free again. Ask the caller if they would like to book another time.",
                        speech::when(a.range().start(), zone)
                    ),
                    metadata,
                )
            }
            Err(CancelError::AlreadyCancelled(a)) => {
                let metadata = with_status(told(&a, zone, &caller), "already_cancelled");
                Answer::ok(
                    call,
                    format!(
                        "The appointment on {} was already cancelled; nothing else to do.",
                        speech::when(a.range().start(), zone)
                    ),
                    metadata,
                )
            }
            Err(e) => locate_failure(call, zone, &caller, e.into()),
        }
    }

    async fn reschedule(
        &self,
        calendar: &Calendar,
        call: &ToolCall,
        args: Args<'_>,
        context: &CallContext,
    ) -> Answer {
        let mut problems = Vec::new();
        let zone = caller_zone(&mut problems, args, calendar);
        let caller = self.caller(context);
        let which = match self.appointment_ref(&mut problems, args, &caller, zone) {
            Ok(which) => which,
            Err(refusal) => return private(call, refusal),
        };
        let new_date = keep(&mut problems, args.date("new_date")).flatten();
        let new_time = keep(&mut problems, args.time("new_time")).flatten();
        let new_start_arg = keep(&mut problems, args.time("new_start")).flatten();
        let new_start = start_from(
            &mut problems,
            new_date,
            new_time.or(new_start_arg),
            zone,
            ("new_date", "new_time"),
            args.today(),
        );
        let (Some(which), Some(new_start), true) = (which, new_start, problems.is_empty()) else {
            return invalid(call, &problems);
        };
        let by = Requester::from(Actor::voice(context.call_id.as_deref()));
        match self
            .service
            .reschedule(calendar, &which, new_start, &by)
            .await
        {
            Ok(moved) => {
                let a = &moved.appointment;
                let mut metadata = with_status(told(a, zone, &caller), "rescheduled");
                metadata["previous_start"] = json!(speech::rfc3339(moved.previous.start(), zone));
                metadata["previous_end"] = json!(speech::rfc3339(moved.previous.end(), zone));
                let code = if caller.owns(a) {
                    format!("stays {}", a.confirmation_code().spelled())
                } else {
                    "stays the same".to_owned()
                };
                Answer::ok(
                    call,
                    format!(
                        "The appointment is moved from {} to {}. The confirmation code {code}. Confirm the new time with the caller.",
                        speech::when(moved.previous.start(), zone),
                        speech::when(a.range().start(), zone),
                    ),
                    metadata,
                )
            }
            Err(RescheduleError::Unavailable {
                reason,
                alternatives,
            }) => unavailable(
                call,
                new_start,
                zone,
                &reason,
                &alternatives,
                Some("The appointment keeps its current time."),
            ),
            Err(RescheduleError::CalendarUnavailable(m)) => {
                tracing::warn!(reason = %m, "calendar unavailable for reschedule");
                Answer::transient(
                    call,
                    CALENDAR_TROUBLE,
                    json!({"status": "calendar_unavailable"}),
                )
            }
            Err(RescheduleError::NotFound) => {
                locate_failure(call, zone, &caller, LocateFailure::NotFound)
            }
            Err(RescheduleError::Ambiguous(list)) => {
                locate_failure(call, zone, &caller, LocateFailure::Ambiguous(list))
            }
            Err(RescheduleError::Cancelled(a)) => {
                let metadata = with_status(told(&a, zone, &caller), "cancelled");
                Answer::refuse(
                    call,
                    "That appointment was cancelled, so it cannot be moved. Offer to book a new appointment instead.",
                    metadata,
                )
            }
            Err(RescheduleError::AlreadyPast(a)) => {
                locate_failure(call, zone, &caller, LocateFailure::AlreadyPast(a))
            }
            Err(RescheduleError::Unknown(e)) => trouble(call, e),
        }
    }

    /// The person on the call: their number (caller ID) when the call has
    /// one that reads as a phone number.
    fn caller(&self, context: &CallContext) -> Caller {
        Caller::new(
            context
                .customer_number
                .as_deref()
                .and_then(|n| PhoneNumber::parse(n, self.settings.phone_region).ok()),
        )
    }

    /// The `phone` argument, if given (a problem when it is not a number).
    fn phone_arg(&self, problems: &mut Vec<ArgProblem>, args: Args<'_>) -> Option<PhoneNumber> {
        let raw = args.text("phone")?;
        keep(
            problems,
            PhoneNumber::parse(&raw, self.settings.phone_region).map_err(|_| {
                ArgProblem::invalid(
                    "phone",
                    &raw,
                    "a phone number such as (415) 555-0123 or +14155550123",
                )
            }),
        )
    }

    /// The `phone` argument, or the caller's number from the call (a
    /// booking may be made for another number).
    fn phone_or_caller(
        &self,
        problems: &mut Vec<ArgProblem>,
        args: Args<'_>,
        context: &CallContext,
    ) -> Option<PhoneNumber> {
        let region = self.settings.phone_region;
        match args.text("phone") {
            Some(_) => self.phone_arg(problems, args),
            None => match context
                .customer_number
                .as_deref()
                .map(|n| PhoneNumber::parse(n, region))
            {
                Some(Ok(phone)) => Some(phone),
                _ => {
                    problems.push(ArgProblem::missing(
                        "phone",
                        "the caller's phone number, since this call has no caller number",
                    ));
                    None
                }
            },
        }
    }

    /// A confirmation code (from any number), or a date and optional time
    /// among the appointments of the number calling (a `phone` argument
    /// naming another number, or a call without caller ID, is refused).
    fn appointment_ref(
        &self,
        problems: &mut Vec<ArgProblem>,
        args: Args<'_>,
        caller: &Caller,
        zone: TimeZoneId,
    ) -> Result<Option<AppointmentRef>, PrivacyRefusal> {
        if let Some(raw) = args.text("confirmation_code") {
            return Ok(keep(
                problems,
                confirmation_code(&raw).map(AppointmentRef::Code),
            ));
        }
        let date = keep(problems, args.date("date")).flatten();
        let time = keep(problems, args.time("time")).flatten();
        let (date, time) = match (date, time) {
            (d, Some(TimeInput::Local(l))) => (d.or(Some(l.date())), Some(l.time())),
            (d, Some(TimeInput::Exact(e))) => {
                let local = e.with_timezone(&zone.tz()).naive_local();
                (d.or(Some(local.date())), Some(local.time()))
            }
            (d, Some(TimeInput::Clock(c))) => (d, Some(c)),
            (d, None) => (d, None),
        };
        let Some(date) = date else {
            problems.push(ArgProblem::missing(
                "confirmation_code",
                "the confirmation code, or the date of the appointment as YYYY-MM-DD",
            ));
            return Ok(None);
        };
        let asked = self.phone_arg(problems, args);
        if !problems.is_empty() {
            return Ok(None);
        }
        let phone = caller.searchable(asked.as_ref())?;
        Ok(Some(AppointmentRef::PhoneOn { phone, date, time }))
    }
}

enum LocateFailure {
    NotFound,
    Ambiguous(Vec<Appointment>),
    AlreadyPast(Box<Appointment>),
    Unknown(anyhow::Error),
}

impl From<CancelError> for LocateFailure {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound => Self::NotFound,
            CancelError::Ambiguous(list) => Self::Ambiguous(list),
            CancelError::AlreadyPast(a) => Self::AlreadyPast(a),
            CancelError::AlreadyCancelled(_) => Self::NotFound,
            CancelError::Unknown(e) => Self::Unknown(e),
        }
    }
}

fn locate_failure(
    call: &ToolCall,
    zone: TimeZoneId,
    caller: &Caller,
    failure: LocateFailure,
) -> Answer {
    match failure {
        LocateFailure::NotFound => Answer::refuse(
            call,
            "No matching appointment was found. Ask the caller for the confirmation code, or the date and time of the appointment and the phone number it was booked with.",
            json!({"status": "not_found"}),
        ),
        LocateFailure::Ambiguous(list) => Answer::refuse(
            call,
            format!(
                "There are {} appointments that day, at {}. Ask the caller which time they mean, then call the tool again with that time.",
                list.len(),
                speech::list(
                    &list
                        .iter()
                        .map(|a| speech::clock(a.range().start(), zone))
                        .collect::<Vec<_>>()
                )
            ),
            json!({"status": "ambiguous", "appointments": list.iter().map(|a| told(a, zone, caller)).collect::<Vec<_>>()}),
        ),
        LocateFailure::AlreadyPast(a) => {
            let metadata = with_status(told(&a, zone, caller), "already_past");
            Answer::refuse(
                call,
                format!(
                    "The appointment on {} has already started, so it cannot be changed now.",
                    speech::when(a.range().start(), zone)
                ),
                metadata,
            )
        }
        LocateFailure::Unknown(e) => trouble(call, e),
    }
}

fn unavailable(
    call: &ToolCall,
    start: chrono::DateTime<chrono::Utc>,
    zone: TimeZoneId,
    reason: &SlotRejection,
    alternatives: &[TimeRange],
    tail: Option<&str>,
) -> Answer {
    let asked = speech::when(start, zone);
    let (code, why) = match reason {
        SlotRejection::Taken => ("taken", format!("{asked} is already taken.")),
        SlotRejection::OutsideHours => (
            "outside_hours",
            format!("{asked} is outside working hours."),
        ),
        SlotRejection::NotOnGrid => (
            "not_on_grid",
            format!("{asked} is not one of the bookable start times."),
        ),
        SlotRejection::TooSoon { earliest } => (
            "too_soon",
            format!(
                "{asked} is too soon; the earliest possible start is {}.",
                speech::when(*earliest, zone)
            ),
        ),
        SlotRejection::TooFarAhead { last_date } => (
            "too_far_ahead",
            format!(
                "{asked} is too far ahead; bookings can be made up to {}.",
                speech::date(*last_date)
            ),
        ),
        SlotRejection::InPast { today } => (
            "in_past",
            format!(
                "{asked} is in the past. Today is {}. Ask the caller for the date again.",
                speech::date(*today)
            ),
        ),
        SlotRejection::Closed { date, label } => (
            "closed",
            format!(
                "We're closed on {}{}.",
                speech::date(*date),
                speech::labelled(label.as_ref())
            ),
        ),
        SlotRejection::OutsideSpecialHours { date, label } => (
            "outside_special_hours",
            format!(
                "{asked} is outside the special opening hours of {}{}.",
                speech::date(*date),
                speech::labelled(label.as_ref())
            ),
        ),
        SlotRejection::DailyLimit { date } => (
            "service_full",
            format!(
                "{asked} cannot be booked: this service is fully booked on {}.",
                speech::date(*date)
            ),
        ),
        SlotRejection::TimeOff { until, label } => (
            "time_off",
            format!(
                "{asked} is not available: we're away{} until {}.",
                speech::labelled(label.as_ref()),
                speech::when(*until, zone)
            ),
        ),
    };
    let offer = if alternatives.is_empty() {
        "There are no free times nearby; ask the caller for another day.".to_owned()
    } else {
        format!(
            "The nearest free times are {} ({}). Ask the caller which one they want.",
            speech::slot_times(alternatives, zone),
            speech::zone_name(alternatives[0].start(), zone)
        )
    };
    let mut metadata = json!({
        "status": "unavailable",
        "reason": code,
        "requested_start": speech::rfc3339(start, zone),
        "alternatives": alternatives.iter().map(|s| speech::slot_json(s, zone)).collect::<Vec<_>>(),
    });
    match reason {
        SlotRejection::InPast { today } => metadata["today"] = json!(today.to_string()),
        SlotRejection::Closed { label, .. }
        | SlotRejection::OutsideSpecialHours { label, .. }
        | SlotRejection::TimeOff { label, .. } => {
            metadata["label"] = json!(label.as_ref().map(|l| l.as_str()));
        }
        _ => {}
    }
    let tail = tail.map(|t| format!(" {t}")).unwrap_or_default();
    Answer::refuse(call, format!("{why}{tail} {offer}"), metadata)
}

fn date_in_past(call: &ToolCall, date: chrono::NaiveDate, today: chrono::NaiveDate) -> Answer {
    Answer::refuse(
        call,
        format!(
            "{} is in the past. Today is {}. Ask the caller which date they mean.",
            speech::date(date),
            speech::date(today)
        ),
        json!({"status": "date_in_past", "date": date.to_string(), "today": today.to_string()}),
    )
}

fn appointment_json(a: &Appointment, zone: TimeZoneId) -> Value {
    json!({
        "appointment_id": a.id().to_string(),
        "confirmation_code": a.confirmation_code().as_str(),
        "start": speech::rfc3339(a.range().start(), zone),
        "end": speech::rfc3339(a.range().end(), zone),
        "appointment_status": a.status().as_str(),
        "purpose": a.purpose(),
        "service": a.service().map(|s| s.name.as_str()),
    })
}

/// An appointment as told to `caller`: in full when it was booked with the
/// number they call from; else without its confirmation code and purpose
/// (see `voice_scheduler_domain::caller`).
fn told(a: &Appointment, zone: TimeZoneId, caller: &Caller) -> Value {
    let mut metadata = appointment_json(a, zone);
    if !caller.owns(a)
        && let Some(fields) = metadata.as_object_mut()
    {
        fields.remove("confirmation_code");
        fields.remove("purpose");
    }
    metadata
}

/// The `confirmation_code` argument as a code.
fn confirmation_code(raw: &str) -> Result<ConfirmationCode, ArgProblem> {
    ConfirmationCode::parse(raw).map_err(|_| {
        ArgProblem::invalid(
            "confirmation_code",
            raw,
            "six letters and digits, such as K7M2QX",
        )
    })
}

/// The answer when the privacy rule refuses a lookup by phone number.
fn private(call: &ToolCall, refusal: PrivacyRefusal) -> Answer {
    let text = match refusal {
        PrivacyRefusal::OtherNumber => {
            "For privacy, appointments can only be looked up for the number the caller is calling from, or with the confirmation code given at booking. Tell the caller so, and ask for the confirmation code if they want to cancel or move an appointment booked from another number."
        }
        PrivacyRefusal::NoCallerNumber => {
            "This call has no caller number, so for privacy appointments can only be found with the confirmation code given at booking. Ask the caller for the confirmation code."
        }
    };
    Answer::refuse(
        call,
        text,
        json!({"status": "not_permitted", "reason": refusal.as_str()}),
    )
}

fn invalid(call: &ToolCall, problems: &[ArgProblem]) -> Answer {
    Answer::refuse(
        call,
        format!("{} Then call the tool again.", describe(problems)),
        json!({
            "status": "invalid_arguments",
            "fields": problems.iter().map(|p| json!({"field": p.field, "problem": p.message})).collect::<Vec<_>>(),
        }),
    )
}

fn trouble(call: &ToolCall, error: anyhow::Error) -> Answer {
    tracing::error!(error = ?error, tool = %call.name, tool_call_id = %call.id, "tool call failed");
    Answer::transient(call, SYSTEM_TROUBLE, json!({"status": "error"}))
}

fn with_status(mut metadata: Value, status: &str) -> Value {
    metadata["status"] = json!(status);
    metadata
}

/// The `timezone` argument, or the calendar's zone (a bad value is a problem).
fn caller_zone(problems: &mut Vec<ArgProblem>, args: Args<'_>, calendar: &Calendar) -> TimeZoneId {
    let default = calendar.schedule.time_zone();
    keep(problems, args.zone("timezone", default)).unwrap_or(default)
}

/// The instant `date` and `time` name in `zone`, or the problems why not.
fn start_from(
    problems: &mut Vec<ArgProblem>,
    date: Option<chrono::NaiveDate>,
    time: Option<TimeInput>,
    zone: TimeZoneId,
    fields: (&'static str, &'static str),
    today: chrono::NaiveDate,
) -> Option<chrono::DateTime<chrono::Utc>> {
    match args::resolve_instant(date, time, zone, fields, today) {
        Ok(at) => Some(at),
        Err(WhenProblem::Args(more)) => {
            problems.extend(more);
            None
        }
        Err(WhenProblem::DoesNotExist { date, time }) => {
            problems.push(ArgProblem {
                field: fields.1,
                message: format!(
                    "{} does not exist on {} because the clocks change that night",
                    time.format("%-I:%M %p"),
                    speech::date(date)
                ),
            });
            None
        }
    }
}

fn keep<T>(problems: &mut Vec<ArgProblem>, value: Result<T, ArgProblem>) -> Option<T> {
    match value {
        Ok(v) => Some(v),
        Err(p) => {
            problems.push(p);
            None
        }
    }
}

fn display_name(call: &ToolCall) -> String {
    if call.name.is_empty() {
        "(no name)".to_owned()
    } else {
        call.name.chars().take(60).collect()
    }
}

/// `0 1 2 3`: digits spoken one by one.
fn spaced(digits: &str) -> String {
    digits
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}

fn near_noon(zone: TimeZoneId, date: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    zone.start_of_day(date) + chrono::Duration::hours(12)
}

/// A digest of a call's name and arguments (keys sorted), to tell a retry
/// from a different request under the same id.
fn fingerprint(call: &ToolCall, arguments: &Map<String, Value>) -> String {
    let sorted: std::collections::BTreeMap<&String, &Value> = arguments.iter().collect();
    let canonical = serde_json::to_string(&sorted).unwrap_or_default();
    let digest = Sha256::digest(format!("{}\n{canonical}", call.name).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
