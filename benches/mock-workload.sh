# The 200-case workload of the eval benches, sourced by them (benches/eval-mock.sh,
# benches/eval-arms.sh): builds promptctl and the mock, starts the mock OpenAI-compatible
# server (`$latency` ms per answer), and writes `$work/repo`: one routing prompt, a suite of
# `$cases` cases (a variable and two assertions each, shaped like promptfoo's), committed,
# with the working tree's answer changed so that base and head differ.
#
# Needs: $cases, $latency; optional $mock_args (the mock's RATE_LIMIT_EVERY and RETRY_AFTER).
# Sets: $bin, $work, $mock_pid, $url, and an EXIT trap.
cargo build --release --quiet --bin promptctl --example mock_llm
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck disable=SC2086  # the mock's arguments, split on purpose
"$PWD/target/release/examples/mock_llm" "$latency" ${mock_args:-} > "$work/mock.url" &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.url" ] && break; sleep 0.1; done
url=$(head -1 "$work/mock.url")

python3 - "$work/repo" "$url" "$cases" <<'PY'
import os, sys
root, url, cases = sys.argv[1], sys.argv[2], int(sys.argv[3])
def write(path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(text)
write("promptctl.toml", f'[defaults]\nmodel = "bench-model"\n\n[providers.mock]\nkind = "openai"\nbase_url = "{url}"\n')
write("prompts/support/route.toml", 'provider = "mock"\n\n[variables.ticket]\ntype = "string"\nrequired = true\n\n[[messages]]\nrole = "system"\ncontent = """\nRoute the ticket.\nAnswer: billing\n"""\n\n[[messages]]\nrole = "user"\ncontent = "{{ ticket }}"\n')
body = 'prompt = "support/route"\n\n'
for i in range(cases):
    body += f'[[cases]]\nname = "case-{i}"\nvars = {{ ticket = "ticket number {i}" }}\nassert = [{{ type = "contains", value = "number {i}" }}, {{ type = "max_chars", value = 200 }}]\n\n'
write("evals/route.toml", body)
PY
git -C "$work/repo" init -q
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm base
sed -i 's/Answer: billing/Answer: bug/' "$work/repo/prompts/support/route.toml"
