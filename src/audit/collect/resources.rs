//! Resource policies the audit judges for public access: every S3 bucket's policy, ACL and
//! Block Public Access settings (S3 is global: listed once), and each audited region's SNS
//! topic and SQS queue policies. One bucket's refused call is an error for that bucket only.

use futures_util::{StreamExt, TryStreamExt};

use super::{all_items, api_error, code};
use crate::audit::inventory::{ApiError, Bucket, PublicAccessBlock, ResourcePolicy};

/// The ACL grantee URIs that mean everyone: anyone, and any AWS account.
const PUBLIC_GROUPS: [&str; 2] = [
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

/// Every bucket, or only `only` (name and region: a re-audit after an event on one bucket).
pub async fn buckets(
    sdk: &aws_config::SdkConfig,
    only: Option<(&str, &str)>,
    concurrency: usize,
) -> Result<Vec<Bucket>, ApiError> {
    let s3 = aws_sdk_s3::Client::new(sdk);
    let names: Vec<(String, Option<String>)> = match only {
        Some((name, region)) => vec![(name.to_string(), Some(region.to_string()))],
        None => all_items!(s3.list_buckets(), "s3:ListAllMyBuckets")?
            .into_iter()
            .filter_map(|b| Some((b.name?, b.bucket_region)))
            .collect(),
    };
    let out = futures_util::stream::iter(names)
        .map(|(name, region)| {
            // A bucket answers in its own region; ListBuckets says which.
            let client = match region {
                Some(r) if Some(r.as_str()) != sdk.region().map(|x| x.as_ref()) => {
                    aws_sdk_s3::Client::new(
                        &sdk.to_builder().region(aws_config::Region::new(r)).build(),
                    )
                }
                _ => s3.clone(),
            };
            async move { bucket(&client, name).await }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    // A bucket deleted since it was listed (or named by a deletion event) is not reported.
    let mut out: Vec<Bucket> = out.into_iter().flatten().collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

async fn bucket(s3: &aws_sdk_s3::Client, name: String) -> Option<Bucket> {
    let (policy, acl, block) = tokio::join!(
        s3.get_bucket_policy().bucket(&name).send(),
        s3.get_bucket_acl().bucket(&name).send(),
        s3.get_public_access_block().bucket(&name).send(),
    );
    let gone = |c: Option<&str>| c == Some("NoSuchBucket");
    let policy = match policy {
        Ok(out) => Ok(out.policy),
        Err(e) if code(&e) == Some("NoSuchBucketPolicy") => Ok(None),
        Err(e) if gone(code(&e)) => return None,
        Err(e) => Err(api_error("s3:GetBucketPolicy", &e)),
    };
    let group_grants = match acl {
        Ok(out) => Ok(out
            .grants()
            .iter()
            .filter_map(|g| {
                let uri = g.grantee()?.uri()?;
                PUBLIC_GROUPS.contains(&uri).then(|| {
                    let permission = g.permission().map(|p| p.as_str()).unwrap_or("?");
                    (uri.to_string(), permission.to_string())
                })
            })
            .collect()),
        Err(e) if gone(code(&e)) => return None,
        Err(e) => Err(api_error("s3:GetBucketAcl", &e)),
    };
    let block = match block {
        Ok(out) => Ok(out
            .public_access_block_configuration
            .map(|c| PublicAccessBlock {
                block_public_acls: c.block_public_acls.unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
                block_public_policy: c.block_public_policy.unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
            })
            .unwrap_or_default()),
        Err(e) if code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => {
            Ok(PublicAccessBlock::default())
        }
        Err(e) if gone(code(&e)) => return None,
        Err(e) => Err(api_error("s3:GetBucketPublicAccessBlock", &e)),
    };
    Some(Bucket {
        name,
        policy,
        group_grants,
        block,
    })
}

/// The region's SNS topics and SQS queues with their access policies.
pub async fn topic_and_queue_policies(
    sdk: &aws_config::SdkConfig,
    concurrency: usize,
) -> Result<Vec<ResourcePolicy>, ApiError> {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topics: Vec<String> = all_items!(sns.list_topics(), "sns:ListTopics")?
        .into_iter()
        .filter_map(|t| t.topic_arn)
        .collect();
    let queues: Vec<String> = all_items!(sqs.list_queues(), "sqs:ListQueues")?;
    let topics = futures_util::stream::iter(topics)
        .map(|arn| {
            let sns = sns.clone();
            async move {
                let out = sns
                    .get_topic_attributes()
                    .topic_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| api_error("sns:GetTopicAttributes", &e))?;
                let policy = out.attributes().and_then(|a| a.get("Policy")).cloned();
                Ok::<_, ApiError>(ResourcePolicy { arn, policy })
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>();
    let queues = futures_util::stream::iter(queues)
        .map(|url| {
            let sqs = sqs.clone();
            async move {
                use aws_sdk_sqs::types::QueueAttributeName;
                let out = sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(QueueAttributeName::Policy)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .map_err(|e| api_error("sqs:GetQueueAttributes", &e))?;
                let attrs = out.attributes();
                let arn = attrs
                    .and_then(|a| a.get(&QueueAttributeName::QueueArn))
                    .cloned()
                    .unwrap_or(url);
                let policy = attrs
                    .and_then(|a| a.get(&QueueAttributeName::Policy))
                    .cloned();
                Ok::<_, ApiError>(ResourcePolicy { arn, policy })
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>();
    let (topics, queues) = tokio::join!(topics, queues);
    let mut out = topics?;
    out.extend(queues?);
    out.sort_by(|a, b| a.arn.cmp(&b.arn));
    Ok(out)
}
