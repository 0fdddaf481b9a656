//! The load generator: closed-loop virtual clients that speak to
//! `POST /vapi/tools` the way VAPI does, and what they measured.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// Names the virtual callers give (all valid `PersonName`s).
const NAMES: [&str; 8] = [
    "Jane Doe",
    "Ray Chan",
    "José Álvarez",
    "Li Wei",
    "Amara Okafor",
    "Sam Taylor",
    "Priya Nair",
    "Olga Ivanova",
];

/// What the clients do and against which server.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    pub secret: String,
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Share of tool calls that are `book_appointment` (the rest are
    /// `check_availability`), in percent.
    pub book_percent: u8,
    /// Dates are drawn from the next `days` days (from tomorrow on, in UTC,
    /// so always from tomorrow on in the calendar's American zone).
    pub days: u32,
    /// The bookable grid of a day in the calendar's zone: first start
    /// (minutes after midnight), slot length, number of slots.
    pub day_start_minutes: u32,
    pub slot_minutes: u32,
    pub slots_per_day: u32,
    /// The zone callers name in their arguments.
    pub time_zone: String,
    /// Distinct callers (phone numbers).
    pub callers: u32,
    pub seed: u64,
    /// `Some(free)`: bookings never collide: the clients book the listed
    /// free `(day, slot)` pairs in turn (each its own share), as the pgbench
    /// ceiling does. `None`: slots are drawn at random and some are taken
    /// (an expected answer).
    pub unique_slots: Option<Arc<Vec<(u32, u32)>>>,
    /// Pause of each client after each answer (0: closed loop, every client
    /// sends its next call as soon as it has the answer).
    pub think: Duration,
    /// Every call comes from a caller of its own (a phone number used once
    /// in the run) instead of one of `callers`.
    pub unique_callers: bool,
    /// The tool call's `arguments` as a JSON object (as in
    /// `shared/fixtures/vapi/tool-calls-args-object.json`) instead of a JSON
    /// string.
    pub args_object: bool,
}

/// Every `(day, slot)` of days `1..=days` in order, except, on days
/// `1..=seeded_days`, the slots that overlap a seeded appointment (15
/// minutes at every full and half hour; the day starts on one). Slots are
/// `slot_minutes` long, at most 15.
pub fn free_slots(
    days: u32,
    slots_per_day: u32,
    slot_minutes: u32,
    seeded_days: u32,
) -> Vec<(u32, u32)> {
    (1..=days)
        .flat_map(|day| {
            let seeded = day <= seeded_days;
            (0..slots_per_day)
                .filter(move |slot| !seeded || (slot * slot_minutes) % 30 >= 15)
                .map(move |slot| (day, slot))
        })
        .collect()
}

/// One tool's figures.
#[derive(Debug, Default, Clone)]
pub struct ToolStats {
    /// Latency of every measured request, in microseconds (sent → body read).
    pub latencies_us: Vec<u64>,
    /// Answers with a `result` (booked, already booked, slots listed, …).
    pub ok: u64,
    /// `book_appointment` answers `booked`.
    pub booked: u64,
    /// `book_appointment` answers `already_booked`.
    pub already_booked: u64,
    /// Refusals because another caller holds the time (`metadata.reason ==
    /// "taken"`): an expected outcome, not an error.
    pub taken: u64,
    /// Other `error` answers, by `metadata.status` / `metadata.reason`.
    pub tool_errors: BTreeMap<String, u64>,
    /// Booking-only runs: bookings sent after the client's free slots were
    /// used up (they ask for a taken slot; the run was too long or too fast
    /// for the schedule).
    pub reused_slots: u64,
}

impl ToolStats {
    pub fn count(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    pub fn tool_error_count(&self) -> u64 {
        self.tool_errors.values().sum()
    }

    fn merge(&mut self, other: ToolStats) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        self.booked += other.booked;
        self.already_booked += other.already_booked;
        self.taken += other.taken;
        self.reused_slots += other.reused_slots;
        for (k, v) in other.tool_errors {
            *self.tool_errors.entry(k).or_default() += v;
        }
    }

    /// p50, p95, p99 and max in milliseconds (nearest rank), or `None` when
    /// nothing was measured.
    pub fn percentiles_ms(&self) -> Option<Percentiles> {
        let mut sorted = self.latencies_us.clone();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable();
        let at = |p: f64| {
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
        };
        Some(Percentiles {
            p50: at(50.0),
            p95: at(95.0),
            p99: at(99.0),
            max: sorted[sorted.len() - 1] as f64 / 1000.0,
        })
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// Everything one load run measured (warm-up excluded).
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub measured: Duration,
    pub check: ToolStats,
    pub book: ToolStats,
    /// HTTP answers other than 200, by status.
    pub http_errors: BTreeMap<u16, u64>,
    /// No HTTP answer at all (connection refused or reset, timeout).
    pub transport_errors: u64,
    /// A 200 whose body is not one result for the one tool call sent.
    pub protocol_errors: u64,
    /// A few examples of the errors above, for diagnosis.
    pub samples: Vec<String>,
}

impl LoadReport {
    pub fn requests(&self) -> u64 {
        self.check.count() + self.book.count()
    }

    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.measured.as_secs_f64().max(1e-9)
    }

    pub fn requests_per_second(&self) -> f64 {
        self.per_second(self.requests())
    }

    pub fn booked_per_second(&self) -> f64 {
        self.per_second(self.book.booked)
    }

    pub fn http_error_count(&self) -> u64 {
        self.http_errors.values().sum()
    }

    fn merge(&mut self, other: LoadReport) {
        self.check.merge(other.check);
        self.book.merge(other.book);
        for (k, v) in other.http_errors {
            *self.http_errors.entry(k).or_default() += v;
        }
        self.transport_errors += other.transport_errors;
        self.protocol_errors += other.protocol_errors;
        for s in other.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
    }

    /// A plain-text summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "measured {:.1} s: {} requests, {:.1} req/s; {} booked ({:.1}/s), {} already booked, {} slot-taken refusals (expected)\n",
            self.measured.as_secs_f64(),
            self.requests(),
            self.requests_per_second(),
            self.book.booked,
            self.booked_per_second(),
            self.book.already_booked,
            self.book.taken + self.check.taken,
        ));
        out.push_str(&format!(
            "errors: HTTP non-200 {} {:?}; transport {}; protocol {}; tool errors: check_availability {} {:?}, book_appointment {} {:?}\n",
            self.http_error_count(),
            self.http_errors,
            self.transport_errors,
            self.protocol_errors,
            self.check.tool_error_count(),
            self.check.tool_errors,
            self.book.tool_error_count(),
            self.book.tool_errors,
        ));
        out.push_str("tool                    count     p50 ms    p95 ms    p99 ms    max ms\n");
        for (name, stats) in [
            ("check_availability", &self.check),
            ("book_appointment", &self.book),
        ] {
            match stats.percentiles_ms() {
                Some(p) => out.push_str(&format!(
                    "{name:<20} {:>8} {:>10.2} {:>9.2} {:>9.2} {:>9.2}\n",
                    stats.count(),
                    p.p50,
                    p.p95,
                    p.p99,
                    p.max
                )),
                None => out.push_str(&format!("{name:<20} {:>8}\n", 0)),
            }
        }
        if self.book.reused_slots > 0 {
            out.push_str(&format!(
                "warning: the schedule's free slots ran out: {} bookings asked for a slot booked earlier in the run (their refusals are in the figures; use a shorter --duration)\n",
                self.book.reused_slots
            ));
        }
        for s in &self.samples {
            out.push_str(&format!("  e.g. {s}\n"));
        }
        out
    }
}

/// Runs the clients for `warmup + duration` and returns what was measured
/// after the warm-up. `during_warmup` runs two thirds into the warm-up,
/// while the clients go on (the bench refreshes PostgreSQL's statistics
/// there).
pub async fn run(
    config: LoadConfig,
    during_warmup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
) -> anyhow::Result<LoadReport> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(config.clients)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("could not build the HTTP client")?;
    let config = Arc::new(config);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let end = measure_from + config.duration;
    let mut tasks = Vec::with_capacity(config.clients);
    for index in 0..config.clients {
        let client = Client {
            index,
            config: Arc::clone(&config),
            http: http.clone(),
            run_id: run_id.clone(),
            rng: StdRng::seed_from_u64(config.seed ^ (index as u64).wrapping_mul(0x9E37_79B9)),
            sent: 0,
            booked: 0,
            reused_slots: 0,
        };
        tasks.push(tokio::spawn(client.run(measure_from, end)));
    }
    let side = during_warmup.map(|work| {
        let delay = config.warmup * 2 / 3;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            work.await;
        })
    });
    let mut report = LoadReport::default();
    for task in tasks {
        report.merge(task.await.context("a load client panicked")?);
    }
    if let Some(side) = side {
        side.await.context("the warm-up task panicked")?;
    }
    report.measured = config.duration;
    Ok(report)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Check,
    Book,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Check => "check_availability",
            Tool::Book => "book_appointment",
        }
    }
}

struct Client {
    index: usize,
    config: Arc<LoadConfig>,
    http: reqwest::Client,
    run_id: String,
    rng: StdRng,
    sent: u64,
    /// Bookings sent so far (the position in this client's own slot
    /// sequence with `unique_slots`).
    booked: u64,
    /// Bookings sent after this client's free slots were used up.
    reused_slots: u64,
}

impl Client {
    async fn run(mut self, measure_from: Instant, end: Instant) -> LoadReport {
        let mut report = LoadReport::default();
        let today = Utc::now().date_naive();
        while Instant::now() < end {
            let tool = if self.rng.random_range(0..100u8) < self.config.book_percent {
                Tool::Book
            } else {
                Tool::Check
            };
            let body = self.body(tool, today);
            let tool_call_id = body.1;
            let started = Instant::now();
            let outcome = self.send(body.0).await;
            let elapsed = started.elapsed();
            if !self.config.think.is_zero() {
                tokio::time::sleep(self.config.think).await;
            }
            if started < measure_from {
                continue;
            }
            let stats = match tool {
                Tool::Check => &mut report.check,
                Tool::Book => &mut report.book,
            };
            match outcome {
                Err(e) => {
                    report.transport_errors += 1;
                    sample(
                        &mut report.samples,
                        format!("{}: transport: {e}", tool.name()),
                    );
                }
                Ok((status, _)) if status != 200 => {
                    *report.http_errors.entry(status).or_default() += 1;
                    sample(
                        &mut report.samples,
                        format!("{}: HTTP {status}", tool.name()),
                    );
                }
                Ok((_, body)) => {
                    stats
                        .latencies_us
                        .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
                    match classify(&body, &tool_call_id, tool) {
                        Some(Outcome::Ok { booked, already }) => {
                            stats.ok += 1;
                            stats.booked += u64::from(booked);
                            stats.already_booked += u64::from(already);
                        }
                        Some(Outcome::Taken) => stats.taken += 1,
                        Some(Outcome::ToolError(kind)) => {
                            *stats.tool_errors.entry(kind).or_default() += 1;
                        }
                        None => {
                            report.protocol_errors += 1;
                            sample(
                                &mut report.samples,
                                format!(
                                    "{}: unexpected body {}",
                                    tool.name(),
                                    String::from_utf8_lossy(&body[..body.len().min(300)])
                                ),
                            );
                        }
                    }
                }
            }
        }
        report.book.reused_slots = self.reused_slots;
        report
    }

    async fn send(&self, body: Vec<u8>) -> Result<(u16, Vec<u8>), reqwest::Error> {
        let response = self
            .http
            .post(format!("{}/vapi/tools", self.config.base_url))
            .header("X-Vapi-Secret", &self.config.secret)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?.to_vec();
        Ok((status, body))
    }

    /// A `tool-calls` message shaped like VAPI's (arguments as a JSON
    /// string), and its tool-call id.
    fn body(&mut self, tool: Tool, today: NaiveDate) -> (Vec<u8>, String) {
        self.sent += 1;
        let c = &self.config;
        let caller = self.rng.random_range(0..c.callers.max(1));
        let phone = if c.unique_callers {
            // (415) NXX-XXXX with NXX from 200: 8 million numbers, one per
            // call (clients take turns, as with the free slots).
            let n = self.sent * c.clients as u64 + self.index as u64;
            format!("+1415{:03}{:04}", 200 + (n / 10_000) % 800, n % 10_000)
        } else {
            format!("+1415555{:04}", 100 + caller % 9900)
        };
        let unique = match (&c.unique_slots, tool) {
            (Some(free), Tool::Book) if !free.is_empty() => {
                let k = self.booked * c.clients as u64 + self.index as u64;
                self.booked += 1;
                if k >= free.len() as u64 {
                    self.reused_slots += 1;
                }
                Some(free[(k % free.len() as u64) as usize])
            }
            _ => None,
        };
        let (date, minutes) = loop {
            let (day, slot) = if let Some(pair) = unique {
                pair
            } else {
                (
                    self.rng.random_range(1..=c.days.max(1)),
                    self.rng.random_range(0..c.slots_per_day.max(1)),
                )
            };
            let date = today
                .checked_add_days(Days::new(u64::from(day)))
                .unwrap_or(today);
            let minutes = c.day_start_minutes + slot * c.slot_minutes;
            // A random time of a day open around the clock can fall in the
            // hour the clocks skip (an answer, but not a booking): draw again.
            if unique.is_some() || !in_spring_forward_gap(date, minutes) {
                break (date, minutes);
            }
        };
        let time = format!("{:02}:{:02}", minutes / 60, minutes % 60);
        let arguments = match tool {
            Tool::Book => json!({
                "name": NAMES[caller as usize % NAMES.len()],
                "phone": phone,
                "email": format!("caller{caller}@example.com"),
                "date": date.to_string(),
                "time": time,
                "purpose": "Discovery session",
                "timezone": c.time_zone,
            }),
            Tool::Check if self.rng.random_range(0..10u8) < 3 => json!({
                "date": date.to_string(),
                "time": time,
                "timezone": c.time_zone,
            }),
            Tool::Check => json!({"date": date.to_string(), "timezone": c.time_zone}),
        }
        .to_string();
        let tool_call_id = format!("call_{}_{}_{}", self.run_id, self.index, self.sent);
        let call_id = format!("bench-{}-{}-{caller}", self.run_id, self.index);
        let body = message(
            tool.name(),
            &arguments,
            c.args_object,
            &tool_call_id,
            &call_id,
            &phone,
            &c.base_url,
            Utc::now().timestamp_millis(),
        );
        (body.into_bytes(), tool_call_id)
    }
}

/// Whether `minutes` after midnight on `date` is in the hour that does not
/// exist in the bench's zone (America/Los_Angeles, like every US zone: 2 AM
/// on the second Sunday of March).
fn in_spring_forward_gap(date: NaiveDate, minutes: u32) -> bool {
    date.month() == 3
        && date.weekday() == Weekday::Sun
        && (8..=14).contains(&date.day())
        && minutes / 60 == 2
}

/// A `tool-calls` message shaped like
/// `shared/fixtures/vapi/tool-calls-args-string.json` (arguments as a JSON
/// string, the call repeated in `toolWithToolCallList`), or with
/// `args_object` like `tool-calls-args-object.json` (arguments as a JSON
/// object), written out directly: building it as a `serde_json::Value`
/// cost the load generator more CPU than it leaves the server on two cores.
#[allow(clippy::too_many_arguments)]
fn message(
    tool: &str,
    arguments: &str,
    args_object: bool,
    tool_call_id: &str,
    call_id: &str,
    phone: &str,
    base_url: &str,
    timestamp_ms: i64,
) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let (tool, phone) = (q(tool), q(phone));
    let arguments = if args_object {
        arguments.to_owned()
    } else {
        q(arguments)
    };
    let call = format!(
        r#"{{"id":{},"type":"function","function":{{"name":{tool},"arguments":{arguments}}}}}"#,
        q(tool_call_id),
    );
    format!(
        concat!(
            r#"{{"message":{{"type":"tool-calls","timestamp":{ts},"toolCallList":[{call}],"#,
            r#""toolWithToolCallList":[{{"type":"function","function":{{"name":{tool},"#,
            r#""parameters":{{"type":"object","properties":{{}}}}}},"server":{{"url":{url}}},"#,
            r#""messages":[],"toolCall":{call}}}],"#,
            r#""call":{{"id":{call_id},"orgId":"eb166faa-7145-46ef-8044-589b47ae3b56","#,
            r#""type":"inboundPhoneCall","status":"in-progress","#,
            r#""assistantId":"5b0a4a08-133c-4146-9315-0984f8c6be80","#,
            r#""phoneNumberId":"42b4b25d-031e-4786-857f-63b346c9580f","#,
            r#""customer":{{"number":{phone}}}}},"customer":{{"number":{phone}}},"#,
            r#""phoneNumber":{{"number":"+14155550000"}},"assistant":{{"name":"Booking Assistant"}},"#,
            r#""artifact":{{"messages":[]}}}}}}"#
        ),
        ts = timestamp_ms,
        call = call,
        tool = tool,
        url = q(&format!("{base_url}/vapi/tools")),
        call_id = q(call_id),
        phone = phone,
    )
}

enum Outcome {
    Ok { booked: bool, already: bool },
    Taken,
    ToolError(String),
}

/// The parts of an answer the bench reads; everything else (slot lists,
/// appointment details) is skipped without being built.
#[derive(serde::Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    results: Vec<ToolAnswer<'a>>,
}

#[derive(serde::Deserialize)]
struct ToolAnswer<'a> {
    #[serde(rename = "toolCallId", borrow)]
    tool_call_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    result: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
}

#[derive(serde::Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
}

/// Reads a 200 answer: exactly one result for our tool call, with a
/// single-line `result` or `error`.
fn classify(body: &[u8], tool_call_id: &str, tool: Tool) -> Option<Outcome> {
    let answer: Answer<'_> = serde_json::from_slice(body).ok()?;
    let [result] = answer.results.as_slice() else {
        return None;
    };
    if result.tool_call_id != tool_call_id || result.name.as_deref() != Some(tool.name()) {
        return None;
    }
    let status = result
        .metadata
        .as_ref()
        .and_then(|m| m.status.as_deref())
        .unwrap_or("");
    let reason = result
        .metadata
        .as_ref()
        .and_then(|m| m.reason.as_deref())
        .unwrap_or("");
    match (&result.result, &result.error) {
        (None, Some(error)) if !error.contains('\n') => {
            if reason == "taken" {
                Some(Outcome::Taken)
            } else if reason.is_empty() {
                Some(Outcome::ToolError(status.to_owned()))
            } else {
                Some(Outcome::ToolError(format!("{status}/{reason}")))
            }
        }
        (Some(text), None) if !text.contains('\n') => Some(Outcome::Ok {
            booked: status == "booked",
            already: status == "already_booked",
        }),
        _ => None,
    }
}

fn sample(samples: &mut Vec<String>, text: String) {
    if samples.len() < 5 {
        samples.push(text);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn messages_are_shaped_like_the_fixture() {
        let body = message(
            "book_appointment",
            r#"{"name":"Jane \"J\" Doe","date":"2030-03-12"}"#,
            false,
            "call_1",
            "c-1",
            "+14155550123",
            "http://127.0.0.1:1",
            1_900_000_000_000,
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        let m = &v["message"];
        assert_eq!(m["type"], "tool-calls");
        assert_eq!(m["toolCallList"][0]["id"], "call_1");
        assert_eq!(m["toolCallList"][0]["function"]["name"], "book_appointment");
        let args: Value = serde_json::from_str(
            m["toolCallList"][0]["function"]["arguments"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(args["name"], "Jane \"J\" Doe");
        assert_eq!(
            m["toolWithToolCallList"][0]["toolCall"],
            m["toolCallList"][0]
        );
        assert_eq!(m["call"]["customer"]["number"], "+14155550123");
        assert_eq!(m["customer"]["number"], "+14155550123");
        assert_eq!(m["timestamp"], 1_900_000_000_000i64);

        let body = message(
            "book_appointment",
            r#"{"name":"Jane \"J\" Doe","date":"2030-03-12"}"#,
            true,
            "call_2",
            "c-1",
            "+14155550123",
            "http://127.0.0.1:1",
            1_900_000_000_000,
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        let function = &v["message"]["toolCallList"][0]["function"];
        assert_eq!(function["arguments"]["name"], "Jane \"J\" Doe");
        assert_eq!(
            v["message"]["toolWithToolCallList"][0]["toolCall"]["function"]["arguments"]["date"],
            "2030-03-12"
        );
    }

    #[test]
    fn answers_are_classified() {
        let taken = json!({"results": [{"toolCallId": "a", "name": "book_appointment",
            "error": "taken", "metadata": {"status": "unavailable", "reason": "taken"}}]});
        assert!(matches!(
            classify(taken.to_string().as_bytes(), "a", Tool::Book),
            Some(Outcome::Taken)
        ));
        let booked = json!({"results": [{"toolCallId": "a", "name": "book_appointment",
            "result": "ok", "metadata": {"status": "booked", "slots": [1, 2]}}]});
        assert!(matches!(
            classify(booked.to_string().as_bytes(), "a", Tool::Book),
            Some(Outcome::Ok {
                booked: true,
                already: false
            })
        ));
        assert!(classify(booked.to_string().as_bytes(), "b", Tool::Book).is_none());
        let two = json!({"results": [{"toolCallId": "a", "name": "x", "result": "1"},
            {"toolCallId": "a", "name": "x", "result": "2"}]});
        assert!(classify(two.to_string().as_bytes(), "a", Tool::Check).is_none());
        let multi_line = json!({"results": [{"toolCallId": "a", "name": "check_availability",
            "result": "a\nb"}]});
        assert!(classify(multi_line.to_string().as_bytes(), "a", Tool::Check).is_none());
    }

    #[test]
    fn the_skipped_hour_is_known() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(in_spring_forward_gap(day(2027, 3, 14), 2 * 60 + 30));
        assert!(in_spring_forward_gap(day(2028, 3, 12), 2 * 60));
        assert!(!in_spring_forward_gap(day(2027, 3, 14), 3 * 60));
        assert!(!in_spring_forward_gap(day(2027, 3, 7), 2 * 60));
        assert!(!in_spring_forward_gap(day(2027, 11, 7), 2 * 60));
    }

    #[test]
    fn free_slots_skip_the_seeded_appointments() {
        // 15-minute slots: the even ones (:00, :30) are seeded.
        let free = free_slots(3, 4, 15, 1);
        assert_eq!(
            free,
            [
                (1, 1),
                (1, 3),
                (2, 0),
                (2, 1),
                (2, 2),
                (2, 3),
                (3, 0),
                (3, 1),
                (3, 2),
                (3, 3)
            ]
        );
        // 5-minute slots: :00, :05, :10 are inside a seeded appointment,
        // :15, :20, :25 free.
        let free = free_slots(2, 12, 5, 1);
        assert_eq!(
            free.iter().filter(|(day, _)| *day == 1).collect::<Vec<_>>(),
            [&(1, 3), &(1, 4), &(1, 5), &(1, 9), &(1, 10), &(1, 11)]
        );
        assert_eq!(free.iter().filter(|(day, _)| *day == 2).count(), 12);
    }
}
