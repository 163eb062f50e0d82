//! Charts over time for the dashboard: every canary's figures (error rate, latency, cost,
//! score), canary against active, sampled as feedback arrives, with its stage changes.
//!
//! A point is the step's figures so far, at most one per [`POINT_EVERY`] (the latest one
//! is updated in between, so the chart ends at the figures the gates see), and at most
//! [`MAX_POINTS`] per canary: older points are dropped. A new canary starts a new series.
//! Charts are drawn as SVG coordinates for the dashboard's template; nothing is scripted.

use std::collections::VecDeque;

use serde::Serialize;

use crate::base::clock::UnixTime;
use crate::prompt::Version;
use crate::rollout::{Summary, Window};
use crate::store::PromptState;

/// At most one point per this many seconds.
pub const POINT_EVERY: i64 = 2;

/// At most this many points per canary (20 minutes at one point every 2 s).
pub const MAX_POINTS: usize = 600;

/// One look at a step's figures.
#[derive(Debug, Clone)]
pub struct Point {
    /// When the figures were last updated.
    pub at: UnixTime,
    /// When the point was first recorded: it is updated for [`POINT_EVERY`] from then.
    opened: UnixTime,
    pub step: usize,
    /// The stage in words (`10%`, `cohort internal`).
    pub stage: String,
    pub active: Summary,
    pub canary: Summary,
}

impl Point {
    fn new(at: UnixTime, step: usize, stage: String, window: &Window) -> Self {
        Point {
            at,
            opened: at,
            step,
            stage,
            active: window.active.summary(),
            canary: window.canary.summary(),
        }
    }
}

/// The points of one canary.
#[derive(Debug, Clone)]
pub struct Series {
    canary: Version,
    points: VecDeque<Point>,
}

impl Series {
    pub fn new(canary: Version) -> Self {
        Series {
            canary,
            points: VecDeque::new(),
        }
    }

    pub fn canary(&self) -> Version {
        self.canary
    }

    /// Records the figures of `window` at `at` when a point is due: the first of a step, or
    /// [`POINT_EVERY`] after the last one opened. In between nothing is computed, since this
    /// runs on every feedback report; [`Series::with_latest`] adds the figures of the moment
    /// when the chart is drawn.
    pub fn record(
        &mut self,
        at: UnixTime,
        step: usize,
        stage: impl FnOnce() -> String,
        window: &Window,
    ) {
        if self.is_open(at, step) {
            return;
        }
        self.put(Point::new(at, step, stage(), window));
    }

    /// A copy of the series that ends at the figures of `window` at `at`: the ones the
    /// gates judge.
    pub fn with_latest(&self, at: UnixTime, step: usize, stage: String, window: &Window) -> Series {
        let mut series = self.clone();
        series.put(Point::new(at, step, stage, window));
        series
    }

    /// Whether the last point is still open to updates at `at` for `step`.
    fn is_open(&self, at: UnixTime, step: usize) -> bool {
        self.points
            .back()
            .is_some_and(|last| last.step == step && at - last.opened < POINT_EVERY)
    }

    /// Updates the last point while it is open, else adds one (dropping the oldest past
    /// [`MAX_POINTS`]).
    fn put(&mut self, mut point: Point) {
        if self.is_open(point.at, point.step)
            && let Some(last) = self.points.back_mut()
        {
            point.opened = last.opened;
            *last = point;
            return;
        }
        if self.points.len() == MAX_POINTS {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }

    pub fn points(&self) -> impl Iterator<Item = &Point> {
        self.points.iter()
    }
}

/// A canary's step and, when asked, its stage in words (`10%`, `cohort internal`).
pub fn stage_of(pointers: &PromptState) -> (usize, impl FnOnce() -> String + '_) {
    let step = pointers.rollout.as_ref().map_or(0, |r| r.step);
    let stage = move || match (&pointers.rollout, &pointers.canary) {
        (Some(rollout), _) => rollout.stage().to_string(),
        (None, Some(canary)) => canary.describe(),
        (None, None) => String::new(),
    };
    (step, stage)
}

/// Chart width and height in SVG units; the template scales it to the page.
const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 110.0;
/// Room below the plot for the stage labels.
const PLOT_HEIGHT: f64 = 90.0;

/// One chart, ready to draw.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub title: &'static str,
    pub width: f64,
    pub height: f64,
    pub plot_height: f64,
    /// `x,y x,y …` of each side's line.
    pub active: String,
    pub canary: String,
    /// The top of the y axis, in words.
    pub top: String,
    /// The latest values, in words.
    pub latest: String,
    /// Where each stage begins.
    pub stages: Vec<StageMark>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageMark {
    pub x: f64,
    pub label: String,
}

/// A figure charted: its title, how to read it from a summary, how to say a value.
struct Figure {
    title: &'static str,
    value: fn(&Summary) -> Option<f64>,
    words: fn(f64) -> String,
}

const FIGURES: [Figure; 5] = [
    Figure {
        title: "Error rate",
        value: |s| s.error_rate,
        words: |v| format!("{:.1}%", v * 100.0),
    },
    Figure {
        title: "Mean latency",
        value: |s| s.mean_latency_ms,
        words: |v| format!("{v:.0} ms"),
    },
    Figure {
        title: "p95 latency",
        value: |s| s.p95_latency_ms,
        words: |v| format!("{v:.0} ms"),
    },
    Figure {
        title: "Cost per request",
        value: |s| s.mean_cost_usd,
        words: |v| format!("${v:.5}"),
    },
    Figure {
        title: "Mean score",
        value: |s| s.mean_score,
        words: |v| format!("{v:.3}"),
    },
];

/// The charts of a series: one per figure that has any value; none with fewer than two
/// points, since a line needs two.
pub fn charts(series: &Series) -> Vec<Chart> {
    let points: Vec<&Point> = series.points().collect();
    if points.len() < 2 {
        return Vec::new();
    }
    FIGURES
        .iter()
        .filter_map(|figure| chart(figure, &points))
        .collect()
}

fn chart(figure: &Figure, points: &[&Point]) -> Option<Chart> {
    let values = |side: fn(&Point) -> &Summary| -> Vec<(UnixTime, Option<f64>)> {
        points
            .iter()
            .map(|p| (p.at, (figure.value)(side(p))))
            .collect()
    };
    let (active, canary) = (values(|p| &p.active), values(|p| &p.canary));
    let top = active
        .iter()
        .chain(&canary)
        .filter_map(|(_, v)| *v)
        .fold(None, |top: Option<f64>, v| {
            Some(top.map_or(v, |t| t.max(v)))
        })?;
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let (first, last) = (points[0].at, points[points.len() - 1].at);
    let span = (last - first).max(1) as f64;
    let x = |at: UnixTime| ((at - first) as f64 / span * WIDTH * 100.0).round() / 100.0;
    let y = |v: f64| ((PLOT_HEIGHT - v / top * PLOT_HEIGHT) * 100.0).round() / 100.0;
    let line = |side: &[(UnixTime, Option<f64>)]| {
        side.iter()
            .filter_map(|(at, v)| v.map(|v| format!("{},{}", x(*at), y(v))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let latest = |side: &[(UnixTime, Option<f64>)]| {
        side.iter()
            .rev()
            .find_map(|(_, v)| *v)
            .map_or("—".to_owned(), figure.words)
    };
    let stages = points
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == 0 || points[i - 1].step != p.step)
        .map(|(_, p)| StageMark {
            x: x(p.at),
            label: p.stage.clone(),
        })
        .collect();
    Some(Chart {
        title: figure.title,
        width: WIDTH,
        height: HEIGHT,
        plot_height: PLOT_HEIGHT,
        active: line(&active),
        canary: line(&canary),
        top: (figure.words)(top),
        latest: format!("canary {}, active {}", latest(&canary), latest(&active)),
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Sample;
    use crate::store::StepKey;

    fn window(errors: u64, reports: u64) -> Window {
        let key = StepKey {
            canary: format!("sha256:{}", "c".repeat(64)).parse().unwrap(),
            step: 0,
            step_started: 0,
        };
        let mut window = Window::new(key);
        for i in 0..reports {
            let sample = Sample {
                error: i < errors,
                latency_ms: Some(100.0),
                ..Sample::default()
            };
            window.canary.add(&sample);
            window.active.add(&Sample {
                error: false,
                ..sample
            });
        }
        window
    }

    #[test]
    fn points_are_spaced_bounded_and_mark_each_stage() {
        let mut series = Series::new(format!("sha256:{}", "c".repeat(64)).parse().unwrap());
        series.record(100, 0, || "10%".into(), &window(1, 10));
        // Within two seconds of the last point: it is updated, not added, and a point
        // updated again and again still closes two seconds after it opened.
        for at in 101..=104 {
            series.record(at, 0, || "10%".into(), &window(2, 10 + at as u64 - 100));
        }
        // A new stage always starts a point.
        series.record(105, 1, || "50%".into(), &window(0, 5));
        let opened: Vec<UnixTime> = series.points().map(|p| p.opened).collect();
        assert_eq!(opened, vec![100, 102, 104, 105]);
        let charts = charts(&series);
        let errors = &charts[0];
        assert_eq!(errors.title, "Error rate");
        let marks: Vec<(f64, &str)> = errors
            .stages
            .iter()
            .map(|m| (m.x, m.label.as_str()))
            .collect();
        assert_eq!(marks, vec![(0.0, "10%"), (300.0, "50%")]);
        assert_eq!(errors.latest, "canary 0.0%, active 0.0%");
        assert_eq!(errors.canary.split(' ').count(), 4);
        for at in 0..(MAX_POINTS as i64 + 10) {
            series.record(200 + at * POINT_EVERY, 1, || "50%".into(), &window(0, 5));
        }
        assert_eq!(series.points().count(), MAX_POINTS);
    }
}
