//! Every fixture in shared/fixtures/vapi gets HTTP 200 and one result per
//! tool call, in order, with the same toolCallId.

use serde_json::Value;

use crate::helpers::{TestApp, fixture, is_error, text};

async fn results(app: &TestApp, name: &str) -> Vec<Value> {
    let body = fixture(name);
    let r = app.post_vapi("/vapi/tools", &body).await;
    assert_eq!(r.status(), 200, "{name}");
    let answer: Value = r.json().await.unwrap();
    let results = answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: {answer}"))
        .clone();
    let expected: Vec<Value> = body["message"]["toolCallList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    let got: Vec<Value> = results.iter().map(|r| r["toolCallId"].clone()).collect();
    assert_eq!(got, expected, "{name}");
    for r in &results {
        assert!(r["metadata"].is_object(), "{name}: {r}");
        text(r);
    }
    results
}

on_both_backends!(tool_call_fixtures, &[], async |app: &TestApp| {
    // current spec: arguments as a JSON string; books in Los Angeles time
    let r = &results(app, "tool-calls-args-string.json").await[0];
    assert!(!is_error(r), "{r}");
    let t = text(r);
    assert!(
        t.contains("Jane Doe")
            && t.contains("Tuesday, March 12, 2030 at 2:00 PM Pacific Daylight Time"),
        "{t}"
    );
    assert_eq!(r["metadata"]["status"], "booked");
    assert_eq!(r["metadata"]["start"], "2030-03-12T14:00:00-07:00");
    assert_eq!(r["metadata"]["end"], "2030-03-12T14:30:00-07:00");
    let code = r["metadata"]["confirmation_code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert!(
        t.contains(&code.chars().map(String::from).collect::<Vec<_>>().join(" ")),
        "code spelled out: {t}"
    );

    // arguments as an object, in New York time: 9:00 in Los Angeles is 12:00 in New York
    let r = &results(app, "tool-calls-args-object.json").await[0];
    assert_eq!(r["metadata"]["status"], "available", "{r}");
    let slots = r["metadata"]["slots"].as_array().unwrap();
    assert_eq!(slots[0]["start"], "2030-03-12T12:00:00-04:00");
    assert!(
        slots
            .iter()
            .all(|s| s["start"].as_str().unwrap().ends_with("-04:00"))
    );
    // 16 half-hour slots minus the 2 PM Pacific (5 PM Eastern) booking just made
    assert_eq!(slots.len(), 15);
    assert!(
        !slots
            .iter()
            .any(|s| s["start"] == "2030-03-12T17:00:00-04:00")
    );
    assert!(text(r).contains("Eastern Daylight Time"), "{r}");

    // flat items with `parameters`
    let r = &results(app, "tool-calls-flat-parameters.json").await[0];
    assert_eq!(r["metadata"]["status"], "available", "{r}");
    assert_eq!(r["metadata"]["slots"].as_array().unwrap().len(), 16);
    assert!(text(r).contains("Wednesday, March 13, 2030"));

    // two calls in one message, answered in order; the phone is normalised
    let rs = results(app, "tool-calls-multiple.json").await;
    assert_eq!(rs[0]["name"], "check_availability");
    assert_eq!(rs[0]["metadata"]["status"], "available");
    assert_eq!(rs[1]["name"], "book_appointment");
    assert_eq!(rs[1]["metadata"]["status"], "booked", "{}", rs[1]);
    assert_eq!(rs[1]["metadata"]["start"], "2030-03-13T10:30:00-07:00");
    let found = app
        .tool_from(
            Some("+14155550177"),
            "find-luis",
            "find_appointments",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        found["metadata"]["appointments"].as_array().unwrap().len(),
        1,
        "{found}"
    );

    // the original service's tool: phone given nationally, caller in call.customer
    let r = &results(app, "tool-calls-seed-book.json").await[0];
    assert_eq!(r["metadata"]["status"], "booked", "{r}");
    assert_eq!(r["metadata"]["start"], "2030-03-12T09:00:00-07:00");
    assert!(text(r).contains("Priya Raman"));
});

on_both_backends!(
    legacy_and_informational_fixtures,
    &[],
    async |app: &TestApp| {
        let r = app
            .post_vapi("/vapi/tools", &fixture("function-call-legacy.json"))
            .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let spoken = body["result"].as_str().unwrap();
        assert!(spoken.contains("Tuesday, March 12, 2030"), "{body}");
        assert!(body.get("results").is_none());
        assert_eq!(body["metadata"]["status"], "available");

        for name in [
            "end-of-call-report.json",
            "end-of-call-report-legacy.json",
            "status-update.json",
            "unknown-type.json",
        ] {
            let r = app.post_vapi("/vapi/webhook", &fixture(name)).await;
            assert_eq!(r.status(), 200, "{name}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body, serde_json::json!({"received": true}), "{name}");
        }
        // an assistant request is answered (no assistant is set up yet: a
        // sentence to speak; see calls.rs)
        let r = app
            .post_vapi("/vapi/webhook", &fixture("assistant-request.json"))
            .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
        // tool calls also work through the webhook and the original service's path
        for path in ["/vapi/webhook", "/vapi/tool/book-appointment"] {
            let r = app
                .post_vapi(path, &fixture("tool-calls-flat-parameters.json"))
                .await;
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["results"][0]["toolCallId"], "abc123", "{path}");
        }
    }
);
