//! Delivery statistics as charts: a range picker (kept in the URL), totals,
//! deliveries over time (succeeded and failed, stacked), success rate, latency
//! percentiles, the DLQ's depth and the endpoints failing most. Drawn with
//! leptos-chartistry in the browser; the server renders the totals and the
//! empty states. A range that ends now follows the live feed.

use chrono::{DateTime, Utc};
use herald_engine::model::{Granularity, LiveMessage};
use leptos::prelude::*;
// The glob brings the builder traits (`IntoInner`) the crate exports unnamed.
use leptos_chartistry::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_query_map};

use crate::components::live::use_live_feed;
use crate::components::ui::{Columns, ErrorNotice, query_escape, when};
use crate::pages::dashboard::fns::{RangeChoice, StatsView, delivery_stats};

const GREEN: Colour = Colour::from_rgb(0x1a, 0x7f, 0x37);
const RED: Colour = Colour::from_rgb(0xc6, 0x28, 0x28);
const BLUE: Colour = Colour::from_rgb(0x1f, 0x5f, 0xbf);
const AMBER: Colour = Colour::from_rgb(0xb2, 0x6b, 0x00);
const PURPLE: Colour = Colour::from_rgb(0x6a, 0x3d, 0x9a);
/// Chart height in pixels; the width follows the page.
const HEIGHT: f64 = 240.0;

/// A series line: straight segments between buckets (a curve would invent
/// values between them) and a dot on each bucket, so a bucket with no
/// neighbours (the gaps are buckets without attempts) still shows.
fn series_line<T: 'static>(
    name: &str,
    colour: Colour,
    get: impl Fn(&T) -> f64 + Send + Sync + 'static,
) -> Line<T, f64> {
    Line::new(get)
        .with_name(name)
        .with_colour(colour)
        .with_interpolation(Interpolation::Linear)
        .with_marker(Marker::from_shape(MarkerShape::Circle).with_scale(0.7))
}

/// One bucket as the charts plot it. Missing values are NaN (a gap).
#[derive(Debug, Clone, PartialEq)]
struct Row {
    at: DateTime<Utc>,
    succeeded: f64,
    failed: f64,
    success_pct: f64,
    p50: f64,
    p95: f64,
    p99: f64,
}

fn rows(view: &StatsView) -> Vec<Row> {
    let ms = |v: Option<u64>| v.map_or(f64::NAN, |v| v as f64);
    view.points
        .iter()
        .map(|p| Row {
            at: p.start,
            succeeded: p.counts.succeeded as f64,
            failed: p.counts.failed as f64,
            success_pct: p.counts.success_rate().map_or(f64::NAN, |r| r * 100.0),
            p50: ms(p.latency_p50_ms),
            p95: ms(p.latency_p95_ms),
            p99: ms(p.latency_p99_ms),
        })
        .collect()
}

fn per(g: Granularity) -> &'static str {
    match g {
        Granularity::Minute => "per minute",
        Granularity::Hour => "per hour",
        Granularity::Day => "per day",
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("—".into(), |r| format!("{:.1} %", r * 100.0))
}

fn millis(v: Option<u64>) -> String {
    v.map_or("—".into(), |v| format!("≤ {v} ms"))
}

/// The range picker and every chart, for the tenant or one endpoint.
#[component]
pub fn DeliveryStats(
    /// Only this endpoint's deliveries (the endpoint page).
    #[prop(optional, into)]
    endpoint: Option<String>,
) -> impl IntoView {
    let query = use_query_map();
    let location = use_location();
    let params = move || {
        query.with(|q| {
            (
                q.get("range").unwrap_or_default(),
                q.get("from").unwrap_or_default(),
                q.get("to").unwrap_or_default(),
            )
        })
    };
    let endpoint_filter = endpoint.clone().unwrap_or_default();
    let stats = Resource::new(params, move |(range, from, to)| {
        delivery_stats(range, from, to, endpoint_filter.clone())
    });

    // The live feed adds each finished attempt to the range on screen.
    let shown: StoredValue<Option<RwSignal<StatsView>>> = StoredValue::new(None);
    let connected = RwSignal::new(false);
    let only = endpoint.clone();
    use_live_feed("delivery.outcome", connected, move |message| {
        if let LiveMessage::DeliveryOutcome(outcome) = message
            && only
                .as_deref()
                .is_none_or(|id| outcome.endpoint_id.to_string() == id)
            && let Some(view) = shown.get_value()
        {
            view.update(|v| v.record(&outcome));
        }
    });

    let choice = move || {
        let (range, ..) = params();
        RangeChoice::parse(&range).unwrap_or(RangeChoice::DEFAULT)
    };
    let pathname = location.pathname;
    let link = move |c: RangeChoice| format!("{}?range={}", pathname.get(), c.as_str());
    let with_dashboard = endpoint.is_none();

    view! {
        <nav class="range-picker" aria-label="Time range">
            {RangeChoice::PRESETS.into_iter().map(|c| view! {
                <a href=move || link(c) aria-current=move || (choice() == c).then_some("true")>{c.label()}</a>
            }).collect_view()}
            <form method="get" class="custom-range" aria-label="Custom range">
                <input type="hidden" name="range" value="custom"/>
                <label>"From (UTC) "<input type="datetime-local" name="from" required
                    prop:value=move || if choice() == RangeChoice::Custom { params().1 } else { String::new() }/></label>
                <label>"To (UTC) "<input type="datetime-local" name="to" required
                    prop:value=move || if choice() == RangeChoice::Custom { params().2 } else { String::new() }/></label>
                <button type="submit">"Show range"</button>
            </form>
        </nav>
        <Suspense fallback=|| view! { <p class="muted">"Loading statistics…"</p> }>
            {move || Suspend::new(async move {
                match stats.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(data) => {
                        let view = RwSignal::new(data);
                        shown.set_value(Some(view));
                        view! { <StatsBody view with_dashboard connected/> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn StatsBody(
    view: RwSignal<StatsView>,
    with_dashboard: bool,
    connected: RwSignal<bool>,
) -> impl IntoView {
    let data = Signal::derive(move || view.with(rows));
    let depth = Signal::derive(move || {
        view.with(|v| {
            v.dlq_depth
                .iter()
                .map(|d| (d.end, d.depth as f64))
                .collect::<Vec<_>>()
        })
    });
    let total = move || view.with(|v| v.total.clone());
    let g = view.with_untracked(|v| v.granularity);
    let live = view.with_untracked(|v| v.live);
    let no_attempts = move || view.with(|v| v.total.counts.attempts == 0);
    let dlq_now = move || view.with(|v| v.dlq_depth.last().map_or(0, |d| d.depth));
    let dlq_empty = move || view.with(|v| v.dlq_depth.iter().all(|d| d.depth == 0));
    let failing = view.with_untracked(|v| v.failing.clone());

    view! {
        <p class="muted" role="status" aria-label="Range shown">
            {move || view.with(|v| format!("{} to {}, {} one-{} buckets", when(v.from), when(v.to), v.points.len(), g.as_str()))}
            {live.then(|| view! {
                " · "{move || if connected.get() { "live" } else { "connecting to the live feed…" }}
            })}
        </p>
        <dl class="kpis" aria-label="Totals for the range">
            <div><dt>"Attempts"</dt><dd data-kpi="attempts">{move || total().counts.attempts}</dd></div>
            <div><dt>"Succeeded"</dt><dd data-kpi="succeeded">{move || total().counts.succeeded}</dd></div>
            <div><dt>"Failed"</dt><dd data-kpi="failed">{move || total().counts.failed}</dd></div>
            <div><dt>"Success rate"</dt><dd data-kpi="success-rate">{move || percent(total().counts.success_rate())}</dd></div>
            <div><dt>"Latency p50 / p95 / p99"</dt><dd data-kpi="latency">
                {move || { let t = total(); format!("{} / {} / {}", millis(t.latency_p50_ms), millis(t.latency_p95_ms), millis(t.latency_p99_ms)) }}
            </dd></div>
            <div><dt>"In the DLQ now"</dt><dd data-kpi="dlq">{dlq_now}</dd></div>
            <Show when=move || { total().counts.breaker_held > 0 }>
                <div><dt>"Held by circuit breakers"</dt><dd data-kpi="breaker-held">{move || total().counts.breaker_held}</dd></div>
            </Show>
            <Show when=move || { let c = total().counts; c.acked + c.ack_timeouts > 0 }>
                <div><dt>"Acknowledged"</dt><dd data-kpi="acked">
                    {move || { let c = total().counts; format!("{} ({} not in time)", c.acked, c.ack_timeouts) }}
                </dd></div>
            </Show>
        </dl>
        <div class="charts">
            <ChartFigure id="chart-deliveries" title="Deliveries" unit=format!("attempts {}", per(g))
                empty=Signal::derive(no_attempts) data
                series=Series::new(|r: &Row| r.at)
                    .with_min_y(0.0)
                    .stack(Stack::new()
                        .line(series_line("Succeeded", GREEN, |r: &Row| r.succeeded))
                        .line(series_line("Failed", RED, |r: &Row| r.failed)))
            />
            <ChartFigure id="chart-success" title="Success rate" unit="% of attempts".into()
                empty=Signal::derive(no_attempts) data
                series=Series::new(|r: &Row| r.at)
                    .with_y_range(0.0, 100.0)
                    .line(series_line("Success rate (%)", GREEN, |r: &Row| r.success_pct))
            />
            <ChartFigure id="chart-latency" title="Latency" unit="milliseconds, upper bound of the histogram bucket".into()
                empty=Signal::derive(no_attempts) data
                series=Series::new(|r: &Row| r.at)
                    .with_min_y(0.0)
                    .line(series_line("p50", BLUE, |r: &Row| r.p50))
                    .line(series_line("p95", AMBER, |r: &Row| r.p95))
                    .line(series_line("p99", RED, |r: &Row| r.p99))
            />
            <ChartFigure id="chart-dlq" title="Dead-letter queue" unit="entries at the end of each bucket".into()
                empty=Signal::derive(dlq_empty) data=depth
                series=Series::new(|d: &(DateTime<Utc>, f64)| d.0)
                    .with_min_y(0.0)
                    .line(series_line("DLQ entries", PURPLE, |d: &(DateTime<Utc>, f64)| d.1))
            />
        </div>
        {with_dashboard.then(|| view! { <FailingEndpoints failing/> })}
    }
}

/// A chart over time with its title and unit, or the empty state when there
/// is nothing to draw. The chart itself is drawn once the page is interactive.
#[component]
fn ChartFigure<T: Clone + Send + Sync + 'static>(
    id: &'static str,
    title: &'static str,
    unit: String,
    empty: Signal<bool>,
    series: Series<T, DateTime<Utc>, f64>,
    data: Signal<Vec<T>>,
) -> impl IntoView {
    let caption = format!("{id}-caption");
    let labelled_by = caption.clone();
    let chart = move || {
        view! {
            <Chart
                aspect_ratio=AspectRatio::from_env_width(HEIGHT)
                top=Legend::start()
                left=TickLabels::aligned_floats().with_min_chars(5)
                bottom=TickLabels::timestamps()
                inner=[
                    AxisMarker::left_edge().into_inner(),
                    AxisMarker::bottom_edge().into_inner(),
                    YGridLine::default().into_inner(),
                    XGuideLine::over_data().into_inner(),
                ]
                tooltip=Tooltip::left_cursor()
                series=series.clone()
                data=data
            />
        }
    };
    view! {
        <figure class="chart" id=id aria-labelledby=labelled_by>
            <figcaption id=caption><strong>{title}</strong><span class="muted">{format!(" · {unit}")}</span></figcaption>
            <Show
                when=move || !empty.get()
                fallback=|| view! { <p class="chart-empty">"No data in this range."</p> }
            >
                {chart.clone()}
            </Show>
        </figure>
    }
}

/// An endpoint's breaker as a badge: open and half-open stand out.
fn circuit_badge(state: Option<herald_engine::model::BreakerState>) -> impl IntoView {
    use herald_engine::model::BreakerState;
    let (class, text) = match state {
        Some(BreakerState::Open) => ("badge bad", "open"),
        Some(BreakerState::HalfOpen) => ("badge warn", "half-open"),
        Some(BreakerState::Closed) => ("badge ok", "closed"),
        None => ("muted", "—"),
    };
    view! { <span class=class data-circuit=text>{text}</span> }
}

#[component]
fn FailingEndpoints(failing: Vec<crate::pages::dashboard::fns::FailingEndpoint>) -> impl IntoView {
    view! {
        <section aria-labelledby="failing-heading">
            <h2 id="failing-heading">"Endpoints failing most"</h2>
            {if failing.is_empty() {
                view! { <p class="muted">"No failed attempts in this range."</p> }.into_any()
            } else {
                view! {
                    <table aria-label="Endpoints failing most">
                        <Columns names=&["Endpoint", "Failed", "Attempts", "Failure rate", "Most frequent error", "Circuit"]/>
                        <tbody>
                            {failing.into_iter().map(|f| {
                                let rate = f.failed as f64 / f.attempts.max(1) as f64;
                                let href = format!("/endpoints/{}", f.id);
                                let dlq = format!("/dlq?endpoint_id={}", query_escape(&f.id.to_string()));
                                view! {
                                    <tr>
                                        <td><A href=href attr:class="mono">{f.url}</A></td>
                                        <td>{f.failed}</td>
                                        <td>{f.attempts}</td>
                                        <td>{format!("{:.1} %", rate * 100.0)}</td>
                                        <td>{f.top_error.map(|e| view! { <code>{e}</code> })}" "<a href=dlq>"DLQ"</a></td>
                                        <td>{circuit_badge(f.breaker)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
