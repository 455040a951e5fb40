//! Delivery statistics as charts: a range picker (kept in the URL), totals,
//! deliveries over time (succeeded and failed side by side), success rate,
//! latency percentiles, the DLQ's depth and the endpoints failing most. The
//! charts are drawn on the server (`plot`); a range that ends now follows the
//! live feed.

use herald_engine::model::{Granularity, LiveMessage};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_query_map};

use crate::components::live::use_live_feed;
use crate::components::plot::{Kind, Plot, Series, TimeChart, Unit};
use crate::components::ui::{Columns, EndpointName, ErrorNotice, query_escape, when};
use crate::pages::dashboard::fns::{RangeChoice, StatsView, delivery_stats};

/// The buckets of a view as a chart of `kind` over `series`.
fn plot_of(v: &StatsView, kind: Kind, unit: Unit, max: Option<f64>, series: Vec<Series>) -> Plot {
    Plot {
        starts: v.points.iter().map(|p| p.start).collect(),
        step_ms: v.granularity.millis(),
        kind,
        unit,
        max,
        series,
    }
}

fn deliveries(v: &StatsView) -> Plot {
    let count = |f: fn(&herald_engine::model::Counts) -> u64| {
        v.points.iter().map(|p| Some(f(&p.counts) as f64)).collect()
    };
    plot_of(
        v,
        Kind::Bars,
        Unit::Count,
        None,
        vec![
            Series {
                name: "Succeeded",
                class: "s-ok",
                values: count(|c| c.succeeded),
            },
            Series {
                name: "Failed",
                class: "s-bad",
                values: count(|c| c.failed),
            },
        ],
    )
}

fn success(v: &StatsView) -> Plot {
    let values = v
        .points
        .iter()
        .map(|p| p.counts.success_rate().map(|r| r * 100.0))
        .collect();
    plot_of(
        v,
        Kind::Lines,
        Unit::Percent,
        Some(100.0),
        vec![Series {
            name: "Success rate",
            class: "s-ok",
            values,
        }],
    )
}

fn latency(v: &StatsView) -> Plot {
    let ms = |f: fn(&herald_engine::model::StatsPoint) -> Option<u64>| {
        v.points.iter().map(|p| f(p).map(|v| v as f64)).collect()
    };
    plot_of(
        v,
        Kind::Lines,
        Unit::Millis,
        None,
        vec![
            Series {
                name: "p50",
                class: "s-p50",
                values: ms(|p| p.latency_p50_ms),
            },
            Series {
                name: "p95",
                class: "s-p95",
                values: ms(|p| p.latency_p95_ms),
            },
            Series {
                name: "p99",
                class: "s-p99",
                values: ms(|p| p.latency_p99_ms),
            },
        ],
    )
}

fn dlq(v: &StatsView) -> Plot {
    let values = v.dlq_depth.iter().map(|d| Some(d.depth as f64)).collect();
    plot_of(
        v,
        Kind::Lines,
        Unit::Count,
        None,
        vec![Series {
            name: "DLQ entries",
            class: "s-dlq",
            values,
        }],
    )
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
    v.map_or("—".into(), |v| format!("{v} ms"))
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
    let total = move || view.with(|v| v.total.clone());
    let g = view.with_untracked(|v| v.granularity);
    let live = view.with_untracked(|v| v.live);
    let no_attempts = move || view.with(|v| v.total.counts.attempts == 0);
    let dlq_end = move || view.with(|v| v.dlq_depth.last().map_or(0, |d| d.depth));
    let dlq_empty = move || view.with(|v| v.dlq_depth.iter().all(|d| d.depth == 0));
    let failing = view.with_untracked(|v| v.failing.clone());
    let empty = || view! { <p class="chart-empty">"No data in this range."</p> };
    let figure = move |id: &'static str,
                       title: &'static str,
                       unit: String,
                       blank: bool,
                       plot: Plot| {
        if blank {
            view! {
                <figure class="chart" id=id aria-labelledby=format!("{id}-caption")>
                    <figcaption id=format!("{id}-caption")><strong>{title}</strong><span class="muted">{format!(" · {unit}")}</span></figcaption>
                    {empty()}
                </figure>
            }.into_any()
        } else {
            view! { <TimeChart id title unit_text=unit plot/> }.into_any()
        }
    };

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
            <div><dt>"Latency p50 / p95 / p99"</dt><dd data-kpi="latency" class="compact">
                {move || { let t = total(); format!("{} / {} / {}", millis(t.latency_p50_ms), millis(t.latency_p95_ms), millis(t.latency_p99_ms)) }}
            </dd></div>
            <div><dt>"In the DLQ now"</dt><dd data-kpi="dlq">{move || view.with(|v| v.dlq_now)}</dd></div>
            <Show when=move || !live>
                <div><dt>"In the DLQ at the range's end"</dt><dd data-kpi="dlq-end">{dlq_end}</dd></div>
            </Show>
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
            {move || { let (blank, plot) = (no_attempts(), view.with(deliveries)); figure("chart-deliveries", "Deliveries", format!("attempts {}", per(g)), blank, plot) }}
            {move || { let (blank, plot) = (no_attempts(), view.with(success)); figure("chart-success", "Success rate", "% of attempts".into(), blank, plot) }}
            {move || { let (blank, plot) = (no_attempts(), view.with(latency)); figure("chart-latency", "Latency", "milliseconds, to within 3 %".into(), blank, plot) }}
            {move || { let (blank, plot) = (dlq_empty(), view.with(dlq)); figure("chart-dlq", "Dead-letter queue", "entries at the end of each bucket".into(), blank, plot) }}
        </div>
        {with_dashboard.then(|| view! { <FailingEndpoints failing/> })}
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
                                        <td data-label="Endpoint"><A href=href><EndpointName name=f.name url=f.url/></A></td>
                                        <td data-label="Failed">{f.failed}</td>
                                        <td data-label="Attempts">{f.attempts}</td>
                                        <td data-label="Failure rate">{format!("{:.1} %", rate * 100.0)}</td>
                                        <td data-label="Most frequent error">{f.top_error.map(|e| {
                                            e.parse::<herald_engine::model::ErrorClass>()
                                                .map_or(e, |c| crate::components::ui::error_class_label(c).to_string())
                                        })}" "<a href=dlq>"DLQ"</a></td>
                                        <td data-label="Circuit">{circuit_badge(f.breaker)}</td>
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
