//! The AWS SDK configuration, loaded once per process from the standard chain (environment,
//! profile, web identity, container and instance roles; `AWS_ENDPOINT_URL` for an emulator),
//! and checked for what every call needs: a region and credentials. What is missing is said
//! in one line with how to provide it; the provider chain's own account of what it tried goes
//! to the debug log.

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;

/// A region or credentials the chain could not find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsSetupError {
    #[error("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or `region` in the profile AWS_PROFILE names (~/.aws/config)")]
    NoRegion,
    #[error("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role (instance profile, ECS task role, EKS IRSA); TRAILWATCH_LOG=debug shows what was tried")]
    NoCredentials,
}

/// Loads the SDK configuration and checks that it has a region and that credentials can be
/// had.
pub async fn load() -> Result<SdkConfig, AwsSetupError> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    check(&sdk).await?;
    Ok(sdk)
}

/// The checks [`load`] makes, on a configuration made elsewhere.
pub async fn check(sdk: &SdkConfig) -> Result<(), AwsSetupError> {
    if sdk.region().is_none() {
        return Err(AwsSetupError::NoRegion);
    }
    let provider = sdk
        .credentials_provider()
        .ok_or(AwsSetupError::NoCredentials)?;
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::debug!(error = %aws_sdk_sts::error::DisplayErrorContext(&e), "credential provider chain");
            Err(AwsSetupError::NoCredentials)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_fits_on_one_short_line() {
        for e in [AwsSetupError::NoRegion, AwsSetupError::NoCredentials] {
            let text = e.to_string();
            assert!(text.len() <= 300, "{} characters: {text}", text.len());
            assert!(!text.contains('\n'));
        }
    }
}
