//! The VAPI tool definitions to paste (`voice-scheduler vapi tools`, and
//! `GET /api/v1/calendars/{id}/vapi-tools`): every tool this server answers,
//! with JSON-schema parameters and the server URL.

use serde_json::{Value, json};

/// VAPI recommends short tool descriptions; ours stay under this.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// The placeholder where the shared secret goes when it is not printed.
pub const SECRET_PLACEHOLDER: &str = "<VAPI_WEBHOOK_SECRET>";

/// The six tools, pointing at `{base_url}/vapi/tools` (with
/// `?calendar=<slug>` when given), each sending `X-Vapi-Secret: secret` (the
/// placeholder when `None`).
pub fn tool_definitions(
    base_url: &str,
    calendar_slug: Option<&str>,
    secret: Option<&str>,
) -> Value {
    tool_definitions_for(base_url, calendar_slug, secret, &[])
}

/// [`tool_definitions`] for one calendar that offers `services`: their
/// names become the `enum` of the `service` argument (none: a free string).
pub fn tool_definitions_for(
    base_url: &str,
    calendar_slug: Option<&str>,
    secret: Option<&str>,
    services: &[String],
) -> Value {
    let mut url = format!("{}/vapi/tools", base_url.trim_end_matches('/'));
    if let Some(slug) = calendar_slug {
        url.push_str("?calendar=");
        url.push_str(slug);
    }
    let server = json!({
        "url": url,
        "timeoutSeconds": 20,
        "headers": {"X-Vapi-Secret": secret.unwrap_or(SECRET_PLACEHOLDER)},
    });
    let string = |d: &str| json!({"type": "string", "description": d});
    let service = if services.is_empty() {
        string(
            "Optional service (appointment type) the caller asks for, in their words; list_services tells what is offered",
        )
    } else {
        json!({
            "type": "string",
            "description": "Optional service (appointment type) the caller asks for; the calendar's default when left out",
            "enum": services,
        })
    };
    let tools = [
        (
            "check_availability",
            "List free appointment times on a date. Call before offering times to the caller.",
            json!({
                "date": string("Date as YYYY-MM-DD"),
                "time": string("Optional preferred time, e.g. 14:00 or 2pm; the closest free times are offered"),
                "timezone": string("Optional IANA time zone of the caller, e.g. America/New_York"),
                "duration_minutes": {"type": "integer", "description": "Optional length in minutes"},
                "service": service.clone(),
            }),
            vec!["date"],
        ),
        (
            "book_appointment",
            "Book an appointment. Use a time check_availability offered. Read the confirmation code back.",
            json!({
                "name": string("Caller's full name"),
                "phone": string("Caller's phone number; defaults to the number they call from"),
                "email": string("Optional email address"),
                "date": string("Date as YYYY-MM-DD"),
                "time": string("Start time, e.g. 14:00 or 2:30 PM"),
                "purpose": string("Optional reason for the appointment"),
                "timezone": string("Optional IANA time zone the date and time are in"),
                "duration_minutes": {"type": "integer", "description": "Optional length in minutes"},
                "service": service,
            }),
            vec!["name", "date", "time"],
        ),
        (
            "list_services",
            "List the services (appointment types) offered, with their lengths. Call when the caller asks what can be booked.",
            json!({}),
            vec![],
        ),
        (
            "find_appointments",
            "List the upcoming appointments booked from the number the caller is calling from, or the one with a given confirmation code.",
            json!({
                "confirmation_code": string("Optional code given at booking: finds that appointment from any number"),
                "phone": string("Optional; only the number they call from can be looked up"),
            }),
            vec![],
        ),
        (
            "cancel_appointment",
            "Cancel one of the caller's appointments, by confirmation code or by date (and time).",
            json!({
                "confirmation_code": string("The six-character code given at booking"),
                "phone": string("Optional; only the number they call from (another number's appointments need the code)"),
                "date": string("Date of the appointment as YYYY-MM-DD, when there is no code"),
                "time": string("Optional start time, when several appointments share the date"),
                "reason": string("Optional reason"),
            }),
            vec![],
        ),
        (
            "reschedule_appointment",
            "Move one of the caller's appointments to a new date and time, keeping its length.",
            json!({
                "confirmation_code": string("The six-character code given at booking"),
                "phone": string("Optional; only the number they call from (another number's appointments need the code)"),
                "date": string("Current date of the appointment, when there is no code"),
                "time": string("Current start time, when several appointments share the date"),
                "new_date": string("New date as YYYY-MM-DD"),
                "new_time": string("New start time, e.g. 15:00"),
                "timezone": string("Optional IANA time zone the times are in"),
            }),
            vec!["new_date", "new_time"],
        ),
    ];
    Value::Array(
        tools
            .into_iter()
            .map(|(name, description, properties, required)| {
                json!({
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": description,
                        "parameters": {"type": "object", "properties": properties, "required": required},
                    },
                    "server": server,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tools::TOOL_NAMES;

    #[test]
    fn every_served_tool_is_defined_with_a_short_description() {
        let defs = tool_definitions("https://s.example.com/", Some("dr-lee"), None);
        let defs = defs.as_array().unwrap();
        let names: Vec<&str> = defs
            .iter()
            .map(|d| d["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, TOOL_NAMES);
        for d in defs {
            let description = d["function"]["description"].as_str().unwrap();
            assert!(
                description.chars().count() <= MAX_DESCRIPTION_CHARS,
                "{description}"
            );
            assert_eq!(
                d["server"]["url"],
                "https://s.example.com/vapi/tools?calendar=dr-lee"
            );
            assert_eq!(d["server"]["headers"]["X-Vapi-Secret"], SECRET_PLACEHOLDER);
            let params = &d["function"]["parameters"];
            assert_eq!(params["type"], "object");
            for required in params["required"].as_array().unwrap() {
                assert!(
                    params["properties"]
                        .get(required.as_str().unwrap())
                        .is_some()
                );
            }
        }
        let per_calendar = tool_definitions_for(
            "http://h",
            Some("dr-lee"),
            None,
            &["Cleaning".to_owned(), "Check-up".to_owned()],
        );
        assert_eq!(
            per_calendar[0]["function"]["parameters"]["properties"]["service"]["enum"],
            json!(["Cleaning", "Check-up"])
        );
        assert_eq!(
            per_calendar[1]["function"]["parameters"]["properties"]["service"]["enum"],
            json!(["Cleaning", "Check-up"])
        );
        assert!(
            defs[0]["function"]["parameters"]["properties"]["service"]
                .get("enum")
                .is_none()
        );
        let with_secret = tool_definitions("http://h", None, Some("s3cret-value-123"));
        assert_eq!(with_secret[0]["server"]["url"], "http://h/vapi/tools");
        assert_eq!(
            with_secret[0]["server"]["headers"]["X-Vapi-Secret"],
            "s3cret-value-123"
        );
    }
}
