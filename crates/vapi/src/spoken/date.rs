//! Dates as callers say them and models write them down.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

use super::words::{Said, number_at, tokens};
use super::{DateOrder, Reading};

/// Why a date was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateProblem {
    /// Nothing here reads as a date.
    NotUnderstood,
    /// The weekday said does not fall on the date said: asked back, not guessed.
    WeekdayMismatch { said: Weekday, date: NaiveDate },
}

const MONTHS: [(&str, u32); 12] = [
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
];

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

fn month(word: &str) -> Option<u32> {
    if word == "sept" {
        return Some(9);
    }
    MONTHS
        .iter()
        .find(|(name, _)| *name == word || (word.len() == 3 && name.starts_with(word)))
        .map(|(_, n)| *n)
}

fn weekday(word: &str) -> Option<Weekday> {
    let short = |name: &str| {
        (3..name.len()).any(|n| name.get(..n) == Some(word))
            || matches!(
                (name, word),
                ("tuesday", "tues") | ("thursday", "thur" | "thurs")
            )
    };
    WEEKDAYS
        .iter()
        .find(|(name, _)| *name == word || short(name))
        .map(|(_, d)| *d)
}

/// Reads a date: ISO (`2027-01-05`), written out (`January 5, 2027`,
/// `Wednesday, January 6, 2027`, `Jan 5`, `5th of January`, `the fifth of
/// January 2027`), numeric with slashes (`01/04/2027`, month first or day
/// first as `order` says; `2027/01/04`), or relative to `today` (`today`,
/// `tomorrow`, `the day after tomorrow`, `Tuesday`, `this Friday`, `next
/// Tuesday`, `Tuesday next week`, `the 5th`). A date without a year is the
/// next one on or after `today`.
pub fn parse_date(
    raw: &str,
    today: NaiveDate,
    order: DateOrder,
) -> Result<Reading<NaiveDate>, DateProblem> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 60 {
        return Err(DateProblem::NotUnderstood);
    }
    if let Some(date) = iso(raw) {
        return Ok(Reading::exact(date));
    }
    if let Some(date) = numeric(raw, today, order) {
        return Ok(Reading::spoken(date, raw));
    }
    let words: Vec<String> = tokens(raw)
        .into_iter()
        .filter(|w| !matches!(w.as_str(), "on" | "the" | "of" | "for" | "in"))
        .collect();
    spoken(&words, today).map(|date| Reading::spoken(date, raw))
}

/// `YYYY-MM-DD`, also as the date part of a date-time.
pub(crate) fn iso(raw: &str) -> Option<NaiveDate> {
    let date_part = raw
        .get(..10)
        .filter(|_| raw.len() == 10 || raw[10..].starts_with(['T', ' ']))?;
    if date_part.as_bytes()[4] != b'-' || date_part.as_bytes()[7] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok()
}

/// `1/4/2027`, `01/04/27`, `1/4` (month first or day first), `2027/01/04`.
fn numeric(raw: &str, today: NaiveDate, order: DateOrder) -> Option<NaiveDate> {
    let parts: Vec<&str> = raw.split(['/', '.']).collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    if parts[0].len() == 4 {
        return (n.len() == 3)
            .then(|| NaiveDate::from_ymd_opt(i32::try_from(n[0]).ok()?, n[1], n[2]))
            .flatten();
    }
    let (month, day) = match order {
        DateOrder::MonthFirst => (n[0], n[1]),
        DateOrder::DayFirst => (n[1], n[0]),
    };
    match parts.get(2) {
        None => next_on_or_after(today, month, day),
        Some(year) => {
            let year = match year.len() {
                4 => i32::try_from(n[2]).ok()?,
                2 => 2000 + i32::try_from(n[2]).ok()?,
                _ => return None,
            };
            NaiveDate::from_ymd_opt(year, month, day)
        }
    }
}

/// `month day` in this year, or the next year when it has passed.
fn next_on_or_after(today: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    (0..=4)
        .filter_map(|ahead| NaiveDate::from_ymd_opt(today.year() + ahead, month, day))
        .find(|d| *d >= today)
}

/// The first `day` on or after `from` with that weekday.
fn next_weekday(from: NaiveDate, day: Weekday) -> NaiveDate {
    let ahead = (7 + day.num_days_from_monday() - from.weekday().num_days_from_monday()) % 7;
    from + Days::new(u64::from(ahead))
}

fn spoken(words: &[String], today: NaiveDate) -> Result<NaiveDate, DateProblem> {
    let joined = words.join(" ");
    match joined.as_str() {
        "today" | "tonight" | "this afternoon" | "this morning" | "this evening" => {
            return Ok(today);
        }
        "tomorrow" | "tmrw" => return Ok(today + Days::new(1)),
        "day after tomorrow" => return Ok(today + Days::new(2)),
        _ => {}
    }
    let mut said_weekday = None;
    let mut said_month = None;
    let mut day = None;
    let mut year = None;
    let mut next = false;
    let mut next_week = false;
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        if let Some(d) = weekday(word).filter(|_| said_weekday.is_none()) {
            said_weekday = Some(d);
            i += 1;
            continue;
        }
        if let Some(m) = month(word).filter(|_| said_month.is_none()) {
            said_month = Some(m);
            i += 1;
            continue;
        }
        match word {
            "next" | "coming" if words.get(i + 1).map(String::as_str) == Some("week") => {
                next_week = true;
                i += 2;
                continue;
            }
            "next" | "coming" => {
                next = true;
                i += 1;
                continue;
            }
            "this" => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some((n, said, used)) = number_at(&words[i..]) else {
            return Err(DateProblem::NotUnderstood);
        };
        if (1000..=9999).contains(&n) && said == Said::Cardinal && year.is_none() {
            year = Some(i32::try_from(n).map_err(|_| DateProblem::NotUnderstood)?);
        } else if (1..=31).contains(&n) && day.is_none() {
            day = Some((n, said));
        } else {
            return Err(DateProblem::NotUnderstood);
        }
        i += used;
    }
    let date = match (said_month, day) {
        (Some(month), Some((day, _))) => match year {
            Some(year) => NaiveDate::from_ymd_opt(year, month, day),
            None => next_on_or_after(today, month, day),
        },
        // "the 5th": the next 5th of a month
        (None, Some((day, Said::Ordinal))) if year.is_none() && said_weekday.is_none() => (0..=2)
            .filter_map(|m| today.checked_add_months(Months::new(m)))
            .filter_map(|d| d.with_day(day))
            .find(|d| *d >= today),
        (None, None) if year.is_none() => {
            let Some(weekday) = said_weekday else {
                return Err(DateProblem::NotUnderstood);
            };
            return Ok(if next_week {
                // the weekday of the week (Monday to Sunday) after this one
                let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
                next_weekday(monday + Days::new(7), weekday)
            } else if next {
                next_weekday(today + Days::new(1), weekday)
            } else {
                next_weekday(today, weekday)
            });
        }
        _ => None,
    }
    .ok_or(DateProblem::NotUnderstood)?;
    if next || next_week {
        return Err(DateProblem::NotUnderstood);
    }
    match said_weekday {
        Some(said) if said != date.weekday() => Err(DateProblem::WeekdayMismatch { said, date }),
        _ => Ok(date),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Tuesday, 5 January 2027.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 1, 5).unwrap()
    }

    fn us(raw: &str) -> Result<NaiveDate, DateProblem> {
        parse_date(raw, today(), DateOrder::MonthFirst).map(|r| r.value)
    }

    fn d(y: i32, m: u32, day: u32) -> Result<NaiveDate, DateProblem> {
        Ok(NaiveDate::from_ymd_opt(y, m, day).unwrap())
    }

    #[test]
    fn the_forms_the_issue_names() {
        assert_eq!(us("January 5, 2027"), d(2027, 1, 5));
        assert_eq!(us("Wednesday, January 6, 2027"), d(2027, 1, 6));
        assert_eq!(us("Jan 5"), d(2027, 1, 5));
        assert_eq!(us("Jan 4"), d(2028, 1, 4), "passed this year: next year's");
        assert_eq!(us("5th of January"), d(2027, 1, 5));
        assert_eq!(us("the fifth of January 2028"), d(2028, 1, 5));
        assert_eq!(us("01/04/2027"), d(2027, 1, 4));
        assert_eq!(
            parse_date("01/04/2027", today(), DateOrder::DayFirst).map(|r| r.value),
            d(2027, 4, 1)
        );
        assert_eq!(us("tomorrow"), d(2027, 1, 6));
        assert_eq!(us("today"), d(2027, 1, 5));
        assert_eq!(us("next Tuesday"), d(2027, 1, 12), "never today");
        assert_eq!(us("Tuesday"), d(2027, 1, 5), "today counts");
        assert_eq!(us("this Friday"), d(2027, 1, 8));
        assert_eq!(us("next Friday"), d(2027, 1, 8));
        assert_eq!(us("Friday next week"), d(2027, 1, 15));
        assert_eq!(us("next week Monday"), d(2027, 1, 11));
        assert_eq!(us("on the 20th"), d(2027, 1, 20));
        assert_eq!(us("the 2nd"), d(2027, 2, 2));
        assert_eq!(us("January twenty-first"), d(2027, 1, 21));
        assert_eq!(us("Sept. 3rd, 2027"), d(2027, 9, 3));
        assert_eq!(us("2027/02/03"), d(2027, 2, 3));
        assert_eq!(us("2/3"), d(2027, 2, 3));
        assert_eq!(us("2027-03-09"), d(2027, 3, 9));
        assert_eq!(us("2027-03-09T10:00:00"), d(2027, 3, 9));
    }

    #[test]
    fn a_weekday_that_contradicts_the_date_is_asked_back() {
        assert_eq!(
            us("Wednesday, January 5, 2027"),
            Err(DateProblem::WeekdayMismatch {
                said: Weekday::Wed,
                date: NaiveDate::from_ymd_opt(2027, 1, 5).unwrap()
            })
        );
    }

    #[test]
    fn what_is_not_a_date() {
        for bad in [
            "",
            "soon",
            "next blursday",
            "January",
            "January 32",
            "February 30, 2027",
            "13/13/2027",
            "5",
            "2027",
            "next",
            "next January 5",
            "1/2/3/4",
            "Tuesday the 14th of never",
        ] {
            assert_eq!(us(bad), Err(DateProblem::NotUnderstood), "{bad}");
        }
    }

    #[test]
    fn exact_iso_is_not_said_back() {
        assert!(
            parse_date("2027-01-05", today(), DateOrder::MonthFirst)
                .unwrap()
                .heard
                .is_none()
        );
        assert_eq!(
            parse_date("tomorrow", today(), DateOrder::MonthFirst)
                .unwrap()
                .heard
                .as_deref(),
            Some("tomorrow")
        );
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (0u64..3650).prop_map(|n| NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + Days::new(n))
    }

    proptest! {
        #[test]
        fn every_written_form_reads_back(date in any_date(), today in any_date()) {
            let month = MONTHS[date.month0() as usize].0;
            let weekday = WEEKDAYS[date.weekday().num_days_from_monday() as usize].0;
            let (y, m, dd) = (date.year(), date.month(), date.day());
            for form in [
                date.format("%Y-%m-%d").to_string(),
                format!("{month} {dd}, {y}"),
                format!("{weekday}, {month} {dd}, {y}"),
                format!("{} {dd} {y}", &month[..3]),
                format!("{dd}th of {month} {y}"),
                format!("the {dd} of {month}, {y}"),
                format!("{m:02}/{dd:02}/{y}"),
                date.format("%Y/%m/%d").to_string(),
            ] {
                prop_assert_eq!(parse_date(&form, today, DateOrder::MonthFirst).map(|r| r.value), Ok(date), "{}", form);
            }
            prop_assert_eq!(
                parse_date(&format!("{dd:02}/{m:02}/{y}"), today, DateOrder::DayFirst).map(|r| r.value),
                Ok(date)
            );
        }

        #[test]
        fn relative_forms_land_after_today(today in any_date(), day in 0usize..7) {
            let (name, weekday) = WEEKDAYS[day];
            let this = parse_date(name, today, DateOrder::MonthFirst).unwrap().value;
            prop_assert_eq!(this.weekday(), weekday);
            prop_assert!(this >= today && this < today + Days::new(7));
            let next = parse_date(&format!("next {name}"), today, DateOrder::MonthFirst).unwrap().value;
            prop_assert_eq!(next.weekday(), weekday);
            prop_assert!(next > today && next <= today + Days::new(7));
            let yearless = parse_date(&format!("{} {}", MONTHS[this.month0() as usize].0, this.day()), today, DateOrder::MonthFirst).unwrap().value;
            prop_assert_eq!(yearless, this);
        }

        #[test]
        fn no_string_panics(raw in ".{0,80}", today in any_date()) {
            let _ = parse_date(&raw, today, DateOrder::MonthFirst);
            let _ = parse_date(&raw, today, DateOrder::DayFirst);
        }
    }
}
