//! Free slots: a pure function of (schedule, busy intervals, now, date, duration).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::schedule::{Schedule, minutes_to_time};
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
    let mut slots = grid_slots(schedule, now, date, duration);
    let buffer = schedule.buffer();
    // The busy times widened by the buffer, by start, with the latest end of
    // each prefix: a slot overlaps one of them exactly when one of those
    // starting before the slot ends also ends after the slot starts. So
    // each slot costs a binary search, not a pass over every busy time
    // (a full day of a busy calendar checks hundreds of pairs otherwise).
    let mut held: Vec<TimeRange> = busy.iter().map(|b| b.with_trailing(buffer)).collect();
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
        let wanted = slot.with_trailing(buffer);
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
    for range in schedule.hours().on(date.weekday()) {
        let range_end = if range.end_minutes() >= 24 * 60 {
            tz.start_of_day(date.succ_opt().unwrap_or(date))
        } else {
            tz.instant_or_after(date, minutes_to_time(range.end_minutes()))
        };
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
    let allowed = grid_slots(schedule, now, date, requested.duration());
    if !allowed.contains(&requested) {
        let inside_hours = schedule.hours().on(date.weekday()).iter().any(|r| {
            let start = tz.instant_or_after(date, minutes_to_time(r.start_minutes()));
            let end = if r.end_minutes() >= 24 * 60 {
                tz.start_of_day(date.succ_opt().unwrap_or(date))
            } else {
                tz.instant_or_after(date, minutes_to_time(r.end_minutes()))
            };
            TimeRange::new(start, end).is_ok_and(|w| w.contains(&requested))
        });
        return Err(if inside_hours {
            SlotRejection::NotOnGrid
        } else {
            SlotRejection::OutsideHours
        });
    }
    let buffer = schedule.buffer();
    let held = requested.with_trailing(buffer);
    if busy.iter().any(|b| b.with_trailing(buffer).overlaps(&held)) {
        return Err(SlotRejection::Taken);
    }
    Ok(())
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
    use crate::schedule::{ScheduleSettings, WeeklyHours};
    use crate::time::TimeZoneId;
    use chrono::{NaiveTime, TimeZone};
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
}
