//! The N-way comparison as people read it: each arm's figures as text (one home, so the
//! table, markdown, JUnit and HTML say the same), and the markdown, JUnit and HTML writers.
//! The HTML page draws the arms as a chart of pass rate against cost per 1,000 requests.

use std::fmt::Write as _;
use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

use super::arms_report::{ArmRow, ArmVerdict, ArmsReport, ArmsSuite};
use super::report::dollars;
use super::stats;
use crate::base::junit;

/// One arm's figures as every format writes them.
#[derive(Debug, Clone, Serialize)]
pub struct ArmCells {
    pub name: String,
    /// `main`, or `HEAD, model=claude-haiku-4-5`.
    pub arm: String,
    pub model: String,
    /// `180/200 (90.0%)`, as a side of a comparison shows it.
    pub pass_rate: String,
    /// `85.1–93.4%`, or `—`.
    pub interval: String,
    pub errors: usize,
    pub mean_ms: String,
    pub p95_ms: String,
    pub tokens_per_case: String,
    /// `$0.42` per 1,000 requests, `—` without a price.
    pub cost_per_1000: String,
    /// `front`, `front, within budget`, or empty.
    pub marks: String,
    pub words: String,
    /// The comparison's figures line, when there is a comparison.
    pub figures: String,
}

impl ArmCells {
    pub fn of(row: &ArmRow) -> Self {
        let unavailable = row.summary.unavailable.is_some();
        let ms = |v: f64| {
            if unavailable || row.summary.evaluated() == 0 {
                "—".to_owned()
            } else {
                format!("{v:.0}")
            }
        };
        let mut arm = row.summary.spec.clone();
        let pairs = row.overrides.pairs();
        if !pairs.is_empty() {
            arm = format!("{arm}, {}", pairs.join(", "));
        }
        let mut marks = Vec::new();
        if row.is_reference {
            marks.push("reference");
        }
        if row.pareto {
            marks.push("front");
        }
        match row.within_budget {
            Some(true) => marks.push("within budget"),
            Some(false) => marks.push("over budget"),
            None => {}
        }
        ArmCells {
            name: row.name.clone(),
            arm,
            model: row.model.clone(),
            pass_rate: row.summary.pass_rate_text(),
            interval: row.pass_rate_interval.map_or("—".into(), |[low, high]| {
                format!("{:.1}–{:.1}%", low * 100.0, high * 100.0)
            }),
            errors: row.summary.errors,
            mean_ms: ms(row.summary.mean_latency_ms),
            p95_ms: ms(row.summary.p95_latency_ms),
            tokens_per_case: if row.summary.evaluated() == 0 {
                "—".into()
            } else {
                format!("{:.0}", row.tokens_per_case)
            },
            cost_per_1000: row
                .cost_per_case
                .map_or("—".into(), |c| dollars(c * 1000.0)),
            marks: marks.join(", "),
            words: row.words.clone(),
            figures: row
                .comparison
                .as_ref()
                .filter(|_| !matches!(row.verdict, ArmVerdict::Same | ArmVerdict::Unavailable))
                .map(|c| c.figures.clone())
                .unwrap_or_default(),
        }
    }
}

/// The suite's heading line: its arms, reference and how the error is held.
pub fn suite_heading(suite: &ArmsSuite) -> String {
    let confidence = stats::format_confidence(1.0 - suite.level / suite.comparisons.max(1) as f64);
    let held = match suite.comparisons {
        0 => "no comparison to make".to_owned(),
        1 => format!("1 comparison at level {}", suite.level),
        n => format!(
            "{n} comparisons, family-wise level {} held by Holm's method; intervals at {confidence}",
            suite.level
        ),
    };
    format!(
        "{} arms against `{}`: {held}",
        suite.arms.len(),
        suite.reference
    )
}

/// The pick in one line, or why there is none.
pub fn pick_line(suite: &ArmsSuite) -> String {
    match (&suite.pick, &suite.no_pick) {
        (Some(pick), _) => format!("pick `{}`: {}. Next: {}", pick.arm, pick.why, pick.step),
        (None, Some(why)) => format!("no pick: {why}"),
        (None, None) => "no pick".into(),
    }
}

/// The comparison as markdown (`eval --format markdown`, and `ci`'s comment).
pub fn arms_markdown(report: &ArmsReport) -> String {
    let mut out = String::from("## promptctl eval: arms\n\n");
    for suite in &report.suites {
        let _ = writeln!(
            out,
            "### `{}` ({})\n\n{}\n",
            suite.prompt,
            suite.path,
            suite_heading(suite)
        );
        out.push_str("| arm | revision and changes | pass rate | interval | errors | mean ms | p95 ms | tokens/case | $ per 1k requests | |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for row in &suite.arms {
            let c = ArmCells::of(row);
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.name,
                cell(&c.arm),
                c.pass_rate,
                c.interval,
                c.errors,
                c.mean_ms,
                c.p95_ms,
                c.tokens_per_case,
                c.cost_per_1000,
                c.marks
            );
        }
        out.push('\n');
        for row in suite.arms.iter().filter(|r| !r.is_reference) {
            let c = ArmCells::of(row);
            let _ = write!(out, "- `{}`: {}", c.name, cell(&c.words));
            if !c.figures.is_empty() {
                let _ = write!(out, " — {}", cell(&c.figures));
            }
            out.push('\n');
        }
        let _ = writeln!(out, "\n**{}**\n", cell(&pick_line(suite)));
    }
    if !report.complete {
        out.push_str(
            "⚠️ Not every arm was evaluated without error: the comparison is incomplete.\n\n",
        );
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The comparison as JUnit: a test suite per suite, a test case per arm that fails when
/// the arm is significantly worse than the reference and is an error when it could not be
/// evaluated.
pub fn arms_junit(report: &ArmsReport) -> String {
    let suites = report
        .suites
        .iter()
        .map(|suite| junit::Suite {
            name: suite.suite.clone(),
            cases: suite
                .arms
                .iter()
                .map(|row| junit::Case {
                    classname: suite.suite.clone(),
                    name: row.name.clone(),
                    result: junit_result(row),
                })
                .collect(),
        })
        .collect();
    junit::Document {
        name: "promptctl eval arms".into(),
        suites,
    }
    .to_xml()
}

fn junit_result(row: &ArmRow) -> junit::CaseResult {
    let c = ArmCells::of(row);
    let details = format!("pass rate {} ({}); {}", c.pass_rate, c.interval, c.figures);
    if row.verdict == ArmVerdict::Unavailable || row.summary.errors > 0 {
        return junit::CaseResult::Error {
            message: if row.summary.errors > 0 {
                format!("{} samples could not be evaluated", row.summary.errors)
            } else {
                c.words
            },
            details,
        };
    }
    if row.verdict == ArmVerdict::Worse {
        return junit::CaseResult::Failed {
            message: c.words,
            details,
            kind: Some("worse-than-reference".into()),
        };
    }
    junit::CaseResult::Passed
}

/// The comparison as one self-contained HTML page, with a chart per suite.
pub fn arms_html(report: &ArmsReport) -> String {
    static TEMPLATES: OnceLock<Environment<'static>> = OnceLock::new();
    let env = TEMPLATES.get_or_init(|| {
        let mut env = Environment::new();
        env.add_template("arms.html", include_str!("templates/arms.html"))
            .expect("the arms template parses (a unit test renders it)");
        env
    });
    #[derive(Serialize)]
    struct SuiteView<'a> {
        suite: &'a ArmsSuite,
        heading: String,
        pick: String,
        cells: Vec<ArmCells>,
        chart: Chart,
    }
    let suites: Vec<SuiteView<'_>> = report
        .suites
        .iter()
        .map(|suite| SuiteView {
            suite,
            heading: suite_heading(suite),
            pick: pick_line(suite),
            cells: suite.arms.iter().map(ArmCells::of).collect(),
            chart: Chart::of(suite),
        })
        .collect();
    #[derive(Serialize)]
    struct View<'a> {
        suites: Vec<SuiteView<'a>>,
        complete: bool,
        requests: &'a super::report::RequestStats,
    }
    let view = View {
        suites,
        complete: report.complete,
        requests: &report.requests,
    };
    env.get_template("arms.html")
        .and_then(|t| t.render(minijinja::value::Serde(view)))
        .unwrap_or_else(|e| {
            format!(
                "<!doctype html><title>promptctl eval</title><p>The report did not render: {}</p>",
                crate::base::markup::escape(&e.to_string())
            )
        })
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The chart's points, already placed: x is cost per 1,000 requests, y the pass rate.
#[derive(Debug, Serialize)]
struct Chart {
    width: u32,
    height: u32,
    points: Vec<Point>,
    /// The front as an SVG polyline, cheapest first.
    front: String,
    x_max: String,
    /// Arms not drawn: no price or nothing evaluated.
    left_out: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Point {
    name: String,
    x: f64,
    y: f64,
    front: bool,
    label: String,
}

impl Chart {
    const W: f64 = 640.0;
    const H: f64 = 280.0;
    const PAD: f64 = 40.0;
    /// Room on the right for the names of the dearest arms.
    const RIGHT: f64 = 140.0;

    fn of(suite: &ArmsSuite) -> Chart {
        let drawn: Vec<(&ArmRow, f64)> = suite
            .arms
            .iter()
            .filter(|r| r.summary.evaluated() > 0 && r.summary.unavailable.is_none())
            .filter_map(|r| Some((r, r.cost_per_case? * 1000.0)))
            .collect();
        let x_max = drawn.iter().map(|(_, c)| *c).fold(0.0, f64::max);
        let scale_x = |c: f64| {
            if x_max > 0.0 {
                Self::PAD + c / x_max * (Self::W - Self::PAD - Self::RIGHT)
            } else {
                Self::W / 2.0
            }
        };
        let scale_y = |p: f64| Self::H - Self::PAD - p * (Self::H - 2.0 * Self::PAD);
        let mut points: Vec<Point> = Vec::new();
        for (row, cost) in &drawn {
            let (x, y) = (round(scale_x(*cost)), round(scale_y(row.summary.pass_rate)));
            let label = format!(
                "{}: {:.1}%, {}",
                row.name,
                row.summary.pass_rate * 100.0,
                dollars(*cost)
            );
            // Arms at one place are one point, named together.
            match points.iter_mut().find(|p| p.x == x && p.y == y) {
                Some(point) => {
                    point.name = format!("{}, {}", point.name, row.name);
                    point.label = format!("{}; {label}", point.label);
                    point.front |= row.pareto;
                }
                None => points.push(Point {
                    name: row.name.clone(),
                    x,
                    y,
                    front: row.pareto,
                    label,
                }),
            }
        }
        points.sort_by(|a, b| a.x.total_cmp(&b.x));
        let front = points
            .iter()
            .filter(|p| p.front)
            .map(|p| format!("{:.1},{:.1}", p.x, p.y))
            .collect::<Vec<_>>()
            .join(" ");
        Chart {
            width: Self::W as u32,
            height: Self::H as u32,
            points,
            front,
            x_max: dollars(x_max),
            left_out: suite
                .arms
                .iter()
                .filter(|r| !drawn.iter().any(|(d, _)| d.name == r.name))
                .map(|r| r.name.clone())
                .collect(),
        }
    }
}
