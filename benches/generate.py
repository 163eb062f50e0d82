"""Writes a generated prompt repository: COUNT prompts in 40 team folders, and 20 partials
included in chains of five, so that benchmarks run on something shaped like a large real repo.

Usage: python3 benches/generate.py ROOT COUNT [--contract]

With --contract every prompt also has a strict JSON output schema and two tools, one of
them reading its parameters from a schema file every prompt shares (docs/contract.md).
"""
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
contract = "--contract" in sys.argv[3:]
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
if contract:
    os.makedirs(os.path.join(root, "prompts/schemas"), exist_ok=True)
    open(os.path.join(root, "prompts/schemas/customer.json"), "w").write(
        '{"type": "object", "additionalProperties": false, "required": ["email"], "properties": {"email": {"type": "string"}}}\n')
def write(path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(text)
write("promptctl.toml", '[defaults]\nmodel = "gpt-4o-mini"\n')
for p in range(20):
    write(f"prompts/partials/p{p:02}.j2", f"Policy {p}: {{{{ product }}}} rules.\n" * 5 + (f'{{% include "partials/p{p+1:02}.j2" %}}\n' if p % 5 != 4 else ""))
for i in range(count):
    team = f"team{i % 40:02}"
    write(f"prompts/{team}/prompt{i:04}.toml", ('tool_choice = "auto"\n' if contract else "") + f'''description = "Generated prompt {i}"

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
''' + (CONTRACT if contract else ""))
