//! Booking, finding, cancelling and moving appointments by voice.

use serde_json::{Value, json};

use crate::helpers::{TestApp, is_error, text};

fn book_args(name: &str, date: &str, time: &str) -> Value {
    json!({"name": name, "date": date, "time": time, "purpose": "Consultation"})
}

on_both_backends!(
    a_retried_tool_call_books_once_and_answers_the_same,
    &[],
    async |app: &TestApp| {
        let first = app
            .tool(
                "same-id",
                "book_appointment",
                book_args("Ray Chan", "2030-03-12", "11:00"),
            )
            .await;
        let again = app
            .tool(
                "same-id",
                "book_appointment",
                book_args("Ray Chan", "2030-03-12", "11:00"),
            )
            .await;
        assert_eq!(first, again);
        assert_eq!(first["metadata"]["status"], "booked");
        // the model re-calls with a fresh id: already booked, not an error
        let fresh = app
            .tool(
                "fresh-id",
                "book_appointment",
                book_args("Ray Chan", "2030-03-12", "11:00"),
            )
            .await;
        assert!(!is_error(&fresh), "{fresh}");
        assert_eq!(fresh["metadata"]["status"], "already_booked");
        assert_eq!(
            fresh["metadata"]["appointment_id"],
            first["metadata"]["appointment_id"]
        );
        // the same id with other arguments changes nothing
        let other = app
            .tool(
                "same-id",
                "book_appointment",
                book_args("Ray Chan", "2030-03-12", "15:00"),
            )
            .await;
        assert!(is_error(&other));
        assert_eq!(other["metadata"]["status"], "idempotency_conflict");
        let found = app.tool("find", "find_appointments", json!({})).await;
        assert_eq!(
            found["metadata"]["appointments"].as_array().unwrap().len(),
            1,
            "{found}"
        );
    }
);

on_both_backends!(
    a_taken_slot_offers_the_nearest_alternatives,
    &[],
    async |app: &TestApp| {
        let first = app
            .tool_from(
                Some("+14155550001"),
                "a",
                "book_appointment",
                book_args("First Caller", "2030-03-12", "14:00"),
            )
            .await;
        assert_eq!(first["metadata"]["status"], "booked");
        let second = app
            .tool_from(
                Some("+14155550002"),
                "b",
                "book_appointment",
                book_args("Second Caller", "2030-03-12", "14:00"),
            )
            .await;
        assert!(is_error(&second));
        assert_eq!(second["metadata"]["status"], "unavailable");
        assert_eq!(second["metadata"]["reason"], "taken");
        let alternatives: Vec<&str> = second["metadata"]["alternatives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["start"].as_str().unwrap())
            .collect();
        assert_eq!(
            alternatives,
            [
                "2030-03-12T13:00:00-07:00",
                "2030-03-12T13:30:00-07:00",
                "2030-03-12T14:30:00-07:00"
            ]
        );
        let t = text(&second);
        assert!(
            t.contains("already taken") && t.contains("1:30 PM") && t.contains("2:30 PM"),
            "{t}"
        );
    }
);

on_both_backends!(
    rules_are_explained_with_alternatives,
    &[],
    async |app: &TestApp| {
        // now is Friday 2030-03-01 09:14 in Los Angeles; notice 60 minutes; horizon 60 days
        let past = app
            .tool(
                "p",
                "book_appointment",
                book_args("Past Caller", "2029-03-12", "10:00"),
            )
            .await;
        assert_eq!(past["metadata"]["reason"], "in_past", "{past}");
        assert_eq!(past["metadata"]["today"], "2030-03-01");
        assert!(
            text(&past).contains("Today is Friday, March 1, 2030"),
            "{past}"
        );

        let avail_past = app
            .tool("ap", "check_availability", json!({"date": "2023-03-12"}))
            .await;
        assert_eq!(avail_past["metadata"]["status"], "date_in_past");
        assert!(text(&avail_past).contains("Today is Friday, March 1, 2030"));

        let soon = app
            .tool(
                "s",
                "book_appointment",
                book_args("Soon Caller", "2030-03-01", "10:00"),
            )
            .await;
        assert_eq!(soon["metadata"]["reason"], "too_soon", "{soon}");
        assert_eq!(
            soon["metadata"]["alternatives"][0]["start"],
            "2030-03-01T10:30:00-08:00"
        );

        let late = app
            .tool(
                "l",
                "book_appointment",
                book_args("Late Caller", "2030-03-12", "18:00"),
            )
            .await;
        assert_eq!(late["metadata"]["reason"], "outside_hours");
        assert!(text(&late).contains("outside working hours"));
        assert!(
            !late["metadata"]["alternatives"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        let weekend = app
            .tool(
                "w",
                "book_appointment",
                book_args("Weekend Caller", "2030-03-16", "10:00"),
            )
            .await;
        assert_eq!(weekend["metadata"]["reason"], "outside_hours");
        // the nearest free day is Monday
        assert!(
            weekend["metadata"]["alternatives"][0]["start"]
                .as_str()
                .unwrap()
                .starts_with("2030-03-18"),
            "{weekend}"
        );

        let far = app
            .tool(
                "f",
                "book_appointment",
                book_args("Far Caller", "2030-06-12", "10:00"),
            )
            .await;
        assert_eq!(far["metadata"]["reason"], "too_far_ahead");

        let odd = app
            .tool(
                "o",
                "book_appointment",
                book_args("Odd Caller", "2030-03-12", "10:10"),
            )
            .await;
        assert_eq!(odd["metadata"]["reason"], "not_on_grid");
    }
);

on_both_backends!(find_cancel_and_book_again, &[], async |app: &TestApp| {
    let booked = app
        .tool(
            "b1",
            "book_appointment",
            book_args("Dana Fox", "2030-03-14", "09:30"),
        )
        .await;
    let code = booked["metadata"]["confirmation_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = app.tool("f1", "find_appointments", json!({})).await;
    assert_eq!(found["metadata"]["status"], "found");
    assert_eq!(
        found["metadata"]["appointments"][0]["confirmation_code"],
        code.as_str()
    );
    assert!(
        text(&found).contains("Thursday, March 14, 2030 at 9:30 AM"),
        "{found}"
    );

    // cancel by code spelled with spaces and lower case
    let spaced: String = code
        .to_lowercase()
        .chars()
        .map(|c| format!("{c} "))
        .collect();
    let cancelled = app
        .tool(
            "c1",
            "cancel_appointment",
            json!({"confirmation_code": spaced}),
        )
        .await;
    assert_eq!(cancelled["metadata"]["status"], "cancelled", "{cancelled}");
    let again = app
        .tool(
            "c2",
            "cancel_appointment",
            json!({"confirmation_code": code}),
        )
        .await;
    assert_eq!(again["metadata"]["status"], "already_cancelled");
    // a replay of the first cancel answers as the first time
    let replay = app
        .tool(
            "c1",
            "cancel_appointment",
            json!({"confirmation_code": spaced}),
        )
        .await;
    assert_eq!(replay, cancelled);

    // the slot is free again for someone else
    let other = app
        .tool_from(
            Some("+14155550999"),
            "b2",
            "book_appointment",
            book_args("Eve Stone", "2030-03-14", "09:30"),
        )
        .await;
    assert_eq!(other["metadata"]["status"], "booked", "{other}");

    // cancel by phone and date
    let booked = app
        .tool(
            "b3",
            "book_appointment",
            book_args("Dana Fox", "2030-03-15", "13:00"),
        )
        .await;
    assert_eq!(booked["metadata"]["status"], "booked");
    let cancelled = app
        .tool("c3", "cancel_appointment", json!({"date": "2030-03-15"}))
        .await;
    assert_eq!(cancelled["metadata"]["status"], "cancelled", "{cancelled}");
    assert_eq!(
        cancelled["metadata"]["appointment_id"],
        booked["metadata"]["appointment_id"]
    );
    let none = app
        .tool("c4", "cancel_appointment", json!({"date": "2030-03-15"}))
        .await;
    assert_eq!(none["metadata"]["status"], "not_found");
});

on_both_backends!(
    reschedule_moves_or_keeps_the_old_time,
    &[],
    async |app: &TestApp| {
        let mine = app
            .tool(
                "m1",
                "book_appointment",
                book_args("Gil Ross", "2030-03-12", "10:00"),
            )
            .await;
        let code = mine["metadata"]["confirmation_code"]
            .as_str()
            .unwrap()
            .to_owned();
        let theirs = app
            .tool_from(
                Some("+14155550888"),
                "t1",
                "book_appointment",
                book_args("Other One", "2030-03-12", "11:00"),
            )
            .await;
        assert_eq!(theirs["metadata"]["status"], "booked");

        let refused = app
            .tool(
                "r1",
                "reschedule_appointment",
                json!({"confirmation_code": code, "new_date": "2030-03-12", "new_time": "11:00"}),
            )
            .await;
        assert!(is_error(&refused));
        assert_eq!(refused["metadata"]["reason"], "taken");
        assert!(text(&refused).contains("keeps its current time"));
        let found = app.tool("f1", "find_appointments", json!({})).await;
        assert_eq!(
            found["metadata"]["appointments"][0]["start"],
            "2030-03-12T10:00:00-07:00"
        );

        let moved = app
            .tool(
                "r2",
                "reschedule_appointment",
                json!({"confirmation_code": code, "new_date": "2030-03-12", "new_time": "3pm"}),
            )
            .await;
        assert_eq!(moved["metadata"]["status"], "rescheduled", "{moved}");
        assert_eq!(moved["metadata"]["start"], "2030-03-12T15:00:00-07:00");
        assert_eq!(
            moved["metadata"]["previous_start"],
            "2030-03-12T10:00:00-07:00"
        );
        assert_eq!(moved["metadata"]["confirmation_code"], code.as_str());
        // the old time is free again
        let free = app
            .tool_from(
                Some("+14155550777"),
                "t2",
                "book_appointment",
                book_args("New Caller", "2030-03-12", "10:00"),
            )
            .await;
        assert_eq!(free["metadata"]["status"], "booked", "{free}");
    }
);

on_both_backends!(
    concurrent_callers_for_one_slot_get_one_booking,
    &[],
    async |app: &TestApp| {
        let calls = (0..20).map(|i| {
            let phone = format!("+1415555{:04}", 1000 + i);
            let id = format!("race-{i}");
            async move {
                app.tool_from(
                    Some(&phone),
                    &id,
                    "book_appointment",
                    book_args("Racing Caller", "2030-03-12", "16:00"),
                )
                .await
            }
        });
        let results = futures::future::join_all(calls).await;
        let booked = results
            .iter()
            .filter(|r| r["metadata"]["status"] == "booked")
            .count();
        let taken = results
            .iter()
            .filter(|r| r["metadata"]["reason"] == "taken")
            .count();
        assert_eq!(booked, 1, "{results:?}");
        assert_eq!(taken, 19, "{results:?}");
    }
);

on_both_backends!(
    started_appointments_cannot_be_changed,
    &[],
    async |app: &TestApp| {
        let booked = app
            .tool(
                "b",
                "book_appointment",
                book_args("Hal Moss", "2030-03-04", "10:00"),
            )
            .await;
        let code = booked["metadata"]["confirmation_code"]
            .as_str()
            .unwrap()
            .to_owned();
        app.clock.set("2030-03-04T18:05:00Z".parse().unwrap()); // 10:05 in Los Angeles
        let cancel = app
            .tool(
                "c",
                "cancel_appointment",
                json!({"confirmation_code": code}),
            )
            .await;
        assert_eq!(cancel["metadata"]["status"], "already_past", "{cancel}");
        let moved = app
            .tool(
                "r",
                "reschedule_appointment",
                json!({"confirmation_code": code, "new_date": "2030-03-05", "new_time": "10:00"}),
            )
            .await;
        assert_eq!(moved["metadata"]["status"], "already_past", "{moved}");
        // and it is no longer "upcoming" once it has ended
        app.clock.set("2030-03-04T18:31:00Z".parse().unwrap());
        let found = app.tool("f", "find_appointments", json!({})).await;
        assert_eq!(found["metadata"]["status"], "none", "{found}");
    }
);

on_both_backends!(
    a_retried_booking_that_was_refused_runs_again,
    &[],
    async |app: &TestApp| {
        let holder = app
            .tool_from(
                Some("+14155550001"),
                "holder",
                "book_appointment",
                book_args("Ann Lee", "2030-03-12", "11:00"),
            )
            .await;
        assert_eq!(holder["metadata"]["status"], "booked", "{holder}");
        let refused = app
            .tool_from(
                Some("+14155550002"),
                "late-caller",
                "book_appointment",
                book_args("Ray Chan", "2030-03-12", "11:00"),
            )
            .await;
        assert!(is_error(&refused), "{refused}");
        assert_eq!(refused["metadata"]["reason"], "taken", "{refused}");
        // The first caller cancels; VAPI retries the refused call (its answer
        // was lost): nothing was booked the first time, so it runs again.
        let code = holder["metadata"]["confirmation_code"].as_str().unwrap();
        let cancelled = app
            .tool_from(
                Some("+14155550001"),
                "holder-cancels",
                "cancel_appointment",
                json!({"confirmation_code": code}),
            )
            .await;
        assert_eq!(cancelled["metadata"]["status"], "cancelled", "{cancelled}");
        let retried = app
            .tool_from(
                Some("+14155550002"),
                "late-caller",
                "book_appointment",
                book_args("Ray Chan", "2030-03-12", "11:00"),
            )
            .await;
        assert_eq!(retried["metadata"]["status"], "booked", "{retried}");
        // And a retry of that booking answers the same words, booking nothing more.
        let again = app
            .tool_from(
                Some("+14155550002"),
                "late-caller",
                "book_appointment",
                book_args("Ray Chan", "2030-03-12", "11:00"),
            )
            .await;
        assert_eq!(again, retried);
    }
);
