//! The IAM reads: the credential report, the authorization details, root MFA, the account
//! summary, the password policy, server certificates and service last accessed data.

use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};

use super::{all_items, api_error, code, time};
use crate::audit::credential_report::CredentialReport;
use crate::audit::inventory::*;
use crate::audit::policy::decode_document;

type Client = aws_sdk_iam::Client;

/// GenerateCredentialReport until it is ready (AWS reuses a report up to 4 hours old), then
/// GetCredentialReport.
pub async fn credential_report(
    iam: &Client,
    timeout: Duration,
) -> Result<CredentialReport, ApiError> {
    use aws_sdk_iam::types::ReportStateType;
    let started = Instant::now();
    loop {
        let out = iam
            .generate_credential_report()
            .send()
            .await
            .map_err(|e| api_error("iam:GenerateCredentialReport", &e))?;
        if out.state() == Some(&ReportStateType::Complete) {
            break;
        }
        if started.elapsed() > timeout {
            return Err(ApiError {
                call: "iam:GenerateCredentialReport",
                message: format!(
                    "the report was not ready after {timeout:?} (audit.credential_report_timeout)"
                ),
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let out = iam
        .get_credential_report()
        .send()
        .await
        .map_err(|e| api_error("iam:GetCredentialReport", &e))?;
    let content = out.content().map(|b| b.as_ref()).unwrap_or_default();
    CredentialReport::parse_any(content).map_err(|e| ApiError {
        call: "iam:GetCredentialReport",
        message: e.to_string(),
    })
}

fn inline(list: &[aws_sdk_iam::types::PolicyDetail]) -> Vec<InlinePolicy> {
    list.iter()
        .map(|p| InlinePolicy {
            name: p.policy_name().unwrap_or_default().to_string(),
            document: decode_document(p.policy_document().unwrap_or_default()),
        })
        .collect()
}

fn boundary(b: Option<&aws_sdk_iam::types::AttachedPermissionsBoundary>) -> Option<String> {
    b.and_then(|b| b.permissions_boundary_arn().map(str::to_string))
}

fn tags(list: &[aws_sdk_iam::types::Tag]) -> Vec<(String, String)> {
    list.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn attached(list: &[aws_sdk_iam::types::AttachedPolicy]) -> Vec<String> {
    list.iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

/// Every user, group, role and customer managed policy, in one paginated call.
pub async fn authorization(iam: &Client) -> Result<Authorization, ApiError> {
    use aws_sdk_iam::types::EntityType;
    let err = |e| api_error("iam:GetAccountAuthorizationDetails", &e);
    let mut pages = iam
        .get_account_authorization_details()
        .filter(EntityType::User)
        .filter(EntityType::Group)
        .filter(EntityType::Role)
        .filter(EntityType::LocalManagedPolicy)
        .into_paginator()
        .send();
    let mut auth = Authorization::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(err)?;
        auth.users
            .extend(page.user_detail_list().iter().map(|u| User {
                name: u.user_name().unwrap_or_default().to_string(),
                arn: u.arn().unwrap_or_default().to_string(),
                id: u.user_id().unwrap_or_default().to_string(),
                inline: inline(u.user_policy_list()),
                attached: attached(u.attached_managed_policies()),
                groups: u.group_list().to_vec(),
                boundary: boundary(u.permissions_boundary()),
                tags: tags(u.tags()),
                created: time(u.create_date()),
            }));
        auth.groups
            .extend(page.group_detail_list().iter().map(|g| Group {
                name: g.group_name().unwrap_or_default().to_string(),
                arn: g.arn().unwrap_or_default().to_string(),
                inline: inline(g.group_policy_list()),
                attached: attached(g.attached_managed_policies()),
            }));
        auth.roles
            .extend(page.role_detail_list().iter().map(|r| Role {
                name: r.role_name().unwrap_or_default().to_string(),
                arn: r.arn().unwrap_or_default().to_string(),
                id: r.role_id().unwrap_or_default().to_string(),
                path: r.path().unwrap_or("/").to_string(),
                trust: r.assume_role_policy_document().map(decode_document),
                boundary: boundary(r.permissions_boundary()),
                tags: tags(r.tags()),
                created: time(r.create_date()),
                last_used: time(r.role_last_used().and_then(|u| u.last_used_date())),
                inline: inline(r.role_policy_list()),
                attached: attached(r.attached_managed_policies()),
            }));
        auth.policies.extend(page.policies().iter().map(|p| {
            ManagedPolicy {
                name: p.policy_name().unwrap_or_default().to_string(),
                arn: p.arn().unwrap_or_default().to_string(),
                attachment_count: p.attachment_count().unwrap_or(0),
                default_document: p
                    .policy_version_list()
                    .iter()
                    .find(|v| v.is_default_version())
                    .and_then(|v| v.document())
                    .map(decode_document),
            }
        }));
    }
    auth.aws_policies = aws_policies(iam, &auth).await;
    Ok(auth)
}

/// The AWS managed policies the account uses (attached, or as a boundary), with their
/// default documents: two calls each (GetPolicy for the default version, GetPolicyVersion
/// for its document), eight at a time. GetAccountAuthorizationDetails could return every AWS
/// managed policy instead, over a thousand documents, nearly all unused.
async fn aws_policies(iam: &Client, auth: &Authorization) -> Result<Vec<ManagedPolicy>, ApiError> {
    let mut arns: Vec<String> = auth
        .users
        .iter()
        .flat_map(|u| u.attached.iter().chain(&u.boundary))
        .chain(auth.groups.iter().flat_map(|g| &g.attached))
        .chain(
            auth.roles
                .iter()
                .flat_map(|r| r.attached.iter().chain(&r.boundary)),
        )
        .filter(|a| crate::audit::permissions::is_aws_managed(a))
        .cloned()
        .collect();
    arns.sort();
    arns.dedup();
    futures_util::stream::iter(arns)
        .map(|arn| aws_policy(iam, arn))
        .buffer_unordered(8)
        .try_collect()
        .await
}

async fn aws_policy(iam: &Client, arn: String) -> Result<ManagedPolicy, ApiError> {
    let policy = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| api_error("iam:GetPolicy", &e))?
        .policy;
    let version = policy
        .as_ref()
        .and_then(|p| p.default_version_id())
        .unwrap_or("v1")
        .to_string();
    let document = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(&version)
        .send()
        .await
        .map_err(|e| api_error("iam:GetPolicyVersion", &e))?
        .policy_version
        .and_then(|v| v.document)
        .map(|d| decode_document(&d));
    Ok(ManagedPolicy {
        name: arn.rsplit('/').next().unwrap_or_default().to_string(),
        attachment_count: policy.and_then(|p| p.attachment_count()).unwrap_or(0),
        arn,
        default_document: document,
    })
}

/// Whether a virtual MFA device is assigned to the root user.
pub async fn root_virtual_mfa(iam: &Client) -> Result<bool, ApiError> {
    use aws_sdk_iam::types::AssignmentStatusType;
    let devices: Vec<_> = all_items!(
        iam.list_virtual_mfa_devices()
            .assignment_status(AssignmentStatusType::Assigned),
        "iam:ListVirtualMFADevices"
    )?;
    Ok(devices.iter().any(|d| {
        d.user().is_some_and(|u| u.arn().ends_with(":root"))
            || d.serial_number().ends_with(":mfa/root-account-mfa-device")
    }))
}

pub async fn account_summary(iam: &Client) -> Result<AccountSummary, ApiError> {
    use aws_sdk_iam::types::SummaryKeyType as K;
    let out = iam
        .get_account_summary()
        .send()
        .await
        .map_err(|e| api_error("iam:GetAccountSummary", &e))?;
    let map = out.summary_map().cloned().unwrap_or_default();
    let on = |k: K| map.get(&k).copied().unwrap_or(0) > 0;
    Ok(AccountSummary {
        mfa_enabled: on(K::AccountMfaEnabled),
        access_keys_present: on(K::AccountAccessKeysPresent),
        signing_certificates_present: on(K::AccountSigningCertificatesPresent),
    })
}

/// None when the account has no password policy (NoSuchEntity).
pub async fn password_policy(iam: &Client) -> Result<Option<PasswordPolicy>, ApiError> {
    match iam.get_account_password_policy().send().await {
        Ok(out) => Ok(out.password_policy().map(|p| PasswordPolicy {
            min_length: p.minimum_password_length(),
            reuse_prevention: p.password_reuse_prevention(),
            max_age_days: p.max_password_age().filter(|_| p.expire_passwords()),
            require_uppercase: p.require_uppercase_characters(),
            require_lowercase: p.require_lowercase_characters(),
            require_numbers: p.require_numbers(),
            require_symbols: p.require_symbols(),
        })),
        Err(e) if code(&e) == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(api_error("iam:GetAccountPasswordPolicy", &e)),
    }
}

pub async fn server_certificates(iam: &Client) -> Result<Vec<ServerCertificate>, ApiError> {
    let certs: Vec<_> = all_items!(iam.list_server_certificates(), "iam:ListServerCertificates")?;
    Ok(certs
        .iter()
        .map(|c| ServerCertificate {
            name: c.server_certificate_name().to_string(),
            arn: c.arn().to_string(),
            expiration: time(c.expiration()),
        })
        .collect())
}

/// Service last accessed data for every user and (not service-linked) role. The first
/// failure stops the rest: a missing permission or an API the endpoint lacks fails them all
/// the same way, and thousands of identical failures help nobody.
pub async fn service_activity(
    iam: &Client,
    auth: &Authorization,
    concurrency: usize,
) -> Result<Vec<ServiceActivity>, ApiError> {
    // Owned, so the future holds no borrowing closures (it must be Send for any lifetime).
    let principals: Vec<(String, bool)> = auth
        .users
        .iter()
        .map(|u| (u.arn.clone(), false))
        .chain(
            auth.roles
                .iter()
                .filter(|r| !r.is_service_linked())
                .map(|r| (r.arn.clone(), true)),
        )
        .collect();
    futures_util::stream::iter(principals)
        .map(|(arn, is_role)| {
            let iam = iam.clone();
            async move {
                let services = last_accessed(&iam, &arn).await?;
                Ok(ServiceActivity {
                    arn,
                    is_role,
                    services,
                })
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await
}

async fn last_accessed(
    iam: &Client,
    arn: &str,
) -> Result<Vec<(String, Option<chrono::DateTime<chrono::Utc>>)>, ApiError> {
    use aws_sdk_iam::types::JobStatusType;
    let job = iam
        .generate_service_last_accessed_details()
        .arn(arn)
        .send()
        .await
        .map_err(|e| api_error("iam:GenerateServiceLastAccessedDetails", &e))?;
    let job_id = job.job_id().unwrap_or_default().to_string();
    loop {
        let out = iam
            .get_service_last_accessed_details()
            .job_id(&job_id)
            .send()
            .await
            .map_err(|e| api_error("iam:GetServiceLastAccessedDetails", &e))?;
        match out.job_status() {
            JobStatusType::Completed => {
                return Ok(out
                    .services_last_accessed()
                    .iter()
                    .map(|s| {
                        (
                            s.service_namespace().to_string(),
                            time(s.last_authenticated()),
                        )
                    })
                    .collect())
            }
            JobStatusType::Failed => {
                return Err(ApiError {
                    call: "iam:GetServiceLastAccessedDetails",
                    message: format!(
                        "the job for {arn} failed: {:?}",
                        out.error().map(|e| e.message())
                    ),
                })
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}
