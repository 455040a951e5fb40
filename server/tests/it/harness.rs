//! A real Herald on a free port with a fresh data directory.

use herald_engine::auth::register_user;
use herald_engine::dispatch::guard::DestinationGuard;
use herald_engine::model::{Role, Scope};
use herald_engine::store::DEFAULT_TENANT;
use herald_server::{Config, Running};
use reqwest::header::SET_COOKIE;

pub const ADMIN_EMAIL: &str = "admin@herald.test";
pub const ADMIN_PASSWORD: &str = "it-admin-password";

pub struct TestServer {
    pub running: Running,
    pub base: String,
    /// Does not follow redirects, so tests see them.
    pub http: reqwest::Client,
    data: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), adjust).await
    }

    /// Starts on an existing data directory (a restart, say).
    pub async fn start_in(data: tempfile::TempDir, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::for_data_dir(data.path());
        if let Some(url) = postgres_for(data.path()).await {
            config.database_url = url;
        }
        config.admin_email = ADMIN_EMAIL.into();
        config.admin_password = Some(ADMIN_PASSWORD.into());
        // Test receivers listen on loopback, which the guard refuses by default.
        config.outbound_guard = DestinationGuard::new(
            DestinationGuard::parse_allow_list("127.0.0.0/8,::1/128").unwrap(),
        );
        // Transforms run in Herald's binary, not in this test program.
        config.transform_program = Some(env!("CARGO_BIN_EXE_herald").into());
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let running = herald_server::start(config, listener)
            .await
            .expect("server starts");
        let base = format!("http://{}", running.addr);
        // Like a browser on one of the console's pages, it names its origin:
        // console changes without one are refused as cross-site.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::ORIGIN, base.parse().expect("origin"));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("client");
        Self {
            running,
            base,
            http,
            data,
        }
    }

    /// The data directory (its `herald.db` is the SQLite database).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/metrics` as Prometheus text.
    pub async fn metrics(&self) -> String {
        let res = self.http.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }

    /// Shuts down gracefully and hands back the data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.running.shutdown().await.expect("clean shutdown");
        self.data
    }

    /// An API key for the default tenant, made through the store as the CLI does.
    pub async fn api_key(&self, scope: Scope) -> String {
        self.tenant_key(DEFAULT_TENANT, scope).await
    }

    /// An API key for the tenant with this slug (created when missing).
    pub async fn tenant_key(&self, slug: &str, scope: Scope) -> String {
        let store = &self.running.state.store;
        let tenant = store.ensure_tenant(slug, slug).await.unwrap();
        // A consume key is bound to an inbox: one made for it.
        let inbox = if scope == Scope::Consume {
            let input =
                serde_json::from_value(serde_json::json!({"kind": "inbox", "event_types": ["*"]}))
                    .unwrap();
            let inbox = herald_engine::validate::endpoint(input).unwrap();
            let audit = herald_engine::audit::AuditBy::system().entry(
                Some(tenant.id),
                herald_engine::model::AuditAction::EndpointCreate,
                inbox.id,
                "an inbox for a consume key",
            );
            Some(
                store
                    .create_endpoint(tenant.id, inbox, &audit)
                    .await
                    .unwrap()
                    .id,
            )
        } else {
            None
        };
        let (_, key) = herald_engine::auth::issue_bound_api_key(
            store.as_ref(),
            &herald_engine::audit::AuditBy::system(),
            tenant.id,
            &format!("{scope} key"),
            scope,
            herald_engine::auth::KeyBinding {
                endpoint: inbox,
                default_source: None,
            },
        )
        .await
        .unwrap();
        key
    }

    pub async fn create_user(&self, email: &str, password: &str, role: Role) {
        register_user(
            self.running.state.store.as_ref(),
            &herald_engine::audit::AuditBy::system(),
            email,
            password.into(),
            role,
        )
        .await
        .unwrap();
    }

    /// Signs in through the console's login function; returns the `Cookie` header value.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<String, reqwest::Response> {
        let res = self
            .http
            .post(self.url("/fn/login"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        let cookie = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("herald_session=") && !v.starts_with("herald_session=;"))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        match cookie {
            Some(c) => Ok(c),
            None => Err(res),
        }
    }

    /// Calls a console server function as the holder of `cookie`, with a form
    /// body (empty: no fields).
    pub async fn console_call(
        &self,
        cookie: &str,
        function: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/fn/{function}")))
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Loads a console page as the holder of `cookie`.
    pub async fn console_page(&self, cookie: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }
}

/// With `HERALD_TEST_BACKEND=postgres`, the database of a server on `data`:
/// a schema of the `herald_test` database of its own, named in the data
/// directory so a restart finds it again. Schemas of earlier runs are dropped
/// when the first server of a run starts.
async fn postgres_for(data: &std::path::Path) -> Option<String> {
    if std::env::var("HERALD_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    static CLEARED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let base = "postgres://postgres@127.0.0.1:5432/herald_test";
    let pool = sqlx::PgPool::connect(base)
        .await
        .expect("HERALD_TEST_BACKEND=postgres needs PostgreSQL with a herald_test database");
    CLEARED
        .get_or_init(|| async {
            let old: Vec<String> = sqlx::query_scalar(
                "select nspname::text from pg_namespace where nspname like 's\\_%'",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            for schema in old {
                let _ = sqlx::query(&format!("drop schema {schema} cascade"))
                    .execute(&pool)
                    .await;
            }
        })
        .await;
    let named = data.join("postgres-schema");
    let schema = match std::fs::read_to_string(&named) {
        Ok(name) => name,
        Err(_) => {
            let name = format!("s_{}", ulid::Ulid::new().to_string().to_lowercase());
            sqlx::query(&format!("create schema {name}"))
                .execute(&pool)
                .await
                .unwrap();
            std::fs::write(&named, &name).unwrap();
            name
        }
    };
    pool.close().await;
    Some(format!("{base}?options=-c%20search_path%3D{schema}"))
}
