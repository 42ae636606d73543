//! Resources anyone can reach: S3 bucket, SNS topic and SQS queue policies that let anyone in
//! (the same test as the detection `resource-policy-public`, `policy::exposure`), and bucket
//! ACLs that grant to everyone. A bucket's Block Public Access settings count: a public
//! policy under RestrictPublicBuckets, or a public ACL under IgnorePublicAcls, is not reachable.
//! The account-level Block Public Access setting is not read (S3 Control).

use super::Eval;
use crate::audit::catalog::CheckId;
use crate::audit::finding::Status;
use crate::audit::inventory::{Bucket, Inventory, ResourcePolicy};
use crate::policy::{exposure, Document};

/// The checks of this family (a re-audit of a bucket or region replaces their findings).
pub const CHECKS: &[CheckId] = &[CheckId::ResourcePolicyPublic, CheckId::S3BucketPublic];

pub fn evaluate(ev: &mut Eval, inv: &Inventory) {
    match &inv.buckets {
        None => {}
        Some(Err(e)) => ev.error(CHECKS, &ev.root_arn(), e),
        Some(Ok(buckets)) => buckets.iter().for_each(|b| bucket(ev, b)),
    }
    for r in &inv.regions {
        match &r.resource_policies {
            None => {}
            Some(Err(e)) => {
                let arn = ev.root_arn();
                ev.regional_error(CheckId::ResourcePolicyPublic, &arn, &r.region, e)
            }
            Some(Ok(list)) => {
                for p in list {
                    topic_or_queue(ev, p, &r.region);
                }
            }
        }
    }
}

/// Why a policy lets anyone in, or None.
fn public(policy: &str) -> Result<Option<String>, String> {
    let doc = Document::parse(policy).map_err(|e| format!("the policy cannot be read: {e}"))?;
    let open = exposure::public(&doc);
    Ok((!open.is_empty()).then(|| {
        open.iter()
            .map(|p| format!("{} allows {}", p.statement, p.principal))
            .collect::<Vec<_>>()
            .join("; ")
    }))
}

fn bucket(ev: &mut Eval, b: &Bucket) {
    let arn = format!("arn:aws:s3:::{}", b.name);
    let block = match &b.block {
        Ok(block) => *block,
        Err(e) => return ev.error(CHECKS, &arn, e),
    };
    match &b.policy {
        Err(e) => ev.error(&[CheckId::ResourcePolicyPublic], &arn, e),
        Ok(None) => {
            ev.verdict(
                CheckId::ResourcePolicyPublic,
                false,
                &arn,
                "no bucket policy".into(),
            );
        }
        Ok(Some(policy)) => match public(policy) {
            Err(why) => {
                ev.push(CheckId::ResourcePolicyPublic, Status::Error, &arn, why);
            }
            Ok(Some(why)) if block.restrict_public_buckets => {
                let reason = format!(
                    "the bucket policy is public ({why}), but Block Public Access \
                     (RestrictPublicBuckets) limits it to AWS services and the account"
                );
                ev.verdict(CheckId::ResourcePolicyPublic, false, &arn, reason);
            }
            Ok(Some(why)) => {
                ev.verdict(
                    CheckId::ResourcePolicyPublic,
                    true,
                    &arn,
                    format!("bucket policy: {why}"),
                );
            }
            Ok(None) => {
                ev.verdict(
                    CheckId::ResourcePolicyPublic,
                    false,
                    &arn,
                    "the bucket policy names who may use it".into(),
                );
            }
        },
    }
    match &b.group_grants {
        Err(e) => ev.error(&[CheckId::S3BucketPublic], &arn, e),
        Ok(grants) if grants.is_empty() => {
            ev.verdict(
                CheckId::S3BucketPublic,
                false,
                &arn,
                "the ACL grants nothing to everyone".into(),
            );
        }
        Ok(grants) => {
            let list = grants
                .iter()
                .map(|(uri, permission)| {
                    format!("{permission} to {}", uri.rsplit('/').next().unwrap_or(uri))
                })
                .collect::<Vec<_>>()
                .join(", ");
            if block.ignore_public_acls {
                let reason = format!(
                    "the ACL grants {list}, but Block Public Access (IgnorePublicAcls) ignores it"
                );
                ev.verdict(CheckId::S3BucketPublic, false, &arn, reason);
            } else {
                ev.verdict(
                    CheckId::S3BucketPublic,
                    true,
                    &arn,
                    format!("the ACL grants {list}"),
                );
            }
        }
    }
}

fn topic_or_queue(ev: &mut Eval, p: &ResourcePolicy, region: &str) {
    let (status, reason) = match p.policy.as_deref().map(public) {
        None => (Status::Pass, "no access policy".to_string()),
        Some(Err(why)) => (Status::Error, why),
        Some(Ok(Some(why))) => (Status::Fail, format!("access policy: {why}")),
        Some(Ok(None)) => (
            Status::Pass,
            "the access policy names who may use it".to_string(),
        ),
    };
    ev.push(CheckId::ResourcePolicyPublic, status, &p.arn, reason)
        .region = Some(region.to_string());
}
