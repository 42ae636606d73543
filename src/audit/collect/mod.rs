//! Reading the account through the AWS SDK into an [`Inventory`]. Every call that fails
//! becomes the `Err` of its part, naming the call and the permission; the rest goes on.
//! List calls paginate, independent calls run together, per-resource calls are bounded by
//! `audit.concurrency`; throttling is retried by the SDK's standard retry.

mod iam;
pub mod organization;
mod regional;
mod regions;
mod resources;
mod scoped;

pub use scoped::inventory as scoped_inventory;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::inventory::{ApiError, Inventory, Read};
use super::settings::AuditConfig;

/// The SDK configuration of one account (the default chain, or a role assumed in it).
#[derive(Clone)]
pub struct Account {
    pub sdk: aws_config::SdkConfig,
    /// From STS GetCallerIdentity.
    pub id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("sts:GetCallerIdentity failed, so no account can be audited: {0}")]
    Identity(String),
    #[error("sts:AssumeRole of {role} failed (the caller needs sts:AssumeRole on it, and the role must trust the caller's account): {message}")]
    AssumeRole { role: String, message: String },
    #[error("organizations:ListAccounts failed, so the organization's accounts are unknown (run from the management account or a delegated administrator): {0}")]
    Organization(String),
}

impl Account {
    /// The account the configuration's credentials belong to.
    pub async fn identify(sdk: aws_config::SdkConfig) -> Result<Account, CollectError> {
        let sts = aws_sdk_sts::Client::new(&sdk);
        let out = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| CollectError::Identity(describe(&e)))?;
        let id = out
            .account()
            .ok_or_else(|| CollectError::Identity("the answer has no account".into()))?
            .to_string();
        Ok(Account { sdk, id })
    }

    /// The account reached by assuming `role_arn` with the base configuration's credentials.
    pub async fn assume(
        base: &aws_config::SdkConfig,
        role_arn: &str,
        external_id: Option<&str>,
    ) -> Result<Account, CollectError> {
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("trailwatch-audit")
            .configure(base);
        if let Some(id) = external_id {
            provider = provider.external_id(id);
        }
        let provider = provider.build().await;
        // Asked now, so a role that cannot be assumed says so, not a later call's failure.
        if let Err(e) =
            aws_sdk_sts::config::ProvideCredentials::provide_credentials(&provider).await
        {
            let full = DisplayErrorContext(&e).to_string();
            return Err(CollectError::AssumeRole {
                role: role_arn.to_string(),
                message: cut(&full),
            });
        }
        let sdk = base
            .to_builder()
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build();
        Account::identify(sdk).await
    }

    /// The regions to audit: `audit.regions`, else every region the account has enabled
    /// (the `Err` when they could not be listed: then the home region alone).
    pub async fn regions(&self, settings: &AuditConfig) -> (Vec<String>, Read<Vec<String>>) {
        if !settings.regions.is_empty() {
            return (settings.regions.clone(), None);
        }
        let home = Account::home(&self.sdk, settings);
        match regions::enabled(&self.sdk, &home).await {
            Ok(list) => (list.clone(), Some(Ok(list))),
            Err(e) => (vec![home], Some(Err(e))),
        }
    }

    /// The first audited region: where account-wide findings are filed.
    pub fn home(sdk: &aws_config::SdkConfig, settings: &AuditConfig) -> String {
        settings.regions.first().cloned().unwrap_or_else(|| {
            sdk.region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into())
        })
    }
}

/// Reads everything the checks need from one account.
pub async fn inventory(account: &Account, settings: &AuditConfig) -> Inventory {
    let iam = aws_sdk_iam::Client::new(&account.sdk);
    let home = Account::home(&account.sdk, settings);
    let (report, auth, root_mfa, summary, password, certs, trails, buckets, (regions, listed)) = tokio::join!(
        iam::credential_report(&iam, settings.credential_report_timeout),
        iam::authorization(&iam),
        iam::root_virtual_mfa(&iam),
        iam::account_summary(&iam),
        iam::password_policy(&iam),
        iam::server_certificates(&iam),
        regional::trails(&account.sdk, &home),
        resources::buckets(&account.sdk, None, settings.concurrency),
        account.regions(settings),
    );
    let activity = match &auth {
        Ok(a) => iam::service_activity(&iam, a, settings.concurrency).await,
        Err(e) => Err(e.clone()),
    };
    let server_certs = certs.as_ref().ok().cloned().unwrap_or_default();
    // Regions side by side, each with its own calls side by side: `concurrency` regions at
    // a time keeps the calls in flight near what one region's per-resource reads allow.
    let (sdk, known, concurrency) = (&account.sdk, &server_certs, settings.concurrency);
    let regional: Vec<_> = futures_util::stream::iter(regions)
        .map(|region| async move { regional::read(sdk, &region, known, concurrency).await })
        .buffered(concurrency)
        .collect()
        .await;
    Inventory {
        account: account.id.clone(),
        credential_report: Some(report),
        authorization: Some(auth),
        root_virtual_mfa: Some(root_mfa),
        account_summary: Some(summary),
        password_policy: Some(password),
        server_certificates: Some(certs),
        service_activity: Some(activity),
        trails: Some(trails),
        buckets: Some(buckets),
        regions: regional,
        enabled_regions: listed,
        usage: None,
    }
}

/// The AWS partition a region belongs to, as ARNs name it.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// An SDK error as one line: the service's code and message (read from the body when the SDK
/// could not parse it); the HTTP status when the endpoint answered without either (an API it
/// does not implement); the cause when no answer came (no credentials, no network), cut
/// short: the chain can run to kilobytes.
pub fn describe<E>(e: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => match e.raw_response() {
            Some(raw) => {
                let status = raw.status().as_u16();
                let body = raw
                    .body()
                    .bytes()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                match body_error(&body) {
                    Some(text) => format!("{text} (HTTP {status})"),
                    None => format!(
                        "HTTP {status} without an AWS error code (is the API implemented at this endpoint?)"
                    ),
                }
            }
            None => cut(&DisplayErrorContext(e).to_string()),
        },
    }
}

/// An error chain cut short: it can run to kilobytes.
fn cut(full: &str) -> String {
    match full.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &full[..at]),
        None => full.to_string(),
    }
}

/// `Code: Message` from an error body the SDK could not parse: XML in another protocol's
/// shape (`<Errors><Error>`, as some emulators and proxies answer) or JSON.
fn body_error(body: &str) -> Option<String> {
    let tag = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].trim().to_string())
    };
    let (code, message) = match (tag("Code"), tag("Message")) {
        (None, None) => {
            let v: serde_json::Value = serde_json::from_str(body).ok()?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            (
                field("__type").or_else(|| field("code")),
                field("message").or_else(|| field("Message")),
            )
        }
        found => found,
    };
    match (code, message) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    }
}

/// The failed call as the audit reports it. Every call the audit makes needs the IAM
/// permission of the same name (`iam:GetAccountAuthorizationDetails` and so on).
pub fn api_error<E>(call: &'static str, e: &SdkError<E>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    ApiError {
        call,
        message: describe(e),
    }
}

/// Every item of a paginated list call, or the call's failure.
macro_rules! all_items {
    ($request:expr, $call:literal) => {{
        let items: Result<Vec<_>, _> = $request.into_paginator().items().send().try_collect().await;
        items.map_err(|e| $crate::audit::collect::api_error($call, &e))
    }};
}
pub(crate) use all_items;

/// The error code of an SDK error, if the service answered with one.
pub fn code<E: ProvideErrorMetadata>(e: &SdkError<E>) -> Option<&str> {
    e.code()
}

pub fn time(t: Option<&aws_sdk_iam::primitives::DateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::body_error;

    #[test]
    fn error_bodies_in_other_shapes() {
        let xml = "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: u is not authorized</Message></Error></Errors></ErrorResponse>";
        assert_eq!(
            body_error(xml).as_deref(),
            Some("AccessDenied: User: u is not authorized")
        );
        let json = r#"{"__type":"AccessDeniedException","message":"no"}"#;
        assert_eq!(
            body_error(json).as_deref(),
            Some("AccessDeniedException: no")
        );
        assert_eq!(
            body_error("<!doctype html><title>500 Internal Server Error</title>"),
            None
        );
    }
}
