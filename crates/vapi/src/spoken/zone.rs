//! Time-zone names callers and models use, mapped to IANA zones.

use voice_scheduler_domain::TimeZoneId;

/// A zone name that depends on where the business is: `IST` is India,
/// Ireland or Israel; `CST` is US Central, China or Cuba.
struct Ambiguous {
    names: &'static [&'static str],
    /// (phone region, zone) pairs, checked in order.
    by_region: &'static [(&'static str, &'static str)],
    otherwise: &'static str,
}

const AMBIGUOUS: &[Ambiguous] = &[
    Ambiguous {
        names: &["ist"],
        by_region: &[("IE", "Europe/Dublin"), ("IL", "Asia/Jerusalem")],
        otherwise: "Asia/Kolkata",
    },
    Ambiguous {
        names: &["cst"],
        by_region: &[
            ("CN", "Asia/Shanghai"),
            ("TW", "Asia/Taipei"),
            ("CU", "America/Havana"),
        ],
        otherwise: "America/Chicago",
    },
    Ambiguous {
        names: &[
            "est",
            "eastern",
            "eastern standard",
            "edt",
            "eastern daylight",
        ],
        by_region: &[("AU", "Australia/Sydney")],
        otherwise: "America/New_York",
    },
    Ambiguous {
        names: &["bst"],
        by_region: &[("BD", "Asia/Dhaka")],
        otherwise: "Europe/London",
    },
];

/// Names with one meaning, after "time", "zone" and punctuation are dropped.
const NAMES: &[(&[&str], &str)] = &[
    (&["et", "east coast"], "America/New_York"),
    (
        &[
            "central",
            "ct",
            "cdt",
            "central standard",
            "central daylight",
        ],
        "America/Chicago",
    ),
    (
        &[
            "mountain",
            "mt",
            "mst",
            "mdt",
            "mountain standard",
            "mountain daylight",
        ],
        "America/Denver",
    ),
    (
        &[
            "pacific",
            "pt",
            "pst",
            "pdt",
            "pacific standard",
            "pacific daylight",
            "west coast",
        ],
        "America/Los_Angeles",
    ),
    (&["arizona"], "America/Phoenix"),
    (&["alaska", "akst", "akdt"], "America/Anchorage"),
    (&["hawaii", "hawaiian", "hst"], "Pacific/Honolulu"),
    (&["atlantic", "ast", "adt"], "America/Halifax"),
    (&["newfoundland", "nst", "ndt"], "America/St_Johns"),
    (
        &[
            "uk",
            "british",
            "britain",
            "england",
            "gmt",
            "greenwich mean",
            "bst uk",
        ],
        "Europe/London",
    ),
    (&["irish", "ireland"], "Europe/Dublin"),
    (
        &["cet", "cest", "central european", "central european summer"],
        "Europe/Berlin",
    ),
    (&["eet", "eest", "eastern european"], "Europe/Athens"),
    (&["wet", "west", "western european"], "Europe/Lisbon"),
    (&["india", "indian"], "Asia/Kolkata"),
    (&["jst", "japan"], "Asia/Tokyo"),
    (&["aest", "aedt", "australian eastern"], "Australia/Sydney"),
    (&["acst", "acdt"], "Australia/Adelaide"),
    (&["awst"], "Australia/Perth"),
    (&["nzst", "nzdt", "new zealand"], "Pacific/Auckland"),
    (&["utc", "z", "zulu", "coordinated universal"], "UTC"),
];

/// A zone read from what was said, and whether it was a name we mapped
/// (so the answer says which zone it took).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneReading {
    pub zone: TimeZoneId,
    /// True when the words were not an IANA name (`Eastern`, `PST`, `London`).
    pub interpreted: bool,
}

fn normalise(raw: &str) -> String {
    let lowered = raw.to_lowercase().replace(['.', ',', '(', ')'], " ");
    lowered
        .split_whitespace()
        .filter(|w| !matches!(*w, "time" | "timezone" | "zone" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads a zone: an IANA name (`America/New_York`, any case), a name or
/// abbreviation from the tables above (`Eastern`, `PST`, `UK time`; an
/// ambiguous one by the business's phone `region`), or a city whose name is
/// an IANA zone's (`New York`, `London`).
pub fn parse_zone(raw: &str, region: &str) -> Option<ZoneReading> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 60 {
        return None;
    }
    let name = normalise(raw);
    let mapped = |zone: &str| {
        TimeZoneId::parse(zone).ok().map(|zone| ZoneReading {
            zone,
            interpreted: true,
        })
    };
    for entry in AMBIGUOUS {
        if entry.names.contains(&name.as_str()) {
            let zone = entry
                .by_region
                .iter()
                .find(|(r, _)| r.eq_ignore_ascii_case(region))
                .map_or(entry.otherwise, |(_, z)| z);
            return mapped(zone);
        }
    }
    if let Some((_, zone)) = NAMES
        .iter()
        .find(|(names, _)| names.contains(&name.as_str()))
    {
        return mapped(zone);
    }
    if raw.contains('/')
        && let Ok(zone) = TimeZoneId::parse(raw)
    {
        return Some(ZoneReading {
            zone,
            interpreted: false,
        });
    }
    city(&name).and_then(mapped)
}

/// The IANA zone whose last part is `name` ("new york" → America/New_York).
fn city(name: &str) -> Option<&'static str> {
    let wanted = name.replace(' ', "_");
    if wanted.is_empty() {
        return None;
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|n| n.contains('/') && !n.starts_with("Etc/") && !n.starts_with("US/"))
        .find(|n| {
            n.rsplit('/')
                .next()
                .is_some_and(|last| last.eq_ignore_ascii_case(&wanted))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn zone(raw: &str, region: &str) -> Option<&'static str> {
        parse_zone(raw, region).map(|r| r.zone.name())
    }

    #[test]
    fn the_names_the_issue_lists() {
        for (said, iana) in [
            ("Eastern", "America/New_York"),
            ("Pacific", "America/Los_Angeles"),
            ("PST", "America/Los_Angeles"),
            ("PDT", "America/Los_Angeles"),
            ("EST", "America/New_York"),
            ("CST", "America/Chicago"),
            ("MT", "America/Denver"),
            ("Eastern Time", "America/New_York"),
            ("eastern standard time", "America/New_York"),
            ("UK time", "Europe/London"),
            ("New York", "America/New_York"),
            ("London", "Europe/London"),
            ("los angeles", "America/Los_Angeles"),
            ("America/Chicago", "America/Chicago"),
            ("america/chicago", "America/Chicago"),
            ("UTC", "UTC"),
        ] {
            assert_eq!(zone(said, "US"), Some(iana), "{said}");
        }
    }

    #[test]
    fn ambiguous_abbreviations_follow_the_region() {
        assert_eq!(zone("IST", "IN"), Some("Asia/Kolkata"));
        assert_eq!(zone("IST", "IE"), Some("Europe/Dublin"));
        assert_eq!(zone("IST", "IL"), Some("Asia/Jerusalem"));
        assert_eq!(zone("CST", "CN"), Some("Asia/Shanghai"));
        assert_eq!(zone("EST", "AU"), Some("Australia/Sydney"));
        assert_eq!(zone("BST", "GB"), Some("Europe/London"));
    }

    #[test]
    fn mapped_names_are_said_back_and_iana_names_are_not() {
        assert!(parse_zone("Eastern", "US").unwrap().interpreted);
        assert!(parse_zone("London", "US").unwrap().interpreted);
        assert!(!parse_zone("Europe/London", "US").unwrap().interpreted);
    }

    #[test]
    fn what_is_not_a_zone() {
        for bad in ["", "Narnia", "Mars/Olympus", "time", "nowhere time", "Etc"] {
            assert_eq!(zone(bad, "US"), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_iana_name_reads_as_itself(i in 0usize..chrono_tz::TZ_VARIANTS.len()) {
            let name = chrono_tz::TZ_VARIANTS[i].name();
            prop_assume!(name.contains('/'));
            prop_assert_eq!(zone(name, "US"), Some(name));
        }

        #[test]
        fn no_string_panics(raw in ".{0,80}") {
            let _ = parse_zone(&raw, "US");
        }
    }
}
