//! Lenient reading of tool-call arguments.
//!
//! Language models spell values in many ways: numbers as strings, times as
//! `14:00`, `14:00:00`, `2pm`, `2:30 PM`, whole ISO date-times, or as the
//! caller said them (`next Tuesday`, `half past three`, `Eastern`, `an hour`;
//! see [`crate::spoken`]). This module accepts those and names anything else
//! in one sentence per field: what was heard, and an example relative to
//! today.

use std::cell::RefCell;

use chrono::{DateTime, Days, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{Map, Value, json};
use voice_scheduler_domain::TimeZoneId;

use crate::speech;
use crate::spoken::{self, DateOrder, DateProblem};

/// A problem with one argument, phrased for the assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgProblem {
    pub field: &'static str,
    pub message: String,
}

impl ArgProblem {
    pub fn missing(field: &'static str, expected: &str) -> Self {
        Self {
            field,
            message: format!("The {} is missing: ask for {expected}", spoken_field(field)),
        }
    }

    pub fn invalid(field: &'static str, value: &str, expected: &str) -> Self {
        Self {
            field,
            message: format!(
                "I did not understand the {} \"{}\": ask for {expected}",
                spoken_field(field),
                echo(value)
            ),
        }
    }
}

/// A field's name as words ("new_date" → "new date").
fn spoken_field(field: &str) -> String {
    field.replace('_', " ")
}

/// What was heard, short enough to say back.
fn echo(value: &str) -> String {
    let mut heard: String = value.chars().filter(|c| !c.is_control()).take(40).collect();
    if value.chars().count() > 40 {
        heard.push('…');
    }
    heard
}

/// Joins the problems: one sentence each, and one per field (a field that
/// was not understood is not also called missing).
pub fn describe(problems: &[ArgProblem]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut sentences = Vec::new();
    for problem in problems {
        if seen.contains(&problem.field) {
            continue;
        }
        seen.push(problem.field);
        sentences.push(format!("{}.", problem.message));
    }
    sentences.join(" ")
}

/// What a date should look like, with examples a week after `today`.
pub fn date_expected(today: NaiveDate) -> String {
    let example = today + Days::new(7);
    format!(
        "a date such as {} ({}), \"tomorrow\" or \"next {}\"",
        speech::date(example),
        example.format("%Y-%m-%d"),
        example.format("%A"),
    )
}

pub const TIME_EXPECTED: &str =
    "a time such as 14:30, 2:30 PM or \"half past two in the afternoon\"";
pub const ZONE_EXPECTED: &str = "a time zone such as America/New_York, \"Eastern\" or \"London\"";
pub const DURATION_EXPECTED: &str = "a length such as 30, \"45 minutes\" or \"an hour\"";

/// What the arguments are read against: the calendar's today, how its
/// region writes dates, and its phone region (for ambiguous zone names).
/// Values read from words rather than a strict form are noted, to be said
/// back with the answer.
#[derive(Debug)]
pub struct ReadingContext {
    today: NaiveDate,
    order: DateOrder,
    region: String,
    heard: RefCell<Vec<Heard>>,
}

/// One value read from words, to be said back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub field: &'static str,
    pub said: String,
    pub read_as: String,
    /// A time-zone name: the answer says which zone it was taken as.
    pub zone: bool,
}

impl ReadingContext {
    /// `region` is an ISO 3166 code such as `US` (`DEFAULT_PHONE_REGION`).
    pub fn new(today: NaiveDate, region: &str) -> Self {
        Self {
            today,
            order: DateOrder::of_region(region),
            region: region.to_owned(),
            heard: RefCell::new(Vec::new()),
        }
    }

    pub fn today(&self) -> NaiveDate {
        self.today
    }

    fn note(&self, heard: Heard) {
        self.heard.borrow_mut().push(heard);
    }

    /// What was read from words, in the order read.
    pub fn heard(&self) -> Vec<Heard> {
        self.heard.borrow().clone()
    }

    /// A sentence saying back the zones read from names (`"Eastern" is taken
    /// as America/New_York time.`); `None` when there were none.
    pub fn said_back(&self) -> Option<String> {
        let zones: Vec<String> = self
            .heard
            .borrow()
            .iter()
            .filter(|h| h.zone)
            .map(|h| format!("\"{}\" is taken as {} time.", echo(&h.said), h.read_as))
            .collect();
        (!zones.is_empty()).then(|| zones.join(" "))
    }

    /// The readings as metadata: `[{field, said, read_as}]`.
    pub fn heard_json(&self) -> Value {
        Value::Array(
            self.heard
                .borrow()
                .iter()
                .map(|h| json!({"field": h.field, "said": h.said, "read_as": h.read_as}))
                .collect(),
        )
    }
}

/// The arguments object of one tool call, read against a [`ReadingContext`].
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    map: &'a Map<String, Value>,
    context: &'a ReadingContext,
}

impl<'a> Args<'a> {
    pub fn new(map: &'a Map<String, Value>, context: &'a ReadingContext) -> Self {
        Self { map, context }
    }

    /// The calendar's today, as the arguments are read.
    pub fn today(&self) -> NaiveDate {
        self.context.today
    }

    /// The problem of a missing date, with an example near today.
    pub fn date_missing(&self, key: &'static str) -> ArgProblem {
        ArgProblem::missing(key, &date_expected(self.context.today))
    }

    /// A non-empty string (numbers and booleans are written out); `None` when
    /// absent, null or blank.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.map.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A whole number given as a number or a string.
    pub fn integer(&self, key: &'static str, expected: &str) -> Result<Option<i64>, ArgProblem> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 1e12)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| ArgProblem::invalid(key, &n.to_string(), expected)),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .trim_end_matches(" minutes")
                .trim_end_matches(" min")
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ArgProblem::invalid(key, s, expected)),
            Some(other) => Err(ArgProblem::invalid(key, &other.to_string(), expected)),
        }
    }

    /// A length in minutes: a number, or words such as "half an hour",
    /// "90 minutes", "1.5 hours".
    pub fn minutes(&self, key: &'static str) -> Result<Option<i64>, ArgProblem> {
        if let Ok(read) = self.integer(key, DURATION_EXPECTED) {
            return Ok(read);
        }
        let Some(raw) = self.text(key) else {
            return self.integer(key, DURATION_EXPECTED);
        };
        match spoken::parse_minutes(&raw) {
            Some(minutes) => {
                self.context.note(Heard {
                    field: key,
                    said: raw,
                    read_as: format!("{minutes} minutes"),
                    zone: false,
                });
                Ok(Some(minutes))
            }
            None => Err(ArgProblem::invalid(key, &raw, DURATION_EXPECTED)),
        }
    }

    /// A time zone (an IANA name, or a name callers use such as "Eastern",
    /// "PST", "London"), or `default` when absent.
    pub fn zone(&self, key: &'static str, default: TimeZoneId) -> Result<TimeZoneId, ArgProblem> {
        let Some(raw) = self.text(key) else {
            return Ok(default);
        };
        match spoken::parse_zone(&raw, &self.context.region) {
            Some(reading) => {
                if reading.interpreted {
                    self.context.note(Heard {
                        field: key,
                        said: raw,
                        read_as: reading.zone.name().to_owned(),
                        zone: true,
                    });
                }
                Ok(reading.zone)
            }
            None => Err(ArgProblem::invalid(key, &raw, ZONE_EXPECTED)),
        }
    }

    /// A date: ISO, written out, numeric in the region's order, or relative
    /// to today (see [`spoken::parse_date`]).
    pub fn date(&self, key: &'static str) -> Result<Option<NaiveDate>, ArgProblem> {
        let Some(raw) = self.text(key) else {
            return Ok(None);
        };
        match spoken::parse_date(&raw, self.context.today, self.context.order) {
            Ok(reading) => {
                if let Some(said) = reading.heard {
                    self.context.note(Heard {
                        field: key,
                        said,
                        read_as: reading.value.to_string(),
                        zone: false,
                    });
                }
                Ok(Some(reading.value))
            }
            Err(DateProblem::WeekdayMismatch { said, date }) => Err(ArgProblem {
                field: key,
                message: format!(
                    "The {} \"{}\" does not add up: {} is a {}, not a {}. Ask the caller which day they mean",
                    spoken_field(key),
                    echo(&raw),
                    date.format("%B %-d, %Y"),
                    date.format("%A"),
                    weekday_name(said),
                ),
            }),
            Err(DateProblem::NotUnderstood) => Err(ArgProblem::invalid(
                key,
                &raw,
                &date_expected(self.context.today),
            )),
        }
    }

    /// A time: digits (`14:00`, `2pm`), an ISO date-time, or words ("half
    /// past three in the afternoon", "quarter to 10", "noon").
    pub fn time(&self, key: &'static str) -> Result<Option<TimeInput>, ArgProblem> {
        let Some(raw) = self.text(key) else {
            return Ok(None);
        };
        if let Some(time) = parse_time(&raw) {
            return Ok(Some(time));
        }
        match spoken::parse_worded_time(&raw) {
            Some(time) => {
                self.context.note(Heard {
                    field: key,
                    said: raw,
                    read_as: time.format("%H:%M").to_string(),
                    zone: false,
                });
                Ok(Some(TimeInput::Clock(time)))
            }
            None => Err(ArgProblem::invalid(key, &raw, TIME_EXPECTED)),
        }
    }
}

fn weekday_name(day: chrono::Weekday) -> &'static str {
    match day {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

/// Reads `YYYY-MM-DD` (a date-time's date part is accepted too).
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    spoken::parse_date(raw.trim(), NaiveDate::MIN, DateOrder::MonthFirst)
        .ok()
        .filter(|r| r.heard.is_none())
        .map(|r| r.value)
}

/// A time as a model may send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInput {
    /// A wall-clock time, to be combined with a date and a zone.
    Clock(NaiveTime),
    /// A date and time without an offset, in the caller's zone.
    Local(NaiveDateTime),
    /// A date and time with an offset (or `Z`): an exact instant.
    Exact(DateTime<FixedOffset>),
}

/// Reads `14:00`, `14:00:00`, `2pm`, `2 PM`, `2:30 PM`, `2:30pm`, `2:30 p.m.`,
/// `noon`, and ISO date-times with or without an offset.
pub fn parse_time(raw: &str) -> Option<TimeInput> {
    let raw = raw.trim();
    if raw.len() > 40 {
        return None;
    }
    if let Ok(exact) = DateTime::parse_from_rfc3339(raw) {
        return Some(TimeInput::Exact(exact));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(TimeInput::Local(local));
        }
    }
    parse_clock(raw).map(TimeInput::Clock)
}

fn parse_clock(raw: &str) -> Option<NaiveTime> {
    let compact: String = raw
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect();
    match compact.as_str() {
        "noon" | "midday" => return NaiveTime::from_hms_opt(12, 0, 0),
        "midnight" => return NaiveTime::from_hms_opt(0, 0, 0),
        _ => {}
    }
    let (digits, meridiem) = if let Some(d) = compact
        .strip_suffix("am")
        .or_else(|| compact.strip_suffix('a'))
    {
        (d, Some(false))
    } else if let Some(d) = compact
        .strip_suffix("pm")
        .or_else(|| compact.strip_suffix('p'))
    {
        (d, Some(true))
    } else {
        (compact.as_str(), None)
    };
    let mut parts = digits.split(':');
    let hour_part = parts.next()?;
    let minute_part = parts.next();
    let second_part = parts.next();
    if parts.next().is_some() || hour_part.is_empty() || hour_part.len() > 2 {
        return None;
    }
    let number = |s: &str| -> Option<u32> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if !hour_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut hour: u32 = hour_part.parse().ok()?;
    let minute = match minute_part {
        Some(m) => number(m)?,
        None if meridiem.is_some() => 0,
        None => return None, // a bare "14" or "9" is too ambiguous
    };
    let second = match second_part {
        Some(s) => number(s)?,
        None => 0,
    };
    match meridiem {
        Some(pm) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        None if hour > 23 => return None,
        None => {}
    }
    NaiveTime::from_hms_opt(hour, minute, second)
}

/// Why a date and a time do not make one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhenProblem {
    Args(Vec<ArgProblem>),
    /// The wall-clock time is skipped when clocks move forward that day.
    DoesNotExist {
        date: NaiveDate,
        time: NaiveTime,
    },
}

/// Combines `date` and `time` (or a date-time in either) into an instant in `zone`.
pub fn resolve_instant(
    date: Option<NaiveDate>,
    time: Option<TimeInput>,
    zone: TimeZoneId,
    (date_field, time_field): (&'static str, &'static str),
    today: NaiveDate,
) -> Result<DateTime<Utc>, WhenProblem> {
    let local = match time {
        Some(TimeInput::Exact(exact)) => return Ok(exact.with_timezone(&Utc)),
        Some(TimeInput::Local(local)) => local,
        Some(TimeInput::Clock(clock)) => match date {
            Some(date) => NaiveDateTime::new(date, clock),
            None => {
                return Err(WhenProblem::Args(vec![ArgProblem::missing(
                    date_field,
                    &date_expected(today),
                )]));
            }
        },
        None => {
            let mut problems = Vec::new();
            if date.is_none() {
                problems.push(ArgProblem::missing(date_field, &date_expected(today)));
            }
            problems.push(ArgProblem::missing(time_field, TIME_EXPECTED));
            return Err(WhenProblem::Args(problems));
        }
    };
    zone.instant(local.date(), local.time())
        .ok_or(WhenProblem::DoesNotExist {
            date: local.date(),
            time: local.time(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn t(h: u32, m: u32) -> Option<TimeInput> {
        Some(TimeInput::Clock(NaiveTime::from_hms_opt(h, m, 0).unwrap()))
    }

    #[test]
    fn times_in_the_spellings_models_use() {
        assert_eq!(parse_time("14:00"), t(14, 0));
        assert_eq!(parse_time("14:00:00"), t(14, 0));
        assert_eq!(parse_time("09:30"), t(9, 30));
        assert_eq!(parse_time("9:30"), t(9, 30));
        assert_eq!(parse_time("2pm"), t(14, 0));
        assert_eq!(parse_time("2 PM"), t(14, 0));
        assert_eq!(parse_time("2:30 PM"), t(14, 30));
        assert_eq!(parse_time("2:30pm"), t(14, 30));
        assert_eq!(parse_time("2:30 p.m."), t(14, 30));
        assert_eq!(parse_time("12am"), t(0, 0));
        assert_eq!(parse_time("12pm"), t(12, 0));
        assert_eq!(parse_time("noon"), t(12, 0));
        assert!(matches!(
            parse_time("2030-03-12T14:00:00"),
            Some(TimeInput::Local(_))
        ));
        assert!(matches!(
            parse_time("2030-03-12T14:00:00-07:00"),
            Some(TimeInput::Exact(_))
        ));
        assert!(matches!(
            parse_time("2030-03-12T21:00:00Z"),
            Some(TimeInput::Exact(_))
        ));
    }

    #[test]
    fn times_that_are_refused() {
        for bad in [
            "",
            "14",
            "25:00",
            "13pm",
            "0am",
            "2:3pm",
            "2:60",
            "afternoon",
            "2:30:00:00",
            "１４:００",
            "-1:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_iso() {
        assert_eq!(
            parse_date("2030-03-12"),
            NaiveDate::from_ymd_opt(2030, 3, 12)
        );
        assert_eq!(
            parse_date("2030-03-12T10:00:00"),
            NaiveDate::from_ymd_opt(2030, 3, 12)
        );
        for bad in [
            "03/12/2030",
            "2030-3-12",
            "2030-02-30",
            "tomorrow",
            "20300312",
            "2030-03-12x",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_may_be_strings() {
        let map = json!({"a": 30, "b": "45", "c": "45 minutes", "d": "x", "e": 1.5, "f": null})
            .as_object()
            .unwrap()
            .clone();
        let reading = ReadingContext::new(NaiveDate::from_ymd_opt(2030, 3, 1).unwrap(), "US");
        let args = Args::new(&map, &reading);
        assert_eq!(args.integer("a", ""), Ok(Some(30)));
        assert_eq!(args.integer("b", ""), Ok(Some(45)));
        assert_eq!(args.integer("c", ""), Ok(Some(45)));
        assert!(args.integer("d", "").is_err());
        assert!(args.integer("e", "").is_err());
        assert_eq!(args.integer("f", ""), Ok(None));
        assert_eq!(args.integer("missing", ""), Ok(None));
    }

    #[test]
    fn instants_respect_the_zone_and_daylight_saving() {
        let la = TimeZoneId::parse("America/Los_Angeles").unwrap();
        let d = NaiveDate::from_ymd_opt(2030, 3, 12);
        let today = NaiveDate::from_ymd_opt(2030, 3, 1).unwrap();
        let at = resolve_instant(d, parse_time("2pm"), la, ("date", "time"), today).unwrap();
        assert_eq!(at.to_rfc3339(), "2030-03-12T21:00:00+00:00");
        let gap = resolve_instant(
            NaiveDate::from_ymd_opt(2030, 3, 10),
            parse_time("2:30am"),
            la,
            ("date", "time"),
            today,
        );
        assert!(matches!(gap, Err(WhenProblem::DoesNotExist { .. })));
        let missing = resolve_instant(None, None, la, ("date", "time"), today);
        assert!(matches!(missing, Err(WhenProblem::Args(ref p)) if p.len() == 2));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(raw in ".{0,50}") {
            let _ = parse_time(&raw);
            let _ = parse_date(&raw);
        }

        #[test]
        fn every_24h_time_round_trips(h in 0u32..24, m in 0u32..60) {
            prop_assert_eq!(parse_time(&format!("{h:02}:{m:02}")), t(h, m));
            let (h12, suffix) = match h { 0 => (12, "am"), 1..=11 => (h, "am"), 12 => (12, "pm"), _ => (h - 12, "pm") };
            prop_assert_eq!(parse_time(&format!("{h12}:{m:02} {suffix}")), t(h, m));
        }
    }
}
