//! Closures, special hours and time off: the exceptions to a calendar's
//! weekly working hours.
//!
//! A calendar's [`Closures`] hold date overrides (a date closed, such as a
//! holiday, or open with special hours) and time-off periods (from one
//! instant to another). The [`Schedule`](crate::Schedule) carries them, and
//! availability applies them: an override's hours replace the weekly hours
//! of its date (none when closed), and time off is busy.

use std::fmt;

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};

use crate::calendars::FieldError;
use crate::schedule::LocalRange;
use crate::time::TimeRange;

/// Why closures were refused (the stored form, or a value built in code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClosuresError {
    #[error("a label must be 1 to {max} characters without control characters")]
    BadLabel { max: usize },
    #[error("at most {max} closures and time-off periods (got {got})")]
    TooMany { max: usize, got: usize },
    #[error("{date} has more than one entry")]
    DuplicateDate { date: NaiveDate },
    #[error("special hours on {date}: {message}")]
    BadHours { date: NaiveDate, message: String },
    #[error("a time-off period must end after it starts and last at most {max_days} days")]
    BadPeriod { max_days: i64 },
}

/// A closure's or time off's spoken name ("Christmas Day"): whitespace
/// collapsed, 1–80 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClosureLabel(String);

impl ClosureLabel {
    pub const MAX_CHARS: usize = 80;

    pub fn parse(raw: &str) -> Result<Self, ClosuresError> {
        let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty()
            || collapsed.chars().count() > Self::MAX_CHARS
            || collapsed.chars().any(char::is_control)
            || raw.chars().any(|c| c.is_control() && !c.is_whitespace())
        {
            return Err(ClosuresError::BadLabel {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(collapsed))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClosureLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One date whose hours differ from the week's: closed (no hours) or open
/// with special hours, as wall-clock ranges of that date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateOverride {
    date: NaiveDate,
    /// Sorted and not overlapping; empty when the date is closed.
    hours: Vec<LocalRange>,
    label: Option<ClosureLabel>,
}

impl DateOverride {
    /// The most ranges one date may have.
    pub const MAX_RANGES: usize = 24;

    /// `date` closed all day.
    pub fn closed(date: NaiveDate, label: Option<ClosureLabel>) -> Self {
        Self {
            date,
            hours: Vec::new(),
            label,
        }
    }

    /// `date` open during `hours` only (an empty list: closed).
    pub fn with_hours(
        date: NaiveDate,
        hours: Vec<LocalRange>,
        label: Option<ClosureLabel>,
    ) -> Result<Self, ClosuresError> {
        let mut hours = hours;
        hours.sort();
        if hours.len() > Self::MAX_RANGES {
            return Err(ClosuresError::BadHours {
                date,
                message: format!("at most {} ranges", Self::MAX_RANGES),
            });
        }
        if let Some(pair) = hours
            .windows(2)
            .find(|p| p[0].end_minutes() > p[1].start_minutes())
        {
            return Err(ClosuresError::BadHours {
                date,
                message: format!("{} and {} overlap", pair[0], pair[1]),
            });
        }
        Ok(Self { date, hours, label })
    }

    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The date's working hours: empty when it is closed.
    pub fn hours(&self) -> &[LocalRange] {
        &self.hours
    }

    pub fn is_closed(&self) -> bool {
        self.hours.is_empty()
    }

    pub fn label(&self) -> Option<&ClosureLabel> {
        self.label.as_ref()
    }
}

/// A period away (`[from, to)`), busy whatever the working hours say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOff {
    range: TimeRange,
    label: Option<ClosureLabel>,
}

impl TimeOff {
    /// The longest period, in days.
    pub const MAX_DAYS: i64 = 366;

    pub fn new(range: TimeRange, label: Option<ClosureLabel>) -> Result<Self, ClosuresError> {
        if range.duration() > Duration::days(Self::MAX_DAYS) {
            return Err(ClosuresError::BadPeriod {
                max_days: Self::MAX_DAYS,
            });
        }
        Ok(Self { range, label })
    }

    pub fn range(&self) -> TimeRange {
        self.range
    }

    pub fn label(&self) -> Option<&ClosureLabel> {
        self.label.as_ref()
    }
}

/// A calendar's date overrides and time off, validated: at most
/// [`Closures::MAX_ENTRIES`] entries together, one override per date,
/// overrides sorted by date and time off by start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Closures {
    days: Vec<DateOverride>,
    time_off: Vec<TimeOff>,
}

impl Closures {
    /// The most overrides and periods a calendar may have, together.
    pub const MAX_ENTRIES: usize = 500;
    /// How far back a submitted date or period may lie (days before today).
    pub const MAX_DAYS_BACK: u64 = 366;
    /// How far ahead a submitted date or period may lie (days after today):
    /// the longest booking horizon and a day.
    pub const MAX_DAYS_AHEAD: u64 = 731;

    pub fn new(days: Vec<DateOverride>, time_off: Vec<TimeOff>) -> Result<Self, ClosuresError> {
        let got = days.len() + time_off.len();
        if got > Self::MAX_ENTRIES {
            return Err(ClosuresError::TooMany {
                max: Self::MAX_ENTRIES,
                got,
            });
        }
        let mut days = days;
        days.sort_by_key(DateOverride::date);
        if let Some(pair) = days.windows(2).find(|p| p[0].date == p[1].date) {
            return Err(ClosuresError::DuplicateDate { date: pair[0].date });
        }
        let mut time_off = time_off;
        time_off.sort_by_key(|t| (t.range.start(), t.range.end()));
        Ok(Self { days, time_off })
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty() && self.time_off.is_empty()
    }

    /// The overrides, by date.
    pub fn days(&self) -> &[DateOverride] {
        &self.days
    }

    /// The time off, by start.
    pub fn time_off(&self) -> &[TimeOff] {
        &self.time_off
    }

    /// The override of `date`, if it has one.
    pub fn on(&self, date: NaiveDate) -> Option<&DateOverride> {
        self.days
            .binary_search_by_key(&date, DateOverride::date)
            .ok()
            .and_then(|i| self.days.get(i))
    }

    /// The time off overlapping `window`, by start.
    pub fn time_off_within(&self, window: TimeRange) -> impl Iterator<Item = &TimeOff> {
        // Periods last at most MAX_DAYS: none starting earlier can reach the window.
        let earliest = window.start() - Duration::days(TimeOff::MAX_DAYS);
        let first = self
            .time_off
            .partition_point(|t| t.range.start() < earliest);
        self.time_off[first..]
            .iter()
            .take_while(move |t| t.range.start() < window.end())
            .filter(move |t| t.range.overlaps(&window))
    }

    /// Reads closures as submitted, naming every refused field
    /// (`days[2].date`, `time_off[0].to`, ...). Dates and periods must lie
    /// within [`MAX_DAYS_BACK`](Self::MAX_DAYS_BACK) before and
    /// [`MAX_DAYS_AHEAD`](Self::MAX_DAYS_AHEAD) after `now`.
    pub fn parse(fields: &ClosureFields, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let got = fields.days.len() + fields.time_off.len();
        if got > Self::MAX_ENTRIES {
            // Nothing else is read: the size alone refuses the request.
            return Err(vec![FieldError::new(
                "days",
                ClosuresError::TooMany {
                    max: Self::MAX_ENTRIES,
                    got,
                }
                .to_string(),
            )]);
        }
        let today = now.date_naive();
        let first = today
            .checked_sub_days(Days::new(Self::MAX_DAYS_BACK))
            .unwrap_or(today);
        let last = today
            .checked_add_days(Days::new(Self::MAX_DAYS_AHEAD))
            .unwrap_or(today);
        let window = format!("between {first} and {last}");
        let label = |field: String, raw: &Option<String>, errors: &mut Vec<FieldError>| {
            raw.as_deref().and_then(|raw| {
                ClosureLabel::parse(raw)
                    .map_err(|e| errors.push(FieldError::new(field, e.to_string())))
                    .ok()
            })
        };

        let mut days = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for (i, day) in fields.days.iter().enumerate() {
            let date = match NaiveDate::parse_from_str(day.date.trim(), "%Y-%m-%d") {
                Ok(d) if d < first || d > last => {
                    errors.push(FieldError::new(
                        format!("days[{i}].date"),
                        format!("'{}' must lie {window}", day.date),
                    ));
                    None
                }
                Ok(d) => {
                    if let Some(earlier) = seen.insert(d, i) {
                        errors.push(FieldError::new(
                            format!("days[{i}].date"),
                            format!("{d} is also days[{earlier}]: one entry per date"),
                        ));
                    }
                    Some(d)
                }
                Err(_) => {
                    errors.push(FieldError::new(
                        format!("days[{i}].date"),
                        format!("'{}' is not a date (expected YYYY-MM-DD)", day.date),
                    ));
                    None
                }
            };
            let label = label(format!("days[{i}].label"), &day.label, &mut errors);
            let raw_hours = day.hours.as_deref().unwrap_or_default();
            if raw_hours.len() > DateOverride::MAX_RANGES {
                errors.push(FieldError::new(
                    format!("days[{i}].hours"),
                    format!("at most {} ranges", DateOverride::MAX_RANGES),
                ));
                continue;
            }
            let mut hours = Vec::new();
            for (j, raw) in raw_hours.iter().enumerate() {
                match LocalRange::parse(raw.trim()) {
                    Ok(r) => hours.push(r),
                    Err(e) => errors.push(FieldError::new(
                        format!("days[{i}].hours[{j}]"),
                        e.to_string(),
                    )),
                }
            }
            let Some(date) = date else { continue };
            match DateOverride::with_hours(date, hours, label) {
                Ok(o) => days.push(o),
                Err(e) => errors.push(FieldError::new(format!("days[{i}].hours"), e.to_string())),
            }
        }

        let mut time_off = Vec::new();
        let earliest = now - Duration::days(i64::try_from(Self::MAX_DAYS_BACK).unwrap_or(366));
        let latest = now + Duration::days(i64::try_from(Self::MAX_DAYS_AHEAD).unwrap_or(731));
        for (i, period) in fields.time_off.iter().enumerate() {
            let mut instant = |name: &str, raw: &str| match DateTime::parse_from_rfc3339(raw.trim())
            {
                Ok(t) => {
                    let t = t.with_timezone(&Utc);
                    if t < earliest || t > latest {
                        errors.push(FieldError::new(
                            format!("time_off[{i}].{name}"),
                            format!("'{raw}' must lie {window}"),
                        ));
                        None
                    } else {
                        Some(t)
                    }
                }
                Err(_) => {
                    errors.push(FieldError::new(
                        format!("time_off[{i}].{name}"),
                        format!(
                            "'{raw}' is not a time with its offset (expected RFC 3339, e.g. 2030-12-24T12:00:00-08:00)"
                        ),
                    ));
                    None
                }
            };
            let from = instant("from", &period.from);
            let to = instant("to", &period.to);
            let label = label(format!("time_off[{i}].label"), &period.label, &mut errors);
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            let made = TimeRange::new(from, to)
                .map_err(|_| ClosuresError::BadPeriod {
                    max_days: TimeOff::MAX_DAYS,
                })
                .and_then(|range| TimeOff::new(range, label));
            match made {
                Ok(t) => time_off.push(t),
                Err(e) => errors.push(FieldError::new(format!("time_off[{i}].to"), e.to_string())),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Self::new(days, time_off).map_err(|e| vec![FieldError::new("days", e.to_string())])
    }
}

/// Closures as submitted (the whole set, which replaces the current one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClosureFields {
    pub days: Vec<DayFields>,
    pub time_off: Vec<TimeOffFields>,
}

/// One date override as submitted: `date` is `YYYY-MM-DD`; no `hours` (or
/// none listed) closes the date, otherwise they are its only working hours
/// (`HH:MM-HH:MM` each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFields {
    pub date: String,
    pub hours: Option<Vec<String>>,
    pub label: Option<String>,
}

/// One time-off period as submitted: RFC 3339 instants with their offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeOffFields {
    pub from: String,
    pub to: String,
    pub label: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2030-03-01T17:14:12Z".parse().unwrap()
    }

    fn day(date: &str, hours: Option<&[&str]>, label: Option<&str>) -> DayFields {
        DayFields {
            date: date.to_owned(),
            hours: hours.map(|h| h.iter().map(|s| (*s).to_owned()).collect()),
            label: label.map(str::to_owned),
        }
    }

    fn fields_named(e: Vec<FieldError>) -> Vec<String> {
        e.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn labels_are_checked() {
        assert_eq!(
            ClosureLabel::parse("  Christmas   Day ").unwrap().as_str(),
            "Christmas Day"
        );
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(81)] {
            assert!(ClosureLabel::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ClosureLabel::parse(&"é".repeat(80)).is_ok());
    }

    #[test]
    fn reads_closed_dates_special_hours_and_time_off() {
        let fields = ClosureFields {
            days: vec![
                day("2030-12-25", None, Some("Christmas Day")),
                day("2030-12-24", Some(&["09:00-12:00"]), Some("Christmas Eve")),
                day("2030-12-31", Some(&[]), None),
            ],
            time_off: vec![TimeOffFields {
                from: "2030-07-01T00:00:00-07:00".to_owned(),
                to: "2030-07-15T00:00:00-07:00".to_owned(),
                label: Some("Summer break".to_owned()),
            }],
        };
        let c = Closures::parse(&fields, now()).unwrap();
        assert_eq!(c.days().len(), 3);
        assert_eq!(c.days()[0].date().to_string(), "2030-12-24", "sorted");
        let christmas = c.on("2030-12-25".parse().unwrap()).unwrap();
        assert!(christmas.is_closed());
        assert_eq!(christmas.label().unwrap().as_str(), "Christmas Day");
        assert!(!c.on("2030-12-24".parse().unwrap()).unwrap().is_closed());
        assert!(c.on("2030-12-31".parse().unwrap()).unwrap().is_closed());
        assert!(c.on("2030-12-26".parse().unwrap()).is_none());
        let july = TimeRange::new(
            "2030-07-03T10:00:00Z".parse().unwrap(),
            "2030-07-03T11:00:00Z".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(c.time_off_within(july).count(), 1);
        let august = TimeRange::new(
            "2030-08-03T10:00:00Z".parse().unwrap(),
            "2030-08-03T11:00:00Z".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(c.time_off_within(august).count(), 0);
    }

    #[test]
    fn every_refused_field_is_named() {
        let fields = ClosureFields {
            days: vec![
                day("2030-12-24", None, None),
                day("24/12/2030", None, None),
                day("2030-12-24", None, None),
                day("9999-01-01", None, None),
                day("2030-12-26", Some(&["9am-5pm"]), None),
                day("2030-12-27", Some(&["09:00-12:00", "11:00-13:00"]), None),
                day("2030-12-28", None, Some(&"l".repeat(81))),
            ],
            time_off: vec![
                TimeOffFields {
                    from: "2030-07-15T00:00:00Z".to_owned(),
                    to: "2030-07-01T00:00:00Z".to_owned(),
                    label: None,
                },
                TimeOffFields {
                    from: "2030-07-01".to_owned(),
                    to: "2035-07-01T00:00:00Z".to_owned(),
                    label: None,
                },
                TimeOffFields {
                    from: "2030-01-01T00:00:00Z".to_owned(),
                    to: "2031-03-01T00:00:00Z".to_owned(),
                    label: None,
                },
            ],
        };
        let named = fields_named(Closures::parse(&fields, now()).unwrap_err());
        assert_eq!(
            named,
            [
                "days[1].date",
                "days[2].date",
                "days[3].date",
                "days[4].hours[0]",
                "days[5].hours",
                "days[6].label",
                "time_off[0].to",
                "time_off[1].from",
                "time_off[1].to",
                "time_off[2].to",
            ]
        );
    }

    #[test]
    fn too_many_entries_are_refused_at_once() {
        let fields = ClosureFields {
            days: (0..=Closures::MAX_ENTRIES)
                .map(|i| DayFields {
                    date: format!("bad-{i}"),
                    ..DayFields::default()
                })
                .collect(),
            time_off: Vec::new(),
        };
        let errors = Closures::parse(&fields, now()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "days");
    }

    #[test]
    fn structural_rules_hold_for_values_built_in_code() {
        let d: NaiveDate = "2030-12-24".parse().unwrap();
        assert!(matches!(
            Closures::new(
                vec![DateOverride::closed(d, None), DateOverride::closed(d, None)],
                vec![]
            ),
            Err(ClosuresError::DuplicateDate { .. })
        ));
        let long = TimeRange::new(
            "2030-01-01T00:00:00Z".parse().unwrap(),
            "2031-01-03T00:00:00Z".parse().unwrap(),
        )
        .unwrap();
        assert!(TimeOff::new(long, None).is_err());
        let many = (0..=Closures::MAX_ENTRIES as u64)
            .map(|i| DateOverride::closed(d + Days::new(i), None))
            .collect();
        assert!(matches!(
            Closures::new(many, vec![]),
            Err(ClosuresError::TooMany { .. })
        ));
    }
}
