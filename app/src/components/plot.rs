//! Charts over time, drawn on the server as SVG and HTML: they show before
//! the page is interactive, read the same with or without wasm, and each
//! comes with its numbers as a table (the text alternative).
//!
//! What they promise: series are never stacked (bars side by side, lines on
//! their own values), the value axis starts at 0 and its ticks are round
//! numbers (1, 2 or 5 times a power of ten; whole numbers for counts), time
//! ticks fall on round times (every 5 minutes, hour, 6 hours, day…) and are
//! the same for every chart of one range, and a bucket's tooltip gives its
//! exact values.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One bar per series in each bucket, side by side.
    Bars,
    /// A line through each bucket's value; no value is a gap.
    Lines,
}

/// What the values count, for the axis and the tooltips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Percent,
    Millis,
}

impl Unit {
    /// A value as the tooltip and the table show it: exact.
    pub fn exact(self, v: f64) -> String {
        match self {
            Unit::Count => thousands(v.round() as u64),
            Unit::Percent => format!("{v:.1} %"),
            Unit::Millis => format!("{} ms", thousands(v.round() as u64)),
        }
    }

    /// A tick label: short.
    fn tick(self, v: f64) -> String {
        match self {
            Unit::Percent => format!("{v} %"),
            _ if v >= 1_000_000.0 && v % 100_000.0 == 0.0 => format!("{}M", v / 1_000_000.0),
            _ if v >= 10_000.0 && v % 1_000.0 == 0.0 => format!("{}k", v / 1_000.0),
            _ => thousands(v as u64),
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One series: its name, its colour (a CSS class, so both themes set it)
/// and a value per bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
    pub values: Vec<Option<f64>>,
}

/// A chart's data: buckets of `step_ms` starting at `starts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub starts: Vec<DateTime<Utc>>,
    pub step_ms: i64,
    pub kind: Kind,
    pub unit: Unit,
    /// The top of the value axis when it is fixed (100 for a percentage).
    pub max: Option<f64>,
    pub series: Vec<Series>,
}

/// Round ticks from 0 to at least `max`: a step of 1, 2 or 5 times a power
/// of ten giving at most five intervals, whole steps for counts.
pub fn value_ticks(max: f64, whole: bool) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    if whole {
        step = step.max(1.0).round();
    }
    let intervals = (max / step).ceil().max(1.0) as u32;
    // Rounded to a billionth: 3 × 0.1 is 0.3, not 0.30000000000000004.
    (0..=intervals)
        .map(|i| (f64::from(i) * step * 1e9).round() / 1e9)
        .collect()
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// The time steps a time axis may use.
const TIME_STEPS: [i64; 16] = [
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    30 * DAY,
];

/// Ticks on round times (UTC) between `from_ms` and `to_ms`: the smallest
/// step that gives at most `most` of them.
pub fn time_ticks(from_ms: i64, to_ms: i64, most: i64) -> (Vec<i64>, i64) {
    let span = (to_ms - from_ms).max(1);
    let step = TIME_STEPS
        .into_iter()
        .find(|s| span / s < most)
        .unwrap_or(TIME_STEPS[TIME_STEPS.len() - 1]);
    let mut t = (from_ms + step - 1).div_euclid(step) * step;
    let mut ticks = Vec::new();
    while t <= to_ms {
        ticks.push(t);
        t += step;
    }
    (ticks, step)
}

/// A time tick's label: the time of day, or the date at midnight and for
/// steps of a day or more.
pub fn time_label(at_ms: i64, step: i64) -> String {
    let Some(t) = DateTime::from_timestamp_millis(at_ms) else {
        return String::new();
    };
    if step >= DAY || at_ms.rem_euclid(DAY) == 0 {
        t.format("%b %-d").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

/// A bucket as its tooltip and its table row name it.
fn bucket_label(start: DateTime<Utc>, step_ms: i64) -> String {
    let end = start + chrono::Duration::milliseconds(step_ms);
    if step_ms >= DAY {
        start.format("%Y-%m-%d").to_string()
    } else {
        format!(
            "{}–{} UTC",
            start.format("%Y-%m-%d %H:%M"),
            end.format("%H:%M")
        )
    }
}

/// The drawing area, in SVG user units (scaled to the box, not kept square).
const W: f64 = 1000.0;
const H: f64 = 200.0;

fn pct(v: f64) -> String {
    format!("{:.3}%", v * 100.0)
}

/// The chart: legend, axes, the series, a tooltip per bucket and the table.
#[component]
pub fn TimeChart(
    /// The figure's id (its caption is `{id}-caption`).
    id: &'static str,
    title: &'static str,
    #[prop(into)] unit_text: String,
    plot: Plot,
) -> impl IntoView {
    let caption = format!("{id}-caption");
    let labelled_by = caption.clone();
    let n = plot.starts.len();
    let from = plot.starts.first().map_or(0, |t| t.timestamp_millis());
    let to = from + plot.step_ms * n as i64;
    let span = (to - from).max(1) as f64;
    let highest = plot
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0_f64, |a, b| a.max(*b));
    let ticks = value_ticks(plot.max.unwrap_or(highest), plot.unit == Unit::Count);
    let top = plot.max.unwrap_or_else(|| *ticks.last().unwrap_or(&1.0));
    let y = move |v: f64| H - (v / top).clamp(0.0, 1.0) * H;
    let bucket_w = W / n.max(1) as f64;
    let (xticks, xstep) = time_ticks(from, to, 7);

    let grid = ticks
        .iter()
        .map(|t| {
            let at = format!("{:.2}", y(*t));
            view! { <line class="gridline" x1="0" x2=W.to_string() y1=at.clone() y2=at vector-effect="non-scaling-stroke"/> }
        })
        .collect_view();
    let marks = match plot.kind {
        Kind::Bars => bars(&plot, bucket_w, y).into_any(),
        Kind::Lines => lines(&plot, bucket_w, y).into_any(),
    };
    let y_labels = ticks
        .iter()
        .map(|t| {
            let style = format!("bottom: {}", pct(t / top));
            view! { <span style=style>{plot.unit.tick(*t)}</span> }
        })
        .collect_view();
    let x_labels = xticks
        .iter()
        .map(|t| {
            let style = format!("left: {}", pct((t - from) as f64 / span));
            view! { <span style=style>{time_label(*t, xstep)}</span> }
        })
        .collect_view();
    let tips = (0..n)
        .map(|i| {
            let label = bucket_label(plot.starts[i], plot.step_ms);
            let side = if i * 2 >= n { "tip left" } else { "tip" };
            let rows = plot
                .series
                .iter()
                .map(|s| {
                    let value = s.values.get(i).copied().flatten().map_or("—".to_string(), |v| plot.unit.exact(v));
                    view! { <span class="tip-row"><i class=format!("swatch {}", s.class)></i>{s.name}": "<b>{value}</b></span> }
                })
                .collect_view();
            view! {
                <div class="bucket" data-bucket=plot.starts[i].to_rfc3339()>
                    <div class=side role="tooltip"><span class="tip-when">{label}</span>{rows}</div>
                </div>
            }
        })
        .collect_view();
    let legend = plot
        .series
        .iter()
        .map(|s| view! { <li><i class=format!("swatch {}", s.class)></i>{s.name}</li> })
        .collect_view();

    view! {
        <figure class="chart" id=id aria-labelledby=labelled_by>
            <figcaption id=caption><strong>{title}</strong><span class="muted">{format!(" · {unit_text}")}</span></figcaption>
            <ul class="legend" aria-hidden="true">{legend}</ul>
            <div class="plot" role="img" aria-label=format!("{title}: the values are in the table of values below.")>
                <div class="y-ticks" aria-hidden="true">{y_labels}</div>
                <div class="area">
                    <svg viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" aria-hidden="true" focusable="false">
                        {grid}
                        {marks}
                    </svg>
                    <div class="buckets" aria-hidden="true">{tips}</div>
                </div>
                <div class="x-ticks" aria-hidden="true">{x_labels}</div>
            </div>
            <ValueTable plot/>
        </figure>
    }
}

fn bars<F: Fn(f64) -> f64>(plot: &Plot, bucket_w: f64, y: F) -> impl IntoView + use<F> {
    let k = plot.series.len().max(1) as f64;
    // A tenth of the bucket on each side, the rest shared by the bars.
    let bar_w = bucket_w * 0.8 / k;
    let mut rects = Vec::new();
    for (j, s) in plot.series.iter().enumerate() {
        for (i, v) in s.values.iter().enumerate() {
            let Some(v) = v.filter(|v| *v > 0.0) else {
                continue;
            };
            let x = bucket_w * i as f64 + bucket_w * 0.1 + bar_w * j as f64;
            let top = y(v);
            rects.push(view! {
                <rect class=s.class x=format!("{x:.2}") y=format!("{top:.2}") width=format!("{bar_w:.2}") height=format!("{:.2}", H - top)/>
            });
        }
    }
    rects.collect_view()
}

fn lines<F: Fn(f64) -> f64>(plot: &Plot, bucket_w: f64, y: F) -> impl IntoView + use<F> {
    plot.series
        .iter()
        .map(|s| {
            // A gap (no value) ends the segment; a lone value is a dot.
            let mut d = String::new();
            let mut open = false;
            for (i, v) in s.values.iter().enumerate() {
                let x = bucket_w * (i as f64 + 0.5);
                match v {
                    Some(v) if v.is_finite() => {
                        let next_missing = s.values.get(i + 1).is_none_or(|n| n.is_none());
                        if open {
                            d.push_str(&format!("L{x:.2} {:.2}", y(*v)));
                        } else {
                            d.push_str(&format!("M{x:.2} {:.2}", y(*v)));
                            if next_missing {
                                d.push_str("l0 0");
                            }
                        }
                        open = true;
                    }
                    _ => open = false,
                }
            }
            view! { <path class=format!("line {}", s.class) d=d vector-effect="non-scaling-stroke"/> }
        })
        .collect_view()
}

/// The chart's numbers, bucket by bucket: its text alternative.
#[component]
fn ValueTable(plot: Plot) -> impl IntoView {
    let names = plot
        .series
        .iter()
        .map(|s| view! { <th scope="col">{s.name}</th> })
        .collect_view();
    let rows = (0..plot.starts.len())
        .filter(|i| plot.series.iter().any(|s| s.values.get(*i).copied().flatten().is_some_and(|v| v != 0.0)))
        .map(|i| {
            let cells = plot
                .series
                .iter()
                .map(|s| {
                    let v = s.values.get(i).copied().flatten().map_or("—".to_string(), |v| plot.unit.exact(v));
                    view! { <td data-label=s.name>{v}</td> }
                })
                .collect_view();
            view! { <tr><th scope="row">{bucket_label(plot.starts[i], plot.step_ms)}</th>{cells}</tr> }
        })
        .collect_view();
    view! {
        <details class="chart-data">
            <summary>"Table of values"</summary>
            <table class="values">
                <thead><tr><th scope="col">"Bucket"</th>{names}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ticks_are_round_and_cover_the_maximum() {
        assert_eq!(value_ticks(8.0, true), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(value_ticks(3.0, true), vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            value_ticks(3396.0, true),
            vec![0.0, 1000.0, 2000.0, 3000.0, 4000.0]
        );
        assert_eq!(value_ticks(1100.0, true), vec![0.0, 500.0, 1000.0, 1500.0]);
        assert_eq!(
            value_ticks(100.0, false),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(value_ticks(0.0, true), vec![0.0, 1.0]);
        assert_eq!(value_ticks(0.3, false), vec![0.0, 0.1, 0.2, 0.3]);
        for max in [1.0, 7.0, 19.0, 250.0, 999.0, 6800.0, 123_456.0] {
            let t = value_ticks(max, true);
            let step = t[1];
            assert!(*t.last().unwrap() >= max, "{max}: {t:?}");
            assert!(t.len() <= 7, "{max}: {t:?}");
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!([1.0, 2.0, 5.0].contains(&mantissa), "{max}: step {step}");
        }
    }

    #[test]
    fn time_ticks_fall_on_round_times() {
        let hour = |h: i64| h * HOUR;
        // The last hour, by minute: every 10 minutes.
        let (ticks, step) = time_ticks(hour(3) + 7 * MINUTE, hour(4) + 7 * MINUTE, 7);
        assert_eq!(step, 10 * MINUTE);
        assert_eq!(ticks[0], hour(3) + 10 * MINUTE);
        assert!(ticks.iter().all(|t| t % step == 0));
        // A day by hour: every 6 hours, midnight labelled with its date.
        let (ticks, step) = time_ticks(hour(30), hour(54), 7);
        assert_eq!(step, 6 * HOUR);
        assert_eq!(
            ticks,
            vec![hour(30), hour(36), hour(42), hour(48), hour(54)]
        );
        assert_eq!(time_label(hour(48), step), "Jan 3");
        assert_eq!(time_label(hour(42), step), "18:00");
    }

    #[test]
    fn exact_values_keep_every_digit() {
        assert_eq!(Unit::Count.exact(3396.0), "3,396");
        assert_eq!(Unit::Count.exact(1_234_567.0), "1,234,567");
        assert_eq!(Unit::Millis.exact(87.0), "87 ms");
        assert_eq!(Unit::Percent.exact(99.26), "99.3 %");
        assert_eq!(Unit::Count.tick(20_000.0), "20k");
        assert_eq!(Unit::Count.tick(1_500.0), "1,500");
    }
}
