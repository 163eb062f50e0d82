//! Alerts for alert-only gates: a JSON document posted to the policy's webhook, with a
//! bearer token from the environment when one is configured.

use std::time::Duration;

use serde::Serialize;

use crate::policy::RolloutPolicy;

/// How long a webhook may take to answer.
const WEBHOOK_TIMEOUT: Duration = crate::base::http::DEFAULT_TIMEOUT;

/// What a webhook receives.
#[derive(Debug, Clone, Serialize)]
pub struct AlertPayload {
    /// Always `promptctl.alert`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The same for every delivery of the same alert: `ENV/NAME/CANARY/STEP/GATES`;
    /// receivers drop repeats by it.
    pub id: String,
    pub env: String,
    pub prompt: String,
    pub active: String,
    pub canary: String,
    /// The stage the canary is at, like `5%`.
    pub stage: String,
    pub gates: Vec<String>,
    /// The figures, in words.
    pub message: String,
    /// When, RFC 3339 UTC.
    pub at: String,
}

/// Why an alert did not arrive. Webhook URLs often carry a secret in their path: only the
/// host is ever shown.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("no `rollout.webhook` is set in promptctl.toml")]
    NoWebhook,
    #[error("cannot start an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("`rollout.webhook_token_env` names `{var}`, which is not set")]
    NoToken { var: String },
    #[error("cannot post to the webhook at {shown}: {source}")]
    Unreachable {
        shown: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the webhook at {shown} answered {status}")]
    Refused {
        shown: String,
        status: reqwest::StatusCode,
    },
}

/// Posts an alert; an error says why it did not arrive (it is tried again at the next
/// evaluation, since the alert is only recorded once delivered).
pub fn send_alert(policy: &RolloutPolicy, payload: &AlertPayload) -> Result<(), AlertError> {
    let Some(url) = &policy.webhook else {
        return Err(AlertError::NoWebhook);
    };
    let client = crate::base::http::blocking_client()
        .timeout(WEBHOOK_TIMEOUT)
        .build()
        .map_err(AlertError::Client)?;
    let mut request = client.post(url).json(payload);
    if let Some(var) = &policy.webhook_token_env {
        let token = std::env::var(var).map_err(|_| AlertError::NoToken { var: var.clone() })?;
        request = request.bearer_auth(token);
    }
    let shown = crate::base::weburl::shown(url);
    let response = request.send().map_err(|e| AlertError::Unreachable {
        shown: shown.clone(),
        source: e.without_url(),
    })?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(AlertError::Refused { shown, status }),
    }
}
