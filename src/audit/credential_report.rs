//! The IAM credential report: one CSV row per user (and the root user), as
//! GetCredentialReport returns it or as `aws iam get-credential-report` saves it.

use base64::Engine;
use chrono::{DateTime, Utc};

pub const ROOT_USER: &str = "<root_account>";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("not a credential report: {0}")]
    Format(String),
    #[error("credential report row {row}: {message}")]
    Row { row: usize, message: String },
    #[error("credential report row {row}: {column}: {value:?} is not {expected}")]
    Value {
        row: usize,
        column: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A cell that does not hold what its column should; the row is added by the caller.
struct BadCell {
    column: &'static str,
    value: String,
    expected: &'static str,
}

/// One access key or signing certificate slot of a row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credential {
    pub active: bool,
    /// When it was created or last rotated; None when the slot is empty.
    pub last_rotated: Option<DateTime<Utc>>,
    /// Access keys only; None when never used.
    pub last_used: Option<DateTime<Utc>>,
}

impl Credential {
    /// The slot holds a key or certificate (active or not).
    pub fn exists(&self) -> bool {
        self.last_rotated.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub user: String,
    pub arn: String,
    pub created: Option<DateTime<Utc>>,
    /// None for the root user, whose row says `not_supported`.
    pub password_enabled: Option<bool>,
    pub password_last_used: Option<DateTime<Utc>>,
    pub password_last_changed: Option<DateTime<Utc>>,
    pub mfa_active: bool,
    pub keys: [Credential; 2],
    pub certs: [Credential; 2],
}

impl UserRow {
    pub fn is_root(&self) -> bool {
        self.user == ROOT_USER
    }

    pub fn active_keys(&self) -> impl Iterator<Item = (usize, &Credential)> {
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.active)
            .map(|(i, k)| (i + 1, k))
    }

    /// The last time the password or any key was used.
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        let keys = self.keys.iter().filter_map(|k| k.last_used);
        self.password_last_used.into_iter().chain(keys).max()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialReport {
    pub root: Option<UserRow>,
    pub users: Vec<UserRow>,
}

impl CredentialReport {
    /// The account id, from the first ARN in the report.
    pub fn account(&self) -> Option<String> {
        let arn = self.root.iter().chain(&self.users).next()?.arn.as_str();
        arn.split(':')
            .nth(4)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
    }

    /// Accepts the CSV itself, its base64 (GetCredentialReport's Content) or the JSON that
    /// `aws iam get-credential-report` prints.
    pub fn parse_any(input: &[u8]) -> Result<CredentialReport, ReportError> {
        let text = std::str::from_utf8(input)
            .map_err(|_| ReportError::Format("not UTF-8 text".into()))?
            .trim();
        if text.starts_with("user,") {
            return Self::parse_csv(text.as_bytes());
        }
        let content = if text.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| ReportError::Format(format!("JSON: {e}")))?;
            v.get("Content")
                .and_then(|c| c.as_str())
                .ok_or_else(|| ReportError::Format("JSON without a \"Content\" string".into()))?
                .to_string()
        } else {
            text.to_string()
        };
        let csv = base64::engine::general_purpose::STANDARD
            .decode(content.split_whitespace().collect::<String>())
            .map_err(|_| {
                ReportError::Format(
                    "neither CSV (first line \"user,arn,...\"), base64 nor get-credential-report JSON"
                        .into(),
                )
            })?;
        if !csv.starts_with(b"user,") {
            return Err(ReportError::Format(
                "decoded content does not start with the \"user,arn,...\" header".into(),
            ));
        }
        Self::parse_csv(&csv)
    }

    pub fn parse_csv(csv_bytes: &[u8]) -> Result<CredentialReport, ReportError> {
        let mut reader = csv::ReaderBuilder::new().from_reader(csv_bytes);
        let headers = reader
            .headers()
            .map_err(|e| ReportError::Format(e.to_string()))?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| ReportError::Format(format!("no column {name:?}")))
        };
        let cols = Columns {
            user: col("user")?,
            arn: col("arn")?,
            created: col("user_creation_time")?,
            password_enabled: col("password_enabled")?,
            password_last_used: col("password_last_used")?,
            password_last_changed: col("password_last_changed")?,
            mfa_active: col("mfa_active")?,
            keys: [
                [
                    col("access_key_1_active")?,
                    col("access_key_1_last_rotated")?,
                    col("access_key_1_last_used_date")?,
                ],
                [
                    col("access_key_2_active")?,
                    col("access_key_2_last_rotated")?,
                    col("access_key_2_last_used_date")?,
                ],
            ],
            certs: [
                [col("cert_1_active")?, col("cert_1_last_rotated")?],
                [col("cert_2_active")?, col("cert_2_last_rotated")?],
            ],
        };
        let mut report = CredentialReport::default();
        for (i, rec) in reader.records().enumerate() {
            let row_no = i + 2;
            let rec = rec.map_err(|e| ReportError::Row {
                row: row_no,
                message: e.to_string(),
            })?;
            let row = cols.row(&rec).map_err(|c| ReportError::Value {
                row: row_no,
                column: c.column,
                value: c.value,
                expected: c.expected,
            })?;
            if row.is_root() {
                report.root = Some(row);
            } else {
                report.users.push(row);
            }
        }
        Ok(report)
    }
}

struct Columns {
    user: usize,
    arn: usize,
    created: usize,
    password_enabled: usize,
    password_last_used: usize,
    password_last_changed: usize,
    mfa_active: usize,
    keys: [[usize; 3]; 2],
    certs: [[usize; 2]; 2],
}

impl Columns {
    fn row(&self, rec: &csv::StringRecord) -> Result<UserRow, BadCell> {
        let get = |i: usize| rec.get(i).unwrap_or("");
        let key = |c: &[usize; 3]| -> Result<Credential, BadCell> {
            Ok(Credential {
                active: flag(get(c[0]), "access_key_N_active")?.unwrap_or(false),
                last_rotated: time(get(c[1]), "access_key_N_last_rotated")?,
                last_used: time(get(c[2]), "access_key_N_last_used_date")?,
            })
        };
        let cert = |c: &[usize; 2]| -> Result<Credential, BadCell> {
            Ok(Credential {
                active: flag(get(c[0]), "cert_N_active")?.unwrap_or(false),
                last_rotated: time(get(c[1]), "cert_N_last_rotated")?,
                last_used: None,
            })
        };
        Ok(UserRow {
            user: get(self.user).to_string(),
            arn: get(self.arn).to_string(),
            created: time(get(self.created), "user_creation_time")?,
            password_enabled: flag(get(self.password_enabled), "password_enabled")?,
            password_last_used: time(get(self.password_last_used), "password_last_used")?,
            password_last_changed: time(get(self.password_last_changed), "password_last_changed")?,
            mfa_active: flag(get(self.mfa_active), "mfa_active")?.unwrap_or(false),
            keys: [key(&self.keys[0])?, key(&self.keys[1])?],
            certs: [cert(&self.certs[0])?, cert(&self.certs[1])?],
        })
    }
}

/// `true`/`false`; `not_supported` (the root user's password) is None.
fn flag(v: &str, column: &'static str) -> Result<Option<bool>, BadCell> {
    match v {
        "true" | "TRUE" => Ok(Some(true)),
        "false" | "FALSE" => Ok(Some(false)),
        "not_supported" | "N/A" | "" => Ok(None),
        _ => Err(BadCell {
            column,
            value: v.to_string(),
            expected: "true, false or not_supported",
        }),
    }
}

/// An ISO 8601 time; `N/A`, `no_information` and `not_supported` are None.
fn time(v: &str, column: &'static str) -> Result<Option<DateTime<Utc>>, BadCell> {
    match v {
        "N/A" | "no_information" | "not_supported" | "" => Ok(None),
        _ => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| BadCell {
                column,
                value: v.to_string(),
                expected: "an ISO 8601 time",
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn report() -> String {
        format!("{HEADER}\n<root_account>,arn:aws:iam::111122223333:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-01T10:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\nalice,arn:aws:iam::111122223333:user/alice,2025-01-01T00:00:00+00:00,true,no_information,2025-01-01T00:00:00+00:00,N/A,false,true,2025-01-01T00:00:05+00:00,2026-10-01T00:00:00+00:00,us-east-1,s3,false,2025-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A\n")
    }

    #[test]
    fn rows_columns_and_root() {
        let r = CredentialReport::parse_any(report().as_bytes()).unwrap();
        let root = r.root.as_ref().unwrap();
        assert_eq!(root.password_enabled, None);
        assert!(root.mfa_active);
        assert_eq!(r.users.len(), 1);
        let alice = &r.users[0];
        assert_eq!(alice.password_enabled, Some(true));
        assert_eq!(alice.password_last_used, None);
        assert!(alice.keys[0].active && !alice.keys[1].active && alice.keys[1].exists());
        assert_eq!(
            alice.active_keys().map(|(n, _)| n).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(r.account().as_deref(), Some("111122223333"));
    }

    #[test]
    fn base64_and_cli_json_give_the_same_report() {
        let csv = report();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&csv);
        let json = format!("{{\"Content\": \"{b64}\", \"ReportFormat\": \"text/csv\"}}");
        let plain = CredentialReport::parse_any(csv.as_bytes()).unwrap();
        assert_eq!(CredentialReport::parse_any(b64.as_bytes()).unwrap(), plain);
        assert_eq!(CredentialReport::parse_any(json.as_bytes()).unwrap(), plain);
    }

    #[test]
    fn bad_input_names_what_is_wrong() {
        let e = CredentialReport::parse_any(b"hello")
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither CSV"), "{e}");
        let bad = format!("{HEADER}\nbob,arn:aws:iam::1:user/bob,yesterday,true,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
        let e = CredentialReport::parse_any(bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 2") && e.contains("user_creation_time"),
            "{e}"
        );
        let e = CredentialReport::parse_any(b"user,arn\nx,y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("user_creation_time"), "{e}");
    }
}
