"""Draws a soak run's samples (the CSV `herald-load soak` writes) as one PNG:
memory and open files, database size, ingest and delivery latency, and the
queue, each against minutes into the run."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

source, target, label = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
with open(source, newline="") as f:
    rows = list(csv.DictReader(f))
if not rows:
    sys.exit(f"soak-chart: {source} has no samples")


def col(name):
    return [float(r[name]) for r in rows]


minutes = [s / 60 for s in col("secs")]
fig, axes = plt.subplots(4, 1, figsize=(10, 12), sharex=True)
fig.suptitle(f"Herald soak test ({label}): {len(rows)} samples", fontsize=13)

ax = axes[0]
ax.plot(minutes, col("rss_mib"), label="RSS (MiB)", color="tab:blue")
ax.set_ylabel("RSS (MiB)")
ax.set_ylim(bottom=0)
twin = ax.twinx()
twin.plot(minutes, col("open_fds"), label="open files", color="tab:orange")
twin.set_ylabel("open files")
twin.set_ylim(bottom=0)
ax.legend(loc="upper left")
twin.legend(loc="upper right")

ax = axes[1]
ax.plot(minutes, col("db_mib"), color="tab:green")
ax.set_ylabel("database (MiB)")
ax.set_ylim(bottom=0)

ax = axes[2]
for name, style in [("ingest_p50_ms", ":"), ("ingest_p99_ms", "-"), ("delivery_p50_ms", ":"), ("delivery_p99_ms", "-")]:
    ax.plot(minutes, col(name), style, label=name.replace("_ms", "").replace("_", " "))
ax.set_yscale("log")
ax.set_ylabel("latency (ms, log)")
ax.legend(loc="upper left", ncol=2)

ax = axes[3]
ax.plot(minutes, col("queue_depth"), label="live deliveries", color="tab:purple")
ax.plot(minutes, col("dlq_depth"), label="DLQ", color="tab:red")
ax.set_ylabel("deliveries")
ax.set_xlabel("minutes into the run")
ax.set_ylim(bottom=0)
ax.legend(loc="upper left")

for ax in axes:
    ax.grid(True, alpha=0.3)
fig.tight_layout()
fig.savefig(target, dpi=100)
