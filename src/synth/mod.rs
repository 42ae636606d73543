//! Deterministic synthetic CloudTrail archives, for benchmarks and load tests.
//!
//! The same seed always writes the same files. The record mix follows what busy accounts
//! log: mostly read-only calls, S3 data events and role assumptions, with a small share of
//! sign-ins, IAM changes and denied calls that the built-in rules care about.
//!
//! With a density, the mix is instead a chosen share of records that a built-in rule matches
//! (the rest match none): sign-in failures and denied calls from a handful of principals,
//! access keys, policy and security-group changes, secrets read — the shape of an attacker's
//! burst, dense enough that the correlations fire too. `tests/synth_density.rs` holds the
//! generator to it with the built-in pack.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct Plan {
    /// Root directory; files go under `AWSLogs/...` inside it.
    pub out: PathBuf,
    /// Total uncompressed bytes to write (approximately).
    pub bytes: u64,
    /// Records per file (CloudTrail files hold a handful to tens of thousands).
    pub records_per_file: usize,
    pub seed: u64,
    /// The share of records (0 to 1) that a built-in rule matches; None: the natural mix.
    pub density: Option<f64>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub files: u64,
    pub records: u64,
    pub bytes: u64,
    pub compressed: u64,
}

const ACCOUNTS: [&str; 3] = ["111122223333", "444455556666", "777788889999"];
const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"];
const USERS: [&str; 6] = ["alice", "bob", "carol", "deploy-bot", "backup", "dave"];
const AGENTS: [&str; 4] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.60 md/Botocore#1.34.60 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.8 cfg/retry-mode#legacy Botocore/1.34.60",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
];

/// (eventSource, eventName, read-only) with weights: the shape of a busy account's trail.
const CALLS: [(&str, &str, bool, u32); 16] = [
    ("ec2.amazonaws.com", "DescribeInstances", true, 120),
    ("s3.amazonaws.com", "GetObject", true, 160),
    ("s3.amazonaws.com", "PutObject", false, 80),
    ("sts.amazonaws.com", "AssumeRole", true, 120),
    ("kms.amazonaws.com", "Decrypt", true, 110),
    ("logs.amazonaws.com", "PutLogEvents", false, 90),
    ("dynamodb.amazonaws.com", "DescribeTable", true, 60),
    ("lambda.amazonaws.com", "Invoke", false, 60),
    ("iam.amazonaws.com", "GetRole", true, 40),
    ("monitoring.amazonaws.com", "GetMetricData", true, 60),
    ("signin.amazonaws.com", "ConsoleLogin", false, 8),
    ("iam.amazonaws.com", "CreateAccessKey", false, 3),
    ("iam.amazonaws.com", "AttachRolePolicy", false, 3),
    (
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        false,
        4,
    ),
    ("cloudtrail.amazonaws.com", "StopLogging", false, 1),
    ("iam.amazonaws.com", "CreateUser", false, 2),
];

/// The calls of [`CALLS`] that no built-in rule matches (when they succeed).
const BENIGN: &[(&str, &str, bool, u32)] = CALLS.split_at(10).0;

/// What a dense archive's matching records are, with weights. `None` as the name: a benign
/// call denied with AccessDenied (unauthorized-api-call, and access-denied-burst when they
/// pile up).
const HITS: [(&str, Option<&str>, u32); 8] = [
    ("signin.amazonaws.com", Some("ConsoleLogin"), 30),
    ("", None, 26),
    ("iam.amazonaws.com", Some("CreateAccessKey"), 10),
    ("secretsmanager.amazonaws.com", Some("GetSecretValue"), 10),
    ("iam.amazonaws.com", Some("AttachRolePolicy"), 8),
    (
        "ec2.amazonaws.com",
        Some("AuthorizeSecurityGroupIngress"),
        8,
    ),
    ("iam.amazonaws.com", Some("CreateUser"), 6),
    ("cloudtrail.amazonaws.com", Some("StopLogging"), 2),
];

/// How a record is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Draw {
    /// The natural mix of [`CALLS`], 1% denied.
    Natural,
    /// A call no rule matches.
    Benign,
    /// A call some rule matches.
    Hit,
}

struct Gen {
    rng: fastrand::Rng,
    n: u64,
    total_weight: u32,
    benign_weight: u32,
    hit_weight: u32,
    density: Option<f64>,
}

impl Gen {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.usize(..items.len())]
    }

    fn call(&mut self) -> (&'static str, &'static str, bool) {
        self.weighted(&CALLS, self.total_weight)
    }

    fn weighted(
        &mut self,
        calls: &[(&'static str, &'static str, bool, u32)],
        total: u32,
    ) -> (&'static str, &'static str, bool) {
        let mut w = self.rng.u32(..total);
        for &(s, n, ro, weight) in calls {
            if w < weight {
                return (s, n, ro);
            }
            w -= weight;
        }
        unreachable!("weights cover the range")
    }

    /// The call, and whether it is denied (None: the natural mix decides later, where it
    /// always did, so a seed writes the same natural archive as before densities existed).
    fn draw(&mut self, draw: Draw) -> (&'static str, &'static str, bool, Option<bool>) {
        let benign_weight = self.benign_weight;
        match draw {
            Draw::Natural => {
                let (s, n, ro) = self.call();
                (s, n, ro, None)
            }
            Draw::Benign => {
                let (s, n, ro) = self.weighted(BENIGN, benign_weight);
                (s, n, ro, Some(false))
            }
            Draw::Hit => {
                let mut w = self.rng.u32(..self.hit_weight);
                for (source, name, weight) in HITS {
                    if w >= weight {
                        w -= weight;
                        continue;
                    }
                    return match name {
                        Some(name) => (source, name, false, Some(false)),
                        None => {
                            let (s, n, ro) = self.weighted(BENIGN, benign_weight);
                            (s, n, ro, Some(true))
                        }
                    };
                }
                unreachable!("weights cover the range")
            }
        }
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.rng.u64(..), self.rng.u64(..));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    fn record(&mut self, account: &str, region: &str, epoch: i64) -> serde_json::Value {
        self.n += 1;
        let draw = match self.density {
            None => Draw::Natural,
            Some(d) if self.rng.f64() < d => Draw::Hit,
            Some(_) => Draw::Benign,
        };
        let (source, name, read_only, denied) = self.draw(draw);
        let mut user = *self.pick(&USERS);
        let mut role_session = self.rng.bool();
        if draw == Draw::Hit {
            // An attacker's burst comes from few principals, so the correlations count it; and
            // the sign-in rules are about IAM users, not role sessions.
            user = USERS[self.n as usize % 2];
            role_session &= name != "ConsoleLogin";
        }
        let identity = if role_session {
            json!({"type": "AssumedRole", "principalId": format!("AROAEXAMPLE{:09}:{user}", self.rng.u32(..1_000_000_000)),
                   "arn": format!("arn:aws:sts::{account}:assumed-role/{user}-role/{user}"), "accountId": account,
                   "accessKeyId": format!("ASIA{:016}", self.rng.u64(..10_000_000_000_000_000)),
                   "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE000000001",
                       "arn": format!("arn:aws:iam::{account}:role/{user}-role"), "accountId": account, "userName": format!("{user}-role")},
                       "attributes": {"creationDate": chrono_time(epoch - 600), "mfaAuthenticated": "false"}}})
        } else {
            json!({"type": "IAMUser", "principalId": format!("AIDAEXAMPLE{:09}", self.rng.u32(..1_000_000_000)),
                   "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account,
                   "accessKeyId": format!("AKIA{:016}", self.rng.u64(..10_000_000_000_000_000)), "userName": user})
        };
        let ip = format!(
            "{}.{}.{}.{}",
            [198, 203, 192][self.rng.usize(..3)],
            self.rng.u8(..),
            self.rng.u8(..),
            self.rng.u8(1..255)
        );
        let denied = denied.unwrap_or_else(|| self.rng.u32(..100) == 0);
        let params = match name {
            "GetObject" | "PutObject" => {
                json!({"bucketName": "data-lake", "key": format!("raw/{}/{}.parquet", self.rng.u32(..1000), self.uuid()), "Host": "data-lake.s3.amazonaws.com"})
            }
            "DescribeInstances" => {
                json!({"instancesSet": {"items": [{"instanceId": format!("i-{:017x}", self.rng.u64(..) >> 4)}]}, "filterSet": {}})
            }
            "AssumeRole" => {
                json!({"roleArn": format!("arn:aws:iam::{account}:role/{user}-role"), "roleSessionName": user, "durationSeconds": 3600})
            }
            "AttachRolePolicy" => {
                json!({"roleName": format!("{user}-role"), "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
            }
            "CreateAccessKey" | "CreateUser" => json!({"userName": user}),
            "GetSecretValue" => {
                json!({"secretId": format!("arn:aws:secretsmanager:{region}:{account}:secret:app/{}", self.n % 50)})
            }
            "AuthorizeSecurityGroupIngress" => {
                json!({"groupId": format!("sg-{:08x}", self.rng.u32(..)), "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}})
            }
            _ => json!({"resource": format!("res-{}", self.rng.u32(..100_000))}),
        };
        let mut rec = json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": chrono_time(epoch),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": *self.pick(&AGENTS),
            "requestParameters": params,
            "responseElements": if read_only { serde_json::Value::Null } else { json!({"requestId": self.uuid()}) },
            "requestID": self.uuid(),
            "eventID": self.uuid(),
            "readOnly": read_only,
            "eventType": if name == "ConsoleLogin" { "AwsConsoleSignIn" } else { "AwsApiCall" },
            "managementEvent": !matches!(name, "GetObject" | "PutObject" | "Invoke"),
            "recipientAccountId": account,
            "eventCategory": "Management",
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.split('.').next().unwrap_or("x"))}
        });
        if name == "ConsoleLogin" {
            let ok = self.rng.u32(..4) != 0;
            // A dense archive's successful sign-ins are all without MFA (a rule matches them).
            let mfa = self.rng.bool() && draw == Draw::Natural;
            rec["responseElements"] =
                json!({"ConsoleLogin": if ok { "Success" } else { "Failure" }});
            rec["additionalEventData"] =
                json!({"MFAUsed": if mfa { "Yes" } else { "No" }, "MobileVersion": "No"});
            if !ok {
                rec["errorMessage"] = json!("Failed authentication");
            }
        } else if denied {
            rec["errorCode"] = json!("AccessDenied");
            rec["errorMessage"] = json!(format!("User is not authorized to perform: {name}"));
        }
        rec
    }
}

fn chrono_time(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Writes the archive and returns what was written.
pub fn generate(plan: &Plan) -> io::Result<Written> {
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(plan.seed),
        n: 0,
        total_weight: CALLS.iter().map(|c| c.3).sum(),
        benign_weight: BENIGN.iter().map(|c| c.3).sum(),
        hit_weight: HITS.iter().map(|h| h.2).sum(),
        density: plan.density.map(|d| d.clamp(0.0, 1.0)),
    };
    let mut written = Written::default();
    // 2026-11-20T00:00:00Z; each file covers the next five minutes of one account and region.
    let mut epoch: i64 = 1_795_132_800;
    let mut slot = 0usize;
    while written.bytes < plan.bytes {
        let account = ACCOUNTS[slot % ACCOUNTS.len()];
        let region = REGIONS[(slot / ACCOUNTS.len()) % REGIONS.len()];
        slot += 1;
        if slot % (ACCOUNTS.len() * REGIONS.len()) == 0 {
            epoch += 300;
        }
        let day = chrono::DateTime::from_timestamp(epoch, 0).unwrap_or_default();
        let dir = plan.out.join(format!(
            "AWSLogs/{account}/CloudTrail/{region}/{}",
            day.format("%Y/%m/%d")
        ));
        fs::create_dir_all(&dir)?;
        let name = format!(
            "{account}_CloudTrail_{region}_{}_{}.json.gz",
            day.format("%Y%m%dT%H%MZ"),
            (0..16).map(|_| g.rng.alphanumeric()).collect::<String>()
        );
        // The last file stops where the size budget ends, however many records it was to hold.
        let budget = plan.bytes - written.bytes;
        let (records, raw, packed) = write_file(
            &dir.join(name),
            &mut g,
            plan,
            budget,
            (account, region, epoch),
        )?;
        written.files += 1;
        written.records += records;
        written.bytes += raw;
        written.compressed += packed;
    }
    Ok(written)
}

fn write_file(
    path: &Path,
    g: &mut Gen,
    plan: &Plan,
    budget: u64,
    (account, region, epoch): (&str, &str, i64),
) -> io::Result<(u64, u64, u64)> {
    let file = BufWriter::new(File::create(path)?);
    let mut gz = GzEncoder::new(file, Compression::default());
    let mut raw = 0u64;
    let put = |gz: &mut GzEncoder<BufWriter<File>>, raw: &mut u64, bytes: &[u8]| {
        *raw += bytes.len() as u64;
        gz.write_all(bytes)
    };
    put(&mut gz, &mut raw, b"{\"Records\":[")?;
    let mut records = 0;
    for i in 0..plan.records_per_file {
        if raw >= budget {
            break;
        }
        records += 1;
        if i > 0 {
            put(&mut gz, &mut raw, b",")?;
        }
        let rec = g.record(
            account,
            region,
            epoch + (i as i64 * 300) / plan.records_per_file as i64,
        );
        put(&mut gz, &mut raw, &serde_json::to_vec(&rec)?)?;
    }
    put(&mut gz, &mut raw, b"]}")?;
    let file = gz.finish()?;
    let packed = file
        .into_inner()
        .map_err(|e| e.into_error())?
        .metadata()?
        .len();
    Ok((records, raw, packed))
}
