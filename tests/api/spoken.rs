//! What the assistant actually sends: dates, times, zones and lengths as a
//! caller says them, through `/vapi/tools`. The test clock's today is Friday,
//! 1 March 2030 in Los Angeles.

use serde_json::{Value, json};

use crate::helpers::{TestApp, is_error, text};

async fn day_of(app: &TestApp, said: &str) -> Value {
    let answer = app
        .tool(
            &format!("check-{said}"),
            "check_availability",
            json!({"date": said}),
        )
        .await;
    assert!(!is_error(&answer), "{said}: {answer}");
    answer["metadata"]["date"].clone()
}

on_both_backends!(dates_as_callers_say_them, &[], async |app: &TestApp| {
    for (said, date) in [
        ("March 5, 2030", "2030-03-05"),
        ("Tuesday, March 5, 2030", "2030-03-05"),
        ("Mar 5", "2030-03-05"),
        ("5th of March", "2030-03-05"),
        ("the fifth of March 2030", "2030-03-05"),
        ("03/05/2030", "2030-03-05"),
        ("tomorrow", "2030-03-02"),
        ("next Tuesday", "2030-03-05"),
        ("this Friday", "2030-03-01"),
        ("next Friday", "2030-03-08"),
        ("Monday next week", "2030-03-04"),
    ] {
        assert_eq!(day_of(app, said).await, date, "{said}");
    }
    // What was read from words is in the metadata.
    let answer = app
        .tool(
            "heard",
            "check_availability",
            json!({"date": "next Tuesday"}),
        )
        .await;
    assert_eq!(
        answer["metadata"]["heard"],
        json!([{"field": "date", "said": "next Tuesday", "read_as": "2030-03-05"}])
    );
});

on_both_backends!(
    slashes_are_read_day_first_where_the_region_writes_dates_so,
    &[("DEFAULT_PHONE_REGION", "GB")],
    async |app: &TestApp| {
        assert_eq!(day_of(app, "04/03/2030").await, "2030-03-04");
        assert_eq!(day_of(app, "5th of March").await, "2030-03-05");
    }
);

on_both_backends!(
    times_in_words_book_the_time_meant,
    &[("SLOT_MINUTES", "15")],
    async |app: &TestApp| {
        for (i, (said, start)) in [
            (
                "half past three in the afternoon",
                "2030-03-05T15:30:00-08:00",
            ),
            ("quarter to 10", "2030-03-05T09:45:00-08:00"),
            ("noon", "2030-03-05T12:00:00-08:00"),
            ("3 o'clock", "2030-03-05T15:00:00-08:00"),
            ("three thirty pm", "2030-03-06T15:30:00-08:00"),
        ]
        .into_iter()
        .enumerate()
        {
            let date = if said == "three thirty pm" {
                "2030-03-06"
            } else {
                "2030-03-05"
            };
            let answer = app
                .tool_from(
                    Some(&format!("+1415555020{i}")),
                    &format!("book-{i}"),
                    "book_appointment",
                    json!({"name": "Tess Words", "date": date, "time": said, "duration_minutes": 15}),
                )
                .await;
            assert!(!is_error(&answer), "{said}: {answer}");
            assert_eq!(answer["metadata"]["start"], start, "{said}: {answer}");
        }
    }
);

on_both_backends!(
    zone_names_are_mapped_and_said_back,
    &[],
    async |app: &TestApp| {
        for (said, zone) in [
            ("Eastern", "America/New_York"),
            ("Eastern Time", "America/New_York"),
            ("Pacific", "America/Los_Angeles"),
            ("PST", "America/Los_Angeles"),
            ("PDT", "America/Los_Angeles"),
            ("EST", "America/New_York"),
            ("CST", "America/Chicago"),
            ("MT", "America/Denver"),
            ("UK time", "Europe/London"),
            ("New York", "America/New_York"),
            ("London", "Europe/London"),
        ] {
            let answer = app
                .tool(
                    &format!("zone-{said}"),
                    "check_availability",
                    json!({"date": "2030-03-05", "timezone": said}),
                )
                .await;
            assert!(!is_error(&answer), "{said}: {answer}");
            assert_eq!(answer["metadata"]["timezone"], zone, "{said}");
            assert!(
                text(&answer).starts_with(&format!("\"{said}\" is taken as {zone} time.")),
                "{said}: {answer}"
            );
        }
        // An IANA name is used as it is, without saying it back.
        let answer = app
            .tool(
                "zone-iana",
                "check_availability",
                json!({"date": "2030-03-05", "timezone": "America/Chicago"}),
            )
            .await;
        assert!(!text(&answer).contains("is taken as"), "{answer}");
    }
);

on_both_backends!(
    an_ambiguous_abbreviation_follows_the_calendars_region,
    &[("DEFAULT_PHONE_REGION", "IN")],
    async |app: &TestApp| {
        let answer = app
            .tool(
                "zone-ist",
                "check_availability",
                json!({"date": "2030-03-05", "timezone": "IST"}),
            )
            .await;
        assert_eq!(answer["metadata"]["timezone"], "Asia/Kolkata", "{answer}");
        assert!(text(&answer).starts_with("\"IST\" is taken as Asia/Kolkata time."));
    }
);

on_both_backends!(lengths_in_words, &[], async |app: &TestApp| {
    for (i, (said, end)) in [
        ("half an hour", "2030-03-05T10:30:00-08:00"),
        ("an hour", "2030-03-05T11:00:00-08:00"),
        ("90 minutes", "2030-03-05T11:30:00-08:00"),
        ("1.5 hours", "2030-03-05T11:30:00-08:00"),
    ]
    .into_iter()
    .enumerate()
    {
        let date = ["2030-03-05", "2030-03-06", "2030-03-07", "2030-03-08"][i];
        let answer = app
            .tool_from(
                Some(&format!("+1415555030{i}")),
                &format!("len-{i}"),
                "book_appointment",
                json!({"name": "Len Words", "date": date, "time": "10:00", "duration_minutes": said}),
            )
            .await;
        assert!(!is_error(&answer), "{said}: {answer}");
        let expected_end = end.replace("2030-03-05", date);
        assert_eq!(answer["metadata"]["end"], expected_end, "{said}: {answer}");
    }
});

on_both_backends!(
    what_is_still_not_understood_is_named_once_with_an_example_near_today,
    &[],
    async |app: &TestApp| {
        let answer = app
            .tool(
                "bad-date",
                "book_appointment",
                json!({"name": "Una Clear", "date": "next blursday", "time": "10:00"}),
            )
            .await;
        assert!(is_error(&answer));
        let said = text(&answer);
        assert!(said.contains("\"next blursday\""), "{said}");
        assert!(
            said.contains("Friday, March 8, 2030") && said.contains("2030-03-08"),
            "the example is a week after today: {said}"
        );
        assert!(!said.contains("missing"), "{said}");
        assert_eq!(
            said.matches("date").count(),
            2,
            "one sentence for the date: {said}"
        );

        let answer = app
            .tool(
                "bad-time",
                "book_appointment",
                json!({"name": "Una Clear", "date": "2030-03-05", "time": "teatime"}),
            )
            .await;
        assert!(text(&answer).contains("\"teatime\""), "{answer}");
        assert!(!text(&answer).contains("missing"), "{answer}");

        // A weekday that contradicts the date is asked back, not guessed.
        let answer = app
            .tool(
                "mismatch",
                "book_appointment",
                json!({"name": "Una Clear", "date": "Wednesday, March 5, 2030", "time": "10:00"}),
            )
            .await;
        assert!(is_error(&answer));
        assert_eq!(answer["metadata"]["status"], "invalid_arguments");
        assert!(
            text(&answer).contains("March 5, 2030 is a Tuesday, not a Wednesday"),
            "{answer}"
        );
        let found = app.tool("find", "find_appointments", json!({})).await;
        assert_eq!(found["metadata"]["appointments"], json!([]), "{found}");
    }
);
