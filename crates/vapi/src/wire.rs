//! VAPI's server messages and our answers.
//!
//! Every message arrives as `{"message": {"type": ..., ...}}`. Tool calls come
//! in several shapes (see `docs/vapi-setup.md`): `toolCallList` items
//! `{id, function: {name, arguments}}` with `arguments` as an object or a JSON
//! string, the duplicate `toolCalls` array, flat items `{id, name, arguments}`
//! or `{id, name, parameters}`, and the legacy `function-call` message.

use serde::Serialize;
use serde_json::{Map, Value};

/// Why a request body is not something we can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body is not a VAPI server message: {0}")]
    NotVapiMessage(String),
}

/// Facts about the call a message belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    pub call_id: Option<String>,
    /// The caller (inbound) or the dialled number (outbound).
    pub customer_number: Option<String>,
    pub assistant_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub call_type: Option<String>,
}

/// One tool call to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// VAPI's `toolCallId` (empty for the legacy `function-call`).
    pub id: String,
    pub name: String,
    /// The arguments as an object, or why they could not be read.
    pub arguments: Result<Map<String, Value>, String>,
}

/// A server message, reduced to what we act on.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `tool-calls`: answer each call, in order.
    ToolCalls {
        calls: Vec<ToolCall>,
        context: CallContext,
    },
    /// Legacy `function-call`: answer `{"result": ...}`.
    FunctionCall {
        call: ToolCall,
        context: CallContext,
    },
    /// Any other type (status updates, reports, unknown types).
    Other {
        kind: String,
        context: CallContext,
        message: Value,
    },
}

/// Reads a request body. Never panics, whatever the bytes.
pub fn parse_message(body: &[u8]) -> Result<ServerMessage, WireError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| WireError::MalformedJson(e.to_string()))?;
    let message = root
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| WireError::NotVapiMessage("there is no \"message\" object".to_owned()))?;
    let kind = message
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| WireError::NotVapiMessage("\"message.type\" is missing".to_owned()))?;
    let context = call_context(message);
    match kind {
        "tool-calls" => {
            // The first non-empty list of the shapes VAPI uses; a message with
            // none is answered with no results rather than refused.
            let list = ["toolCallList", "toolCalls", "toolWithToolCallList"]
                .iter()
                .filter_map(|key| message.get(*key).and_then(Value::as_array))
                .find(|l| !l.is_empty());
            let calls = list
                .map(|l| l.iter().map(read_tool_call).collect())
                .unwrap_or_default();
            Ok(ServerMessage::ToolCalls { calls, context })
        }
        "function-call" => {
            let fc = message.get("functionCall").unwrap_or(&Value::Null);
            let name = fc.get("name").and_then(Value::as_str).unwrap_or_default();
            let arguments = read_arguments(fc.get("parameters").or_else(|| fc.get("arguments")));
            Ok(ServerMessage::FunctionCall {
                call: ToolCall {
                    id: String::new(),
                    name: name.to_owned(),
                    arguments,
                },
                context,
            })
        }
        other => Ok(ServerMessage::Other {
            kind: other.to_owned(),
            context,
            message: message.clone(),
        }),
    }
}

fn read_tool_call(item: &Value) -> ToolCall {
    // `toolWithToolCallList` items wrap the call in `toolCall`; their own
    // `function.parameters` is the tool's JSON schema, not arguments.
    let (item, outer) = match item.get("toolCall") {
        Some(inner) if inner.is_object() => (inner, Some(item)),
        _ => (item, None),
    };
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let function = item.get("function").filter(|f| f.is_object());
    let name_of = |v: &Value| {
        v.get("function")
            .and_then(|f| f.get("name"))
            .or_else(|| v.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let name = name_of(item)
        .or_else(|| outer.and_then(name_of))
        .unwrap_or_default();
    let raw_args = function
        .and_then(|f| f.get("arguments").or_else(|| f.get("parameters")))
        .or_else(|| item.get("arguments"))
        .or_else(|| item.get("parameters"));
    ToolCall {
        id,
        name,
        arguments: read_arguments(raw_args),
    }
}

/// Arguments may be an object, a JSON string holding an object, or absent.
fn read_arguments(raw: Option<&Value>) -> Result<Map<String, Value>, String> {
    match raw {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("the arguments are not a JSON object".to_owned()),
            Err(e) => Err(format!("the arguments are not valid JSON ({e})")),
        },
        Some(_) => Err("the arguments are not a JSON object".to_owned()),
    }
}

fn call_context(message: &Value) -> CallContext {
    let call = message.get("call");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    CallContext {
        call_id: text(call.and_then(|c| c.get("id"))),
        customer_number: text(
            call.and_then(|c| c.get("customer"))
                .and_then(|c| c.get("number")),
        )
        .or_else(|| text(message.get("customer").and_then(|c| c.get("number")))),
        assistant_id: text(call.and_then(|c| c.get("assistantId")))
            .or_else(|| text(message.get("assistant").and_then(|a| a.get("id")))),
        phone_number_id: text(call.and_then(|c| c.get("phoneNumberId")))
            .or_else(|| text(message.get("phoneNumber").and_then(|p| p.get("id")))),
        call_type: text(call.and_then(|c| c.get("type"))),
    }
}

/// The answer to one tool call: a single-line sentence to speak, as `result`
/// on success or `error` on failure, plus structured `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ToolResult {
    #[serde(rename = "toolCallId")]
    pub tool_call_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(default)]
    pub metadata: Value,
}

impl ToolResult {
    pub fn ok(call: &ToolCall, text: impl Into<String>, metadata: Value) -> Self {
        Self {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            result: Some(single_line(&text.into())),
            error: None,
            metadata,
        }
    }

    pub fn err(call: &ToolCall, text: impl Into<String>, metadata: Value) -> Self {
        Self {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            result: None,
            error: Some(single_line(&text.into())),
            metadata,
        }
    }

    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }

    /// The text to speak, whichever field holds it.
    pub fn text(&self) -> &str {
        self.result
            .as_deref()
            .or(self.error.as_deref())
            .unwrap_or_default()
    }
}

/// VAPI requires `result` and `error` to be single-line strings.
pub fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The body answering a `tool-calls` message.
pub fn tool_calls_response(results: &[ToolResult]) -> Value {
    serde_json::json!({ "results": results })
}

/// The body answering a legacy `function-call` message.
pub fn function_call_response(result: &ToolResult) -> Value {
    let mut body = serde_json::json!({ "result": result.text(), "metadata": result.metadata });
    if result.is_error() {
        body["error"] = Value::String(result.text().to_owned());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> ServerMessage {
        parse_message(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn arguments_as_string_object_and_flat_parameters() {
        let as_string = parse(json!({"message": {"type": "tool-calls", "toolCallList": [
            {"id": "a", "type": "function", "function": {"name": "book_appointment", "arguments": "{\"name\":\"Jane\"}"}}
        ], "call": {"id": "c1", "customer": {"number": "+14155550123"}}}}));
        let ServerMessage::ToolCalls { calls, context } = as_string else {
            panic!()
        };
        assert_eq!(calls[0].id, "a");
        assert_eq!(calls[0].name, "book_appointment");
        assert_eq!(calls[0].arguments.as_ref().unwrap()["name"], "Jane");
        assert_eq!(context.call_id.as_deref(), Some("c1"));
        assert_eq!(context.customer_number.as_deref(), Some("+14155550123"));

        let flat = parse(json!({"message": {"type": "tool-calls", "toolCallList": [
            {"id": "b", "name": "check_availability", "parameters": {"date": "2030-03-13"}}
        ]}}));
        let ServerMessage::ToolCalls { calls, .. } = flat else {
            panic!()
        };
        assert_eq!(calls[0].name, "check_availability");
        assert_eq!(calls[0].arguments.as_ref().unwrap()["date"], "2030-03-13");

        let only_tool_calls = parse(json!({"message": {"type": "tool-calls", "toolCalls": [
            {"id": "c", "function": {"name": "x", "arguments": {"k": 1}}}
        ]}}));
        let ServerMessage::ToolCalls { calls, .. } = only_tool_calls else {
            panic!()
        };
        assert_eq!(calls[0].arguments.as_ref().unwrap()["k"], 1);
    }

    #[test]
    fn bad_arguments_are_reported_per_call() {
        let m = parse(json!({"message": {"type": "tool-calls", "toolCallList": [
            {"id": "a", "function": {"name": "x", "arguments": "{not json"}},
            {"id": "b", "function": {"name": "y", "arguments": "[1,2]"}},
            {"id": "c", "function": {"name": "z", "arguments": 7}}
        ]}}));
        let ServerMessage::ToolCalls { calls, .. } = m else {
            panic!()
        };
        assert_eq!(calls.len(), 3);
        assert!(calls.iter().all(|c| c.arguments.is_err()));
    }

    #[test]
    fn legacy_function_call_and_other_types() {
        let m = parse(
            json!({"message": {"type": "function-call", "functionCall": {"name": "check_availability", "parameters": "{ \"date\": \"2030-03-12\" }"}}}),
        );
        let ServerMessage::FunctionCall { call, .. } = m else {
            panic!()
        };
        assert_eq!(call.arguments.unwrap()["date"], "2030-03-12");
        let m = parse(json!({"message": {"type": "speech-update", "customer": {"number": "+1"}}}));
        assert!(matches!(m, ServerMessage::Other { ref kind, .. } if kind == "speech-update"));
    }

    #[test]
    fn refuses_what_is_not_a_vapi_message() {
        assert!(matches!(
            parse_message(b"{nope"),
            Err(WireError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_message(b"[]"),
            Err(WireError::NotVapiMessage(_))
        ));
        assert!(matches!(
            parse_message(br#"{"message": 1}"#),
            Err(WireError::NotVapiMessage(_))
        ));
        assert!(matches!(
            parse_message(br#"{"message": {}}"#),
            Err(WireError::NotVapiMessage(_))
        ));
        assert!(matches!(
            parse_message(br#"{"message": {"type": 7}}"#),
            Err(WireError::NotVapiMessage(_))
        ));
        // a tool-calls message without calls is answered with none
        assert!(matches!(
            parse_message(br#"{"message": {"type": "tool-calls", "toolCallList": 5}}"#),
            Ok(ServerMessage::ToolCalls { ref calls, .. }) if calls.is_empty()
        ));
    }

    #[test]
    fn results_are_single_line_with_the_right_field() {
        let call = ToolCall {
            id: "x".into(),
            name: "n".into(),
            arguments: Ok(Map::new()),
        };
        let ok = serde_json::to_value(ToolResult::ok(&call, "a\nb", json!({}))).unwrap();
        assert_eq!(
            ok,
            json!({"toolCallId": "x", "name": "n", "result": "a b", "metadata": {}})
        );
        let err = serde_json::to_value(ToolResult::err(&call, "c\r\n d", json!({"s": 1}))).unwrap();
        assert_eq!(
            err,
            json!({"toolCallId": "x", "name": "n", "error": "c d", "metadata": {"s": 1}})
        );
    }
}
