"""Writes a generated prompt repository: COUNT prompts in 40 team folders, and 20 partials
included in chains of five, so that benchmarks run on something shaped like a large real repo.

Usage: python3 benches/generate.py ROOT COUNT [--contract | --contract-files]

With --contract every prompt also has a strict JSON output schema and two tools written
inline, but for one tool's parameters read from a schema file every prompt shares
(docs/contract.md). With --contract-files the output schema and both tools' parameters are
schema files, one set per team folder (40 of each), as teams that share a contract keep it.
"""
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
contract = "--contract" in sys.argv[3:]
files = "--contract-files" in sys.argv[3:]
CONTRACT = '''
[output]
name = "answer"
strict = true
schema = { type = "object", additionalProperties = false, required = ["queue", "priority", "reason"], properties = { queue = { type = "string", enum = ["billing", "technical", "shipping"] }, priority = { type = "integer", minimum = 1, maximum = 5 }, reason = { type = "string", maxLength = 200 } } }

[[tools]]
name = "lookup_order"
description = "Look up an order by its id."
parameters = { type = "object", additionalProperties = false, required = ["order_id"], properties = { order_id = { type = "string" } } }

[[tools]]
name = "lookup_customer"
description = "Look up the customer."
parameters_file = "schemas/customer.json"
'''
def write(path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(text)
FILES = '''
[output]
name = "answer"
strict = true
schema_file = "schemas/{team}/answer.json"

[[tools]]
name = "lookup_order"
description = "Look up an order by its id."
parameters_file = "schemas/{team}/order.json"

[[tools]]
name = "lookup_customer"
description = "Look up the customer."
parameters_file = "schemas/customer.json"
'''
if files:
    for t in range(40):
        team = f"team{t:02}"
        write(f"prompts/schemas/{team}/answer.json", '{"type": "object", "additionalProperties": false, "required": ["queue", "priority", "reason"], "properties": {"queue": {"type": "string", "enum": ["billing", "technical", "shipping", "%s"]}, "priority": {"type": "integer", "minimum": 1, "maximum": 5}, "reason": {"type": "string", "maxLength": 200}}}\n' % team)
        write(f"prompts/schemas/{team}/order.json", '{"type": "object", "additionalProperties": false, "required": ["order_id"], "properties": {"order_id": {"type": "string", "pattern": "^%s-[0-9]+$"}}}\n' % team)
if contract or files:
    os.makedirs(os.path.join(root, "prompts/schemas"), exist_ok=True)
    open(os.path.join(root, "prompts/schemas/customer.json"), "w").write(
        '{"type": "object", "additionalProperties": false, "required": ["email"], "properties": {"email": {"type": "string"}}}\n')
write("promptctl.toml", '[defaults]\nmodel = "gpt-4o-mini"\n')
for p in range(20):
    write(f"prompts/partials/p{p:02}.j2", f"Policy {p}: {{{{ product }}}} rules.\n" * 5 + (f'{{% include "partials/p{p+1:02}.j2" %}}\n' if p % 5 != 4 else ""))
for i in range(count):
    team = f"team{i % 40:02}"
    write(f"prompts/{team}/prompt{i:04}.toml", ('tool_choice = "auto"\n' if contract or files else "") + f'''description = "Generated prompt {i}"

[params]
temperature = 0.{i % 10}
max_tokens = {100 + i}

[variables.product]
type = "string"
required = true

[variables.ticket]
type = "string"
required = true

[[messages]]
role = "system"
content = """
You are assistant number {i} for {{{{ product }}}}.
{{% include "partials/p{(i % 4) * 5:02}.j2" %}}
"""

[[messages]]
role = "user"
content = "{{{{ ticket }}}}"
''' + (CONTRACT if contract else FILES.format(team=team) if files else ""))
