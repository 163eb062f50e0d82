"""Resolves prompts through OpenFeature's Python SDK and its OFREP provider (PyPI:
openfeature-sdk, openfeature-provider-ofrep), as docs/serve.md shows, and prints what it
got as JSON for tests/openfeature.rs to compare with `promptctl resolve`.

Usage: python ofrep_python.py BASE_URL PROMPT KEYS_FILE [CONTEXTS_FILE]

CONTEXTS_FILE is a JSON object of named attribute sets; every key is then also resolved with
each set (their values keep their JSON types), under "contexts".
"""
import json
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

base_url, prompt, keys_file = sys.argv[1], sys.argv[2], sys.argv[3]
contexts = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else {}
api.set_provider(OFREPProvider(base_url=base_url, timeout=5.0))
client = api.get_client()


def details(flag, key, **attributes):
    d = client.get_object_details(flag, {"default": True}, EvaluationContext(key, attributes))
    return {
        "variant": d.variant,
        "reason": str(d.reason.value if hasattr(d.reason, "value") else d.reason),
        "error": d.error_code.value if d.error_code else None,
        "value_version": (d.value or {}).get("version"),
        "value_arm": (d.value or {}).get("arm"),
        "is_default": d.value == {"default": True},
    }


keys = [line.strip() for line in open(keys_file) if line.strip()]
print(json.dumps({
    "keys": {key: details(prompt, key) for key in keys},
    "cohort": details(prompt, keys[0], cohort="internal"),
    "missing": details("no/such/prompt", keys[0]),
    "contexts": {
        name: {key: details(prompt, key, **attributes) for key in keys}
        for name, attributes in contexts.items()
    },
}))
