//! The current date and time, so the model does not guess.

use async_trait::async_trait;
use jiff::Zoned;
use jiff::tz::TimeZone;
use serde_json::json;

use super::{Tool, ToolContext, ToolError};
use crate::provider::ToolSpec;

/// Tells the time, in the configured zone or one the model asks for.
pub struct ClockTool {
    default_zone: TimeZone,
}

impl ClockTool {
    /// `zone` is an IANA name; `None` uses the system's zone.
    pub fn new(zone: Option<&str>) -> Result<Self, String> {
        let default_zone = match zone {
            Some(name) => TimeZone::get(name).map_err(|e| format!("unknown time zone `{name}`: {e}"))?,
            None => TimeZone::system(),
        };
        Ok(ClockTool { default_zone })
    }
}

#[async_trait]
impl Tool for ClockTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "clock".into(),
            description: "Get the current date, time, weekday and UTC offset. Optionally in another IANA time zone."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "timezone": {"type": "string", "description": "IANA time zone, e.g. Asia/Shanghai. Omit for the user's zone."}
                },
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, args: serde_json::Value, _ctx: &ToolContext) -> Result<String, ToolError> {
        let zone = match args.get("timezone").and_then(|v| v.as_str()).filter(|s| !s.trim().is_empty()) {
            Some(name) => TimeZone::get(name.trim()).map_err(|_| {
                ToolError::InvalidArguments(format!(
                    "unknown time zone `{name}`; use an IANA name such as Europe/Berlin"
                ))
            })?,
            None => self.default_zone.clone(),
        };
        let now = Zoned::now().with_time_zone(zone);
        let zone_name = now.time_zone().iana_name().unwrap_or("local").to_string();
        Ok(json!({
            "iso8601": now.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            "date": now.strftime("%Y-%m-%d").to_string(),
            "time": now.strftime("%H:%M:%S").to_string(),
            "weekday": now.strftime("%A").to_string(),
            "timezone": zone_name,
            "unix": now.timestamp().as_second(),
        })
        .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_time_in_requested_zone() {
        let clock = ClockTool::new(Some("UTC")).unwrap();
        let out: serde_json::Value =
            serde_json::from_str(&clock.call(json!({}), &ToolContext::default()).await.unwrap()).unwrap();
        assert!(out["iso8601"].as_str().unwrap().ends_with("+00:00"));
        let unix = out["unix"].as_i64().unwrap();
        assert!((unix - jiff::Timestamp::now().as_second()).abs() < 5);
        let tokyo: serde_json::Value = serde_json::from_str(
            &clock.call(json!({"timezone": "Asia/Tokyo"}), &ToolContext::default()).await.unwrap(),
        )
        .unwrap();
        assert!(tokyo["iso8601"].as_str().unwrap().ends_with("+09:00"));
        assert_eq!(tokyo["timezone"], "Asia/Tokyo");
    }

    #[tokio::test]
    async fn unknown_zone_is_an_argument_error() {
        let clock = ClockTool::new(None).unwrap();
        let err = clock.call(json!({"timezone": "Mars/Olympus"}), &ToolContext::default()).await.unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        assert!(ClockTool::new(Some("Nowhere/Nothing")).is_err());
    }
}
