//! What VAPI's informational messages tell about a call: `status-update` and
//! `end-of-call-report`, read into the domain's [`CallUpdate`].
//!
//! Both shapes of the report are read (see `docs/vapi-setup.md`): the
//! current one (`analysis.summary`, `analysis.successEvaluation`,
//! `artifact.transcript`, `artifact.recordingUrl`) and the older one with
//! `summary`, `transcript`, `recordingUrl` at the top level of `message`.
//! The call itself is `message.call` (`id`, `type`, `customer.number`,
//! and sometimes `status`, `startedAt`, `endedAt`, `endedReason`, `cost`).
//! Times are ISO-8601 strings or epoch milliseconds.

use chrono::{DateTime, Utc};
use serde_json::Value;
use voice_scheduler_domain::{
    CallDirection, CallSource, CallStatus, CallUpdate, PhoneNumber, PhoneRegion,
};

/// Longest VAPI call id accepted (VAPI's are UUIDs).
pub const MAX_CALL_ID_CHARS: usize = 200;

/// The message types that update a call record.
pub fn source_of(kind: &str) -> Option<CallSource> {
    match kind {
        "status-update" => Some(CallSource::StatusUpdate),
        "end-of-call-report" => Some(CallSource::EndOfCallReport),
        _ => None,
    }
}

/// What the message `message` (the object under `"message"`) of type `kind`
/// tells about its call; `None` for other types and for messages without a
/// usable `call.id`. Values of the wrong type are ignored, never fatal; a
/// caller number that is not a valid phone number is left out. National
/// numbers are read in `region`. The calendar is left for the receiver to
/// decide.
pub fn call_update(kind: &str, message: &Value, region: PhoneRegion) -> Option<CallUpdate> {
    let source = source_of(kind)?;
    let call = message.get("call").filter(|c| c.is_object());
    let in_call = |key: &str| call.and_then(|c| c.get(key));
    let vapi_call_id = text(in_call("id"))?;
    if vapi_call_id.chars().count() > MAX_CALL_ID_CHARS {
        return None;
    }
    let analysis = message.get("analysis");
    let artifact = message.get("artifact");
    let mut update = CallUpdate::new(vapi_call_id, source);
    update.timestamp = instant(message.get("timestamp"));
    update.direction = text(in_call("type")).and_then(|t| CallDirection::from_vapi_type(&t));
    update.customer_phone = text(in_call("customer").and_then(|c| c.get("number")))
        .or_else(|| text(message.get("customer").and_then(|c| c.get("number"))))
        .and_then(|raw| PhoneNumber::parse(&raw, region).ok());
    update.status = text(message.get("status"))
        .or_else(|| text(in_call("status")))
        .and_then(|s| CallStatus::parse(&s));
    update.ended_reason = text(message.get("endedReason")).or_else(|| text(in_call("endedReason")));
    update.started_at = instant(message.get("startedAt")).or_else(|| instant(in_call("startedAt")));
    update.ended_at = instant(message.get("endedAt")).or_else(|| instant(in_call("endedAt")));
    update.cost = number(message.get("cost")).or_else(|| number(in_call("cost")));
    update.summary =
        text(analysis.and_then(|a| a.get("summary"))).or_else(|| text(message.get("summary")));
    update.success_evaluation = evaluation(analysis.and_then(|a| a.get("successEvaluation")))
        .or_else(|| evaluation(message.get("successEvaluation")));
    update.transcript = text(artifact.and_then(|a| a.get("transcript")))
        .or_else(|| text(message.get("transcript")));
    update.recording_url = text(artifact.and_then(|a| a.get("recordingUrl")))
        .or_else(|| text(message.get("recordingUrl")))
        .or_else(|| {
            text(
                artifact
                    .and_then(|a| a.get("recording"))
                    .and_then(|r| r.get("url")),
            )
        });
    Some(update)
}

/// A non-blank string.
fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// An ISO-8601 string with an offset, or epoch milliseconds.
fn instant(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .and_then(DateTime::from_timestamp_millis),
        _ => None,
    }
}

/// A finite number, also written as a string.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// VAPI's success evaluation is text (`"true"`, `"8"`, a sentence) or, by
/// rubric, a boolean, a number or an object: kept as text (JSON for the rest).
fn evaluation(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(_) => text(v),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/vapi")
            .join(name);
        let raw = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str::<Value>(&raw).unwrap()["message"].clone()
    }

    fn read(kind: &str, message: &Value) -> CallUpdate {
        call_update(kind, message, PhoneRegion::default()).unwrap()
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    #[test]
    fn the_current_report() {
        let u = read("end-of-call-report", &fixture("end-of-call-report.json"));
        assert_eq!(u.vapi_call_id, "7420f27a-30fd-4f49-a995-5549ae7cc00d");
        assert_eq!(u.source, CallSource::EndOfCallReport);
        assert_eq!(
            u.timestamp,
            DateTime::from_timestamp_millis(1_900_000_300_000)
        );
        assert_eq!(u.direction, Some(CallDirection::Inbound));
        assert_eq!(
            u.customer_phone.as_ref().map(PhoneNumber::as_str),
            Some("+14155550123")
        );
        assert_eq!(u.status, Some(CallStatus::Ended));
        assert_eq!(u.ended_reason.as_deref(), Some("customer-ended-call"));
        assert_eq!(u.cost, Some(0.1342));
        assert_eq!(u.started_at, Some(utc("2030-03-01T17:14:15Z")));
        assert_eq!(u.ended_at, Some(utc("2030-03-01T17:17:42Z")));
        assert_eq!(
            u.summary.as_deref(),
            Some("Jane booked a discovery session for Tuesday at 2 PM.")
        );
        assert_eq!(u.success_evaluation.as_deref(), Some("true"));
        assert!(u.transcript.as_deref().unwrap().starts_with("AI: Hi"));
        assert_eq!(
            u.recording_url.as_deref(),
            Some("https://storage.example.com/recordings/7420f27a.wav")
        );
        assert_eq!(u.calendar_id, None);
    }

    #[test]
    fn the_legacy_report() {
        let u = read(
            "end-of-call-report",
            &fixture("end-of-call-report-legacy.json"),
        );
        assert_eq!(u.vapi_call_id, "call-uuid-legacy-report");
        assert_eq!(u.direction, Some(CallDirection::Outbound));
        assert_eq!(
            u.customer_phone.as_ref().map(PhoneNumber::as_str),
            Some("+14155550111")
        );
        assert_eq!(u.ended_reason.as_deref(), Some("hangup"));
        assert_eq!(
            u.summary.as_deref(),
            Some("The caller asked for availability next week and booked nothing.")
        );
        assert!(u.transcript.as_deref().unwrap().starts_with("AI: How"));
        assert_eq!(
            u.recording_url.as_deref(),
            Some("https://storage.example.com/recordings/1234.wav")
        );
        assert_eq!(
            (u.timestamp, u.started_at, u.ended_at, u.cost),
            (None, None, None, None)
        );
    }

    #[test]
    fn the_status_update() {
        let u = read("status-update", &fixture("status-update.json"));
        assert_eq!(u.source, CallSource::StatusUpdate);
        assert_eq!(u.status, Some(CallStatus::Ended));
        assert_eq!(u.ended_reason.as_deref(), Some("customer-ended-call"));
        assert_eq!(
            u.timestamp,
            DateTime::from_timestamp_millis(1_900_000_000_000)
        );
        assert_eq!(u.direction, Some(CallDirection::Inbound));
        assert_eq!(u.summary, None);
    }

    #[test]
    fn other_types_and_messages_without_a_call_tell_nothing() {
        let m = fixture("status-update.json");
        assert!(call_update("speech-update", &m, PhoneRegion::default()).is_none());
        assert!(call_update("tool-calls", &m, PhoneRegion::default()).is_none());
        for bad in [
            json!({"status": "ended"}),
            json!({"call": {"id": 7}}),
            json!({"call": {"id": "  "}}),
            json!({"call": "x"}),
            json!({"call": {"id": "x".repeat(MAX_CALL_ID_CHARS + 1)}}),
        ] {
            assert!(
                call_update("status-update", &bad, PhoneRegion::default()).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn odd_values_are_read_leniently_or_left_out() {
        let m = json!({
            "timestamp": "2030-03-01T17:00:00+01:00",
            "status": "teleporting",
            "cost": "0.5",
            "startedAt": 1_900_000_000_000_i64,
            "endedAt": "yesterday",
            "analysis": {"successEvaluation": {"score": 8}},
            "artifact": {"recording": {"url": "https://r.example/x.wav"}, "transcript": ""},
            "call": {"id": "c1", "type": "webCall", "customer": {"number": "not a number"}, "endedAt": "2030-03-01T17:30:00Z"},
        });
        let u = read("status-update", &m);
        assert_eq!(u.timestamp, Some(utc("2030-03-01T16:00:00Z")));
        assert_eq!(u.status, None);
        assert_eq!(u.cost, Some(0.5));
        assert_eq!(
            u.started_at,
            DateTime::from_timestamp_millis(1_900_000_000_000)
        );
        assert_eq!(u.ended_at, Some(utc("2030-03-01T17:30:00Z")));
        assert_eq!(u.success_evaluation.as_deref(), Some(r#"{"score":8}"#));
        assert_eq!(u.recording_url.as_deref(), Some("https://r.example/x.wav"));
        assert_eq!(u.transcript, None);
        assert_eq!(u.direction, Some(CallDirection::Web));
        assert_eq!(u.customer_phone, None);
        // a national number is read in the region; booleans become text
        let m = json!({"call": {"id": "c2"}, "customer": {"number": "(415) 555-0123"}, "successEvaluation": false, "cost": "NaN"});
        let u = read("end-of-call-report", &m);
        assert_eq!(
            u.customer_phone.as_ref().map(PhoneNumber::as_str),
            Some("+14155550123")
        );
        assert_eq!(u.success_evaluation.as_deref(), Some("false"));
        assert_eq!(u.cost, None);
    }
}
