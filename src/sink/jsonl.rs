//! Alerts as JSON Lines on stdout or appended to a file, for log shippers.

use std::io::Write;

use tokio::sync::Mutex;

use super::Message;
use super::Partial;

pub struct JsonlSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonlSink {
    pub fn open(path: &str) -> std::io::Result<JsonlSink> {
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ))
        };
        Ok(JsonlSink {
            out: Mutex::new(out),
        })
    }

    pub async fn send<M: Message>(&self, alerts: &[&M]) -> Result<(), Partial> {
        let mut out = self.out.lock().await;
        for (i, a) in alerts.iter().enumerate() {
            let mut line = serde_json::to_vec(a).expect("messages serialize");
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                return Err(Partial {
                    accepted: (0..i).collect(),
                    error: e.to_string(),
                });
            }
        }
        out.flush().map_err(|e| Partial {
            accepted: vec![],
            error: e.to_string(),
        })
    }

    pub async fn flush(&self) {
        let _ = self.out.lock().await.flush();
    }
}
