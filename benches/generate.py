"""Writes a generated prompt repository: COUNT prompts in 40 team folders, and 20 partials
included in chains of five, so that benchmarks run on something shaped like a large real repo.

Usage: python3 benches/generate.py ROOT COUNT
"""
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
def write(path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(text)
write("promptctl.toml", '[defaults]\nmodel = "gpt-4o-mini"\n')
for p in range(20):
    write(f"prompts/partials/p{p:02}.j2", f"Policy {p}: {{{{ product }}}} rules.\n" * 5 + (f'{{% include "partials/p{p+1:02}.j2" %}}\n' if p % 5 != 4 else ""))
for i in range(count):
    team = f"team{i % 40:02}"
    write(f"prompts/{team}/prompt{i:04}.toml", f'''description = "Generated prompt {i}"

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
''')
