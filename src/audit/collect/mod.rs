//! Reading the account through the AWS SDK into an [`Inventory`]. Every call that fails
//! becomes the `Err` of its part, naming the call and the permission; the rest goes on.
//! List calls paginate, independent calls run together, per-resource calls are bounded by
//! `audit.concurrency`; throttling is retried by the SDK's standard retry.

mod iam;
mod regional;
mod scoped;

pub use scoped::inventory as scoped_inventory;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};

use super::inventory::{ApiError, Inventory};
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
        let sdk = base
            .to_builder()
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build();
        Account::identify(sdk).await
    }

    pub fn regions(&self, settings: &AuditConfig) -> Vec<String> {
        if settings.regions.is_empty() {
            vec![self
                .sdk
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into())]
        } else {
            settings.regions.clone()
        }
    }
}

/// Reads everything the checks need from one account.
pub async fn inventory(account: &Account, settings: &AuditConfig) -> Inventory {
    let iam = aws_sdk_iam::Client::new(&account.sdk);
    let regions = account.regions(settings);
    let (report, auth, root_mfa, summary, password, certs, trails) = tokio::join!(
        iam::credential_report(&iam, settings.credential_report_timeout),
        iam::authorization(&iam),
        iam::root_virtual_mfa(&iam),
        iam::account_summary(&iam),
        iam::password_policy(&iam),
        iam::server_certificates(&iam),
        regional::trails(&account.sdk, &regions[0]),
    );
    let activity = match &auth {
        Ok(a) => iam::service_activity(&iam, a, settings.concurrency).await,
        Err(e) => Err(e.clone()),
    };
    let server_certs = certs.as_ref().ok().cloned().unwrap_or_default();
    let mut regional = Vec::new();
    for region in &regions {
        regional
            .push(regional::read(&account.sdk, region, &server_certs, settings.concurrency).await);
    }
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
        regions: regional,
    }
}

/// An SDK error as one line: the service's code and message; the HTTP status when the
/// endpoint answered without a code (an API it does not implement); the cause when no answer
/// came (no credentials, no network), cut short: the chain can run to kilobytes.
pub fn describe<E>(e: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => match e.raw_response() {
            Some(raw) => format!(
                "HTTP {} without an AWS error code (is the API implemented at this endpoint?)",
                raw.status().as_u16()
            ),
            None => {
                let full = DisplayErrorContext(e).to_string();
                match full.char_indices().nth(300) {
                    Some((cut, _)) => format!("{}…", &full[..cut]),
                    None => full,
                }
            }
        },
    }
}

pub fn api_error<E>(call: &'static str, permission: &'static str, e: &SdkError<E>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    ApiError {
        call,
        permission,
        message: describe(e),
    }
}

/// The error code of an SDK error, if the service answered with one.
pub fn code<E: ProvideErrorMetadata>(e: &SdkError<E>) -> Option<&str> {
    e.code()
}

pub fn time(t: Option<&aws_sdk_iam::primitives::DateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
