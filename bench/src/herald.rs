//! A `herald serve` in its own process, as an operator would run it: a fresh
//! data directory, the production log settings (the defaults: `info`, text on
//! stdout, read and thrown away here), no API rate limit (one key drives the
//! whole load) and deliveries allowed to loopback receivers.
//!
//! With `--postgres`, on a fresh schema of that PostgreSQL database, as one
//! or more nodes (`--nodes`), each with a data directory of its own and the
//! same master key; requests go to the nodes in turn, as a load balancer
//! would send them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Herald {
    children: Vec<Child>,
    /// Where it listens: every node's address, comma-separated.
    pub base: String,
    bases: Vec<String>,
    /// The node the next request goes to.
    turn: std::sync::atomic::AtomicUsize,
    pub key: String,
    pub http: reqwest::Client,
    /// The `max_in_flight` endpoints are created with (`None`: the server's default).
    max_in_flight: Option<u32>,
    stderr: Arc<Mutex<String>>,
    /// The PostgreSQL schema made for this run, dropped at the end.
    schema: Option<(String, String)>,
    _data: Vec<tempfile::TempDir>,
}

/// How to start the server: the binary, and a command that wraps it (such as
/// `valgrind --tool=callgrind`), if any.
#[derive(Clone)]
pub struct Launch {
    pub bin: PathBuf,
    pub wrap: Vec<String>,
    /// Concurrent requests each endpoint allows (`None`: the server's default).
    pub max_in_flight: Option<u32>,
    /// A PostgreSQL database to run on (a fresh schema in it), instead of SQLite.
    pub postgres: Option<String>,
    /// `herald serve` processes sharing it.
    pub nodes: usize,
    /// More settings for every node, as environment variables.
    pub env: Vec<(String, String)>,
}

/// 32 random bytes as hex: one master key for every node of a run.
fn master_key() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs SQL on `database` with psql; what it printed (unaligned, no headers).
pub(crate) async fn psql(database: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("psql")
        .args([database, "-qtAc", sql])
        .output()
        .await
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Launch {
    /// What the figures were measured on.
    pub fn label(&self) -> String {
        match &self.postgres {
            None => "SQLite".to_owned(),
            Some(_) => format!(
                "PostgreSQL, {} node{}",
                self.nodes,
                if self.nodes == 1 { "" } else { "s" }
            ),
        }
    }

    pub async fn start(&self) -> anyhow::Result<Herald> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut schema = None;
        if let Some(database) = &self.postgres {
            let name = format!(
                "bench_{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_millis()
            );
            psql(database, &format!("create schema {name}")).await?;
            let separator = if database.contains('?') { '&' } else { '?' };
            env.push((
                "HERALD_DATABASE_URL".into(),
                format!("{database}{separator}options=-c%20search_path%3D{name}"),
            ));
            env.push(("HERALD_MASTER_KEY".into(), master_key()?));
            schema = Some((database.clone(), name));
        }
        env.extend(self.env.iter().cloned());
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut children, mut bases, mut dirs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.nodes.max(1) {
            let data = tempfile::tempdir()?;
            let (child, base) = self.spawn(data.path(), &env, &stderr).await?;
            children.push(child);
            bases.push(base);
            dirs.push(data);
        }
        let key = api_key(&self.bin, dirs[0].path(), &env).await?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Herald {
            children,
            base: bases.join(","),
            bases,
            turn: std::sync::atomic::AtomicUsize::new(0),
            key,
            http,
            max_in_flight: self.max_in_flight,
            stderr,
            schema,
            _data: dirs,
        })
    }

    /// One `herald serve` on `data`; its address once it listens.
    async fn spawn(
        &self,
        data: &Path,
        env: &[(String, String)],
        stderr: &Arc<Mutex<String>>,
    ) -> anyhow::Result<(Child, String)> {
        let mut cmd = match self.wrap.split_first() {
            Some((first, rest)) => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("serve")
            .env("HERALD_DATA_DIR", data)
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
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
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
        Ok((child, base))
    }
}

/// A new API key of scope `all` for the default tenant, from the CLI.
async fn api_key(bin: &Path, data: &Path, env: &[(String, String)]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(["api-key", "create", "--name", "load"])
        .env("HERALD_DATA_DIR", data)
        .env_remove("HERALD_CONFIG")
        .env_remove("HERALD_DATABASE_URL")
        .envs(env.iter().map(|(k, v)| (k, v)))
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
    /// The first node's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let base = self.bases.first().context("no node")?;
        Ok(self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?)
    }

    /// Every node's `/metrics` text.
    pub async fn metrics_of_each(&self) -> anyhow::Result<Vec<String>> {
        let mut each = Vec::with_capacity(self.bases.len());
        for base in &self.bases {
            each.push(
                self.http
                    .get(format!("{base}/metrics"))
                    .send()
                    .await?
                    .text()
                    .await?,
            );
        }
        Ok(each)
    }

    /// The server processes' ids.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().filter_map(Child::id).collect()
    }

    /// The PostgreSQL database and schema this run uses, if on PostgreSQL.
    pub fn schema(&self) -> Option<(&str, &str)> {
        self.schema.as_ref().map(|(d, s)| (d.as_str(), s.as_str()))
    }

    /// The first node's data directory (its SQLite database, on SQLite).
    pub fn data_dir(&self) -> &Path {
        self._data[0].path()
    }

    /// An API URL on the next node in turn.
    pub fn url(&self, path: &str) -> String {
        let turn = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}/api/v1{path}", self.bases[turn % self.bases.len()])
    }

    /// The endpoints' `max_in_flight`, as the figures are labelled.
    pub fn endpoint_limit(&self) -> String {
        self.max_in_flight
            .map_or_else(|| "the server's default".to_owned(), |n| n.to_string())
    }

    /// Subscribes an endpoint at `url` to `types`; returns its id.
    pub async fn endpoint(&self, url: &str, types: &[&str]) -> anyhow::Result<String> {
        self.endpoint_with(url, types, json!({})).await
    }

    /// [`Herald::endpoint`] with more of the endpoint's fields (`extra`).
    pub async fn endpoint_with(
        &self,
        url: &str,
        types: &[&str],
        extra: Value,
    ) -> anyhow::Result<String> {
        let mut body =
            json!({"url": url, "event_types": types, "max_in_flight": self.max_in_flight});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let res = self
            .http
            .post(self.url("/endpoints"))
            .bearer_auth(&self.key)
            .json(&body)
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
        for child in &self.children {
            if let Some(pid) = child.id() {
                Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await?;
            }
        }
        for child in &mut self.children {
            tokio::time::timeout(Duration::from_secs(600), child.wait())
                .await
                .context("herald did not stop within 10 minutes")??;
        }
        // The stderr reader finishes when the pipe closes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some((database, name)) = &self.schema {
            psql(database, &format!("drop schema {name} cascade")).await?;
        }
        Ok(self.stderr.lock().expect("stderr buffer").clone())
    }
}
