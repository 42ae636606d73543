//! Which accounts an audit covers: the default credentials' account, roles named one by one,
//! or every active account of the organization through one role name.

use futures_util::StreamExt;

use super::{Account, CollectError};
use crate::audit::settings::AuditConfig;

/// One account to audit, or why it cannot be.
pub struct Target {
    /// What names it to people: the role ARN, the account id, or "default credentials".
    pub label: String,
    /// The account id when known before reaching it (the organization lists it).
    pub id: Option<String>,
    pub account: Result<Account, CollectError>,
}

/// The accounts of one audit, and the organization's account ids when it lists them.
pub struct Targets {
    pub targets: Vec<Target>,
    pub organization: Option<Vec<String>>,
}

/// `roles` (role ARN, external id) win over `[[audit.accounts]]`, which wins over
/// `organization_role`; with none of them, the default credentials' account.
pub async fn targets(
    base: &aws_config::SdkConfig,
    settings: &AuditConfig,
    roles: &[(String, Option<String>)],
) -> Result<Targets, CollectError> {
    let roles: Vec<(String, Option<String>)> = if roles.is_empty() {
        settings
            .accounts
            .iter()
            .map(|a| (a.role_arn.clone(), a.external_id.clone()))
            .collect()
    } else {
        roles.to_vec()
    };
    if !roles.is_empty() {
        let targets = futures_util::stream::iter(roles)
            .map(|(role, external_id)| async move {
                let account = Account::assume(base, &role, external_id.as_deref()).await;
                Target {
                    label: role,
                    id: None,
                    account,
                }
            })
            .buffered(settings.concurrency)
            .collect()
            .await;
        return Ok(Targets {
            targets,
            organization: None,
        });
    }
    let me = Account::identify(base.clone()).await?;
    let Some(role) = &settings.organization_role else {
        return Ok(Targets {
            targets: vec![Target {
                label: "default credentials".into(),
                id: Some(me.id.clone()),
                account: Ok(me),
            }],
            organization: None,
        });
    };
    let ids = active_accounts(base).await?;
    let partition = super::partition(base.region().map_or("", |r| r.as_ref()));
    let me = &me;
    let targets = futures_util::stream::iter(ids.clone())
        .map(|id| async move {
            // The account trailwatch runs in is audited with its own credentials: the
            // organization's role is usually not deployed in the management account.
            let account = if id == me.id {
                Ok(me.clone())
            } else {
                let arn = format!("arn:{partition}:iam::{id}:role/{role}");
                Account::assume(base, &arn, None).await
            };
            Target {
                label: id.clone(),
                id: Some(id),
                account,
            }
        })
        .buffered(settings.concurrency)
        .collect()
        .await;
    Ok(Targets {
        targets,
        organization: Some(ids),
    })
}

/// The organization's active accounts, sorted, from the management account or a delegated
/// administrator (organizations:ListAccounts).
async fn active_accounts(sdk: &aws_config::SdkConfig) -> Result<Vec<String>, CollectError> {
    use aws_sdk_organizations::types::AccountStatus;
    let org = aws_sdk_organizations::Client::new(sdk);
    // Granted by the AuditOrganization statement, apart from AuditPosture: only the
    // management account or a delegated administrator needs it.
    let mut pages = org.list_accounts().into_paginator().send();
    let mut accounts = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CollectError::Organization(super::describe(&e)))?;
        accounts.extend(page.accounts().iter().cloned());
    }
    let mut ids: Vec<String> = accounts
        .iter()
        .filter(|a| a.status() == Some(&AccountStatus::Active))
        .filter_map(|a| a.id().map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}
