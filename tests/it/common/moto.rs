//! Real local AWS for tests: a moto server on a free loopback port, SDK clients pointed at
//! it, and a loopback webhook receiver.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;

pub const REGION: &str = "us-east-1";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server for one test, stopped on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// With AWS managed policies (AdministratorAccess, AWSSupportAccess...) in IAM, as the
    /// posture audit expects of a real account.
    pub fn start_with_managed_policies() -> Moto {
        Moto::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (pip install 'moto[server]'; .ci/run does it)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, url }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET from a blocking context (the test's own runtime cannot be re-entered).
pub fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

/// A loopback webhook: records bodies; answers 500 to the first `fail_first` requests, and
/// to every request while it is switched down; takes `delay` over each request.
#[derive(Clone, Default)]
pub struct Webhook {
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    pub requests: Arc<Mutex<usize>>,
    /// Raw body and headers of each accepted request.
    pub raw: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>,
    fail_first: Arc<Mutex<usize>>,
    down: Arc<std::sync::atomic::AtomicBool>,
    delay: Arc<Mutex<Duration>>,
}

impl Webhook {
    pub async fn start(fail_first: usize) -> (Webhook, String) {
        let hook = Webhook::default();
        *hook.fail_first.lock().unwrap() = fail_first;
        let url = hook.serve().await;
        (hook, url)
    }

    /// A webhook that takes `delay` to accept each alert.
    pub async fn slow(delay: Duration) -> (Webhook, String) {
        let hook = Webhook::default();
        *hook.delay.lock().unwrap() = delay;
        let url = hook.serve().await;
        (hook, url)
    }

    /// Answers 500 to every request while down.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    async fn serve(&self) -> String {
        use axum::{http::StatusCode, routing::post, Router};
        let h = self.clone();
        let app = Router::new().route(
            "/hook/secret-token",
            post(move |headers: axum::http::HeaderMap, body: String| {
                let h = h.clone();
                async move {
                    let delay = *h.delay.lock().unwrap();
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let n = {
                        let mut r = h.requests.lock().unwrap();
                        *r += 1;
                        *r
                    };
                    if n <= *h.fail_first.lock().unwrap()
                        || h.down.load(std::sync::atomic::Ordering::SeqCst)
                    {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    h.bodies
                        .lock()
                        .unwrap()
                        .push(serde_json::from_str(&body).unwrap());
                    h.raw.lock().unwrap().push((headers, body));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hook/secret-token",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    pub fn alert_ids(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["alert_id"].as_str().unwrap().to_string())
            .collect()
    }
}

pub struct Aws {
    /// Region, endpoint and credentials, for clients of further services.
    pub sdk: aws_config::SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub s3: aws_sdk_s3::Client,
}

pub async fn aws(endpoint: &str) -> Aws {
    let creds = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "tests");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(creds)
        .load()
        .await;
    Aws {
        sqs: aws_sdk_sqs::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                // Plain bodies: moto decodes aws-chunked uploads (the default, for trailing
                // checksums) slowly enough to dominate any test that puts large objects.
                .request_checksum_calculation(
                    aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
                )
                .build(),
        ),
        sdk,
    }
}

impl Aws {
    /// A shared state table as the CloudFormation template and the Terraform module create
    /// it: string keys pk and sk, on demand, TTL on expires.
    pub async fn state_table(&self, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let db = aws_sdk_dynamodb::Client::new(&self.sdk);
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        let string = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        db.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(string("pk"))
            .attribute_definitions(string("sk"))
            .send()
            .await
            .unwrap();
        db.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    pub async fn queue(&self, name: &str, attrs: &[(QueueAttributeName, String)]) -> String {
        let mut req = self.sqs.create_queue().queue_name(name);
        for (k, v) in attrs {
            req = req.attributes(k.clone(), v);
        }
        req.send().await.unwrap().queue_url.unwrap()
    }

    pub async fn arn(&self, queue: &str) -> String {
        self.attribute(queue, QueueAttributeName::QueueArn).await
    }

    /// One attribute of a queue, which must be set.
    pub async fn attribute(&self, queue: &str, name: QueueAttributeName) -> String {
        self.sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(name.clone())
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&name]
            .clone()
    }

    /// A queue subscribed to `topic` with raw delivery: each body is one alert's JSON.
    pub async fn readback(&self, topic: &str) -> String {
        let queue = self.queue("alerts-readback", &[]).await;
        self.sns
            .subscribe()
            .topic_arn(topic)
            .protocol("sqs")
            .endpoint(self.arn(&queue).await)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        queue
    }

    /// The alert ids of the alerts waiting in a [`Aws::readback`] queue, which is drained.
    pub async fn alert_ids(&self, readback: &str) -> Vec<String> {
        self.drain(readback)
            .await
            .iter()
            .map(|body| {
                serde_json::from_str::<serde_json::Value>(body).unwrap()["alert_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// Uploads a local file.
    pub async fn put_file(&self, bucket: &str, key: &str, file: &std::path::Path) {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(
                std::fs::read(file).unwrap(),
            ))
            .send()
            .await
            .unwrap();
    }

    /// Uploads every file of `samples/AWSLogs` to `bucket` under the same key; returns how
    /// many (26 logs and a digest).
    pub async fn upload_samples(&self, bucket: &str) -> usize {
        // (This file is also included by benches/daemon.rs, without tests/common/mod.rs.)
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let files: Vec<_> = walkdir::WalkDir::new(root.join("AWSLogs"))
            .into_iter()
            .map(|e| e.unwrap().into_path())
            .filter(|p| p.is_file())
            .collect();
        for file in &files {
            let key = file.strip_prefix(&root).unwrap().to_str().unwrap();
            self.put_file(bucket, key, file).await;
        }
        files.len()
    }

    /// Messages visible plus in flight.
    pub async fn depth(&self, queue: &str) -> usize {
        let a = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let n =
            |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }

    pub async fn drain(&self, queue: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let msgs = r.messages.unwrap_or_default();
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                out.push(m.body.unwrap_or_default());
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

impl Moto {
    /// Runs the real `trailwatch` binary with the AWS environment pointed at this server.
    pub fn trailwatch(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("run trailwatch")
    }

    /// The `trailwatch` binary with `args`, its AWS environment pointed at this server and
    /// logging at `warn` (callers may override `TRAILWATCH_LOG`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailwatch"));
        cmd.args(args)
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("TRAILWATCH_LOG", "warn");
        cmd
    }
}

/// What a daemon works against: see [`Aws::provision`].
pub struct Setup {
    pub events_queue: String,
    pub dlq: String,
    pub alerts_queue: String,
    pub topic_arn: String,
}

/// Bucket with S3→SQS notifications, events queue with a DLQ (2 receives), alert topic
/// read back through a subscribed queue.
pub async fn provision(aws: &Aws) -> Setup {
    let dlq = aws.queue("trail-dlq", &[]).await;
    let dlq_arn = aws.arn(&dlq).await;
    let events_queue = aws
        .queue(
            "trail-events",
            &[(
                QueueAttributeName::RedrivePolicy,
                format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#),
            )],
        )
        .await;
    let events_arn = aws.arn(&events_queue).await;
    aws.s3.create_bucket().bucket("trail").send().await.unwrap();
    let queue_cfg = aws_sdk_s3::types::QueueConfiguration::builder()
        .queue_arn(events_arn)
        .events(aws_sdk_s3::types::Event::S3ObjectCreated)
        .build()
        .unwrap();
    aws.s3
        .put_bucket_notification_configuration()
        .bucket("trail")
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(queue_cfg)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let topic_arn = aws
        .sns
        .create_topic()
        .name("trailwatch-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let alerts_queue = aws.readback(&topic_arn).await;
    Setup {
        events_queue,
        dlq,
        alerts_queue,
        topic_arn,
    }
}

/// An IAM user with one inline policy, and its access key (id, secret): with moto's IAM
/// enforcement on (`INITIAL_NO_AUTH_ACTION_COUNT`), what that user may call is what the
/// policy allows.
pub async fn user_with_policy(
    sdk: &aws_config::SdkConfig,
    name: &str,
    policy: &str,
) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(sdk);
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy()
        .user_name(name)
        .policy_name("policy")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}
