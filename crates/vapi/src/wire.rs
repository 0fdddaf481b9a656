//! VAPI's server messages and our answers.
//!
//! Every message arrives as `{"message": {"type": ..., ...}}`. Tool calls come
//! in several shapes (see `docs/vapi-setup.md`): `toolCallList` items
//! `{id, function: {name, arguments}}` with `arguments` as an object or a JSON
//! string, the duplicate `toolCalls` array, flat items `{id, name, arguments}`
//! or `{id, name, parameters}`, and the legacy `function-call` message.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::lenient::{Given, List, Obj, Raw, Text, lenient_object};

/// Why a request body is not something we can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body is not a VAPI server message: {0}")]
    NotVapiMessage(String),
    /// More tool calls in one message than [`MAX_TOOL_CALLS`]: none is run.
    #[error(
        "the message carries {count} tool calls; at most {limit} are accepted in one message, and none of these was run"
    )]
    TooManyToolCalls { count: usize, limit: usize },
}

/// The most tool calls one `tool-calls` message may carry. An assistant
/// makes one or a few per turn; a message with more is refused whole
/// (400), so that one request cannot make the server book, cancel or look
/// up without bound.
pub const MAX_TOOL_CALLS: usize = 20;

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
///
/// Only the members we act on are read; the rest of the message (the whole
/// assistant, call and transcript VAPI sends along) is skipped without being
/// built into a tree. Members of an unexpected type read as absent.
pub fn parse_message(body: &[u8]) -> Result<ServerMessage, WireError> {
    let not_vapi = |why: &str| WireError::NotVapiMessage(why.to_owned());
    let envelope: Obj<Envelope> =
        serde_json::from_slice(body).map_err(|e| WireError::MalformedJson(e.to_string()))?;
    let raw = envelope
        .0
        .and_then(|e| e.message.0)
        .ok_or_else(|| not_vapi("there is no \"message\" object"))?;
    let message = serde_json::from_str::<Obj<Message>>(raw.get())
        .ok()
        .and_then(|m| m.0)
        .ok_or_else(|| not_vapi("there is no \"message\" object"))?;
    let context = call_context(&message);
    let Message {
        kind,
        tool_call_list,
        tool_calls,
        tool_with_tool_call_list,
        function_call,
        ..
    } = message;
    let kind = kind
        .0
        .ok_or_else(|| not_vapi("\"message.type\" is missing"))?;
    match kind.as_str() {
        "tool-calls" => {
            // The first non-empty list of the shapes VAPI uses; a message with
            // none has nothing to answer and is refused.
            let list = [tool_call_list, tool_calls, tool_with_tool_call_list]
                .into_iter()
                .filter_map(|list| list.0)
                .find(|list| !list.is_empty())
                .ok_or_else(|| not_vapi(NO_TOOL_CALLS))?;
            if list.len() > MAX_TOOL_CALLS {
                return Err(WireError::TooManyToolCalls {
                    count: list.len(),
                    limit: MAX_TOOL_CALLS,
                });
            }
            let calls = list.into_iter().map(read_tool_call).collect();
            Ok(ServerMessage::ToolCalls { calls, context })
        }
        "function-call" => {
            let fc = function_call.0.unwrap_or_default();
            let arguments = read_arguments(fc.parameters.0.or(fc.arguments.0).as_deref());
            Ok(ServerMessage::FunctionCall {
                call: ToolCall {
                    id: String::new(),
                    name: fc.name.0.and_then(|n| n.0).unwrap_or_default(),
                    arguments,
                },
                context,
            })
        }
        _ => {
            // Status updates and reports are read in full (`calls`); they
            // come a few times per call, not once per tool call.
            let message = serde_json::from_str::<Value>(raw.get())
                .map_err(|e| WireError::MalformedJson(e.to_string()))?;
            Ok(ServerMessage::Other {
                kind,
                context,
                message,
            })
        }
    }
}

/// Why a `tool-calls` message without calls is refused.
const NO_TOOL_CALLS: &str = "a \"tool-calls\" message has no tool calls (\"toolCallList\", \"toolCalls\" and \"toolWithToolCallList\" are missing or empty)";

lenient_object!(
    /// `{"message": {...}}`: the message is kept as text until its type is known.
    Envelope { "message" => message: Raw }
);

lenient_object!(
    /// The members of a message we act on.
    Message {
        "type" => kind: Text,
        "toolCallList" => tool_call_list: List<Item>,
        "toolCalls" => tool_calls: List<Item>,
        "toolWithToolCallList" => tool_with_tool_call_list: List<Item>,
        "call" => call: Obj<Call>,
        "customer" => customer: Obj<HasNumber>,
        "assistant" => assistant: Obj<HasId>,
        "phoneNumber" => phone_number: Obj<HasId>,
        "functionCall" => function_call: Obj<Function>,
    }
);

lenient_object!(
    /// A tool call in any of its shapes: `{id, function: {name, arguments}}`,
    /// flat `{id, name, arguments | parameters}`, or a `toolWithToolCallList`
    /// item wrapping the call in `toolCall`.
    Item {
        "id" => id: Text,
        "name" => name: Text,
        "function" => function: Obj<Function>,
        "arguments" => arguments: Raw,
        "parameters" => parameters: Raw,
        "toolCall" => tool_call: Obj<Box<Item>>,
    }
);

lenient_object!(
    Function {
        "name" => name: Given<Text>,
        "arguments" => arguments: Raw,
        "parameters" => parameters: Raw,
    }
);

lenient_object!(
    Call {
        "id" => id: Text,
        "type" => kind: Text,
        "assistantId" => assistant_id: Text,
        "phoneNumberId" => phone_number_id: Text,
        "customer" => customer: Obj<HasNumber>,
    }
);

lenient_object!(HasNumber { "number" => number: Text });

lenient_object!(HasId { "id" => id: Text });

fn read_tool_call(mut item: Item) -> ToolCall {
    // `toolWithToolCallList` items wrap the call in `toolCall`; their own
    // `function.parameters` is the tool's JSON schema, not arguments.
    let (item, outer) = match item.tool_call.0.take() {
        Some(inner) => (*inner, Some(item)),
        None => (item, None),
    };
    // `function.name` when the function gives one (even of the wrong
    // type), else the item's own `name`.
    let name_of = |v: &Item| match v.function.0.as_ref().and_then(|f| f.name.0.as_ref()) {
        Some(given) => given.0.clone(),
        None => v.name.0.clone(),
    };
    let name = name_of(&item)
        .or_else(|| outer.as_ref().and_then(name_of))
        .unwrap_or_default();
    let Item {
        id,
        function,
        arguments,
        parameters,
        ..
    } = item;
    let raw_args = function
        .0
        .and_then(|f| f.arguments.0.or(f.parameters.0))
        .or(arguments.0)
        .or(parameters.0);
    ToolCall {
        id: id.0.unwrap_or_default(),
        name,
        arguments: read_arguments(raw_args.as_deref()),
    }
}

/// Arguments may be an object, a JSON string holding an object, or absent.
fn read_arguments(raw: Option<&RawValue>) -> Result<Map<String, Value>, String> {
    let not_an_object = || "the arguments are not a JSON object".to_owned();
    let invalid = |e: serde_json::Error| format!("the arguments are not valid JSON ({e})");
    let Some(text) = raw.map(RawValue::get) else {
        return Ok(Map::new());
    };
    match text.as_bytes().first() {
        Some(b'n') => Ok(Map::new()),
        Some(b'{') => serde_json::from_str(text).map_err(invalid),
        Some(b'"') => {
            let inner: String = serde_json::from_str(text).map_err(invalid)?;
            if inner.trim().is_empty() {
                return Ok(Map::new());
            }
            match serde_json::from_str::<Value>(&inner) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(not_an_object()),
                Err(e) => Err(invalid(e)),
            }
        }
        _ => Err(not_an_object()),
    }
}

fn call_context(message: &Message) -> CallContext {
    let call = message.call.0.as_ref();
    let text = |t: &Text| t.0.clone();
    CallContext {
        call_id: call.and_then(|c| text(&c.id)),
        customer_number: call
            .and_then(|c| c.customer.0.as_ref())
            .and_then(|c| text(&c.number))
            .or_else(|| message.customer.0.as_ref().and_then(|c| text(&c.number))),
        assistant_id: call
            .and_then(|c| text(&c.assistant_id))
            .or_else(|| message.assistant.0.as_ref().and_then(|a| text(&a.id))),
        phone_number_id: call
            .and_then(|c| text(&c.phone_number_id))
            .or_else(|| message.phone_number.0.as_ref().and_then(|p| text(&p.id))),
        call_type: call.and_then(|c| text(&c.kind)),
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

/// The body answering a `tool-calls` message: `{"results": [...]}`,
/// serialised straight from the results (no intermediate `Value` copy).
#[derive(Debug, Serialize)]
pub struct ToolCallsResponse<'a> {
    pub results: &'a [ToolResult],
}

/// The body answering a `tool-calls` message.
pub fn tool_calls_response(results: &[ToolResult]) -> ToolCallsResponse<'_> {
    ToolCallsResponse { results }
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
    use proptest::prelude::*;
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
        // a tool-calls message without calls is refused, whatever the shape
        for body in [
            r#"{"message": {"type": "tool-calls"}}"#,
            r#"{"message": {"type": "tool-calls", "toolCallList": 5}}"#,
            r#"{"message": {"type": "tool-calls", "toolCallList": [], "toolCalls": []}}"#,
            r#"{"message": {"type": "tool-calls", "toolWithToolCallList": null}}"#,
        ] {
            assert_eq!(
                parse_message(body.as_bytes()),
                Err(WireError::NotVapiMessage(NO_TOOL_CALLS.to_owned())),
                "{body}"
            );
        }
    }

    #[test]
    fn at_most_twenty_tool_calls_are_read_from_one_message() {
        let message = |n: usize, key: &str| {
            let list: Vec<Value> = (0..n)
                .map(|i| json!({"id": format!("t{i}"), "function": {"name": "find_appointments", "arguments": {}}}))
                .collect();
            let mut message = json!({"type": "tool-calls"});
            message[key] = Value::Array(list);
            json!({ "message": message }).to_string()
        };
        for key in ["toolCallList", "toolCalls", "toolWithToolCallList"] {
            let ServerMessage::ToolCalls { calls, .. } =
                parse_message(message(MAX_TOOL_CALLS, key).as_bytes()).unwrap()
            else {
                panic!()
            };
            assert_eq!(calls.len(), 20);
            assert_eq!(
                parse_message(message(MAX_TOOL_CALLS + 1, key).as_bytes()),
                Err(WireError::TooManyToolCalls {
                    count: 21,
                    limit: 20
                })
            );
        }
        let refused = WireError::TooManyToolCalls {
            count: 21,
            limit: 20,
        }
        .to_string();
        assert!(refused.contains("at most 20"), "{refused}");
    }

    #[test]
    fn unexpected_types_read_as_absent_and_repeated_members_keep_the_last() {
        let m = parse_message(
            br#"{"message": {"type": "tool-calls", "call": {"id": 5, "customer": [1], "assistantId": "asst"},
                "customer": {"number": "+14155550123"},
                "toolCallList": [7, {"id": "a", "id": "b", "function": {"name": 3}, "name": "flat",
                    "arguments": null}, {"function": "x", "name": "n", "parameters": {"k": 1}}],
                "artifact": {"messages": [{"role": "user", "message": "hi"}], "deep": [[[[[[[[1e999]]]]]]]]}}}"#,
        )
        .unwrap();
        let ServerMessage::ToolCalls { calls, context } = m else {
            panic!()
        };
        assert_eq!(context.call_id, None);
        assert_eq!(context.customer_number.as_deref(), Some("+14155550123"));
        assert_eq!(context.assistant_id.as_deref(), Some("asst"));
        assert_eq!(calls.len(), 3);
        assert_eq!((calls[0].id.as_str(), calls[0].name.as_str()), ("", ""));
        // the function's name is given (not a string): the item's own name is not used
        assert_eq!((calls[1].id.as_str(), calls[1].name.as_str()), ("b", ""));
        assert_eq!(calls[1].arguments, Ok(Map::new()));
        assert_eq!(calls[2].name, "n");
        assert_eq!(calls[2].arguments.as_ref().unwrap()["k"], 1);
        let last = parse_message(
            br#"{"message": {"type": "status-update"}, "message": {"type": "tool-calls", "type": "function-call", "functionCall": {"name": "f"}}}"#,
        )
        .unwrap();
        assert!(matches!(last, ServerMessage::FunctionCall { ref call, .. } if call.name == "f"));
        // deeply nested arguments are that call's problem, not the request's
        let deep = format!(
            r#"{{"message": {{"type": "tool-calls", "toolCallList": [{{"id": "a", "function": {{"name": "x", "arguments": {}1{}}}}}]}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let ServerMessage::ToolCalls { calls, .. } = parse_message(deep.as_bytes()).unwrap() else {
            panic!()
        };
        assert!(calls[0].arguments.is_err());
        assert!(matches!(
            parse_message(b"[1, 2"),
            Err(WireError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_message(br#"{"message": {"type": "tool-calls"}} x"#),
            Err(WireError::MalformedJson(_))
        ));
    }

    /// The `serde_json::Value` reading this module used before, as the oracle.
    mod reference {
        use super::*;

        pub(super) fn parse_message(body: &[u8]) -> Result<ServerMessage, WireError> {
            let root: Value = serde_json::from_slice(body)
                .map_err(|e| WireError::MalformedJson(e.to_string()))?;
            let message = root
                .get("message")
                .filter(|m| m.is_object())
                .ok_or_else(|| {
                    WireError::NotVapiMessage("there is no \"message\" object".to_owned())
                })?;
            let kind = message.get("type").and_then(Value::as_str).ok_or_else(|| {
                WireError::NotVapiMessage("\"message.type\" is missing".to_owned())
            })?;
            let context = call_context(message);
            match kind {
                "tool-calls" => {
                    // The first non-empty list of the shapes VAPI uses; none: refused.
                    let list = ["toolCallList", "toolCalls", "toolWithToolCallList"]
                        .iter()
                        .filter_map(|key| message.get(*key).and_then(Value::as_array))
                        .find(|l| !l.is_empty())
                        .ok_or_else(|| WireError::NotVapiMessage(NO_TOOL_CALLS.to_owned()))?;
                    if list.len() > MAX_TOOL_CALLS {
                        return Err(WireError::TooManyToolCalls {
                            count: list.len(),
                            limit: MAX_TOOL_CALLS,
                        });
                    }
                    let calls = list.iter().map(read_tool_call).collect();
                    Ok(ServerMessage::ToolCalls { calls, context })
                }
                "function-call" => {
                    let fc = message.get("functionCall").unwrap_or(&Value::Null);
                    let name = fc.get("name").and_then(Value::as_str).unwrap_or_default();
                    let arguments =
                        read_arguments(fc.get("parameters").or_else(|| fc.get("arguments")));
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
    }

    /// A message-like JSON value: the members we read, of any type, among others.
    fn message_like() -> BoxedStrategy<Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..1000).prop_map(Value::from),
            prop_oneof![
                Just("tool-calls"),
                Just("function-call"),
                Just("status-update"),
                Just(""),
                Just("book_appointment"),
                Just("{\"date\": \"2030-03-12\"}"),
                Just("[1]"),
                Just("{nope"),
                Just("  "),
            ]
            .prop_map(Value::from),
        ];
        let key = prop_oneof![
            Just("message"),
            Just("type"),
            Just("toolCallList"),
            Just("toolCalls"),
            Just("toolWithToolCallList"),
            Just("toolCall"),
            Just("function"),
            Just("functionCall"),
            Just("name"),
            Just("id"),
            Just("arguments"),
            Just("parameters"),
            Just("call"),
            Just("customer"),
            Just("number"),
            Just("assistant"),
            Just("assistantId"),
            Just("phoneNumber"),
            Just("phoneNumberId"),
            Just("artifact"),
        ];
        leaf.prop_recursive(6, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(object),
            ]
        })
        .boxed()
    }

    fn object(members: Vec<(&'static str, Value)>) -> Value {
        Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    /// A tool call in any of the shapes, with members of any type.
    fn tool_call_like() -> BoxedStrategy<Value> {
        let value = message_like();
        let function = prop::collection::vec(
            (
                prop_oneof![Just("name"), Just("arguments"), Just("parameters")],
                value.clone(),
            ),
            0..4,
        )
        .prop_map(object);
        let member = prop_oneof![
            (Just("id"), value.clone()),
            (Just("name"), value.clone()),
            (Just("arguments"), value.clone()),
            (Just("parameters"), value.clone()),
            (Just("function"), function.clone()),
            (Just("function"), value.clone()),
        ];
        let call = prop::collection::vec(member, 0..6).prop_map(object);
        prop_oneof![
            call.clone(),
            (call.clone(), call).prop_map(|(outer, inner)| {
                let mut outer = outer;
                outer["toolCall"] = inner;
                outer
            }),
            value,
        ]
        .boxed()
    }

    /// A `tool-calls` or `function-call` message.
    fn tool_message() -> impl Strategy<Value = Value> {
        let list = prop::collection::vec(tool_call_like(), 0..3).prop_map(Value::Array);
        (
            prop_oneof![Just("tool-calls"), Just("function-call")],
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("toolCallList"),
                        Just("toolCalls"),
                        Just("toolWithToolCallList")
                    ],
                    list,
                ),
                0..3,
            ),
            tool_call_like(),
            message_like(),
        )
            .prop_map(|(kind, lists, function_call, call)| {
                let mut message = object(lists);
                message["type"] = Value::from(kind);
                message["functionCall"] = function_call;
                message["call"] = call;
                message
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn reads_tool_calls_as_the_value_reading_did(message in tool_message()) {
            let bytes = serde_json::to_vec(&serde_json::json!({"message": message})).unwrap();
            prop_assert_eq!(parse_message(&bytes), reference::parse_message(&bytes));
        }

        /// Whatever the shape, the members read are the ones the `Value`
        /// reading found, and a body is refused for the same reason.
        #[test]
        fn reads_what_the_value_reading_read(body in message_like()) {
            let bytes = serde_json::to_vec(&serde_json::json!({"message": body})).unwrap();
            let new = parse_message(&bytes);
            let old = reference::parse_message(&bytes);
            match (&new, &old) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(WireError::NotVapiMessage(_)), Err(WireError::NotVapiMessage(_))) => {}
                _ => prop_assert!(false, "new {:?} old {:?}", new, old),
            }
        }
    }

    #[test]
    fn the_tool_calls_answer_lists_the_results_in_order() {
        let call = |id: &str| ToolCall {
            id: id.into(),
            name: "n".into(),
            arguments: Ok(Map::new()),
        };
        let results = [
            ToolResult::ok(
                &call("a"),
                "yes",
                json!({"status": "ok", "slots": [{"start": "s"}]}),
            ),
            ToolResult::err(&call("b"), "no", json!({})),
        ];
        assert_eq!(
            serde_json::to_value(tool_calls_response(&results)).unwrap(),
            json!({"results": [
                {"toolCallId": "a", "name": "n", "result": "yes", "metadata": {"status": "ok", "slots": [{"start": "s"}]}},
                {"toolCallId": "b", "name": "n", "error": "no", "metadata": {}},
            ]})
        );
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
