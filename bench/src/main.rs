//! `herald-load`: Herald's load generator, a process of its own beside the
//! `herald serve` it starts, so the figures are what a real client sees.
//!
//! - `throughput`: single-event and batched ingest (every event subscribed by
//!   one endpoint, so each creates a delivery), then deliveries per second to
//!   one local receiver.
//! - `latency`: ingest → receiver latency at steady publish rates.
//! - `load`: sustained and burst request rates of mixed publishes and reads;
//!   success rate and percentiles.
//! - `instructions`: instructions the server executes per ingested event and
//!   per delivery, counted by callgrind (stable on a noisy machine).
//!
//! `make bench-load`, `make loadtest` and `make bench-instructions` run them
//! on a release build. Nothing here asserts a speed: it prints figures.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod herald;
mod ordering;
mod receiver;
mod retention;
mod soak;
mod workload;

use herald::Launch;

/// How `instructions` runs the server unless `--wrap` says otherwise.
const CALLGRIND: &str = "valgrind --tool=callgrind --callgrind-out-file=/dev/null";

#[derive(Parser)]
#[command(
    name = "herald-load",
    about = "Load generator for Herald (a separate process from the server)"
)]
struct Cli {
    /// The herald binary to start (a release build for figures worth quoting).
    #[arg(long, env = "HERALD_BIN")]
    herald: PathBuf,
    /// A command to run the server under, such as `perf record -g --`
    /// (split at spaces). `instructions` uses callgrind unless this is given.
    #[arg(long, value_delimiter = ' ', num_args = 1, allow_hyphen_values = true)]
    wrap: Vec<String>,
    /// The receiver endpoint's `max_in_flight` (concurrent requests Herald
    /// sends it); the server's `endpoint_concurrency` (8) unless given.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    max_in_flight: Option<u32>,
    /// Run on this PostgreSQL database (a fresh schema in it, dropped at the
    /// end) instead of SQLite, e.g. postgres://postgres@127.0.0.1:5432/herald_bench.
    #[arg(long)]
    postgres: Option<String>,
    /// `herald serve` processes sharing the PostgreSQL database; requests go
    /// to them in turn.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    nodes: u32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest (single and batched) and delivery throughput.
    Throughput {
        #[arg(long, default_value_t = 20_000)]
        single_events: usize,
        #[arg(long, default_value_t = 32)]
        single_clients: usize,
        #[arg(long, default_value_t = 100)]
        batches: usize,
        #[arg(long, default_value_t = 1_000)]
        batch_size: usize,
        #[arg(long, default_value_t = 4)]
        batch_clients: usize,
        #[arg(long, default_value_t = 20_000)]
        deliveries: usize,
        /// Endpoints subscribed to every event (all to the one receiver):
        /// each event makes this many deliveries, which spread over the
        /// nodes by endpoint.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        endpoints: u32,
    },
    /// Delivery throughput with no order, ordered by key and ordered by
    /// endpoint (one stream), to one local receiver.
    Ordering {
        #[arg(long, default_value_t = 20_000)]
        deliveries: usize,
        /// Deliveries to the endpoint ordered as one stream (one at a time).
        #[arg(long, default_value_t = 2_000)]
        endpoint_deliveries: usize,
        #[arg(long, default_value_t = 1_000)]
        keys: usize,
    },
    /// Ingest → receiver latency at steady publish rates (events/s), each for `--secs`.
    Latency {
        #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
        rates: Vec<u32>,
        #[arg(long, default_value_t = 60)]
        secs: u32,
    },
    /// Mixed publishes and reads at a sustained rate, then a burst.
    Load {
        #[arg(long, default_value_t = 100)]
        steady_rate: u32,
        #[arg(long, default_value_t = 600)]
        steady_secs: u32,
        #[arg(long, default_value_t = 1_000)]
        burst_rate: u32,
        #[arg(long, default_value_t = 60)]
        burst_secs: u32,
    },
    /// Publish latency while retention prunes `--expired` old events (each
    /// with a delivery and a receipt) from SQLite, against the same load
    /// before and after.
    Retention {
        #[arg(long, default_value_t = 1_000_000)]
        expired: u64,
        #[arg(long, default_value_t = 1_000)]
        rate: u32,
        #[arg(long, default_value_t = 30)]
        secs: u32,
    },
    /// A long run under steady load (half of the maximum measured first,
    /// unless `--rate`), with a receiver that fails 5 % of requests and
    /// hangs on 1 %, a replay and a retention pass along the way; samples
    /// RSS, open files, database size, latencies and queue depth into
    /// `--csv`, and checks that every accepted event was delivered or
    /// dead-lettered with a reason.
    Soak {
        #[arg(long, default_value_t = 30)]
        minutes: u32,
        #[arg(long, default_value_t = 10)]
        sample_secs: u32,
        #[arg(long)]
        rate: Option<u32>,
        #[arg(long, default_value = "soak.csv")]
        csv: PathBuf,
        #[arg(long, default_value_t = 200_000)]
        expired: u64,
    },
    /// Instructions per ingested event and per delivery, under callgrind:
    /// each workload at two sizes, the difference divided by the difference in
    /// size (so start-up and shutdown cancel out).
    Instructions {
        #[arg(long, default_value_t = 500)]
        small: usize,
        #[arg(long, default_value_t = 2_000)]
        large: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let launch = Launch {
        bin: cli.herald,
        wrap: cli.wrap,
        max_in_flight: cli.max_in_flight,
        postgres: cli.postgres,
        nodes: cli.nodes as usize,
        env: Vec::new(),
    };
    if launch.nodes > 1 && launch.postgres.is_none() {
        anyhow::bail!("--nodes: several nodes share a PostgreSQL database; give --postgres too");
    }
    runtime.block_on(async move {
        match cli.command {
            Command::Throughput {
                single_events,
                single_clients,
                batches,
                batch_size,
                batch_clients,
                deliveries,
                endpoints,
            } => {
                workload::throughput(
                    &launch,
                    workload::Sizes {
                        single_events,
                        single_clients,
                        batches,
                        batch_size,
                        batch_clients,
                        deliveries,
                        endpoints: endpoints as usize,
                    },
                )
                .await
            }
            Command::Ordering {
                deliveries,
                endpoint_deliveries,
                keys,
            } => {
                ordering::ordering(
                    &launch,
                    ordering::OrderingRun {
                        deliveries,
                        endpoint_deliveries,
                        keys: keys.max(1),
                    },
                )
                .await
            }
            Command::Latency { rates, secs } => workload::latency(&launch, &rates, secs).await,
            Command::Load {
                steady_rate,
                steady_secs,
                burst_rate,
                burst_secs,
            } => {
                workload::load(
                    &launch,
                    &[
                        ("sustained", steady_rate, steady_secs),
                        ("burst", burst_rate, burst_secs),
                    ],
                )
                .await
            }
            Command::Retention {
                expired,
                rate,
                secs,
            } => retention::retention(&launch, expired, rate, secs).await,
            Command::Soak {
                minutes,
                sample_secs,
                rate,
                csv,
                expired,
            } => {
                soak::soak(
                    &launch,
                    soak::SoakRun {
                        minutes,
                        sample_secs: sample_secs.max(1),
                        rate,
                        csv,
                        expired,
                    },
                )
                .await
            }
            Command::Instructions { small, large } => {
                let mut launch = launch;
                if launch.wrap.is_empty() {
                    launch.wrap = CALLGRIND.split(' ').map(str::to_owned).collect();
                }
                workload::instructions(&launch, small, large).await
            }
        }
    })
}
