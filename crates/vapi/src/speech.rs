//! Sentences for the assistant to speak: dates, times, zones and lists.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use voice_scheduler_domain::{TimeRange, TimeZoneId};

/// `Tuesday, March 12, 2030`.
pub fn date(d: NaiveDate) -> String {
    d.format("%A, %B %-d, %Y").to_string()
}

/// `2:00 PM` (in `zone`).
pub fn clock(at: DateTime<Utc>, zone: TimeZoneId) -> String {
    at.with_timezone(&zone.tz()).format("%-I:%M %p").to_string()
}

/// `Pacific Daylight Time`, or `London time` for zones without a well-known name.
pub fn zone_name(at: DateTime<Utc>, zone: TimeZoneId) -> String {
    let abbreviation = zone.abbreviation(at);
    let known = match abbreviation.as_str() {
        "PST" => "Pacific Standard Time",
        "PDT" => "Pacific Daylight Time",
        "MST" => "Mountain Standard Time",
        "MDT" => "Mountain Daylight Time",
        "CST" if zone.name().starts_with("America/") => "Central Standard Time",
        "CDT" if zone.name().starts_with("America/") => "Central Daylight Time",
        "EST" if zone.name().starts_with("America/") => "Eastern Standard Time",
        "EDT" => "Eastern Daylight Time",
        "AKST" => "Alaska Standard Time",
        "AKDT" => "Alaska Daylight Time",
        "HST" => "Hawaii Standard Time",
        "UTC" => "UTC",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let city = zone
        .name()
        .rsplit('/')
        .next()
        .unwrap_or(zone.name())
        .replace('_', " ");
    format!("{city} time")
}

/// `Tuesday, March 12, 2030 at 2:00 PM Pacific Daylight Time`.
pub fn when(at: DateTime<Utc>, zone: TimeZoneId) -> String {
    format!(
        "{} at {} {}",
        date(zone.date_of(at)),
        clock(at, zone),
        zone_name(at, zone)
    )
}

/// ` (Christmas Day)` after a date, or nothing when there is no label.
pub fn labelled(label: Option<&voice_scheduler_domain::ClosureLabel>) -> String {
    label.map(|l| format!(" ({l})")).unwrap_or_default()
}

/// `a, b and c`.
pub fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Slot starts spoken as times; the day is added when the slots span several days.
pub fn slot_times(slots: &[TimeRange], zone: TimeZoneId) -> String {
    let first_day = slots.first().map(|s| zone.date_of(s.start()));
    let same_day = slots
        .iter()
        .all(|s| Some(zone.date_of(s.start())) == first_day);
    let items: Vec<String> = slots
        .iter()
        .map(|s| {
            if same_day {
                clock(s.start(), zone)
            } else {
                format!(
                    "{} at {}",
                    date(zone.date_of(s.start())),
                    clock(s.start(), zone)
                )
            }
        })
        .collect();
    match (same_day, first_day) {
        (true, Some(day)) => format!("{} on {}", list(&items), date(day)),
        _ => list(&items),
    }
}

/// A slot as `{start, end}` in RFC 3339 with the zone's offset.
pub fn slot_json(slot: &TimeRange, zone: TimeZoneId) -> Value {
    json!({
        "start": rfc3339(slot.start(), zone),
        "end": rfc3339(slot.end(), zone),
    })
}

pub fn rfc3339(at: DateTime<Utc>, zone: TimeZoneId) -> String {
    at.with_timezone(&zone.tz()).to_rfc3339()
}

/// Up to `n` slots spread over the day, so a caller hears morning and afternoon.
pub fn spread(slots: &[TimeRange], n: usize) -> Vec<TimeRange> {
    if slots.len() <= n || n == 0 {
        return slots.to_vec();
    }
    (0..n)
        .map(|i| slots[i * (slots.len() - 1) / (n - 1).max(1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn speaks_dates_times_and_zones() {
        let la = TimeZoneId::parse("America/Los_Angeles").unwrap();
        assert_eq!(
            when(utc("2030-03-12T21:00:00Z"), la),
            "Tuesday, March 12, 2030 at 2:00 PM Pacific Daylight Time"
        );
        assert_eq!(
            when(utc("2030-01-08T17:30:00Z"), la),
            "Tuesday, January 8, 2030 at 9:30 AM Pacific Standard Time"
        );
        let london = TimeZoneId::parse("Europe/London").unwrap();
        assert_eq!(
            zone_name(utc("2030-07-01T10:00:00Z"), london),
            "London time"
        );
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
    }

    #[test]
    fn spreads_slots_over_the_day() {
        let base = utc("2030-03-12T16:00:00Z");
        let slots: Vec<_> = (0..16)
            .map(|i| {
                TimeRange::starting_at(
                    base + chrono::Duration::minutes(30 * i),
                    chrono::Duration::minutes(30),
                )
                .unwrap()
            })
            .collect();
        let picked = spread(&slots, 5);
        assert_eq!(picked.len(), 5);
        assert_eq!(picked[0], slots[0]);
        assert_eq!(picked[4], slots[15]);
    }
}
