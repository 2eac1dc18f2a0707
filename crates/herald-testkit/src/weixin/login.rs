//! QR login (§B.3): `get_bot_qrcode` (POST with `local_token_list`, or the older GET)
//! and `get_qrcode_status`, answering each QR's scripted progression one step a poll.
//!
//! The real status poll is a long poll; here each poll answers at once with the next
//! step, so a test scripts exactly what the client sees. An unknown `qrcode` answers
//! `expired` (what the real service does is not known; that is the answer a client
//! must already handle by fetching a new code).

use serde_json::{Value, json};

use super::checks::{self, Refusal};
use super::server::{Ctx, Reply};
use super::state::Shared;
use super::types::{QrLogin, QrStep};

/// What a QR code's status polls answer when no script was set: scanned, then confirmed
/// — or, when the client already holds this bot's token, `binded_redirect`.
fn default_script(local_tokens: Option<&[String]>, token: &str) -> Vec<QrStep> {
    if local_tokens.is_some_and(|list| list.iter().any(|t| t == token)) {
        vec![QrStep::BindedRedirect]
    } else {
        vec![QrStep::Wait, QrStep::Scaned, QrStep::Confirmed]
    }
}

fn local_token_list(body: &[u8]) -> Result<Option<Vec<String>>, Refusal> {
    let v = |why: &str| Refusal::Violation(why.to_string());
    let value: Value = serde_json::from_slice(body).map_err(|_| v("the get_bot_qrcode body is not JSON"))?;
    let Some(obj) = value.as_object() else { return Err(v("the get_bot_qrcode body is not a JSON object")) };
    match obj.get("local_token_list") {
        None => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > 10 {
                return Err(v("local_token_list holds more than the 10 newest tokens"));
            }
            items
                .iter()
                .map(|t| t.as_str().map(str::to_string).ok_or_else(|| v("local_token_list holds a non-string")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        Some(_) => Err(v("local_token_list is not an array")),
    }
}

pub fn get_bot_qrcode(shared: &Shared, ctx: &Ctx) -> Reply {
    let checked = (|| {
        checks::qr_headers(&ctx.headers, &shared.id)?;
        if ctx.query("bot_type") != Some("3") {
            return Err(Refusal::Violation("get_bot_qrcode needs ?bot_type=3".into()));
        }
        match ctx.method.as_str() {
            "GET" => Ok(None),
            "POST" => {
                let ct = ctx.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
                if !ct.starts_with("application/json") {
                    return Err(Refusal::Violation("a get_bot_qrcode POST is application/json".into()));
                }
                local_token_list(&ctx.body)
            }
            other => Err(Refusal::Violation(format!("get_bot_qrcode takes GET or POST, not {other}"))),
        }
    })();
    let tokens = match checked {
        Ok(t) => t,
        Err(r) => return Reply::refusal(r),
    };
    let qrcode = hex::encode(rand::random::<[u8; 16]>());
    let img = format!("https://liteapp.weixin.qq.com/q/7GiQu1?qrcode={qrcode}&bot_type=3");
    shared.update(|s| {
        let steps = s.qr_scripts.pop_front().unwrap_or_else(|| default_script(tokens.as_deref(), &shared.id.token));
        s.qrs.insert(
            qrcode.clone(),
            QrLogin {
                qrcode: qrcode.clone(),
                qrcode_img_content: img.clone(),
                method: ctx.method.to_string(),
                local_token_list: tokens,
                steps,
                answered: Vec::new(),
                verify_codes: Vec::new(),
                wrong_codes: 0,
            },
        );
    });
    Reply::json(&json!({"ret": 0, "qrcode": qrcode, "qrcode_img_content": img}))
}

fn answer(shared: &Shared, step: &QrStep) -> Value {
    let mut v = json!({"ret": 0, "status": step.status()});
    match step {
        QrStep::Confirmed => {
            v["bot_token"] = json!(shared.id.token);
            v["baseurl"] = json!(shared.id.base_url);
            v["ilink_bot_id"] = json!(shared.id.bot_id);
            v["ilink_user_id"] = json!(shared.id.owner_user_id);
        }
        QrStep::ScanedButRedirect => v["redirect_host"] = json!(shared.id.redirect_host),
        _ => {}
    }
    v
}

/// Takes the QR's current step (the last one stays).
fn advance(qr: &mut QrLogin) -> QrStep {
    let step = qr.steps.first().cloned().unwrap_or(QrStep::Wait);
    if qr.steps.len() > 1 {
        qr.steps.remove(0);
    }
    step
}

pub fn get_qrcode_status(shared: &Shared, ctx: &Ctx) -> Reply {
    if let Err(r) = checks::qr_headers(&ctx.headers, &shared.id) {
        return Reply::refusal(r);
    }
    if ctx.method != axum::http::Method::GET {
        return Reply::violation(format!("get_qrcode_status takes GET, not {}", ctx.method));
    }
    let Some(qrcode) = ctx.query("qrcode").filter(|q| !q.is_empty()) else {
        return Reply::violation("get_qrcode_status needs ?qrcode=");
    };
    let code = ctx.query("verify_code").map(str::to_string);
    let attempts = shared.lock().config.verify_attempts;
    shared.update(|s| {
        let Some(qr) = s.qrs.get_mut(qrcode) else {
            return Reply::json(&json!({"ret": 0, "status": "expired"}));
        };
        if let Some(c) = &code {
            qr.verify_codes.push(c.clone());
        }
        let step = match qr.steps.first().cloned() {
            Some(QrStep::NeedVerifycode { code: want }) => match &code {
                Some(got) if *got == want => {
                    qr.wrong_codes = 0;
                    qr.steps.remove(0);
                    if qr.steps.is_empty() {
                        qr.steps.push(QrStep::Scaned);
                    }
                    advance(qr)
                }
                Some(_) => {
                    qr.wrong_codes += 1;
                    if qr.wrong_codes >= attempts {
                        qr.steps = vec![QrStep::VerifyCodeBlocked];
                    }
                    qr.steps[0].clone()
                }
                None => qr.steps[0].clone(),
            },
            _ => advance(qr),
        };
        qr.answered.push(step.status().to_string());
        Reply::json(&answer(shared, &step))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_token_is_bound_already() {
        assert_eq!(default_script(Some(&["t".into()]), "t"), vec![QrStep::BindedRedirect]);
        assert_eq!(default_script(None, "t").last(), Some(&QrStep::Confirmed));
    }

    #[test]
    fn token_lists_are_checked() {
        assert_eq!(local_token_list(br#"{"local_token_list":["a","b"]}"#), Ok(Some(vec!["a".into(), "b".into()])));
        assert_eq!(local_token_list(b"{}"), Ok(None));
        assert!(local_token_list(br#"{"local_token_list":[1]}"#).is_err());
        assert!(local_token_list(br#"{"local_token_list":"a"}"#).is_err());
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        assert!(local_token_list(json!({"local_token_list": eleven}).to_string().as_bytes()).is_err());
    }

    #[test]
    fn steps_advance_and_the_last_repeats() {
        let mut qr = QrLogin {
            qrcode: "q".into(),
            qrcode_img_content: String::new(),
            method: "GET".into(),
            local_token_list: None,
            steps: vec![QrStep::Wait, QrStep::Expired],
            answered: Vec::new(),
            verify_codes: Vec::new(),
            wrong_codes: 0,
        };
        assert_eq!(advance(&mut qr), QrStep::Wait);
        assert_eq!(advance(&mut qr), QrStep::Expired);
        assert_eq!(advance(&mut qr), QrStep::Expired);
    }
}
