//! The regional reads: Security Hub, GuardDuty, Config, IAM Access Analyzer, load balancer
//! listener certificates and SNS/SQS policies in each audited region, and the account's trails.

use futures_util::{StreamExt, TryStreamExt};

use super::{all_items, api_error, code, time};
use crate::audit::inventory::*;

fn in_region(sdk: &aws_config::SdkConfig, region: &str) -> aws_config::SdkConfig {
    sdk.to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build()
}

pub async fn read(
    sdk: &aws_config::SdkConfig,
    region: &str,
    server_certs: &[ServerCertificate],
    concurrency: usize,
) -> RegionalInventory {
    let sdk = in_region(sdk, region);
    let (
        security_hub,
        guardduty,
        config,
        access_analyzers,
        listener_certificates,
        resource_policies,
    ) = tokio::join!(
        security_hub(&sdk),
        guardduty(&sdk),
        config(&sdk),
        access_analyzers(&sdk),
        listener_certificates(&sdk, server_certs, concurrency),
        super::resources::topic_and_queue_policies(&sdk, concurrency),
    );
    RegionalInventory {
        region: region.to_string(),
        security_hub: Some(security_hub),
        guardduty: Some(guardduty),
        config: Some(config),
        external_access: Some(match &access_analyzers {
            Ok(analyzers) => external_access(&sdk, analyzers).await,
            Err(e) => Err(e.clone()),
        }),
        access_analyzers: Some(
            access_analyzers.map(|list| list.into_iter().map(|a| (a.name, a.kind)).collect()),
        ),
        listener_certificates: Some(listener_certificates),
        resource_policies: Some(resource_policies),
    }
}

/// DescribeHub answers when the account is subscribed; InvalidAccessException (not
/// subscribed) and ResourceNotFoundException mean it is off.
async fn security_hub(sdk: &aws_config::SdkConfig) -> Result<bool, ApiError> {
    let hub = aws_sdk_securityhub::Client::new(sdk);
    match hub.describe_hub().send().await {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                code(&e),
                Some("InvalidAccessException" | "ResourceNotFoundException")
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(api_error("securityhub:DescribeHub", &e)),
    }
}

async fn guardduty(sdk: &aws_config::SdkConfig) -> Result<Vec<(String, String)>, ApiError> {
    let gd = aws_sdk_guardduty::Client::new(sdk);
    let ids: Vec<String> = all_items!(gd.list_detectors(), "guardduty:ListDetectors")?;
    let mut out = Vec::new();
    for id in ids {
        let d = gd
            .get_detector()
            .detector_id(&id)
            .send()
            .await
            .map_err(|e| api_error("guardduty:GetDetector", &e))?;
        let status = d
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        out.push((id, status));
    }
    Ok(out)
}

async fn config(sdk: &aws_config::SdkConfig) -> Result<ConfigState, ApiError> {
    let cfg = aws_sdk_config::Client::new(sdk);
    let recorders = cfg
        .describe_configuration_recorders()
        .send()
        .await
        .map_err(|e| api_error("config:DescribeConfigurationRecorders", &e))?;
    let status = cfg
        .describe_configuration_recorder_status()
        .send()
        .await
        .map_err(|e| api_error("config:DescribeConfigurationRecorderStatus", &e))?;
    let channels = cfg
        .describe_delivery_channels()
        .send()
        .await
        .map_err(|e| api_error("config:DescribeDeliveryChannels", &e))?;
    let recording = |name: &str| {
        status
            .configuration_recorders_status()
            .iter()
            .any(|s| s.name() == Some(name) && s.recording())
    };
    Ok(ConfigState {
        recorders: recorders
            .configuration_recorders()
            .iter()
            .map(|r| {
                let name = r.name().unwrap_or_default().to_string();
                Recorder {
                    all_supported: r.recording_group().is_some_and(|g| g.all_supported()),
                    recording: recording(&name),
                    name,
                }
            })
            .collect(),
        delivery_channels: channels.delivery_channels().len(),
    })
}

struct Analyzer {
    arn: String,
    name: String,
    kind: String,
}

async fn access_analyzers(sdk: &aws_config::SdkConfig) -> Result<Vec<Analyzer>, ApiError> {
    use aws_sdk_accessanalyzer::types::AnalyzerStatus;
    let aa = aws_sdk_accessanalyzer::Client::new(sdk);
    let analyzers: Vec<_> = all_items!(aa.list_analyzers(), "access-analyzer:ListAnalyzers")?;
    Ok(analyzers
        .iter()
        .filter(|a| *a.status() == AnalyzerStatus::Active)
        .map(|a| Analyzer {
            arn: a.arn().to_string(),
            name: a.name().to_string(),
            kind: a.r#type().as_str().to_string(),
        })
        .collect())
}

/// The active findings of the external access analyzers (the unused-access kinds judge
/// something else, which the permission checks cover).
async fn external_access(
    sdk: &aws_config::SdkConfig,
    analyzers: &[Analyzer],
) -> Result<Vec<ExternalAccess>, ApiError> {
    use aws_sdk_accessanalyzer::types::Criterion;
    let aa = aws_sdk_accessanalyzer::Client::new(sdk);
    let mut out = Vec::new();
    for a in analyzers
        .iter()
        .filter(|a| matches!(a.kind.as_str(), "ACCOUNT" | "ORGANIZATION"))
    {
        let findings: Vec<_> = all_items!(
            aa.list_findings()
                .analyzer_arn(&a.arn)
                .filter("status", Criterion::builder().eq("ACTIVE").build()),
            "access-analyzer:ListFindings"
        )?;
        out.extend(findings.iter().map(|f| {
            let mut principals: Vec<String> = f
                .principal()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            principals.sort();
            let mut conditions: Vec<String> = f
                .condition()
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            conditions.sort();
            ExternalAccess {
                id: f.id().to_string(),
                analyzer: a.name.clone(),
                resource: f.resource().unwrap_or_default().to_string(),
                resource_type: f.resource_type().as_str().to_string(),
                principals,
                actions: f.action().to_vec(),
                public: f.is_public().unwrap_or(false),
                conditions,
            }
        }));
    }
    Ok(out)
}

/// The default certificate of every HTTPS and TLS listener, with its expiry from ACM or IAM.
async fn listener_certificates(
    sdk: &aws_config::SdkConfig,
    server_certs: &[ServerCertificate],
    concurrency: usize,
) -> Result<Vec<ListenerCertificate>, ApiError> {
    use aws_sdk_elasticloadbalancingv2::types::ProtocolEnum;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let acm = aws_sdk_acm::Client::new(sdk);
    let balancers: Vec<_> = all_items!(
        elb.describe_load_balancers(),
        "elasticloadbalancing:DescribeLoadBalancers"
    )?;
    let arns: Vec<String> = balancers
        .iter()
        .filter_map(|b| b.load_balancer_arn())
        .map(str::to_string)
        .collect();
    let listener_pages: Vec<Vec<_>> = futures_util::stream::iter(arns)
        .map(|arn| {
            let elb = elb.clone();
            async move {
                all_items!(
                    elb.describe_listeners().load_balancer_arn(&arn),
                    "elasticloadbalancing:DescribeListeners"
                )
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let secure: Vec<(String, String, String)> = listener_pages
        .into_iter()
        .flatten()
        .filter(|l| matches!(l.protocol(), Some(ProtocolEnum::Https | ProtocolEnum::Tls)))
        .flat_map(|l| {
            let arn = l.listener_arn().unwrap_or_default().to_string();
            let protocol = l
                .protocol()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            l.certificates()
                .iter()
                .filter_map(|c| c.certificate_arn())
                .map(move |c| (arn.clone(), protocol.clone(), c.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let out = futures_util::stream::iter(secure)
        .map(|(listener_arn, protocol, certificate_arn)| {
            let acm = acm.clone();
            // IAM server certificates are known already; ACM ones are described.
            let known = certificate_arn.contains(":server-certificate/").then(|| {
                server_certs
                    .iter()
                    .find(|c| c.arn == certificate_arn)
                    .and_then(|c| c.expiration)
            });
            async move {
                let expires = match known {
                    Some(expiration) => Ok(expiration),
                    None => acm_expiry(&acm, &certificate_arn).await,
                };
                ListenerCertificate {
                    listener_arn,
                    protocol,
                    certificate_arn,
                    expires,
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    Ok(out)
}

async fn acm_expiry(
    acm: &aws_sdk_acm::Client,
    arn: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let out = acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| api_error("acm:DescribeCertificate", &e))?;
    Ok(time(out.certificate().and_then(|c| c.not_after())))
}

/// Every trail the account has (shadow trails of multi-region trails included), with
/// whether each is logging.
pub async fn trails(sdk: &aws_config::SdkConfig, region: &str) -> Result<Vec<Trail>, ApiError> {
    let ct = aws_sdk_cloudtrail::Client::new(&in_region(sdk, region));
    let out = ct
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| api_error("cloudtrail:DescribeTrails", &e))?;
    let mut trails = Vec::new();
    for t in out.trail_list() {
        let arn = t.trail_arn().unwrap_or_default().to_string();
        let logging = ct
            .get_trail_status()
            .name(&arn)
            .send()
            .await
            .map(|s| s.is_logging().unwrap_or(false))
            .map_err(|e| api_error("cloudtrail:GetTrailStatus", &e));
        trails.push(Trail {
            arn,
            multi_region: t.is_multi_region_trail().unwrap_or(false),
            log_file_validation: t.log_file_validation_enabled().unwrap_or(false),
            logging,
        });
    }
    Ok(trails)
}
