//! The reads of a re-audit after an event: only what its scope covers. A user's credentials
//! are read per user, since IAM serves a credential report up to four hours old.

use super::{api_error, code, iam, regional, time, Account};
use crate::audit::credential_report::{Credential, CredentialReport, UserRow};
use crate::audit::inventory::{ApiError, Inventory};
use crate::audit::settings::AuditConfig;
use crate::audit::trigger::Scope;

pub async fn inventory(account: &Account, settings: &AuditConfig, scope: &Scope) -> Inventory {
    let client = aws_sdk_iam::Client::new(&account.sdk);
    let mut inv = Inventory {
        account: account.id.clone(),
        ..Default::default()
    };
    match scope {
        Scope::User(name) => {
            inv.credential_report =
                Some(user_row(&client, name).await.map(|row| CredentialReport {
                    root: None,
                    users: row.into_iter().collect(),
                }));
        }
        Scope::Principals => inv.authorization = Some(iam::authorization(&client).await),
        Scope::PasswordPolicy => inv.password_policy = Some(iam::password_policy(&client).await),
        Scope::Region(region) => {
            let certs = iam::server_certificates(&client).await.unwrap_or_default();
            inv.regions =
                vec![regional::read(&account.sdk, region, &certs, settings.concurrency).await];
        }
        Scope::Bucket { name, region } => {
            let only = Some((name.as_str(), region.as_str()));
            inv.buckets =
                Some(super::resources::buckets(&account.sdk, only, settings.concurrency).await)
        }
        Scope::Trails => {
            let region = Account::home(&account.sdk, settings);
            inv.trails = Some(regional::trails(&account.sdk, &region).await);
        }
        Scope::ServerCertificates => {
            inv.server_certificates = Some(iam::server_certificates(&client).await)
        }
    }
    inv
}

/// One user's credential report row, from GetUser, GetLoginProfile, ListMFADevices,
/// ListAccessKeys, GetAccessKeyLastUsed and ListSigningCertificates. None: the user is gone.
pub async fn user_row(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<UserRow>, ApiError> {
    use aws_sdk_iam::types::StatusType;
    let user = match iam.get_user().user_name(name).send().await {
        Ok(out) => match out.user {
            Some(u) => u,
            None => return Ok(None),
        },
        Err(e) if code(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(api_error("iam:GetUser", &e)),
    };
    let profile = match iam.get_login_profile().user_name(name).send().await {
        Ok(out) => out.login_profile.map(|p| time(Some(p.create_date()))),
        Err(e) if code(&e) == Some("NoSuchEntity") => None,
        Err(e) => return Err(api_error("iam:GetLoginProfile", &e)),
    };
    let mfa = iam
        .list_mfa_devices()
        .user_name(name)
        .send()
        .await
        .map_err(|e| api_error("iam:ListMFADevices", &e))?;
    let keys = iam
        .list_access_keys()
        .user_name(name)
        .send()
        .await
        .map_err(|e| api_error("iam:ListAccessKeys", &e))?;
    let mut slots: [Credential; 2] = Default::default();
    for (slot, key) in slots.iter_mut().zip(keys.access_key_metadata()) {
        let last_used = match key.access_key_id() {
            Some(id) => iam
                .get_access_key_last_used()
                .access_key_id(id)
                .send()
                .await
                .map_err(|e| api_error("iam:GetAccessKeyLastUsed", &e))?
                .access_key_last_used
                .and_then(|u| time(u.last_used_date())),
            None => None,
        };
        *slot = Credential {
            active: key.status() == Some(&StatusType::Active),
            last_rotated: time(key.create_date()),
            last_used,
        };
    }
    let certs = iam
        .list_signing_certificates()
        .user_name(name)
        .send()
        .await
        .map_err(|e| api_error("iam:ListSigningCertificates", &e))?;
    let mut cert_slots: [Credential; 2] = Default::default();
    for (slot, c) in cert_slots.iter_mut().zip(certs.certificates()) {
        *slot = Credential {
            active: *c.status() == StatusType::Active,
            last_rotated: time(c.upload_date()),
            last_used: None,
        };
    }
    Ok(Some(UserRow {
        user: user.user_name().to_string(),
        arn: user.arn().to_string(),
        created: time(Some(user.create_date())),
        password_enabled: Some(profile.is_some()),
        password_last_used: time(user.password_last_used()),
        password_last_changed: profile.flatten(),
        mfa_active: !mfa.mfa_devices().is_empty(),
        keys: slots,
        certs: cert_slots,
    }))
}
