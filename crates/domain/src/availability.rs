//! Free slots: a pure function of (schedule, busy intervals, now, date, duration).

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::catalog::Padding;
use crate::closures::ClosureLabel;
use crate::schedule::{LocalRange, Schedule, minutes_to_time};
use crate::time::TimeRange;

/// Why a requested start time cannot be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRejection {
    /// The start lies in the past; `today` is the calendar's date now.
    InPast { today: NaiveDate },
    /// The start is sooner than the minimum notice allows.
    TooSoon { earliest: DateTime<Utc> },
    /// The start lies past the booking horizon.
    TooFarAhead { last_date: NaiveDate },
    /// The range leaves the working hours of its day.
    OutsideHours,
    /// Inside working hours but not on the slot grid (e.g. 10:10 on a 30-minute grid).
    NotOnGrid,
    /// Another appointment or a busy time (with the buffer) overlaps it.
    Taken,
    /// The date is closed (a holiday), with its spoken label if it has one.
    Closed {
        date: NaiveDate,
        label: Option<ClosureLabel>,
    },
    /// The date has special hours and the range leaves them.
    OutsideSpecialHours {
        date: NaiveDate,
        label: Option<ClosureLabel>,
    },
    /// Time off (with the buffer) overlaps it; `until` is when the
    /// overlapping time off ends.
    TimeOff {
        until: DateTime<Utc>,
        label: Option<ClosureLabel>,
    },
    /// The service already has as many appointments on `date` as it
    /// allows a day.
    DailyLimit { date: NaiveDate },
}

/// The last date that can be booked when it is `now`.
pub fn last_bookable_date(schedule: &Schedule, now: DateTime<Utc>) -> NaiveDate {
    let today = schedule.time_zone().date_of(now);
    today
        .checked_add_days(chrono::Days::new(u64::from(schedule.horizon_days())))
        .unwrap_or(today)
}

/// Every slot of `duration` on `date` (in the schedule's time zone) that
/// - starts on the slot grid of one of the day's working ranges and ends within it,
/// - starts no earlier than `now + min_notice`,
/// - lies on or before the last bookable date, and
/// - does not overlap any of `busy` once both are widened by the buffer.
///
/// Slots are returned in chronological order, each at most once. On
/// daylight-saving days a wall-clock time that does not exist yields no slot,
/// and a wall-clock time that happens twice yields one slot (its first
/// occurrence).
pub fn free_slots(
    schedule: &Schedule,
    busy: &[TimeRange],
    now: DateTime<Utc>,
    date: NaiveDate,
    duration: Duration,
) -> Vec<TimeRange> {
    let buffer = schedule.buffer();
    let held: Vec<TimeRange> = busy.iter().map(|b| b.with_trailing(buffer)).collect();
    free_slots_padded(schedule, &held, now, date, duration, Padding::after(buffer))
}

/// `range` with the time kept free around it: `[start - before, end + after)`.
pub fn padded(range: TimeRange, pad: Padding) -> TimeRange {
    TimeRange::new(range.start() - pad.before, range.end() + pad.after).unwrap_or(range)
}

/// [`free_slots`] for an appointment that keeps `pad` free around it (a
/// service's buffers), against `held`: the time others hold already, each
/// with its own buffers (what the store guarantees never overlaps). A slot
/// is free when `[start - pad.before, end + pad.after)` overlaps none of
/// `held` and no time off (widened by `pad.after`).
pub fn free_slots_padded(
    schedule: &Schedule,
    held: &[TimeRange],
    now: DateTime<Utc>,
    date: NaiveDate,
    duration: Duration,
    pad: Padding,
) -> Vec<TimeRange> {
    let mut slots = grid_slots(schedule, now, date, duration);
    let buffer = pad.after;
    // The held times by start, with the latest end of each prefix: a slot
    // overlaps one of them exactly when one of those starting before the
    // slot ends also ends after the slot starts. So each slot costs a
    // binary search, not a pass over every busy time (a full day of a busy
    // calendar checks hundreds of pairs otherwise).
    let mut held: Vec<TimeRange> = held.to_vec();
    // Time off is busy too (only the periods that can reach the day's slots).
    if let (Some(first), Some(last)) = (slots.first(), slots.last())
        && let Ok(day) = TimeRange::new(first.start() - buffer - pad.before, last.end() + buffer)
    {
        held.extend(
            schedule
                .closures()
                .time_off_within(day)
                .map(|t| t.range().with_trailing(buffer)),
        );
    }
    held.sort_by_key(TimeRange::start);
    let latest_end: Vec<DateTime<Utc>> = held
        .iter()
        .scan(None, |latest: &mut Option<DateTime<Utc>>, b| {
            let end = latest.map_or(b.end(), |l| l.max(b.end()));
            *latest = Some(end);
            Some(end)
        })
        .collect();
    slots.retain(|slot| {
        let wanted = padded(*slot, pad);
        let starting_before_end = held.partition_point(|b| b.start() < wanted.end());
        starting_before_end
            .checked_sub(1)
            .and_then(|last| latest_end.get(last))
            .is_none_or(|end| *end <= wanted.start())
    });
    slots
}

/// The slots of `date` that the rules allow, ignoring busy times.
fn grid_slots(
    schedule: &Schedule,
    now: DateTime<Utc>,
    date: NaiveDate,
    duration: Duration,
) -> Vec<TimeRange> {
    let tz = schedule.time_zone();
    let today = tz.date_of(now);
    if date < today || date > last_bookable_date(schedule, now) || duration <= Duration::zero() {
        return Vec::new();
    }
    let earliest = now + schedule.min_notice();
    let step = u32::try_from(schedule.slot().num_minutes())
        .unwrap_or(30)
        .max(1);
    let mut slots: Vec<TimeRange> = Vec::new();
    for range in schedule.hours_on(date) {
        let (_, range_end) = window(schedule, date, range);
        let mut minute = range.start_minutes();
        while minute < range.end_minutes() {
            let local = minutes_to_time(minute);
            minute += step;
            let Some(start) = tz.instant(date, local) else {
                continue; // this wall-clock time does not exist today
            };
            let end = start + duration;
            if end > range_end || start < earliest {
                continue;
            }
            if slots.last().is_some_and(|last| last.start() >= start) {
                continue; // a repeated wall-clock hour: keep the first occurrence
            }
            if let Ok(slot) = TimeRange::new(start, end) {
                slots.push(slot);
            }
        }
    }
    slots
}

/// Checks one requested range against the rules and the busy intervals.
pub fn check_slot(
    schedule: &Schedule,
    busy: &[TimeRange],
    now: DateTime<Utc>,
    requested: TimeRange,
) -> Result<(), SlotRejection> {
    let buffer = schedule.buffer();
    let held: Vec<TimeRange> = busy.iter().map(|b| b.with_trailing(buffer)).collect();
    check_slot_padded(schedule, &held, now, requested, Padding::after(buffer))
}

/// [`check_slot`] for an appointment that keeps `pad` free around it,
/// against `held` (times already held, with their own buffers).
pub fn check_slot_padded(
    schedule: &Schedule,
    held: &[TimeRange],
    now: DateTime<Utc>,
    requested: TimeRange,
    pad: Padding,
) -> Result<(), SlotRejection> {
    let tz = schedule.time_zone();
    let today = tz.date_of(now);
    if requested.start() < now {
        return Err(SlotRejection::InPast { today });
    }
    let earliest = now + schedule.min_notice();
    if requested.start() < earliest {
        return Err(SlotRejection::TooSoon { earliest });
    }
    let date = tz.date_of(requested.start());
    let last_date = last_bookable_date(schedule, now);
    if date > last_date {
        return Err(SlotRejection::TooFarAhead { last_date });
    }
    let closure = schedule.closures().on(date);
    if let Some(o) = closure.filter(|o| o.is_closed()) {
        return Err(SlotRejection::Closed {
            date,
            label: o.label().cloned(),
        });
    }
    let allowed = grid_slots(schedule, now, date, requested.duration());
    if !allowed.contains(&requested) {
        return Err(
            if within(schedule, date, schedule.hours_on(date), requested) {
                SlotRejection::NotOnGrid
            } else if let Some(o) = closure {
                SlotRejection::OutsideSpecialHours {
                    date,
                    label: o.label().cloned(),
                }
            } else {
                SlotRejection::OutsideHours
            },
        );
    }
    let wanted = padded(requested, pad);
    if let Some(off) = time_off_hit(schedule, wanted, pad.after) {
        return Err(off);
    }
    if held.iter().any(|b| b.overlaps(&wanted)) {
        return Err(SlotRejection::Taken);
    }
    Ok(())
}

/// Whether `range` (an appointment held until its end and the buffer)
/// falls on a closed date, outside the special hours of its date or into
/// time off: the reason the closures would refuse it now, if any. The
/// appointments a change of closures leaves stranded are those.
pub fn closure_conflict(schedule: &Schedule, range: TimeRange) -> Option<SlotRejection> {
    let date = schedule.time_zone().date_of(range.start());
    if let Some(o) = schedule.closures().on(date) {
        let label = o.label().cloned();
        if o.is_closed() {
            return Some(SlotRejection::Closed { date, label });
        }
        if !within(schedule, date, o.hours(), range) {
            return Some(SlotRejection::OutsideSpecialHours { date, label });
        }
    }
    time_off_hit(
        schedule,
        range.with_trailing(schedule.buffer()),
        schedule.buffer(),
    )
}

/// The time off that `held` (a range with its buffer) overlaps, as a refusal.
fn time_off_hit(schedule: &Schedule, held: TimeRange, buffer: Duration) -> Option<SlotRejection> {
    let widened = TimeRange::new(held.start() - buffer, held.end()).unwrap_or(held);
    let mut hits = schedule
        .closures()
        .time_off_within(widened)
        .filter(|t| t.range().with_trailing(buffer).overlaps(&held))
        .peekable();
    let label = hits.peek()?.label().cloned();
    let until = hits.map(|t| t.range().end()).max()?;
    Some(SlotRejection::TimeOff { until, label })
}

/// The instants `[start, end)` of a wall-clock `range` of `date` (equal
/// when the range lies in a daylight-saving gap).
fn window(
    schedule: &Schedule,
    date: NaiveDate,
    range: &LocalRange,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let tz = schedule.time_zone();
    let start = tz.instant_or_after(date, minutes_to_time(range.start_minutes()));
    let end = if range.end_minutes() >= 24 * 60 {
        tz.start_of_day(date.succ_opt().unwrap_or(date))
    } else {
        tz.instant_or_after(date, minutes_to_time(range.end_minutes()))
    };
    (start, end)
}

/// Whether `requested` lies within one of `hours` of `date`.
fn within(
    schedule: &Schedule,
    date: NaiveDate,
    hours: &[LocalRange],
    requested: TimeRange,
) -> bool {
    hours.iter().any(|r| {
        let (start, end) = window(schedule, date, r);
        start <= requested.start() && requested.end() <= end
    })
}

/// Up to `n` of `slots` whose starts lie closest to `target`, in chronological order.
pub fn nearest_slots(slots: &[TimeRange], target: DateTime<Utc>, n: usize) -> Vec<TimeRange> {
    let mut by_distance: Vec<TimeRange> = slots.to_vec();
    by_distance.sort_by_key(|s| ((s.start() - target).num_seconds().abs(), s.start()));
    by_distance.truncate(n);
    by_distance.sort();
    by_distance
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closures::{Closures, DateOverride, TimeOff};
    use crate::schedule::{ScheduleSettings, WeeklyHours};
    use crate::time::TimeZoneId;
    use chrono::{Datelike, NaiveTime, TimeZone};
    use proptest::prelude::*;

    fn schedule(
        tz: &str,
        hours: &str,
        slot: i64,
        notice: i64,
        horizon: i64,
        buffer: i64,
    ) -> Schedule {
        Schedule::new(ScheduleSettings {
            time_zone: TimeZoneId::parse(tz).unwrap(),
            hours: WeeklyHours::parse(hours).unwrap(),
            slot_minutes: slot,
            default_duration_minutes: 30,
            min_notice_minutes: notice,
            horizon_days: horizon,
            buffer_minutes: buffer,
        })
        .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn local_times(s: &Schedule, slots: &[TimeRange]) -> Vec<String> {
        slots
            .iter()
            .map(|r| {
                r.start()
                    .with_timezone(&s.time_zone().tz())
                    .format("%H:%M %Z")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_plain_day_has_every_grid_slot() {
        let s = schedule("America/Los_Angeles", "mon-fri 09:00-17:00", 30, 60, 60, 0);
        let slots = free_slots(
            &s,
            &[],
            utc("2030-03-01T00:00:00Z"),
            date("2030-03-12"),
            Duration::minutes(30),
        );
        assert_eq!(slots.len(), 16);
        assert_eq!(slots[0].start(), utc("2030-03-12T16:00:00Z"));
        assert_eq!(slots[15].end(), utc("2030-03-13T00:00:00Z"));
        // weekend: closed
        assert!(
            free_slots(
                &s,
                &[],
                utc("2030-03-01T00:00:00Z"),
                date("2030-03-16"),
                Duration::minutes(30)
            )
            .is_empty()
        );
    }

    #[test]
    fn breaks_busy_times_and_buffers_remove_slots() {
        let s = schedule("UTC", "mon-fri 09:00-12:00,13:00-17:00", 30, 0, 60, 15);
        let busy =
            [TimeRange::new(utc("2030-03-12T10:00:00Z"), utc("2030-03-12T10:30:00Z")).unwrap()];
        let slots = free_slots(
            &s,
            &busy,
            utc("2030-03-01T00:00:00Z"),
            date("2030-03-12"),
            Duration::minutes(30),
        );
        let starts = local_times(&s, &slots);
        // 09:30 would end at 10:00 but the buffer needs 15 minutes before 10:00;
        // 10:30 starts within 15 minutes after the busy time ends.
        assert!(!starts.contains(&"09:30 UTC".to_owned()));
        assert!(!starts.contains(&"10:00 UTC".to_owned()));
        assert!(!starts.contains(&"10:30 UTC".to_owned()));
        assert!(starts.contains(&"09:00 UTC".to_owned()));
        assert!(starts.contains(&"11:00 UTC".to_owned()));
        assert!(!starts.contains(&"12:00 UTC".to_owned()), "lunch break");
        assert!(starts.contains(&"13:00 UTC".to_owned()));
    }

    #[test]
    fn spring_forward_day_has_no_slot_that_does_not_exist() {
        let s = schedule("America/Los_Angeles", "sun 00:00-06:00", 30, 0, 365, 0);
        let slots = free_slots(
            &s,
            &[],
            utc("2030-03-01T00:00:00Z"),
            date("2030-03-10"),
            Duration::minutes(30),
        );
        let times = local_times(&s, &slots);
        assert!(!times.iter().any(|t| t.starts_with("02:")), "{times:?}");
        assert_eq!(times.first().map(String::as_str), Some("00:00 PST"));
        assert!(times.contains(&"03:00 PDT".to_owned()));
        // 12 grid points in 00:00-06:00, two of them (02:00, 02:30) do not exist
        assert_eq!(slots.len(), 10);
        // the whole day is only 23 hours long: every slot still lasts 30 minutes
        assert!(slots.iter().all(|r| r.duration() == Duration::minutes(30)));
    }

    #[test]
    fn fall_back_day_offers_no_slot_twice() {
        let s = schedule("America/Los_Angeles", "sun 00:00-04:00", 30, 0, 365, 0);
        let slots = free_slots(
            &s,
            &[],
            utc("2030-03-01T00:00:00Z"),
            date("2030-11-03"),
            Duration::minutes(30),
        );
        let mut starts: Vec<_> = slots.iter().map(TimeRange::start).collect();
        let n = starts.len();
        starts.dedup();
        assert_eq!(starts.len(), n);
        assert!(slots.windows(2).all(|w| w[0].start() < w[1].start()));
        let times = local_times(&s, &slots);
        assert_eq!(
            times.iter().filter(|t| t.starts_with("01:00")).count(),
            1,
            "{times:?}"
        );
        assert!(times.contains(&"01:00 PDT".to_owned()));
        assert!(times.contains(&"02:00 PST".to_owned()));
        // business hours on the DST days themselves are unaffected
        let s = schedule("America/Los_Angeles", "mon-sun 09:00-17:00", 30, 0, 365, 0);
        for d in ["2030-03-10", "2030-11-03"] {
            let slots = free_slots(
                &s,
                &[],
                utc("2030-03-01T00:00:00Z"),
                date(d),
                Duration::minutes(30),
            );
            assert_eq!(slots.len(), 16, "{d}");
            assert_eq!(local_times(&s, &slots)[0].get(..5), Some("09:00"));
        }
    }

    #[test]
    fn notice_and_horizon_bound_the_days() {
        let s = schedule("UTC", "mon-sun 09:00-17:00", 60, 120, 10, 0);
        let now = utc("2030-03-12T09:30:00Z");
        let today = free_slots(&s, &[], now, date("2030-03-12"), Duration::minutes(60));
        assert_eq!(today[0].start(), utc("2030-03-12T12:00:00Z"));
        assert!(free_slots(&s, &[], now, date("2030-03-11"), Duration::minutes(60)).is_empty());
        assert!(!free_slots(&s, &[], now, date("2030-03-22"), Duration::minutes(60)).is_empty());
        assert!(free_slots(&s, &[], now, date("2030-03-23"), Duration::minutes(60)).is_empty());
    }

    #[test]
    fn check_slot_names_the_reason() {
        let s = schedule("UTC", "mon-fri 09:00-17:00", 30, 60, 30, 0);
        let now = utc("2030-03-12T08:00:00Z");
        let r = |a: &str, b: &str| TimeRange::new(utc(a), utc(b)).unwrap();
        assert_eq!(
            check_slot(
                &s,
                &[],
                now,
                r("2030-03-12T10:00:00Z", "2030-03-12T10:30:00Z")
            ),
            Ok(())
        );
        assert!(matches!(
            check_slot(
                &s,
                &[],
                now,
                r("2030-03-11T10:00:00Z", "2030-03-11T10:30:00Z")
            ),
            Err(SlotRejection::InPast { .. })
        ));
        assert!(matches!(
            check_slot(
                &s,
                &[],
                now,
                r("2030-03-12T08:30:00Z", "2030-03-12T09:00:00Z")
            ),
            Err(SlotRejection::TooSoon { .. })
        ));
        assert!(matches!(
            check_slot(
                &s,
                &[],
                now,
                r("2030-05-01T10:00:00Z", "2030-05-01T10:30:00Z")
            ),
            Err(SlotRejection::TooFarAhead { .. })
        ));
        assert_eq!(
            check_slot(
                &s,
                &[],
                now,
                r("2030-03-12T18:00:00Z", "2030-03-12T18:30:00Z")
            ),
            Err(SlotRejection::OutsideHours)
        );
        assert_eq!(
            check_slot(
                &s,
                &[],
                now,
                r("2030-03-12T16:45:00Z", "2030-03-12T17:15:00Z")
            ),
            Err(SlotRejection::OutsideHours)
        );
        assert_eq!(
            check_slot(
                &s,
                &[],
                now,
                r("2030-03-12T10:10:00Z", "2030-03-12T10:40:00Z")
            ),
            Err(SlotRejection::NotOnGrid)
        );
        let busy = [r("2030-03-12T10:15:00Z", "2030-03-12T10:45:00Z")];
        assert_eq!(
            check_slot(
                &s,
                &busy,
                now,
                r("2030-03-12T10:00:00Z", "2030-03-12T10:30:00Z")
            ),
            Err(SlotRejection::Taken)
        );
    }

    #[test]
    fn nearest_slots_prefer_the_closest_start() {
        let base = utc("2030-03-12T09:00:00Z");
        let slots: Vec<_> = (0..8)
            .map(|i| {
                TimeRange::starting_at(base + Duration::minutes(30 * i), Duration::minutes(30))
                    .unwrap()
            })
            .collect();
        let near = nearest_slots(&slots, utc("2030-03-12T11:10:00Z"), 3);
        let starts: Vec<_> = near
            .iter()
            .map(|s| s.start().format("%H:%M").to_string())
            .collect();
        assert_eq!(starts, ["10:30", "11:00", "11:30"]);
    }

    fn arb_schedule() -> impl Strategy<Value = Schedule> {
        (
            prop::sample::select(vec![
                "America/Los_Angeles",
                "Europe/London",
                "Asia/Kolkata",
                "Australia/Lord_Howe",
                "UTC",
            ]),
            prop::collection::vec((0u32..1380, 15u32..600), 0..3),
            prop::sample::select(vec![10i64, 15, 30, 45, 60]),
            0i64..2000,
            1i64..90,
            0i64..45,
        )
            .prop_filter_map(
                "overlapping hours",
                |(tz, ranges, slot, notice, horizon, buffer)| {
                    let hours: Vec<String> = ranges
                        .iter()
                        .map(|(s, len)| {
                            let e = (s + len).min(1440);
                            format!("{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60)
                        })
                        .collect();
                    if hours.is_empty() {
                        return None;
                    }
                    let spec = format!("mon-sun {}", hours.join(","));
                    let hours = WeeklyHours::parse(&spec).ok()?;
                    Schedule::new(ScheduleSettings {
                        time_zone: TimeZoneId::parse(tz).ok()?,
                        hours,
                        slot_minutes: slot,
                        default_duration_minutes: 30,
                        min_notice_minutes: notice,
                        horizon_days: horizon,
                        buffer_minutes: buffer,
                    })
                    .ok()
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn slots_keep_every_rule(
            s in arb_schedule(),
            now_offset in 0i64..(400 * 24 * 60),
            day_offset in -2i64..100,
            duration in prop::sample::select(vec![15i64, 30, 45, 60, 90]),
            busy_raw in prop::collection::vec((0i64..(24 * 60 * 3), 5i64..240), 0..8),
        ) {
            let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(now_offset);
            let tz = s.time_zone();
            let date = tz.date_of(now) + chrono::Days::new(day_offset.max(0) as u64) - chrono::Days::new((-day_offset).max(0) as u64);
            let day_start = tz.start_of_day(date) - Duration::hours(12);
            let busy: Vec<TimeRange> = busy_raw
                .iter()
                .map(|(o, len)| TimeRange::starting_at(day_start + Duration::minutes(*o), Duration::minutes(*len)).unwrap())
                .collect();
            let duration = Duration::minutes(duration);
            let slots = free_slots(&s, &busy, now, date, duration);
            let last = last_bookable_date(&s, now);
            for (i, slot) in slots.iter().enumerate() {
                // duration, order, uniqueness
                prop_assert_eq!(slot.duration(), duration);
                if i > 0 { prop_assert!(slots[i - 1].start() < slot.start()); }
                // never overlaps a busy interval (with the buffer)
                for b in &busy {
                    prop_assert!(!b.with_trailing(s.buffer()).overlaps(&slot.with_trailing(s.buffer())));
                }
                // never before now + notice, never past the horizon, on the requested date
                prop_assert!(slot.start() >= now + s.min_notice());
                prop_assert_eq!(tz.date_of(slot.start()), date);
                prop_assert!(date <= last);
                // within one working range of that day, on its grid
                let local_start = slot.start().with_timezone(&tz.tz());
                let minutes = local_start.time().signed_duration_since(NaiveTime::MIN).num_minutes();
                let inside = s.hours().on(date.weekday()).iter().any(|r| {
                    let r_start = tz.instant_or_after(date, minutes_to_time(r.start_minutes()));
                    let r_end = if r.end_minutes() >= 1440 { tz.start_of_day(date.succ_opt().unwrap()) } else { tz.instant_or_after(date, minutes_to_time(r.end_minutes())) };
                    slot.start() >= r_start && slot.end() <= r_end
                        && (minutes - i64::from(r.start_minutes())) % s.slot().num_minutes() == 0
                });
                prop_assert!(inside, "slot {:?} outside working hours", slot);
                // and check_slot agrees with free_slots
                prop_assert_eq!(check_slot(&s, &busy, now, *slot), Ok(()));
            }
            // and nothing free is missing: exactly the slots of the day
            // without busy times that overlap none of them
            let expected: Vec<TimeRange> = free_slots(&s, &[], now, date, duration)
                .into_iter()
                .filter(|slot| busy.iter().all(|b| {
                    !b.with_trailing(s.buffer()).overlaps(&slot.with_trailing(s.buffer()))
                }))
                .collect();
            prop_assert_eq!(slots, expected);
        }
    }

    fn label(s: &str) -> Option<ClosureLabel> {
        Some(ClosureLabel::parse(s).unwrap())
    }

    fn with(s: Schedule, days: Vec<DateOverride>, time_off: Vec<TimeOff>) -> Schedule {
        s.with_closures(std::sync::Arc::new(Closures::new(days, time_off).unwrap()))
    }

    #[test]
    fn a_closed_date_has_no_slot_and_says_why() {
        let base = schedule("America/Los_Angeles", "mon-fri 09:00-17:00", 30, 60, 365, 0);
        let s = with(
            base,
            vec![DateOverride::closed(
                date("2030-12-24"),
                label("Christmas Eve"),
            )],
            vec![],
        );
        let now = utc("2030-03-01T17:14:12Z");
        let d30 = Duration::minutes(30);
        assert!(free_slots(&s, &[], now, date("2030-12-24"), d30).is_empty());
        assert_eq!(free_slots(&s, &[], now, date("2030-12-23"), d30).len(), 16);
        let at = TimeRange::starting_at(utc("2030-12-24T18:00:00Z"), d30).unwrap();
        assert_eq!(
            check_slot(&s, &[], now, at),
            Err(SlotRejection::Closed {
                date: date("2030-12-24"),
                label: label("Christmas Eve")
            })
        );
        assert_eq!(closure_conflict(&s, at), check_slot(&s, &[], now, at).err());
    }

    #[test]
    fn special_hours_replace_the_week_for_their_date() {
        let base = schedule("UTC", "mon-fri 09:00-17:00", 60, 0, 365, 0);
        let hours = vec![LocalRange::parse("10:00-12:00").unwrap()];
        // 2030-03-16 is a Saturday: special hours open a closed weekday too
        let s = with(
            base,
            vec![
                DateOverride::with_hours(date("2030-03-12"), hours.clone(), label("Inventory"))
                    .unwrap(),
                DateOverride::with_hours(date("2030-03-16"), hours, None).unwrap(),
            ],
            vec![],
        );
        let now = utc("2030-03-01T00:00:00Z");
        let h1 = Duration::minutes(60);
        let starts = |d: &str| local_times(&s, &free_slots(&s, &[], now, date(d), h1));
        assert_eq!(starts("2030-03-12"), ["10:00 UTC", "11:00 UTC"]);
        assert_eq!(starts("2030-03-16"), ["10:00 UTC", "11:00 UTC"]);
        assert_eq!(starts("2030-03-13").len(), 8);
        let at = TimeRange::starting_at(utc("2030-03-12T14:00:00Z"), h1).unwrap();
        assert_eq!(
            check_slot(&s, &[], now, at),
            Err(SlotRejection::OutsideSpecialHours {
                date: date("2030-03-12"),
                label: label("Inventory")
            })
        );
        let ok = TimeRange::starting_at(utc("2030-03-12T10:00:00Z"), h1).unwrap();
        assert_eq!(check_slot(&s, &[], now, ok), Ok(()));
        assert_eq!(closure_conflict(&s, ok), None);
    }

    #[test]
    fn time_off_is_busy_and_says_until_when() {
        let base = schedule("UTC", "mon-fri 09:00-17:00", 30, 0, 365, 15);
        let off = TimeRange::new(utc("2030-03-12T12:00:00Z"), utc("2030-03-14T12:00:00Z")).unwrap();
        let s = with(
            base,
            vec![],
            vec![TimeOff::new(off, label("Conference")).unwrap()],
        );
        let now = utc("2030-03-01T00:00:00Z");
        let d30 = Duration::minutes(30);
        let starts = local_times(&s, &free_slots(&s, &[], now, date("2030-03-12"), d30));
        // 11:30 would end at 12:00, but its 15-minute buffer reaches the time off
        assert_eq!(starts.last().map(String::as_str), Some("11:00 UTC"));
        assert!(free_slots(&s, &[], now, date("2030-03-13"), d30).is_empty());
        let after = local_times(&s, &free_slots(&s, &[], now, date("2030-03-14"), d30));
        assert_eq!(after.first().map(String::as_str), Some("12:30 UTC"));
        let at = TimeRange::starting_at(utc("2030-03-13T10:00:00Z"), d30).unwrap();
        assert_eq!(
            check_slot(&s, &[], now, at),
            Err(SlotRejection::TimeOff {
                until: off.end(),
                label: label("Conference")
            })
        );
    }

    /// The tested date's rule (none, closed, or special hours as (start,
    /// length) minutes) and time off as (minutes from 12 hours before the
    /// date, length).
    type ArbClosures = (Option<Option<Vec<(u32, u32)>>>, Vec<(i64, i64)>);

    fn arb_closures() -> impl Strategy<Value = ArbClosures> {
        (
            // the tested date: no override, closed, or special hours
            prop::option::of(prop::option::of(prop::collection::vec(
                (0u32..1380, 15u32..600),
                1..3,
            ))),
            // time off around the day: (minutes from 12 hours before it, length)
            prop::collection::vec((0i64..(24 * 60 * 3), 5i64..(24 * 60 * 2)), 0..4),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn no_slot_inside_a_closure_special_hours_or_time_off(
            s in arb_schedule(),
            (day_rule, off_raw) in arb_closures(),
            now_offset in 0i64..(400 * 24 * 60),
            day_offset in 0i64..60,
            duration in prop::sample::select(vec![15i64, 30, 60, 90]),
            probes in prop::collection::vec(0i64..(24 * 4), 0..24),
        ) {
            let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(now_offset);
            let tz = s.time_zone();
            let date = tz.date_of(now) + chrono::Days::new(day_offset as u64);
            let mut days = Vec::new();
            if let Some(rule) = &day_rule {
                let hours = rule.as_ref().map(|ranges| {
                    ranges
                        .iter()
                        .filter_map(|(st, len)| LocalRange::new(*st, (st + len).min(1440)).ok())
                        .collect::<Vec<_>>()
                });
                let o = match hours {
                    None => DateOverride::closed(date, label("Holiday")),
                    Some(h) => match DateOverride::with_hours(date, h, None) {
                        Ok(o) => o,
                        Err(_) => DateOverride::closed(date, None),
                    },
                };
                days.push(o);
            }
            let day_start = tz.start_of_day(date) - Duration::hours(12);
            let time_off: Vec<TimeOff> = off_raw
                .iter()
                .map(|(o, len)| {
                    TimeOff::new(
                        TimeRange::starting_at(day_start + Duration::minutes(*o), Duration::minutes(*len)).unwrap(),
                        None,
                    )
                    .unwrap()
                })
                .collect();
            let s = with(s, days, time_off.clone());
            let duration = Duration::minutes(duration);
            let slots = free_slots(&s, &[], now, date, duration);
            let closed = s.closures().on(date).is_some_and(|o| o.is_closed());
            if closed {
                prop_assert!(slots.is_empty(), "slots on a closed date: {:?}", slots);
            }
            for slot in &slots {
                prop_assert_eq!(tz.date_of(slot.start()), date);
                // within the hours of the date (its special hours when it has them)
                prop_assert!(within(&s, date, s.hours_on(date), *slot), "{:?} outside the date's hours", slot);
                // never overlapping time off (with the buffer)
                for t in &time_off {
                    prop_assert!(!t.range().with_trailing(s.buffer()).overlaps(&slot.with_trailing(s.buffer())));
                }
                prop_assert_eq!(closure_conflict(&s, *slot), None);
                prop_assert_eq!(check_slot(&s, &[], now, *slot), Ok(()));
            }
            // no accepted request is in a closure: probe starts every 15 minutes
            for p in probes {
                let Ok(requested) = TimeRange::starting_at(day_start + Duration::minutes(12 * 60 + p * 15), duration) else { continue };
                if check_slot(&s, &[], now, requested).is_ok() {
                    prop_assert!(slots.contains(&requested) || tz.date_of(requested.start()) != date);
                    prop_assert_eq!(closure_conflict(&s, requested), None);
                    prop_assert!(!time_off.iter().any(|t| t.range().with_trailing(s.buffer()).overlaps(&requested.with_trailing(s.buffer()))));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// With a service's buffers: no offered slot's buffered range
        /// overlaps another appointment's held (buffered) range, every slot
        /// offered passes the booking check, and booking the slots one
        /// after another (each then held with its buffers) never yields two
        /// overlapping held ranges.
        #[test]
        fn buffered_slots_never_overlap_held_time(
            s in arb_schedule(),
            now_offset in 0i64..(400 * 24 * 60),
            day_offset in 0i64..30,
            duration in prop::sample::select(vec![15i64, 30, 45, 60]),
            before in 0i64..90,
            after in 0i64..90,
            held_raw in prop::collection::vec((0i64..(24 * 60 * 2), 5i64..240), 0..8),
        ) {
            let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(now_offset);
            let tz = s.time_zone();
            let date = tz.date_of(now) + chrono::Days::new(day_offset as u64);
            let day_start = tz.start_of_day(date) - Duration::hours(6);
            let mut held: Vec<TimeRange> = held_raw
                .iter()
                .map(|(o, len)| TimeRange::starting_at(day_start + Duration::minutes(*o), Duration::minutes(*len)).unwrap())
                .collect();
            let pad = Padding { before: Duration::minutes(before), after: Duration::minutes(after) };
            let duration = Duration::minutes(duration);
            let slots = free_slots_padded(&s, &held, now, date, duration, pad);
            for slot in &slots {
                let wanted = padded(*slot, pad);
                for h in &held {
                    prop_assert!(!h.overlaps(&wanted), "{:?} overlaps {:?}", wanted, h);
                }
                let checked = check_slot_padded(&s, &held, now, *slot, pad);
                prop_assert!(checked.is_ok(), "{:?}", checked);
            }
            // Book greedily: each booked slot holds its buffered range.
            let mut booked: Vec<TimeRange> = Vec::new();
            for slot in &slots {
                if check_slot_padded(&s, &held, now, *slot, pad).is_ok() {
                    held.push(padded(*slot, pad));
                    booked.push(padded(*slot, pad));
                }
            }
            for (i, a) in booked.iter().enumerate() {
                for b in &booked[i + 1..] {
                    prop_assert!(!a.overlaps(b));
                }
            }
        }
    }

    #[test]
    fn a_buffer_before_keeps_the_time_before_free() {
        let s = schedule("UTC", "mon-fri 09:00-17:00", 30, 0, 60, 0);
        let held =
            [TimeRange::new(utc("2030-03-12T10:00:00Z"), utc("2030-03-12T11:00:00Z")).unwrap()];
        let pad = Padding {
            before: Duration::minutes(30),
            after: Duration::minutes(15),
        };
        let slots = free_slots_padded(
            &s,
            &held,
            utc("2030-03-01T00:00:00Z"),
            date("2030-03-12"),
            Duration::minutes(30),
            pad,
        );
        let starts: Vec<String> = slots
            .iter()
            .take(4)
            .map(|r| r.start().format("%H:%M").to_string())
            .collect();
        // 09:00 is free only with the 30 minutes before it (08:30) free: the
        // calendar opens at 09:00 but the buffer lies outside working hours,
        // which is allowed. 09:30 would end at 10:00 + 15 min after: taken.
        // 11:00 needs 10:30 free: taken; 11:30 is the first after.
        assert_eq!(starts, ["09:00", "11:30", "12:00", "12:30"]);
    }
}
