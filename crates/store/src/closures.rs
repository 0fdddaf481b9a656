//! A calendar's closures as the store keeps them: one JSON text in
//! `calendars.closures` (`NULL` when there are none), read with the row.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use voice_scheduler_domain::closures::{ClosureLabel, Closures, DateOverride, TimeOff};
use voice_scheduler_domain::{LocalRange, TimeRange};

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    #[serde(default)]
    days: Vec<StoredDay>,
    #[serde(default)]
    time_off: Vec<StoredTimeOff>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredDay {
    date: NaiveDate,
    /// `HH:MM-HH:MM` each; empty when the date is closed.
    #[serde(default)]
    hours: Vec<String>,
    label: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredTimeOff {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    label: Option<String>,
}

/// The stored text of `closures`; `None` when there are none.
pub(crate) fn encode(closures: &Closures) -> anyhow::Result<Option<String>> {
    if closures.is_empty() {
        return Ok(None);
    }
    let stored = Stored {
        days: closures
            .days()
            .iter()
            .map(|d| StoredDay {
                date: d.date(),
                hours: d.hours().iter().map(ToString::to_string).collect(),
                label: d.label().map(|l| l.as_str().to_owned()),
            })
            .collect(),
        time_off: closures
            .time_off()
            .iter()
            .map(|t| StoredTimeOff {
                from: t.range().start(),
                to: t.range().end(),
                label: t.label().map(|l| l.as_str().to_owned()),
            })
            .collect(),
    };
    Ok(Some(
        serde_json::to_string(&stored).context("could not write the closures")?,
    ))
}

/// Reads the stored text back (validated again: a text edited by hand that
/// breaks a rule is an error, not a wrong answer).
pub(crate) fn decode(text: Option<&str>) -> anyhow::Result<Closures> {
    let Some(text) = text else {
        return Ok(Closures::default());
    };
    let stored: Stored = serde_json::from_str(text).context("the closures are not valid JSON")?;
    let label = |raw: Option<String>| -> anyhow::Result<Option<ClosureLabel>> {
        raw.map(|l| ClosureLabel::parse(&l))
            .transpose()
            .context("a stored label")
    };
    let mut days = Vec::with_capacity(stored.days.len());
    for d in stored.days {
        let hours = d
            .hours
            .iter()
            .map(|h| LocalRange::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("the stored hours of {}", d.date))?;
        days.push(DateOverride::with_hours(d.date, hours, label(d.label)?)?);
    }
    let mut time_off = Vec::with_capacity(stored.time_off.len());
    for t in stored.time_off {
        let range = TimeRange::new(t.from, t.to).context("a stored time-off period")?;
        time_off.push(TimeOff::new(range, label(t.label)?)?);
    }
    Ok(Closures::new(days, time_off)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closures_survive_the_stored_form() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let closures = Closures::new(
            vec![
                DateOverride::closed(
                    d("2030-12-25"),
                    Some(ClosureLabel::parse("Christmas Day").unwrap()),
                ),
                DateOverride::with_hours(
                    d("2030-12-24"),
                    vec![
                        LocalRange::parse("13:00-24:00").unwrap(),
                        LocalRange::parse("09:00-12:00").unwrap(),
                    ],
                    None,
                )
                .unwrap(),
            ],
            vec![
                TimeOff::new(
                    TimeRange::new(t("2030-07-01T07:00:00Z"), t("2030-07-15T07:00:00Z")).unwrap(),
                    Some(ClosureLabel::parse("Summer — “break” ☀").unwrap()),
                )
                .unwrap(),
            ],
        )
        .unwrap();
        let text = encode(&closures).unwrap().unwrap();
        assert_eq!(decode(Some(&text)).unwrap(), closures);
        assert_eq!(encode(&Closures::default()).unwrap(), None);
        assert_eq!(decode(None).unwrap(), Closures::default());
        assert!(
            decode(Some(
                "{\"days\": [{\"date\": \"2030-01-01\", \"hours\": [\"17:00-09:00\"]}]}"
            ))
            .is_err()
        );
        assert!(decode(Some("not json")).is_err());
    }
}
