//! The `exec` provider: a local command gets the request as JSON on stdin and prints the
//! reply as JSON, read no further than the limit and killed past its time.

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::{CallError, ChatReply, ChatRequest, MAX_STDERR_BYTES, Provider, excerpt, too_large};

impl Provider {
    pub(super) async fn exec(&self, request: &ChatRequest) -> Result<ChatReply, CallError> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| CallError::fatal("no command", "", false))?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .current_dir(&self.root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                CallError::fatal(format!("cannot run `{program}`"), e.to_string(), false)
            })?;
        let mut input = json!({
            "model": request.model,
            "params": request.params,
            "messages": request.messages,
        });
        // The contract and any rounds of tool calls, only when there are: a command written
        // before they existed reads the same input as before.
        if let (Value::Object(fields), Value::Object(contract)) = (
            &mut input,
            serde_json::to_value(&*request.contract).unwrap_or_default(),
        ) {
            fields.extend(contract);
            if !request.exchanges.is_empty() {
                fields.insert("exchanges".into(), json!(request.exchanges));
            }
        }
        let input = serde_json::to_vec(&input)
            .map_err(|e| CallError::fatal("cannot write the request", e.to_string(), false))?;
        let ran = tokio::time::timeout(self.timeout, self.exec_output(&mut child, &input)).await;
        let (status, stdout, stderr) = match ran {
            Err(_) => {
                let _ = child.kill().await;
                return Err(CallError::retryable(
                    "timed out",
                    format!("`{program}` did not answer within {:?}", self.timeout),
                    true,
                ));
            }
            Ok(result) => result?,
        };
        if !status.success() {
            let cause = match status.code() {
                Some(code) => format!("`{program}` exited with {code}"),
                None => format!("`{program}` was killed ({status})"),
            };
            return Err(CallError::fatal(
                cause,
                excerpt(&String::from_utf8_lossy(&stderr)),
                true,
            ));
        }
        let answer: Value = serde_json::from_slice(&stdout).map_err(|_| {
            CallError::fatal(
                format!("`{program}` printed no JSON"),
                format!(
                    "it must print JSON like {{\"text\": \"...\"}}, not: {}",
                    excerpt(&String::from_utf8_lossy(&stdout))
                ),
                true,
            )
        })?;
        let text = answer["text"].as_str().ok_or_else(|| {
            CallError::fatal(
                format!("`{program}` printed no text"),
                "its JSON has no \"text\" string",
                true,
            )
        })?;
        let tool_calls = match answer.get("tool_calls") {
            None | Some(Value::Null) => Vec::new(),
            Some(calls) => serde_json::from_value(calls.clone()).map_err(|e| {
                CallError::fatal(
                    format!("`{program}` printed unreadable tool calls"),
                    format!("`tool_calls` must be a list of {{\"name\", \"arguments\"}}: {e}"),
                    true,
                )
            })?,
        };
        Ok(ChatReply {
            text: text.to_owned(),
            tool_calls,
            input_tokens: answer["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: answer["output_tokens"].as_u64().unwrap_or(0),
        })
    }

    /// Feeds a command its input and reads its output, at most `max_reply_bytes` of it: a
    /// command that prints more is killed rather than read whole.
    async fn exec_output(
        &self,
        child: &mut tokio::process::Child,
        input: &[u8],
    ) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), CallError> {
        use tokio::io::AsyncReadExt;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading its input is judged by its exit status.
            let _ = stdin.write_all(input).await;
        }
        // Stderr is read on its own task, so a command blocked writing it cannot stall the
        // read of stdout (and the other way round).
        let stderr = child.stderr.take().map(|stderr| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = stderr.take(MAX_STDERR_BYTES).read_to_end(&mut buf).await;
                buf
            })
        });
        let mut stdout = Vec::new();
        if let Some(out) = child.stdout.take() {
            let limit = self.max_reply_bytes;
            let _ = out.take(limit + 1).read_to_end(&mut stdout).await;
            if stdout.len() as u64 > limit {
                let _ = child.kill().await;
                return Err(too_large(limit));
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|e| CallError::fatal("the command failed", e.to_string(), true))?;
        let stderr = match stderr {
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        };
        Ok((status, stdout, stderr))
    }
}
