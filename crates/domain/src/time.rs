//! Time zones and time ranges.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a time value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("'{0}' is not an IANA time zone (for example America/Los_Angeles)")]
    UnknownTimeZone(String),
    #[error("the end of a time range must come after its start")]
    EmptyRange,
}

/// An IANA time zone such as `America/Los_Angeles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZoneId(Tz);

impl TimeZoneId {
    pub fn parse(raw: &str) -> Result<Self, TimeError> {
        let trimmed = raw.trim();
        Tz::from_str(trimmed)
            .or_else(|_| Tz::from_str_insensitive(trimmed))
            .map(Self)
            .map_err(|_| TimeError::UnknownTimeZone(trimmed.to_owned()))
    }

    pub fn tz(&self) -> Tz {
        self.0
    }

    /// Coordinated Universal Time.
    pub const UTC: TimeZoneId = TimeZoneId(Tz::UTC);

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The instant at which the wall-clock time `date time` happens in this
    /// zone. An ambiguous time (clocks going back) resolves to its first
    /// occurrence; a time that does not exist (clocks going forward) gives
    /// `None`.
    pub fn instant(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        match self.0.from_local_datetime(&NaiveDateTime::new(date, time)) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => None,
        }
    }

    /// Like [`instant`](Self::instant), but a time inside a gap moves forward
    /// to the first instant after the gap (02:30 on a spring-forward day → 03:00).
    pub fn instant_or_after(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let local = NaiveDateTime::new(date, time);
        for minutes in 0..=24 * 60 {
            let probe = local + Duration::minutes(minutes);
            match self.0.from_local_datetime(&probe) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => continue,
            }
        }
        // No zone has a gap of a whole day; fall back to reading the time as UTC.
        Utc.from_utc_datetime(&local)
    }

    /// The start of `date` in this zone.
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.instant_or_after(date, NaiveTime::MIN)
    }

    /// The calendar date of `instant` in this zone.
    pub fn date_of(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.0).date_naive()
    }

    /// The short name of the zone at `instant`, e.g. `PST` or `PDT`; zones
    /// without letters give their offset, e.g. `+0530`.
    pub fn abbreviation(&self, instant: DateTime<Utc>) -> String {
        instant.with_timezone(&self.0).format("%Z").to_string()
    }
}

impl fmt::Display for TimeZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// A half-open range of instants `[start, end)` with `start < end`.
///
/// Half-open ranges let back-to-back appointments (10:00–10:30 and
/// 10:30–11:00) coexist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeRange {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeRange {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, TimeError> {
        if end <= start {
            return Err(TimeError::EmptyRange);
        }
        Ok(Self { start, end })
    }

    /// A range of a positive `duration` from `start`.
    pub fn starting_at(start: DateTime<Utc>, duration: Duration) -> Result<Self, TimeError> {
        Self::new(start, start + duration)
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    /// True when the two ranges share at least one instant.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// True when `other` lies entirely within `self`.
    pub fn contains(&self, other: &TimeRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The range extended at its end by `buffer` (the time a booking keeps
    /// free after itself).
    pub fn with_trailing(&self, buffer: Duration) -> TimeRange {
        TimeRange {
            start: self.start,
            end: self.end + buffer.max(Duration::zero()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn time_zones_parse_by_iana_name_only() {
        assert_eq!(
            TimeZoneId::parse("America/Los_Angeles").unwrap().name(),
            "America/Los_Angeles"
        );
        assert_eq!(
            TimeZoneId::parse("america/new_york").unwrap().name(),
            "America/New_York"
        );
        assert!(TimeZoneId::parse("Pacific Time").is_err());
        assert!(TimeZoneId::parse("").is_err());
    }

    #[test]
    fn ranges_are_half_open() {
        let a = TimeRange::new(utc("2030-03-12T10:00:00Z"), utc("2030-03-12T10:30:00Z")).unwrap();
        let b = TimeRange::new(utc("2030-03-12T10:30:00Z"), utc("2030-03-12T11:00:00Z")).unwrap();
        let c = TimeRange::new(utc("2030-03-12T10:29:00Z"), utc("2030-03-12T10:31:00Z")).unwrap();
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c) && b.overlaps(&c));
        assert!(TimeRange::new(a.start(), a.start()).is_err());
        assert!(a.with_trailing(Duration::minutes(5)).overlaps(&b));
    }

    #[test]
    fn local_times_on_daylight_saving_days() {
        let la = TimeZoneId::parse("America/Los_Angeles").unwrap();
        let spring = NaiveDate::from_ymd_opt(2030, 3, 10).unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(la.instant(spring, t(2, 30)), None);
        assert_eq!(
            la.instant_or_after(spring, t(2, 30)),
            utc("2030-03-10T10:00:00Z")
        );
        let fall = NaiveDate::from_ymd_opt(2030, 11, 3).unwrap();
        assert_eq!(
            la.instant(fall, t(1, 30)),
            Some(utc("2030-11-03T08:30:00Z"))
        );
        assert_eq!(la.abbreviation(utc("2030-11-03T08:30:00Z")), "PDT");
        assert_eq!(la.abbreviation(utc("2030-11-03T09:30:00Z")), "PST");
    }
}
