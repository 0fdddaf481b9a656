//! The outbound VAPI API (`POST {VAPI_BASE_URL}/call`, `POST /call/web`) with
//! the private API key: the domain's `VoicePlatform` port.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use voice_scheduler_domain::VapiId;
use voice_scheduler_domain::dialer::{
    OutboundCall, PlacedCall, PlatformError, VoicePlatform, WebCall,
};

/// VAPI's address.
pub const DEFAULT_BASE_URL: &str = "https://api.vapi.ai";
/// How long one request to VAPI may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A client of VAPI's API. Without an API key every call answers
/// [`PlatformError::NotConfigured`].
#[derive(Clone)]
pub struct VapiClient {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
}

impl VapiClient {
    pub fn new(base_url: &str, api_key: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, PlatformError> {
        let key = self
            .api_key
            .as_deref()
            .ok_or(PlatformError::NotConfigured)?;
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                PlatformError::Unavailable(if e.is_timeout() {
                    "no answer within 10 seconds".to_owned()
                } else {
                    "the request could not be sent".to_owned()
                })
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|_| PlatformError::Unavailable("the answer could not be read".to_owned()))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        let message = vapi_message(&json).unwrap_or_else(|| format!("HTTP {status}"));
        if status.is_client_error() {
            tracing::warn!(%status, %message, "VAPI refused a request");
            Err(PlatformError::Rejected(message))
        } else {
            tracing::warn!(%status, "VAPI failed a request");
            Err(PlatformError::Unavailable(format!(
                "VAPI answered {status}"
            )))
        }
    }
}

/// VAPI's error text: `message` (a string or a list of strings) or `error`.
fn vapi_message(body: &Value) -> Option<String> {
    match &body["message"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => body["error"].as_str().map(str::to_owned),
    }
    .filter(|m| !m.is_empty())
}

#[async_trait]
impl VoicePlatform for VapiClient {
    async fn place_call(&self, call: &OutboundCall) -> Result<PlacedCall, PlatformError> {
        let mut customer = json!({"number": call.customer.as_str()});
        if let Some(name) = &call.customer_name {
            customer["name"] = json!(name.as_str());
        }
        let body = json!({
            "assistantId": call.assistant_id.as_str(),
            "phoneNumberId": call.phone_number_id.as_str(),
            "customer": customer,
        });
        let answer = self.post("/call", &body).await?;
        let id = answer["id"]
            .as_str()
            .ok_or_else(|| PlatformError::Unavailable("VAPI's answer has no call id".to_owned()))?;
        Ok(PlacedCall {
            id: id.to_owned(),
            status: answer["status"].as_str().unwrap_or("queued").to_owned(),
        })
    }

    async fn web_call(&self, assistant_id: &VapiId) -> Result<WebCall, PlatformError> {
        let answer = self
            .post("/call/web", &json!({"assistantId": assistant_id.as_str()}))
            .await?;
        let (Some(id), Some(url)) = (answer["id"].as_str(), answer["webCallUrl"].as_str()) else {
            return Err(PlatformError::Unavailable(
                "VAPI's answer has no call id or webCallUrl".to_owned(),
            ));
        };
        Ok(WebCall {
            id: id.to_owned(),
            assistant_id: assistant_id.as_str().to_owned(),
            web_call_url: url.to_owned(),
        })
    }
}
