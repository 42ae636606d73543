//! The regions the account has enabled: EC2 DescribeRegions, which without `AllRegions`
//! answers only the enabled ones (opted-in, or not needing opt-in).
//!
//! This one call is made without an SDK client: the EC2 crate is by far the largest of the
//! AWS SDK and would add minutes to every build for a single read. The request is signed by
//! the SDK's own signer (`aws-sigv4`) with the configuration's credentials, sent with
//! `reqwest`, and its XML read with the SDK's own decoder (`aws-smithy-xml`).

use std::time::SystemTime;

use aws_sdk_sts::config::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::audit::inventory::ApiError;

const BODY: &str = "Action=DescribeRegions&Version=2016-11-15";

fn failed(message: impl Into<String>) -> ApiError {
    ApiError {
        call: "ec2:DescribeRegions",
        message: message.into(),
    }
}

/// The enabled regions, sorted, asked of EC2 in `home`.
pub async fn enabled(sdk: &aws_config::SdkConfig, home: &str) -> Result<Vec<String>, ApiError> {
    let endpoint = match sdk.endpoint_url() {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if super::partition(home) == "aws-cn" => {
            format!("https://ec2.{home}.amazonaws.com.cn")
        }
        None => format!("https://ec2.{home}.amazonaws.com"),
    };
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| failed("no credentials configured"))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| failed(format!("no credentials: {e}")))?;
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(home)
        .name("ec2")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(format!("cannot sign the request: {e}")))?
        .into();
    let headers = [(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let signable = SignableRequest::new(
        "POST",
        &endpoint,
        headers.into_iter(),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .map_err(|e| failed(format!("cannot sign the request: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| failed(format!("cannot sign the request: {e}")))?
        .into_parts();
    let mut request = reqwest::Client::new()
        .post(&endpoint)
        .header(headers[0].0, headers[0].1)
        .body(BODY);
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| failed(format!("{endpoint}: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| failed(format!("{endpoint}: {e}")))?;
    if !status.is_success() {
        return Err(failed(match super::body_error(&text) {
            Some(error) => format!("{error} (HTTP {})", status.as_u16()),
            None => format!("HTTP {} without an AWS error code", status.as_u16()),
        }));
    }
    parse(&text).map_err(|e| failed(format!("the answer is not a DescribeRegions response: {e}")))
}

/// The `regionName` of every region in a DescribeRegions response.
fn parse(xml: &str) -> Result<Vec<String>, aws_smithy_xml::decode::XmlDecodeError> {
    let mut doc = aws_smithy_xml::decode::Document::new(xml);
    let mut regions = Vec::new();
    while let Some(el) = doc.next_start_element() {
        if el.local() == "regionName" {
            regions.push(
                aws_smithy_xml::decode::try_data(&mut doc)?
                    .trim()
                    .to_string(),
            );
        }
    }
    if regions.is_empty() {
        return Err(aws_smithy_xml::decode::XmlDecodeError::custom(
            "no regionName in it",
        ));
    }
    regions.sort();
    regions.dedup();
    Ok(regions)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn region_names_from_the_answer() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
   <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
   <regionInfo>
      <item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>
      <item><regionName>ap-east-1</regionName><regionEndpoint>ec2.ap-east-1.amazonaws.com</regionEndpoint><optInStatus>opted-in</optInStatus></item>
   </regionInfo>
</DescribeRegionsResponse>"#;
        assert_eq!(parse(xml).unwrap(), vec!["ap-east-1", "us-east-1"]);
        assert!(parse("<DescribeRegionsResponse/>").is_err());
        assert!(parse("not xml").is_err());
    }
}
