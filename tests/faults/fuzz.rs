//! Random and malformed input on the VAPI routes of a running application:
//! never a 5xx (nor a panic: the server keeps answering), and when the body
//! is a valid, authenticated `tool-calls` message, exactly one single-line
//! result per tool call, in order, with its `toolCallId`.
//!
//! The cases come from a seeded generator (`FAULTS_SEED=<n>` replays a run;
//! the seed is in every failure message). proptest is not among the root
//! package's dev-dependencies, so the generator is written out here: it
//! mixes well-formed messages with wrong shapes, wrong types and hostile
//! values (NUL and control characters, lone surrogates in escapes, huge
//! numbers, deep nesting, long strings, truncated JSON).

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::helpers::{self, Db, SECRET, TestApp};

/// Cases per backend: enough to cross every branch many times, small enough
/// for a debug build on two cores (a few seconds).
const CASES: usize = 400;

/// SplitMix64: small, seedable, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const TOOLS: [&str; 5] = [
    "check_availability",
    "book_appointment",
    "find_appointments",
    "cancel_appointment",
    "reschedule_appointment",
];

const ARG_NAMES: [&str; 16] = [
    "name",
    "phone",
    "email",
    "date",
    "time",
    "purpose",
    "timezone",
    "duration_minutes",
    "confirmation_code",
    "new_date",
    "new_time",
    "start",
    "new_start",
    "reason",
    "appointment_id",
    "unexpected",
];

fn text(rng: &mut Rng) -> String {
    let samples = [
        "",
        " ",
        "Jane Doe",
        "José Álvarez-Núñez",
        "李小龙",
        "\u{0}",
        "a\u{0}b",
        "line\nbreak",
        "tab\there",
        "\u{202e}rtl",
        "🙂🙂🙂",
        "'; DROP TABLE appointments; --",
        "<script>alert(1)</script>",
        "%s%n%x",
        "\\u0000",
        "null",
        "+14155550123",
        "+1 (415) 555-0123",
        "415-555-0123",
        "00000000000000000000",
        "jane@example.com",
        "not-an-email@",
        "2030-03-12",
        "2030-02-30",
        "9999-12-31",
        "0000-01-01",
        "-2030-03-12",
        "tomorrow",
        "next tuesday",
        "14:00",
        "2pm",
        "25:99",
        "noon",
        "23:59:59.999",
        "2030-03-12T14:00:00Z",
        "2030-03-12T14:00:00+25:00",
        "America/Los_Angeles",
        "Mars/Olympus",
        "UTC",
        "K7M2QX",
        "k 7 m 2 q x",
        "01a215c4-2a38-76c4-8e0d-2c14f189c05d",
    ];
    match rng.below(4) {
        0 => "x".repeat(rng.below(20_000)),
        1 => (0..rng.below(40))
            .map(|_| char::from_u32(rng.below(0x3_0000) as u32).unwrap_or('\u{fffd}'))
            .collect(),
        _ => (*rng.pick(&samples)).to_owned(),
    }
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => json!(rng.next() as i64),
        3 => json!(*rng.pick(&[0.0, -1.5, 1e300, 30.0, 60.0, -0.0, 480.5])),
        4 | 5 => Value::String(text(rng)),
        6 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (text(rng), value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// Arguments that would book (the app's clock is 2030-03-01; weekdays
/// 09:00–17:00 in Los Angeles), with at most one field made hostile, so
/// hostile values reach the database too.
fn nearly_valid(rng: &mut Rng) -> Map<String, Value> {
    let day = 4 + rng.below(24);
    let minutes = 9 * 60 + 30 * rng.below(16);
    let mut args = json!({
        "name": "Fuzz Caller",
        "phone": format!("+1415555{:04}", rng.below(10_000)),
        "email": "fuzz@example.com",
        "date": format!("2030-03-{day:02}"),
        "time": format!("{:02}:{:02}", minutes / 60, minutes % 60),
        "purpose": "Fuzzing",
        "timezone": "America/Los_Angeles",
    });
    if rng.chance(80) {
        let field = *rng.pick(&[
            "name", "phone", "email", "date", "time", "purpose", "timezone",
        ]);
        args[field] = if rng.chance(70) {
            Value::String(text(rng))
        } else {
            value(rng, 2)
        };
    }
    match args {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Arguments: mostly known names with plausible or hostile values.
fn arguments(rng: &mut Rng) -> Map<String, Value> {
    if rng.chance(30) {
        return nearly_valid(rng);
    }
    let mut args = Map::new();
    for _ in 0..rng.below(8) {
        let name = (*rng.pick(&ARG_NAMES)).to_owned();
        let v = if rng.chance(60) {
            Value::String(text(rng))
        } else {
            value(rng, 2)
        };
        args.insert(name, v);
    }
    args
}

/// One tool call in one of the shapes VAPI sends, with an id (unique in
/// the message, so results can be matched).
fn tool_call(rng: &mut Rng, id: &str) -> Value {
    let name = if rng.chance(85) {
        (*rng.pick(&TOOLS)).to_owned()
    } else {
        text(rng)
    };
    let args = arguments(rng);
    let arguments = match rng.below(6) {
        0 | 1 => Value::Object(args),
        2 | 3 => Value::String(Value::Object(args).to_string()),
        4 => Value::String(text(rng)), // not JSON, or JSON of the wrong type
        _ => value(rng, 2),
    };
    match rng.below(4) {
        0 => json!({"id": id, "name": name, "arguments": arguments}),
        1 => json!({"id": id, "name": name, "parameters": arguments}),
        _ => {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
        }
    }
}

/// A well-formed `tool-calls` message with `n` calls.
fn tool_calls_message(rng: &mut Rng, n: usize, case: usize) -> (Value, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|i| format!("fuzz-{case}-{i}")).collect();
    let calls: Vec<Value> = ids.iter().map(|id| tool_call(rng, id)).collect();
    let mut message = json!({"type": "tool-calls", "toolCallList": calls});
    if rng.chance(30) {
        message["toolCalls"] = message["toolCallList"].clone();
    }
    if rng.chance(70) {
        let number = if rng.chance(70) {
            Value::String(format!("+1415555{:04}", rng.below(10_000)))
        } else {
            value(rng, 1)
        };
        message["call"] =
            json!({"id": text(rng), "type": "inboundPhoneCall", "customer": {"number": number}});
    }
    if rng.chance(30) {
        message["timestamp"] = value(rng, 0);
    }
    (json!({"message": message}), ids)
}

/// Anything else: garbage bytes, random JSON, other message types, the
/// legacy shape, truncated or wrongly typed messages.
fn other_body(rng: &mut Rng, case: usize) -> Vec<u8> {
    match rng.below(8) {
        0 => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
        1 => value(rng, 4).to_string().into_bytes(),
        2 => json!({"message": {"type": text(rng), "call": value(rng, 2)}})
            .to_string()
            .into_bytes(),
        3 => json!({"message": {"type": "function-call",
                                "functionCall": {"name": rng.pick(&TOOLS), "parameters": value(rng, 2)}}})
        .to_string()
        .into_bytes(),
        4 => {
            let n = 1 + rng.below(3);
            let (message, _) = tool_calls_message(rng, n, case);
            let raw = message.to_string();
            let cut = rng.below(raw.len());
            raw.as_bytes()[..cut].to_vec()
        }
        5 => json!({"message": {"type": "tool-calls", "toolCallList": value(rng, 2)}})
            .to_string()
            .into_bytes(),
        6 => json!({"message": {"type": "tool-calls", "toolCallList": [value(rng, 2), value(rng, 2)]}})
            .to_string()
            .into_bytes(),
        _ => {
            // Deep nesting.
            let depth = 64 + rng.below(4000);
            format!("{}1{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
    }
}

fn header_value(rng: &mut Rng) -> String {
    // Visible ASCII only: reqwest refuses anything else before sending.
    (0..rng.below(80))
        .map(|_| char::from(b' ' + (rng.below(95) as u8)))
        .collect::<String>()
        .trim()
        .to_owned()
}

async fn fuzz(app: &TestApp, seed: u64) {
    let mut rng = Rng(seed);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut checked_results = 0;
    for case in 0..CASES {
        let path = *rng.pick(&[
            "/vapi/tools",
            "/vapi/tools",
            "/vapi/tools",
            "/vapi/tool/book-appointment",
            "/vapi/webhook",
        ]);
        let authenticated = rng.chance(85);
        let valid = rng.chance(60);
        let (body, ids) = if valid {
            let n = 1 + rng.below(4);
            let (message, ids) = tool_calls_message(&mut rng, n, case);
            (message.to_string().into_bytes(), Some(ids))
        } else {
            (other_body(&mut rng, case), None)
        };
        let mut request = client.post(format!("{}{path}", app.address));
        if authenticated {
            request = if rng.chance(80) {
                request.header("X-Vapi-Secret", SECRET)
            } else {
                request.header("Authorization", format!("Bearer {SECRET}"))
            };
        } else {
            match rng.below(3) {
                0 => {}
                1 => request = request.header("X-Vapi-Secret", header_value(&mut rng)),
                _ => {
                    request = request.header(
                        "Authorization",
                        format!("Bearer {}", header_value(&mut rng)),
                    )
                }
            }
        }
        let content_type = *rng.pick(&[
            "application/json",
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "",
        ]);
        if !content_type.is_empty() {
            request = request.header("Content-Type", content_type);
        }
        // VAPI always sends JSON; other content types only need no 5xx.
        let json = content_type.starts_with("application/json");
        if rng.chance(10) {
            let name: String = (0..1 + rng.below(20))
                .map(|_| char::from(b'a' + rng.below(26) as u8))
                .collect();
            request = request.header(format!("x-{name}"), header_value(&mut rng));
        }
        let shown = String::from_utf8_lossy(&body[..body.len().min(600)]).into_owned();
        let response = request
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed {seed} case {case}: no answer ({e}) to {shown}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let full = text;
        let text: String = full.chars().take(1000).collect();
        assert!(
            status < 500,
            "seed {seed} case {case}: {status} {text}\nrequest to {path}: {shown}"
        );
        if !authenticated {
            assert_eq!(status, 401, "seed {seed} case {case}: {text}");
            continue;
        }
        let (Some(ids), true) = (ids, json) else {
            continue;
        };
        assert_eq!(
            status, 200,
            "seed {seed} case {case}: {text}\nrequest: {shown}"
        );
        let answer: Value = serde_json::from_str(&full)
            .unwrap_or_else(|e| panic!("seed {seed} case {case}: not JSON ({e}): {text}"));
        let results = answer["results"]
            .as_array()
            .unwrap_or_else(|| panic!("seed {seed} case {case}: no results: {text}"));
        assert_eq!(
            results.len(),
            ids.len(),
            "seed {seed} case {case}: one result per call: {text}"
        );
        for (result, id) in results.iter().zip(&ids) {
            assert_eq!(
                result["toolCallId"],
                id.as_str(),
                "seed {seed} case {case}: {text}"
            );
            let spoken = match (result.get("result"), result.get("error")) {
                (Some(Value::String(s)), None) | (None, Some(Value::String(s))) => s,
                _ => panic!(
                    "seed {seed} case {case}: exactly one of result/error, a string: {result}"
                ),
            };
            assert!(
                !spoken.contains(['\n', '\r']) && !spoken.is_empty(),
                "seed {seed} case {case}: a single non-empty line: {spoken:?}"
            );
            // A server error dressed as a tool answer is a server error too.
            assert_ne!(
                result["metadata"]["status"], "error",
                "seed {seed} case {case}: internal failure: {result}\nrequest: {shown}"
            );
            checked_results += 1;
        }
    }
    // Still alive and well.
    let health = client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    eprintln!("fuzz seed {seed}: {CASES} requests, {checked_results} tool results checked");
}

fn seed() -> u64 {
    std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_malformed_input_never_gets_a_server_error_sqlite() {
    let app = helpers::spawn(Db::Sqlite, "fuzz_sqlite", &[])
        .await
        .unwrap();
    fuzz(&app, seed()).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_malformed_input_never_gets_a_server_error_postgres() {
    let Some(app) = helpers::spawn(Db::Postgres, "fuzz_postgres", &[]).await else {
        return;
    };
    fuzz(&app, seed()).await;
    app.cleanup().await;
}
