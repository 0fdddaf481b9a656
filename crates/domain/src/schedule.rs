//! A calendar's schedule: working hours, slot grid and booking rules.

use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

use crate::closures::Closures;
use crate::time::TimeZoneId;

/// Why a schedule or its working hours were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("'{0}' is not a time of day (expected HH:MM, 24-hour)")]
    BadTime(String),
    #[error("'{0}' is not a day of the week (expected mon, tue, wed, thu, fri, sat or sun)")]
    BadDay(String),
    #[error("'{0}' is not a working-hours entry (expected for example 'mon-fri 09:00-17:00')")]
    BadEntry(String),
    #[error("the range {0} ends before it starts")]
    EmptyRange(String),
    #[error("working hours on {day} overlap ({first} and {second})")]
    Overlap {
        day: String,
        first: String,
        second: String,
    },
    #[error("{field} must be between {min} and {max} (got {got})")]
    OutOfBounds {
        field: &'static str,
        min: i64,
        max: i64,
        got: i64,
    },
}

/// A range of wall-clock time within one day, `[start, end)`, kept as minutes
/// after midnight; `end` may be 24:00 (the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalRange {
    /// Minutes after midnight.
    start: u32,
    /// Minutes after midnight, at most 1440.
    end: u32,
}

impl LocalRange {
    pub fn new(start_minutes: u32, end_minutes: u32) -> Result<Self, ScheduleError> {
        if end_minutes > 24 * 60 || start_minutes >= end_minutes {
            return Err(ScheduleError::EmptyRange(format!(
                "{}-{}",
                fmt_minutes(start_minutes),
                fmt_minutes(end_minutes)
            )));
        }
        Ok(Self {
            start: start_minutes,
            end: end_minutes,
        })
    }

    /// Reads `09:00-17:00`.
    pub fn parse(raw: &str) -> Result<Self, ScheduleError> {
        let (a, b) = raw
            .split_once('-')
            .ok_or_else(|| ScheduleError::BadEntry(raw.to_owned()))?;
        Self::new(parse_hhmm(a.trim())?, parse_hhmm(b.trim())?)
    }

    pub fn start_minutes(&self) -> u32 {
        self.start
    }

    pub fn end_minutes(&self) -> u32 {
        self.end
    }

    pub fn start_time(&self) -> NaiveTime {
        minutes_to_time(self.start)
    }
}

impl fmt::Display for LocalRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", fmt_minutes(self.start), fmt_minutes(self.end))
    }
}

fn fmt_minutes(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Wall-clock time for minutes after midnight below 1440.
pub(crate) fn minutes_to_time(m: u32) -> NaiveTime {
    NaiveTime::from_num_seconds_from_midnight_opt((m.min(24 * 60 - 1)) * 60, 0)
        .unwrap_or(NaiveTime::MIN)
}

fn parse_hhmm(raw: &str) -> Result<u32, ScheduleError> {
    let bad = || ScheduleError::BadTime(raw.to_owned());
    let (h, m) = raw.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_day(raw: &str) -> Result<Weekday, ScheduleError> {
    let bad = || ScheduleError::BadDay(raw.to_owned());
    let lower = raw.trim().to_ascii_lowercase();
    let day = match lower.get(..3).ok_or_else(bad)? {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return Err(bad()),
    };
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ][day.num_days_from_monday() as usize];
    if lower.len() > 3 && !full.starts_with(&lower) {
        return Err(bad());
    }
    Ok(day)
}

/// Working hours for each day of the week; each day may have several
/// non-overlapping ranges (so breaks are possible).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeeklyHours {
    days: [Vec<LocalRange>; 7],
}

impl WeeklyHours {
    /// Builds from per-day ranges; ranges are sorted and must not overlap.
    pub fn new(days: [Vec<LocalRange>; 7]) -> Result<Self, ScheduleError> {
        let mut days = days;
        for (i, ranges) in days.iter_mut().enumerate() {
            ranges.sort();
            for pair in ranges.windows(2) {
                if pair[0].end > pair[1].start {
                    return Err(ScheduleError::Overlap {
                        day: day_name(i).to_owned(),
                        first: pair[0].to_string(),
                        second: pair[1].to_string(),
                    });
                }
            }
        }
        Ok(Self { days })
    }

    /// Reads the `BUSINESS_HOURS` format: entries separated by `;`, each a day
    /// or day range followed by one or more time ranges separated by `,`.
    ///
    /// ```
    /// # use voice_scheduler_domain::WeeklyHours;
    /// let h = WeeklyHours::parse("mon-fri 09:00-12:00,13:00-17:00; sat 10:00-14:00").unwrap();
    /// assert_eq!(h.to_string(), "mon-fri 09:00-12:00,13:00-17:00; sat 10:00-14:00");
    /// ```
    pub fn parse(raw: &str) -> Result<Self, ScheduleError> {
        let mut days: [Vec<LocalRange>; 7] = Default::default();
        for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (day_part, ranges_part) = entry
                .split_once(char::is_whitespace)
                .ok_or_else(|| ScheduleError::BadEntry(entry.to_owned()))?;
            let mut which = Vec::new();
            for piece in day_part.split(',') {
                match piece.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (parse_day(a)?, parse_day(b)?);
                        let mut d = a;
                        loop {
                            which.push(d);
                            if d == b {
                                break;
                            }
                            d = d.succ();
                        }
                    }
                    None => which.push(parse_day(piece)?),
                }
            }
            let ranges = ranges_part
                .split(',')
                .map(|r| LocalRange::parse(r.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            for d in which {
                days[d.num_days_from_monday() as usize].extend(ranges.iter().copied());
            }
        }
        Self::new(days)
    }

    pub fn on(&self, day: Weekday) -> &[LocalRange] {
        &self.days[day.num_days_from_monday() as usize]
    }

    pub fn is_closed_all_week(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }
}

fn day_name(i: usize) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][i % 7]
}

impl fmt::Display for WeeklyHours {
    /// Writes the canonical form that [`WeeklyHours::parse`] reads, grouping
    /// consecutive days with the same hours.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries = Vec::new();
        let mut i = 0;
        while i < 7 {
            if self.days[i].is_empty() {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == self.days[i] {
                j += 1;
            }
            let days = if i == j {
                day_name(i).to_owned()
            } else {
                format!("{}-{}", day_name(i), day_name(j))
            };
            let ranges = self.days[i]
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            entries.push(format!("{days} {ranges}"));
            i = j + 1;
        }
        f.write_str(&entries.join("; "))
    }
}

/// Everything that decides when a calendar can be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    time_zone: TimeZoneId,
    hours: WeeklyHours,
    slot: Duration,
    default_duration: Duration,
    min_notice: Duration,
    horizon_days: u32,
    buffer: Duration,
    /// Closed dates, special hours and time off (shared: a booking clones
    /// the calendar, not the list).
    closures: Arc<Closures>,
}

/// The raw settings of a [`Schedule`], in minutes and days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSettings {
    pub time_zone: TimeZoneId,
    pub hours: WeeklyHours,
    pub slot_minutes: i64,
    pub default_duration_minutes: i64,
    pub min_notice_minutes: i64,
    pub horizon_days: i64,
    pub buffer_minutes: i64,
}

impl Schedule {
    pub const MAX_DURATION_MINUTES: i64 = 8 * 60;
    /// The longest buffer kept free after an appointment.
    pub const MAX_BUFFER_MINUTES: i64 = 4 * 60;
    /// The longest time one appointment can hold (`[start, end + buffer)`):
    /// the longest appointment plus the longest buffer. Repositories may rely
    /// on it to bound their searches for overlapping appointments (see
    /// [`AppointmentRepository::book`](crate::ports::AppointmentRepository::book)).
    pub const MAX_HOLD_MINUTES: i64 = Self::MAX_DURATION_MINUTES + Self::MAX_BUFFER_MINUTES;

    pub fn new(s: ScheduleSettings) -> Result<Self, ScheduleError> {
        bounded("slot_minutes", s.slot_minutes, 5, 240)?;
        bounded(
            "default_duration_minutes",
            s.default_duration_minutes,
            5,
            Self::MAX_DURATION_MINUTES,
        )?;
        bounded("min_notice_minutes", s.min_notice_minutes, 0, 60 * 24 * 30)?;
        bounded("horizon_days", s.horizon_days, 1, 730)?;
        bounded(
            "buffer_minutes",
            s.buffer_minutes,
            0,
            Self::MAX_BUFFER_MINUTES,
        )?;
        Ok(Self {
            time_zone: s.time_zone,
            hours: s.hours,
            slot: Duration::minutes(s.slot_minutes),
            default_duration: Duration::minutes(s.default_duration_minutes),
            min_notice: Duration::minutes(s.min_notice_minutes),
            horizon_days: u32::try_from(s.horizon_days).unwrap_or(1),
            buffer: Duration::minutes(s.buffer_minutes),
            closures: Arc::default(),
        })
    }

    /// The same schedule with `closures` (closed dates, special hours and
    /// time off) applied.
    #[must_use]
    pub fn with_closures(mut self, closures: Arc<Closures>) -> Self {
        self.closures = closures;
        self
    }

    pub fn closures(&self) -> &Closures {
        &self.closures
    }

    /// The closures, shared.
    pub fn closures_arc(&self) -> Arc<Closures> {
        Arc::clone(&self.closures)
    }

    /// The working hours of `date`: its override's when it has one (none
    /// when closed), else the week's for its weekday.
    pub fn hours_on(&self, date: NaiveDate) -> &[LocalRange] {
        match self.closures.on(date) {
            Some(o) => o.hours(),
            None => self.hours.on(date.weekday()),
        }
    }

    pub fn time_zone(&self) -> TimeZoneId {
        self.time_zone
    }
    pub fn hours(&self) -> &WeeklyHours {
        &self.hours
    }
    pub fn slot(&self) -> Duration {
        self.slot
    }
    pub fn default_duration(&self) -> Duration {
        self.default_duration
    }
    pub fn min_notice(&self) -> Duration {
        self.min_notice
    }
    pub fn horizon_days(&self) -> u32 {
        self.horizon_days
    }
    pub fn buffer(&self) -> Duration {
        self.buffer
    }

    /// Checks a requested appointment length.
    pub fn check_duration(&self, minutes: i64) -> Result<Duration, ScheduleError> {
        bounded("duration_minutes", minutes, 5, Self::MAX_DURATION_MINUTES)?;
        Ok(Duration::minutes(minutes))
    }
}

fn bounded(field: &'static str, got: i64, min: i64, max: i64) -> Result<(), ScheduleError> {
    if got < min || got > max {
        return Err(ScheduleError::OutOfBounds {
            field,
            min,
            max,
            got,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_examples() {
        let h = WeeklyHours::parse("mon-fri 09:00-17:00").unwrap();
        assert_eq!(h.on(Weekday::Mon), &[LocalRange::new(540, 1020).unwrap()]);
        assert!(h.on(Weekday::Sat).is_empty());

        let h = WeeklyHours::parse("mon,wed 08:00-12:00, 13:00-18:00; sat 10:00-14:00").unwrap();
        assert_eq!(h.on(Weekday::Wed).len(), 2);
        assert!(h.on(Weekday::Tue).is_empty());
        assert_eq!(h.on(Weekday::Sat).len(), 1);

        let h = WeeklyHours::parse("fri-mon 00:00-24:00").unwrap();
        assert_eq!(h.on(Weekday::Sun), &[LocalRange::new(0, 1440).unwrap()]);
        assert!(h.on(Weekday::Tue).is_empty());
        assert_eq!(h.to_string(), "mon 00:00-24:00; fri-sun 00:00-24:00");

        let h = WeeklyHours::parse("Monday 9:00-17:00").unwrap();
        assert_eq!(h.on(Weekday::Mon).len(), 1);
    }

    #[test]
    fn refuses_bad_working_hours_with_the_reason() {
        assert!(matches!(
            WeeklyHours::parse("mon-fri"),
            Err(ScheduleError::BadEntry(_))
        ));
        assert!(matches!(
            WeeklyHours::parse("funday 09:00-17:00"),
            Err(ScheduleError::BadDay(_))
        ));
        assert!(matches!(
            WeeklyHours::parse("mon 9am-5pm"),
            Err(ScheduleError::BadTime(_))
        ));
        assert!(matches!(
            WeeklyHours::parse("mon 17:00-09:00"),
            Err(ScheduleError::EmptyRange(_))
        ));
        assert!(matches!(
            WeeklyHours::parse("mon 09:00-12:00,11:00-13:00"),
            Err(ScheduleError::Overlap { .. })
        ));
        assert!(matches!(
            WeeklyHours::parse("mon 24:30-25:00"),
            Err(ScheduleError::BadTime(_))
        ));
    }

    #[test]
    fn schedule_settings_are_bounded() {
        let base = ScheduleSettings {
            time_zone: TimeZoneId::parse("UTC").unwrap(),
            hours: WeeklyHours::default(),
            slot_minutes: 30,
            default_duration_minutes: 30,
            min_notice_minutes: 60,
            horizon_days: 60,
            buffer_minutes: 0,
        };
        assert!(Schedule::new(base.clone()).is_ok());
        let err = Schedule::new(ScheduleSettings {
            slot_minutes: 0,
            ..base.clone()
        })
        .unwrap_err();
        assert!(err.to_string().contains("slot_minutes"));
        assert!(
            Schedule::new(ScheduleSettings {
                horizon_days: 0,
                ..base
            })
            .is_err()
        );
    }
}
