//! Assertions: whether one model output meets one check, and why not.
//!
//! Most assertions are pure functions of the output. `exec` runs a command, and `llm_judge`
//! asks a provider; the runner sends the judge's request through the same cache, limits and
//! retries as every other request, using `judge::judge_request` and `judge::judge_verdict`.

use std::cmp::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::case::Assertion;

/// How long an `exec` assertion's command may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

use super::outcome::shorten;
pub use super::outcome::{AssertionResult, Invalid, Outcome, Output};

/// Every assertion `type`, as written in suites.
pub const KINDS: [&str; 19] = [
    "equals",
    "contains",
    "icontains",
    "not_contains",
    "regex",
    "not_regex",
    "starts_with",
    "is_json",
    "json_schema",
    "min_chars",
    "max_chars",
    "max_latency_ms",
    "max_cost",
    "similar",
    "llm_judge",
    "exec",
    "tool_call",
    "no_tool_call",
    "json_field",
];

/// Returns the `type` of an assertion as written in suites.
pub fn kind(assertion: &Assertion) -> &'static str {
    match assertion {
        Assertion::Equals { .. } => "equals",
        Assertion::Contains { .. } => "contains",
        Assertion::Icontains { .. } => "icontains",
        Assertion::NotContains { .. } => "not_contains",
        Assertion::Regex { .. } => "regex",
        Assertion::NotRegex { .. } => "not_regex",
        Assertion::StartsWith { .. } => "starts_with",
        Assertion::IsJson {} => "is_json",
        Assertion::JsonSchema { .. } => "json_schema",
        Assertion::MinChars { .. } => "min_chars",
        Assertion::MaxChars { .. } => "max_chars",
        Assertion::MaxLatencyMs { .. } => "max_latency_ms",
        Assertion::MaxCost { .. } => "max_cost",
        Assertion::Similar { .. } => "similar",
        Assertion::LlmJudge { .. } => "llm_judge",
        Assertion::Exec { .. } => "exec",
        Assertion::ToolCall { .. } => "tool_call",
        Assertion::NoToolCall { .. } => "no_tool_call",
        Assertion::JsonField { .. } => "json_field",
    }
}

/// Finds what makes an assertion impossible to check or vacuous, without running it: a
/// regular expression or JSON schema that does not compile, a threshold outside 0 to 1, a
/// text test on the empty string, an empty command or rubric.
pub fn validate(assertion: &Assertion) -> Vec<Invalid> {
    let invalid = |field: &'static str, message: String| vec![Invalid { field, message }];
    match assertion {
        Assertion::Contains { value }
        | Assertion::Icontains { value }
        | Assertion::NotContains { value }
        | Assertion::StartsWith { value }
            if value.is_empty() =>
        {
            invalid(
                "value",
                "is empty, so the assertion says nothing about the output".into(),
            )
        }
        Assertion::Regex { value } | Assertion::NotRegex { value } => match compiled(value) {
            Ok(_) => Vec::new(),
            Err(e) => invalid("value", format!("is not a valid regular expression: {e}")),
        },
        Assertion::JsonSchema { value } => {
            let schema = crate::prompt::toml_value_to_json(&toml::Value::Table((**value).clone()));
            match schema
                .map_err(|e| e.to_string())
                .map(|s| jsonschema::validator_for(&s).map_err(|e| e.to_string()))
            {
                Ok(Ok(_)) => Vec::new(),
                Ok(Err(e)) | Err(e) => invalid("value", format!("is not a valid JSON schema: {e}")),
            }
        }
        Assertion::Similar { threshold, .. } if !(0.0..=1.0).contains(threshold) => invalid(
            "threshold",
            format!("must be a ratio from 0 to 1, not {threshold}"),
        ),
        Assertion::MaxCost { value } if crate::base::money::usd(*value).is_err() => invalid(
            "value",
            crate::base::money::usd(*value).unwrap_err().to_string(),
        ),
        Assertion::LlmJudge { rubric, .. } if rubric.trim().is_empty() => invalid(
            "rubric",
            "is empty: the judge needs something to grade by".into(),
        ),
        Assertion::Exec { command } if command.trim().is_empty() => {
            invalid("command", "is empty".into())
        }
        _ => Vec::new(),
    }
}

/// Checks an assertion that needs nothing but the output; `None` for `exec` and
/// `llm_judge`.
pub fn check(assertion: &Assertion, output: Output<'_>) -> Option<AssertionResult> {
    let text = output.text;
    let k = kind(assertion);
    let quoted = |t: &str| format!("{:?}", shorten(t));
    Some(match assertion {
        Assertion::Equals { value } => AssertionResult::new(
            k,
            text.trim() == value.trim(),
            format!("output {} is not {}", quoted(text), quoted(value)),
        ),
        Assertion::Contains { value } => AssertionResult::new(
            k,
            text.contains(value.as_str()),
            format!("output does not contain {}", quoted(value)),
        ),
        Assertion::Icontains { value } => AssertionResult::new(
            k,
            text.to_lowercase().contains(&value.to_lowercase()),
            format!("output does not contain {} in any case", quoted(value)),
        ),
        Assertion::NotContains { value } => AssertionResult::new(
            k,
            !text.contains(value.as_str()),
            format!("output contains {}", quoted(value)),
        ),
        Assertion::Regex { value } => regex_check(k, value, text, true),
        Assertion::NotRegex { value } => regex_check(k, value, text, false),
        Assertion::StartsWith { value } => AssertionResult::new(
            k,
            text.trim_start().starts_with(value.as_str()),
            format!("output does not start with {}", quoted(value)),
        ),
        Assertion::IsJson {} => match serde_json::from_str::<Value>(text.trim()) {
            Ok(_) => AssertionResult::new(k, true, ""),
            Err(e) => AssertionResult::new(k, false, format!("output is not JSON: {e}")),
        },
        Assertion::JsonSchema { value } => json_schema(k, value, text),
        Assertion::MinChars { value } => length_check(k, text, *value, Ordering::Greater),
        Assertion::MaxChars { value } => length_check(k, text, *value, Ordering::Less),
        Assertion::MaxLatencyMs { value } => AssertionResult::new(
            k,
            output.latency_ms <= *value as f64,
            format!("took {:.0} ms, more than {value} ms", output.latency_ms),
        ),
        Assertion::MaxCost { value } => AssertionResult::new(
            k,
            output.cost_usd <= *value,
            format!("cost ${:.6}, more than ${value}", output.cost_usd),
        ),
        Assertion::Similar { value, threshold } => {
            let ratio =
                f64::from(similar::TextDiff::from_chars(value.as_str(), text.trim()).ratio());
            AssertionResult::new(
                k,
                ratio >= *threshold,
                format!("similarity {ratio:.2} to the expected answer is below {threshold}"),
            )
            .scored(ratio)
        }
        Assertion::LlmJudge { .. }
        | Assertion::Exec { .. }
        | Assertion::ToolCall { .. }
        | Assertion::NoToolCall { .. }
        | Assertion::JsonField { .. } => return None,
    })
}

/// A regular expression the output must match (`want`) or must not.
fn regex_check(kind: &str, pattern: &str, text: &str, want: bool) -> AssertionResult {
    match compiled(pattern) {
        Ok(re) => {
            let reason = if want {
                format!("output does not match /{pattern}/")
            } else {
                format!("output matches /{pattern}/")
            };
            AssertionResult::new(kind, re.is_match(text) == want, reason)
        }
        Err(e) => AssertionResult::error(kind, format!("invalid regex /{pattern}/: {e}")),
    }
}

/// Most patterns kept compiled; past it, the table starts again.
const COMPILED_PATTERNS: usize = 1024;

/// The patterns compiled so far, by their text.
type Table = std::collections::HashMap<String, Pattern>;
static COMPILED: std::sync::Mutex<Option<Table>> = std::sync::Mutex::new(None);

/// A compiled pattern: `regex`'s engine, with `regex`'s limits, without the full DFA it
/// builds for a short pattern: that was three quarters of compiling this repository's four
/// (0.69 ms against 0.18 ms); the lazy DFA it keeps builds its states as an output is read.
type Pattern = regex_automata::meta::Regex;

/// A pattern that does not compile, worded as `regex` words it: where in the pattern and
/// what is wrong, or the size limit it passes.
#[derive(Debug, Clone)]
pub struct PatternError(Box<regex_automata::meta::BuildError>);

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0.syntax_error(), self.0.size_limit()) {
            (Some(syntax), _) => write!(f, "{syntax}"),
            (None, Some(limit)) => write!(f, "the compiled pattern exceeds {limit} bytes"),
            (None, None) => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for PatternError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A pattern compiled once per process: a suite checks the same pattern on every case, on
/// both sides, and compiling it each time was a fifth of the CPU of `eval` on this
/// repository's suites. A compiled pattern is shared, so handing out clones costs nothing.
fn compiled(pattern: &str) -> Result<Pattern, PatternError> {
    let lock = || {
        COMPILED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(regex) = lock().as_ref().and_then(|table| table.get(pattern)) {
        return Ok(regex.clone());
    }
    // Compiled outside the lock: another thread may compile the same pattern meanwhile,
    // which costs only time.
    let config = regex_automata::meta::Config::new()
        .dfa(false)
        .nfa_size_limit(Some(10 << 20))
        .hybrid_cache_capacity(2 << 20);
    let regex = Pattern::builder()
        .configure(config)
        .build(pattern)
        .map_err(|e| PatternError(Box::new(e)))?;
    let mut table = lock();
    let table = table.get_or_insert_with(Table::new);
    if table.len() >= COMPILED_PATTERNS {
        table.clear();
    }
    table.insert(pattern.to_owned(), regex.clone());
    Ok(regex)
}

/// A bound on the output's length in characters: at least `limit` when `side` is
/// `Greater`, at most when it is `Less`.
fn length_check(kind: &str, text: &str, limit: u64, side: Ordering) -> AssertionResult {
    let n = text.chars().count() as u64;
    match side {
        Ordering::Less => AssertionResult::new(
            kind,
            n <= limit,
            format!("output has {n} characters, more than {limit}"),
        ),
        _ => AssertionResult::new(
            kind,
            n >= limit,
            format!("output has {n} characters, fewer than {limit}"),
        ),
    }
}

fn json_schema(kind: &str, schema: &toml::Table, text: &str) -> AssertionResult {
    let schema = match crate::prompt::toml_value_to_json(&toml::Value::Table(schema.clone())) {
        Ok(schema) => schema,
        Err(e) => return AssertionResult::error(kind, format!("invalid schema: {e}")),
    };
    let validator = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator,
        Err(e) => return AssertionResult::error(kind, format!("invalid schema: {e}")),
    };
    let instance = match serde_json::from_str::<Value>(text.trim()) {
        Ok(instance) => instance,
        Err(e) => return AssertionResult::new(kind, false, format!("output is not JSON: {e}")),
    };
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .take(3)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    AssertionResult::new(kind, errors.is_empty(), errors.join("; "))
}

/// Runs an `exec` assertion: `sh -c COMMAND` gets the output on stdin; exit 0 passes, any
/// other exit fails. A command that cannot be started, is not found (the shell's 127), is
/// not executable (126) or outlives its time could not check anything: an error.
pub async fn exec(command: &str, text: &str) -> AssertionResult {
    let error = |reason: String| AssertionResult::error("exec", reason);
    let spawned = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return error(format!("cannot run `{command}`: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes()).await;
    }
    let out = match tokio::time::timeout(EXEC_TIMEOUT, child.wait_with_output()).await {
        Err(_) => return error(format!("`{command}` ran longer than {EXEC_TIMEOUT:?}")),
        Ok(Err(e)) => return error(format!("`{command}` failed: {e}")),
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        return AssertionResult::new("exec", true, "");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail = match stderr.trim() {
        "" => String::new(),
        text => format!(": {}", shorten(text)),
    };
    match out.status.code() {
        Some(127) => error(format!("`{command}`: command not found{detail}")),
        Some(126) => error(format!("`{command}`: not executable{detail}")),
        None => error(format!("`{command}` was killed ({}){detail}", out.status)),
        Some(code) => AssertionResult::new(
            "exec",
            false,
            format!("`{command}` exited with {code}{detail}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::judge::{judge_verdict, offline_judge};

    fn out(text: &str) -> Output<'_> {
        Output {
            text,
            latency_ms: 120.0,
            cost_usd: 0.002,
            tool_calls: &[],
        }
    }

    fn run(assertion: Assertion, text: &str) -> AssertionResult {
        check(&assertion, out(text)).unwrap()
    }

    #[test]
    fn text_assertions_pass_and_fail_with_reasons() {
        let s = |v: &str| v.to_owned();
        assert!(
            run(
                Assertion::Equals {
                    value: s("billing")
                },
                " billing\n"
            )
            .pass
        );
        assert!(run(Assertion::Contains { value: s("refund") }, "a refund").pass);
        let failed = run(Assertion::Contains { value: s("refund") }, "no");
        assert!(!failed.pass && failed.reason.contains("does not contain \"refund\""));
        assert!(
            run(
                Assertion::Icontains {
                    value: s("BILLING")
                },
                "Billing"
            )
            .pass
        );
        assert!(!run(Assertion::NotContains { value: s("sorry") }, "so sorry").pass);
        assert!(
            run(
                Assertion::Regex {
                    value: s("^\\d{3}$")
                },
                "123"
            )
            .pass
        );
        assert!(!run(Assertion::NotRegex { value: s("\\d") }, "a1").pass);
        assert!(
            run(Assertion::Regex { value: s("(") }, "x")
                .reason
                .contains("invalid regex")
        );
        assert!(run(Assertion::StartsWith { value: s("Dear") }, "  Dear you").pass);
        assert!(run(Assertion::MinChars { value: 3 }, "abc").pass);
        assert!(!run(Assertion::MaxChars { value: 2 }, "abc").pass);
    }

    #[test]
    fn json_assertions_validate_against_a_schema() {
        assert!(run(Assertion::IsJson {}, "{\"a\": 1}").pass);
        assert!(!run(Assertion::IsJson {}, "{a}").pass);
        let schema: toml::Table = toml::from_str(
            "type = \"object\"\nrequired = [\"queue\"]\n[properties.queue]\ntype = \"string\"\nenum = [\"billing\", \"bug\"]\n",
        )
        .unwrap();
        let schema = || Assertion::JsonSchema {
            value: Box::new(schema.clone()),
        };
        assert!(run(schema(), "{\"queue\": \"bug\"}").pass);
        let failed = run(schema(), "{\"queue\": \"other\"}");
        assert!(
            !failed.pass && failed.reason.contains("/queue"),
            "{}",
            failed.reason
        );
        assert!(run(schema(), "not json").reason.contains("not JSON"));
    }

    #[test]
    fn latency_cost_and_similarity() {
        assert!(!run(Assertion::MaxLatencyMs { value: 100 }, "x").pass);
        assert!(run(Assertion::MaxCost { value: 0.01 }, "x").pass);
        let similar = || Assertion::Similar {
            value: "Your refund is on its way.".into(),
            threshold: 0.8,
        };
        assert!(run(similar(), "Your refund is on the way.").pass);
        assert!(!run(similar(), "Please contact support.").pass);
    }

    #[test]
    fn judges_are_read_from_json_verdicts() {
        let verdict = judge_verdict("```json\n{\"pass\": false, \"reason\": \"rude\"}\n```");
        assert!(!verdict.pass);
        assert_eq!(verdict.reason, "rude");
        assert!(judge_verdict("{\"pass\": true}").pass);
        assert!(
            judge_verdict("I think it passes")
                .reason
                .contains("no {\"pass\"")
        );
        let offline = offline_judge(
            "Mentions \"refund\" and \"48 hours\"",
            "Refund within 48 hours",
        );
        assert!(offline.pass, "{}", offline.reason);
        assert!(!offline_judge("Mentions \"refund\"", "no").pass);
        assert!(!offline_judge("Be polite", "hi").pass);
    }

    #[tokio::test]
    async fn exec_assertions_pass_on_exit_zero() {
        assert!(exec("grep -q refund", "a refund").await.pass);
        let failed = exec("echo nope >&2; exit 3", "x").await;
        assert!(
            !failed.pass && failed.reason.contains("nope"),
            "{}",
            failed.reason
        );
    }

    #[test]
    fn compiled_patterns_are_kept_up_to_their_bound_and_a_bad_one_is_an_error() {
        for n in 0..COMPILED_PATTERNS + 10 {
            let pattern = format!("kept-{n}$");
            assert!(
                compiled(&pattern)
                    .unwrap()
                    .is_match(&format!("is kept-{n}"))
            );
            let held = COMPILED.lock().unwrap().as_ref().map_or(0, |t| t.len());
            assert!(held <= COMPILED_PATTERNS, "{held} patterns held");
        }
        let error = compiled("kept-(").unwrap_err().to_string();
        assert!(
            error.contains("kept-(") && error.contains("unclosed group"),
            "{error}"
        );
        assert!(compiled("^again$").unwrap().is_match("again"));
        assert!(compiled("^again$").unwrap().is_match("again"));
    }
}
