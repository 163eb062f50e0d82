"""Renders served payloads with Python's minijinja binding (PyPI: minijinja), set up as the
payload's `render` settings say, for tests/openfeature.rs to compare byte for byte with
what `/v1/render` answers.

Usage: python render_python.py JOBS_FILE   (a JSON list of {payload, vars})
Prints a JSON list: per job, the rendered message texts, or {"error": "..."}.
"""
import json
import sys

from minijinja import Environment


def render(payload, supplied):
    settings = payload["render"]
    env = Environment(
        undefined_behavior=settings["undefined"],
        auto_escape_callback=lambda name: None,
        keep_trailing_newline=settings["keep_trailing_newline"],
        trim_blocks=settings["trim_blocks"],
        lstrip_blocks=settings["lstrip_blocks"],
        fuel=settings["fuel"],
        pycompat=False,
    )
    for name, text in payload["partials"].items():
        env.add_template(name, text)
    values = {}
    for name, variable in payload["variables"].items():
        if name in supplied:
            values[name] = supplied[name]
        elif "default" in variable:
            values[name] = variable["default"]
    out = []
    for index, message in enumerate(payload["messages"]):
        template = f"messages[{index}]"
        env.add_template(template, message["content"])
        out.append(env.render_template(template, **values))
    return out


results = []
for job in json.load(open(sys.argv[1])):
    try:
        results.append(render(job["payload"], job["vars"]))
    except Exception as e:  # a render error is a result to compare, not a crash
        results.append({"error": str(e)})
print(json.dumps(results))
