//! A `herald serve` in its own process, as an operator would run it: a fresh
//! data directory, the production log settings (the defaults: `info`, text on
//! stdout, read and thrown away here), no API rate limit (one key drives the
//! whole load) and deliveries allowed to loopback receivers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Herald {
    child: Child,
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
    /// The `max_in_flight` endpoints are created with (`None`: the server's default).
    max_in_flight: Option<u32>,
    stderr: Arc<Mutex<String>>,
    _data: tempfile::TempDir,
}

/// How to start the server: the binary, and a command that wraps it (such as
/// `valgrind --tool=callgrind`), if any.
#[derive(Clone)]
pub struct Launch {
    pub bin: PathBuf,
    pub wrap: Vec<String>,
    /// Concurrent requests each endpoint allows (`None`: the server's default).
    pub max_in_flight: Option<u32>,
}

impl Launch {
    pub async fn start(&self) -> anyhow::Result<Herald> {
        let data = tempfile::tempdir()?;
        let mut cmd = match self.wrap.split_first() {
            Some((first, rest)) => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("serve")
            .env("HERALD_DATA_DIR", data.path())
            .env("HERALD_LISTEN", "127.0.0.1:0")
            .env("HERALD_OUTBOUND_ALLOW_CIDRS", "127.0.0.0/8")
            .env("HERALD_API_RATE_LIMIT", "0")
            .env_remove("HERALD_LOG")
            .env_remove("HERALD_LOG_FORMAT")
            .env_remove("HERALD_CONFIG")
            .env_remove("HERALD_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let sink = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let mut text = sink.lock().expect("stderr buffer");
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut out_lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let base = tokio::time::timeout(Duration::from_secs(900), async {
            while let Some(line) = out_lines.next_line().await? {
                if let Some(url) = line.split("Herald console: ").nth(1) {
                    return Ok(url.trim().to_owned());
                }
            }
            bail!("herald exited before listening")
        })
        .await
        .context("herald did not start within 15 minutes")?
        .map_err(|e| anyhow::anyhow!("{e}: {}", stderr.lock().expect("stderr buffer")))?;
        // The server's log, read so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = out_lines.next_line().await {} });
        let key = api_key(&self.bin, data.path()).await?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Herald {
            child,
            base,
            key,
            http,
            max_in_flight: self.max_in_flight,
            stderr,
            _data: data,
        })
    }
}

/// A new API key of scope `all` for the default tenant, from the CLI.
async fn api_key(bin: &Path, data: &Path) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(["api-key", "create", "--name", "load"])
        .env("HERALD_DATA_DIR", data)
        .env_remove("HERALD_CONFIG")
        .env_remove("HERALD_DATABASE_URL")
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Key (shown only once): "))
        .map(|k| k.trim().to_owned())
        .with_context(|| {
            format!(
                "no key from `herald api-key create`: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

impl Herald {
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// The endpoints' `max_in_flight`, as the figures are labelled.
    pub fn endpoint_limit(&self) -> String {
        self.max_in_flight
            .map_or_else(|| "the server's default".to_owned(), |n| n.to_string())
    }

    /// Subscribes an endpoint at `url` to `types`; returns its id.
    pub async fn endpoint(&self, url: &str, types: &[&str]) -> anyhow::Result<String> {
        let res = self
            .http
            .post(self.url("/endpoints"))
            .bearer_auth(&self.key)
            .json(&json!({"url": url, "event_types": types, "max_in_flight": self.max_in_flight}))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        if status != 201 {
            bail!("creating the endpoint: {status} {body}");
        }
        Ok(body["id"].as_str().context("endpoint id")?.to_owned())
    }

    /// Stops the server as an operator would (SIGTERM) and returns what it
    /// wrote on stderr.
    pub async fn stop(mut self) -> anyhow::Result<String> {
        if let Some(pid) = self.child.id() {
            Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        tokio::time::timeout(Duration::from_secs(600), self.child.wait())
            .await
            .context("herald did not stop within 10 minutes")??;
        // The stderr reader finishes when the pipe closes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(self.stderr.lock().expect("stderr buffer").clone())
    }
}
