//! HTTP webhooks: the generic alert JSON, Slack, or PagerDuty Events API v2, with optional
//! HMAC-SHA256 signatures, custom headers, timeouts and retries that honour `Retry-After`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{ExponentialBuilder, Retryable};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::{Message, Partial, SinkSetupError};
use crate::config::{WebhookFormat, WebhookSinkConfig};

pub const SIGNATURE_HEADER: &str = "x-trailwatch-signature";
pub const TIMESTAMP_HEADER: &str = "x-trailwatch-timestamp";

pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    format: WebhookFormat,
    secret: Option<String>,
    routing_key: Option<String>,
    max_retries: usize,
}

/// A URL safe to log: scheme and host only (paths and queries often carry tokens).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "<invalid url>".into(),
    }
}

/// Why one request failed; `retry_after` when the server said how long to wait.
#[derive(Debug)]
struct HttpFailure {
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl WebhookSink {
    pub fn new(sink: &str, cfg: &WebhookSinkConfig) -> Result<WebhookSink, SinkSetupError> {
        let mut headers = HeaderMap::new();
        // The value is never shown: headers carry tokens.
        let bad = |header: &str, message| SinkSetupError::Header {
            sink: sink.to_string(),
            header: header.to_string(),
            message,
        };
        for (k, v) in &cfg.headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad(k, "not a header name"))?;
            let value = HeaderValue::from_str(v).map_err(|_| bad(k, "not a header value"))?;
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .default_headers(headers)
            .user_agent(concat!("trailwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| SinkSetupError::Client {
                sink: sink.to_string(),
                source,
            })?;
        Ok(WebhookSink {
            client,
            url: cfg.url.clone(),
            format: cfg.format,
            secret: cfg.secret.clone(),
            routing_key: cfg.routing_key.clone(),
            max_retries: cfg.max_retries,
        })
    }

    /// POSTs each alert, retrying what may pass later. Once `stop` is cancelled it starts no
    /// new request and no retry; a request already made finishes, and what was accepted is
    /// reported as accepted.
    pub async fn send<M: Message>(
        &self,
        alerts: &[&M],
        stop: &CancellationToken,
    ) -> Result<(), Partial> {
        for (i, a) in alerts.iter().enumerate() {
            if stop.is_cancelled() {
                return Err(Partial {
                    accepted: (0..i).collect(),
                    error: "not sent: shutting down".into(),
                });
            }
            let body = self.body(*a);
            let wake = stop.clone();
            let result = (|| self.post(&body))
                .retry(
                    ExponentialBuilder::default()
                        .with_jitter()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_delay(Duration::from_secs(30))
                        .with_max_times(self.max_retries),
                )
                // A shutdown ends the wait before a retry, and the retry with it.
                .sleep(move |wait| {
                    let stop = wake.clone();
                    async move { stop.run_until_cancelled_owned(tokio::time::sleep(wait)).await; }
                })
                .when(|e: &HttpFailure| e.retryable && !stop.is_cancelled())
                .adjust(|e: &HttpFailure, backoff| match (e.retry_after, backoff) {
                    // Retry-After wins over our own schedule, but never past the last try.
                    (Some(after), Some(_)) => Some(after.min(Duration::from_secs(300))),
                    (_, backoff) => backoff,
                })
                .notify(|e: &HttpFailure, wait| {
                    tracing::debug!(url = %redact_url(&self.url), error = %e.message, ?wait, "webhook retry")
                })
                .await;
            if let Err(e) = result {
                return Err(Partial {
                    accepted: (0..i).collect(),
                    error: format!("POST {}: {}", redact_url(&self.url), e.message),
                });
            }
        }
        Ok(())
    }

    /// The probe's request, as it may be shown.
    pub fn probe_call(&self) -> String {
        format!("HEAD {}", redact_url(&self.url))
    }

    /// A HEAD request with the sink's headers and timeout: any HTTP answer shows the
    /// endpoint can be reached (many answer 404 or 405 to HEAD); a refused connection, a
    /// TLS error or a timeout does not.
    pub async fn probe(&self) -> Result<String, String> {
        match self.client.head(&self.url).send().await {
            Ok(r) => Ok(format!("HTTP {}", r.status())),
            Err(e) => Err(describe(e)),
        }
    }

    async fn post(&self, body: &str) -> Result<(), HttpFailure> {
        let mut req = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(secret) = &self.secret {
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
                .to_string();
            req = req
                .header(TIMESTAMP_HEADER, &ts)
                .header(SIGNATURE_HEADER, sign(secret, &ts, body));
        }
        let resp = req.send().await.map_err(|e| HttpFailure {
            // Without the URL: reqwest's message would otherwise include it.
            message: format!("request failed: {}", describe(e)),
            retryable: true,
            retry_after: None,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(HttpFailure {
            message: format!("HTTP {status}"),
            retryable: status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408,
            retry_after,
        })
    }

    fn body(&self, m: &impl Message) -> String {
        match self.format {
            WebhookFormat::Generic => serde_json::to_string(m).expect("messages serialize"),
            WebhookFormat::Slack => m.slack().to_string(),
            WebhookFormat::Pagerduty => m
                .pagerduty(self.routing_key.as_deref().unwrap_or(""))
                .to_string(),
        }
    }
}

/// A request error with its causes (reqwest's own message is only "error sending request";
/// the cause says refused, TLS, timeout), without the URL, which may carry a token.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// `sha256=` + hex(HMAC-SHA256(secret, timestamp + "." + body)).
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::message::Message;

    #[test]
    fn signature_matches_a_known_value() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign("secret", "1700000000", r#"{"a":1}"#),
            "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    #[test]
    fn slack_and_pagerduty_bodies() {
        let a = crate::alert::test_alert::alert(10);
        let pd = a.pagerduty("KEY");
        assert_eq!(pd["routing_key"], "KEY");
        assert_eq!(pd["event_action"], "trigger");
        assert_eq!(pd["dedup_key"], a.alert_id.as_str());
        assert_eq!(pd["payload"]["severity"], "critical");
        assert_eq!(pd["payload"]["source"], "111122223333");
        assert_eq!(pd["payload"]["custom_details"]["rule"]["name"], "t");
        let slack = a.slack();
        assert!(slack["text"].as_str().unwrap().starts_with("[critical] "));
        assert_eq!(slack["blocks"][0]["type"], "header");
    }

    #[test]
    fn a_finding_in_slack_and_pagerduty() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/findings/guardduty.json"
        );
        let event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut f = crate::alert::service_finding::from_event(&event)
            .unwrap()
            .findings
            .remove(0);
        f.posture = Some(crate::audit::PrincipalPosture {
            arn: "arn:aws:iam::111122223333:role/web-server".into(),
            admin: Some(true),
            failing: vec!["role-unused".into()],
            ..Default::default()
        });
        let pd = f.pagerduty("KEY");
        assert_eq!(pd["event_action"], "trigger");
        assert_eq!(
            pd["dedup_key"], "trailwatch-finding:guardduty:16afba5c5c43e07c9e3e5e2e544e95df",
            "every update of a finding goes to one incident"
        );
        assert_eq!(pd["payload"]["severity"], "error");
        assert_eq!(pd["payload"]["component"], "guardduty");
        assert_eq!(pd["links"][0]["href"], f.console_url.as_str());
        let slack = f.slack();
        assert_eq!(
            slack["text"],
            "[high] GuardDuty: Credentials for instance role web-server used from external IP address."
        );
        let fields = slack["blocks"][2]["fields"].as_array().unwrap();
        assert_eq!(fields[3]["text"], "*Posture*\nadmin; fails role-unused");
        assert!(slack["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .ends_with("|Open in the console>"));
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact_url("not a url"), "<invalid url>");
    }
}
