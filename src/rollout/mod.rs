//! Progressive rollout: judging each canary step on the feedback services report, and
//! carrying out the decision (advance, promote, revert, alert) as a release commit.
//!
//! The judgement is pure ([`evaluate`]); the controller ([`step`]) reads the state, judges
//! every plan, and writes each decision by compare-and-swap, conditional on the step it was
//! made about, so that two controllers never make the same decision twice.

mod alert;
mod controller;
mod evaluate;
mod fetch;
mod gates;
mod prometheus;
pub mod sequential;
mod stats;

pub use alert::{AlertError, AlertPayload, send_alert};
pub use controller::{Applied, Evidence, RolloutStatus, StepReport, carry_out, status, step};
pub use evaluate::{Decision, Evaluation, evaluate};
pub use fetch::{FetchError, Fleet, fetch_client, fetch_windows, get_json};
pub use gates::{GateResult, Verdict, error_rate_evidence, judge};
pub use prometheus::{
    MAX_COUNT, MAX_REPLY_BYTES as PROMETHEUS_MAX_REPLY_BYTES, Prometheus, PrometheusError,
};
pub use stats::{Reading, Sample, Stats, Summary, Window};
