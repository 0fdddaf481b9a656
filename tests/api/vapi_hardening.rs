//! Issue 15's attacks on the voice line, each kept as a test: taking over
//! another tenant's phone line with a claimed assistant id, hearing or
//! changing someone else's appointments by saying their number, and
//! oversized or empty tool-call messages.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, is_error, text};

async fn my_id(app: &TestApp, token: &str) -> String {
    let (_, me) = app.api(Method::GET, "/auth/me", Some(token), None).await;
    me["id"].as_str().unwrap().to_owned()
}

/// Every appointment (administrator's view), any status.
async fn all_appointments(app: &TestApp, admin: &str) -> Vec<Value> {
    let (status, page) = app
        .api(
            Method::GET,
            "/api/v1/appointments?limit=200",
            Some(admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// A calendar in Los Angeles created by `admin` with `fields`; its id.
async fn calendar_for(app: &TestApp, admin: &str, mut fields: Value) -> String {
    fields["time_zone"] = json!("America/Los_Angeles");
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v1/calendars",
            Some(admin),
            Some(&fields),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// A `tool-calls` message of one call placed through `assistant` and
/// `phone_number`, from `caller`; the HTTP status and the body.
async fn routed_tool(
    app: &TestApp,
    assistant: Option<&str>,
    phone_number: Option<&str>,
    id: &str,
    name: &str,
    args: Value,
) -> (u16, Value) {
    let mut call = json!({"id": "call-takeover", "type": "inboundPhoneCall", "customer": {"number": "+14155550111"}});
    if let Some(a) = assistant {
        call["assistantId"] = json!(a);
    }
    if let Some(p) = phone_number {
        call["phoneNumberId"] = json!(p);
    }
    let body = json!({"message": {
        "type": "tool-calls",
        "call": call,
        "toolCallList": [{"id": id, "type": "function", "function": {"name": name, "arguments": args}}],
    }});
    let response = app.post_vapi("/vapi/tools", &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

// Item 1 (a): a staff member's calendar lists the assistant id of another
// tenant's line (assigned before only administrators could, or by mistake);
// a call on that tenant's phone number with that assistant id is refused,
// books nothing anywhere, and is audited.
on_both_backends!(
    an_assistant_id_of_one_owner_cannot_take_another_owners_phone_line,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let vera = app.staff_token(&admin, "vera@example.com").await;
        let mallory = app.staff_token(&admin, "mallory@example.com").await;
        let vera_id = my_id(app, &vera).await;
        let mallory_id = my_id(app, &mallory).await;
        let vera_cal = calendar_for(
            app,
            &admin,
            json!({"name": "Vera", "owner_id": vera_id, "vapi_phone_number_ids": ["pn-vera"]}),
        )
        .await;
        let mallory_cal = calendar_for(
            app,
            &admin,
            json!({"name": "Mallory", "owner_id": mallory_id, "vapi_assistant_ids": ["asst-vera"]}),
        )
        .await;

        // The attack: Vera's line, the claimed assistant id. Refused as an
        // unroutable call, for every tool, with nothing booked or told.
        let book = json!({"name": "Carl Caller", "date": "2030-03-12", "time": "11:00", "purpose": "Private matter"});
        let (status, body) = routed_tool(
            app,
            Some("asst-vera"),
            Some("pn-vera"),
            "takeover-book",
            "book_appointment",
            book.clone(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let refused = &body["results"][0];
        assert!(is_error(refused), "{refused}");
        assert_eq!(refused["metadata"]["status"], "not_configured", "{refused}");
        assert!(text(refused).contains("not set up"), "{refused}");
        assert!(
            all_appointments(app, &admin).await.is_empty(),
            "nothing is booked on either calendar"
        );
        let (_, body) = routed_tool(
            app,
            Some("asst-vera"),
            Some("pn-vera"),
            "takeover-find",
            "find_appointments",
            json!({}),
        )
        .await;
        assert_eq!(body["results"][0]["metadata"]["status"], "not_configured");

        // VAPI asking which assistant takes the line is refused too.
        let (status, answer) = {
            let body = json!({"message": {"type": "assistant-request",
                "call": {"id": "call-takeover-2", "assistantId": "asst-vera", "phoneNumberId": "pn-vera",
                         "customer": {"number": "+14155550111"}}}});
            let response = app.post_vapi("/vapi/webhook", &body).await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        };
        assert_eq!(status, 200, "{answer}");
        assert!(answer.get("assistantId").is_none(), "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("not set up"),
            "{answer}"
        );

        // Each refused call is audited, naming both ids.
        let (status, audit) = app
            .api(
                Method::GET,
                "/api/v1/audit?action=vapi.route_refused",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{audit}");
        let entries = audit["items"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{audit}");
        for entry in entries {
            assert_eq!(entry["outcome"], "denied", "{entry}");
            let detail = entry["detail"].as_str().unwrap();
            assert!(
                detail.contains("asst-vera") && detail.contains("pn-vera"),
                "{entry}"
            );
            assert!(
                detail.contains(&vera_cal) && detail.contains(&mallory_cal),
                "{entry}"
            );
        }
        assert!(
            entries.iter().any(|e| e["actor_id"] == "call-takeover"),
            "{audit}"
        );

        // The line itself still works: Vera's number alone books on her calendar.
        let (_, body) = routed_tool(
            app,
            None,
            Some("pn-vera"),
            "line-book",
            "book_appointment",
            book,
        )
        .await;
        let booked = &body["results"][0];
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
        let all = all_appointments(app, &admin).await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0]["calendar_id"], vera_cal.as_str());
    }
);

// Item 1 (b): only administrators assign or change a calendar's VAPI ids.
on_both_backends!(
    staff_cannot_assign_or_change_vapi_ids,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let mallory = app.staff_token(&admin, "mallory@example.com").await;
        let mallory_id = my_id(app, &mallory).await;

        // Creating a calendar with another tenant's phone-number id.
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&mallory),
                Some(&json!({"name": "Grab", "time_zone": "UTC", "vapi_phone_number_ids": ["pn-vera"]})),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("vapi_phone_number_ids"), "{body}");
        assert!(message.contains("administrators"), "{body}");

        // Claiming an assistant id on her own calendar.
        let (status, created) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&mallory),
                Some(&json!({"name": "Mine", "time_zone": "UTC", "vapi_assistant_ids": []})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/calendars/{id}");
        for (patch, field) in [
            (
                json!({"vapi_assistant_ids": ["asst-vera"]}),
                "vapi_assistant_ids",
            ),
            (
                json!({"vapi_phone_number_ids": ["pn-vera"], "name": "Renamed"}),
                "vapi_phone_number_ids",
            ),
        ] {
            let (status, body) = app
                .api(Method::PATCH, &path, Some(&mallory), Some(&patch))
                .await;
            assert_eq!(status, 403, "{patch}: {body}");
            assert_eq!(body["error"]["code"], "forbidden", "{body}");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(field),
                "{body}"
            );
        }
        let (_, unchanged) = app.api(Method::GET, &path, Some(&mallory), None).await;
        assert_eq!(unchanged["vapi_assistant_ids"], json!([]), "{unchanged}");
        assert_eq!(unchanged["vapi_phone_number_ids"], json!([]), "{unchanged}");
        assert_eq!(
            unchanged["name"], "Mine",
            "nothing of a refused change is kept"
        );

        // An administrator assigns them; staff may send the same ids back
        // (any order) along with other changes, but not remove them.
        let (status, body) = app
            .api(
                Method::PATCH,
                &path,
                Some(&admin),
                Some(&json!({"vapi_assistant_ids": ["asst-m2", "asst-m1"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app
            .api(
                Method::PATCH,
                &path,
                Some(&mallory),
                Some(&json!({"vapi_assistant_ids": ["asst-m1", "asst-m2"], "name": "Still mine"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "Still mine");
        let (status, body) = app
            .api(
                Method::PATCH,
                &path,
                Some(&mallory),
                Some(&json!({"vapi_assistant_ids": []})),
            )
            .await;
        assert_eq!(status, 403, "{body}");

        // The refusals are audited, by the staff member, outcome denied.
        let (_, audit) = app
            .api(
                Method::GET,
                &format!("/api/v1/audit?actor_id={mallory_id}&outcome=denied"),
                Some(&admin),
                None,
            )
            .await;
        let entries = audit["items"].as_array().unwrap();
        assert_eq!(entries.len(), 4, "{audit}");
        assert!(
            entries
                .iter()
                .all(|e| e["detail"].as_str().unwrap().contains("vapi_")),
            "{audit}"
        );
    }
);

const VICTIM: &str = "+14155550101";
const VICTIM_NATIONAL: &str = "(415) 555-0101";
const ATTACKER: &str = "+14155550202";
const PURPOSE: &str = "Confidential biopsy results";

/// Whether `result` (its text and metadata) gives away anything of the
/// victim's appointment.
fn leaks(result: &Value, code: &str) -> bool {
    let all = result.to_string();
    let spelled: String = code.chars().map(String::from).collect::<Vec<_>>().join(" ");
    all.contains(code)
        || all.contains(&spelled)
        || all.contains(PURPOSE)
        || all.contains("Victor")
        || all.contains("10:00")
        || all.contains("10 AM")
        || all.contains("March 12")
}

// Item 2: a caller cannot hear or change another number's appointments by
// saying that number; the confirmation code grants access from anywhere.
on_both_backends!(
    a_caller_cannot_see_or_change_another_numbers_appointments,
    &[],
    async |app: &TestApp| {
        let booked = app
            .tool_from(
                Some(VICTIM),
                "victim-book",
                "book_appointment",
                json!({"name": "Victor Tim", "date": "2030-03-12", "time": "10:00", "purpose": PURPOSE}),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
        let code = booked["metadata"]["confirmation_code"]
            .as_str()
            .unwrap()
            .to_owned();

        // Another caller names the victim's number, in any spelling.
        for (i, phone) in [VICTIM, VICTIM_NATIONAL].iter().enumerate() {
            let found = app
                .tool_from(
                    Some(ATTACKER),
                    &format!("attacker-find-{i}"),
                    "find_appointments",
                    json!({"phone": phone}),
                )
                .await;
            assert!(is_error(&found), "{found}");
            assert_eq!(found["metadata"]["status"], "not_permitted", "{found}");
            assert_eq!(found["metadata"]["reason"], "other_number", "{found}");
            assert!(text(&found).contains("privacy"), "{found}");
            assert!(!leaks(&found, &code), "{found}");
        }
        let cancel = app
            .tool_from(
                Some(ATTACKER),
                "attacker-cancel",
                "cancel_appointment",
                json!({"phone": VICTIM, "date": "2030-03-12", "time": "10:00"}),
            )
            .await;
        assert_eq!(cancel["metadata"]["status"], "not_permitted", "{cancel}");
        assert!(!leaks(&cancel, &code), "{cancel}");
        let moved = app
            .tool_from(
                Some(ATTACKER),
                "attacker-move",
                "reschedule_appointment",
                json!({"phone": VICTIM_NATIONAL, "date": "2030-03-12", "new_date": "2030-03-13", "new_time": "11:00"}),
            )
            .await;
        assert_eq!(moved["metadata"]["status"], "not_permitted", "{moved}");
        assert!(!leaks(&moved, &code), "{moved}");
        // Booking the victim's number at a guessed time does not reveal it either.
        let probe = app
            .tool_from(
                Some(ATTACKER),
                "attacker-probe",
                "book_appointment",
                json!({"name": "Anyone", "phone": VICTIM, "date": "2030-03-12", "time": "10:00"}),
            )
            .await;
        assert_eq!(probe["metadata"]["status"], "already_booked", "{probe}");
        let probe_text = probe.to_string();
        assert!(
            !probe_text.contains(&code)
                && !probe_text.contains(PURPOSE)
                && !probe_text.contains("Victor"),
            "{probe}"
        );

        // A web call (no caller number) needs the code.
        for (id, name, args) in [
            ("web-find", "find_appointments", json!({})),
            (
                "web-find-phone",
                "find_appointments",
                json!({"phone": VICTIM}),
            ),
            (
                "web-cancel",
                "cancel_appointment",
                json!({"phone": VICTIM, "date": "2030-03-12"}),
            ),
        ] {
            let r = app.tool_from(None, id, name, args).await;
            assert_eq!(r["metadata"]["status"], "not_permitted", "{r}");
            assert_eq!(r["metadata"]["reason"], "no_caller_number", "{r}");
            assert!(!leaks(&r, &code), "{r}");
        }

        // The victim's own number still works, in any spelling, and the
        // appointment is untouched.
        for (i, args) in [json!({}), json!({"phone": VICTIM_NATIONAL})]
            .into_iter()
            .enumerate()
        {
            let own = app
                .tool_from(
                    Some(VICTIM),
                    &format!("victim-find-{i}"),
                    "find_appointments",
                    args,
                )
                .await;
            assert_eq!(own["metadata"]["status"], "found", "{own}");
            assert_eq!(
                own["metadata"]["appointments"][0]["confirmation_code"],
                code.as_str()
            );
            assert_eq!(
                own["metadata"]["appointments"][0]["start"],
                "2030-03-12T10:00:00-07:00"
            );
        }

        // With the code, another number (or a web call) may find, move and
        // cancel it (the code is given only to whoever booked), but is not
        // told its purpose.
        for (i, from) in [Some(ATTACKER), None].into_iter().enumerate() {
            let found = app
                .tool_from(
                    from,
                    &format!("code-find-{i}"),
                    "find_appointments",
                    json!({"confirmation_code": code.to_lowercase(), "phone": VICTIM}),
                )
                .await;
            assert_eq!(found["metadata"]["status"], "found", "{found}");
            assert_eq!(
                found["metadata"]["appointments"][0]["start"],
                "2030-03-12T10:00:00-07:00"
            );
            assert!(!found.to_string().contains(PURPOSE), "{found}");
        }
        let wrong = app
            .tool_from(
                Some(ATTACKER),
                "code-find-wrong",
                "find_appointments",
                json!({"confirmation_code": "ZZZZ99"}),
            )
            .await;
        assert_eq!(wrong["metadata"]["status"], "none", "{wrong}");
        let moved = app
            .tool_from(
                Some(ATTACKER),
                "code-move",
                "reschedule_appointment",
                json!({"confirmation_code": code, "new_date": "2030-03-13", "new_time": "11:00"}),
            )
            .await;
        assert_eq!(moved["metadata"]["status"], "rescheduled", "{moved}");
        assert!(!moved.to_string().contains(PURPOSE), "{moved}");
        let cancelled = app
            .tool_from(
                Some(ATTACKER),
                "code-cancel",
                "cancel_appointment",
                json!({"confirmation_code": code}),
            )
            .await;
        assert_eq!(cancelled["metadata"]["status"], "cancelled", "{cancelled}");
        assert!(!cancelled.to_string().contains(PURPOSE), "{cancelled}");

        // A web call with the code, and the owner by date, work too.
        let second = app
            .tool_from(
                Some(VICTIM),
                "victim-book-2",
                "book_appointment",
                json!({"name": "Victor Tim", "date": "2030-03-14", "time": "09:00"}),
            )
            .await;
        let second_code = second["metadata"]["confirmation_code"].as_str().unwrap();
        let web = app
            .tool_from(
                None,
                "web-code-cancel",
                "cancel_appointment",
                json!({"confirmation_code": second_code}),
            )
            .await;
        assert_eq!(web["metadata"]["status"], "cancelled", "{web}");
        app.tool_from(
            Some(VICTIM),
            "victim-book-3",
            "book_appointment",
            json!({"name": "Victor Tim", "date": "2030-03-15", "time": "09:00"}),
        )
        .await;
        let own = app
            .tool_from(
                Some(VICTIM),
                "victim-cancel-by-date",
                "cancel_appointment",
                json!({"date": "2030-03-15", "phone": VICTIM_NATIONAL}),
            )
            .await;
        assert_eq!(own["metadata"]["status"], "cancelled", "{own}");
    }
);

/// A `tool-calls` message of `n` calls of `name` (arguments from `args(i)`).
fn many_calls(n: usize, name: &str, args: impl Fn(usize) -> Value) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("many-{i}"), "type": "function", "function": {"name": name, "arguments": args(i)}}))
        .collect();
    json!({"message": {
        "type": "tool-calls",
        "call": {"id": "call-many", "customer": {"number": "+14155550177"}},
        "toolCallList": list,
    }})
}

// Item 3: at most 20 tool calls in one message; more are refused whole.
on_both_backends!(
    a_message_with_more_than_twenty_tool_calls_runs_none,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        // 21 bookings at 21 different free times (14 a day, 9:00 to 15:30).
        let book = |i: usize| {
            let (day, slot) = (12 + i / 14, i % 14);
            json!({"name": "Many Calls", "date": format!("2030-03-{day}"),
                   "time": format!("{:02}:{:02}", 9 + slot / 2, (slot % 2) * 30)})
        };
        let response = app
            .post_vapi("/vapi/tools", &many_calls(21, "book_appointment", book))
            .await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_tool_calls", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("21") && message.contains("at most 20"),
            "{body}"
        );
        assert!(
            all_appointments(app, &admin).await.is_empty(),
            "none of the calls ran"
        );

        // 20 are answered, in order.
        let response = app
            .post_vapi(
                "/vapi/tools",
                &many_calls(20, "check_availability", |_| json!({"date": "2030-03-12"})),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 20);
        assert_eq!(results[19]["toolCallId"], "many-19");
        assert_eq!(results[19]["metadata"]["status"], "available");
    }
);

// Item 4: a `tool-calls` message without tool calls is not a VAPI message.
on_both_backends!(
    a_tool_calls_message_without_calls_is_refused,
    &[],
    async |app: &TestApp| {
        for message in [
            json!({"type": "tool-calls", "call": {"id": "c"}}),
            json!({"type": "tool-calls", "toolCallList": []}),
            json!({"type": "tool-calls", "toolCalls": [], "toolCallList": []}),
            json!({"type": "tool-calls", "toolCallList": null}),
        ] {
            for path in ["/vapi/tools", "/vapi/webhook"] {
                let response = app
                    .post_vapi(path, &json!({ "message": message.clone() }))
                    .await;
                assert_eq!(response.status(), 400, "{message}");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "not_a_vapi_message", "{body}");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("no tool calls"),
                    "{body}"
                );
            }
        }
    }
);
