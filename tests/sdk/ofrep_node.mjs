// Resolves prompts through OpenFeature's server SDK for Node and its OFREP provider (npm:
// @openfeature/server-sdk, @openfeature/ofrep-provider), as docs/serve.md shows, and
// prints what it got as JSON for tests/openfeature.rs to compare with `promptctl resolve`.
//
// Usage: node ofrep_node.mjs BASE_URL PROMPT KEYS_FILE [CONTEXTS_FILE]   (NODE_PATH names
// node_modules). CONTEXTS_FILE is a JSON object of named attribute sets; every key is then
// also resolved with each set (their values keep their JSON types), under "contexts".
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { OpenFeature } = require('@openfeature/server-sdk');
const { OFREPProvider } = require('@openfeature/ofrep-provider');

const [baseUrl, prompt, keysFile, contextsFile] = process.argv.slice(2);
const contexts = contextsFile ? JSON.parse(readFileSync(contextsFile, 'utf8')) : {};
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl }));
const client = OpenFeature.getClient();

async function details(flag, key, attributes = {}) {
  const d = await client.getObjectDetails(flag, { default: true }, { targetingKey: key, ...attributes });
  return {
    variant: d.variant ?? null,
    reason: d.reason ?? null,
    error: d.errorCode ?? null,
    value_version: d.value?.version ?? null,
    value_arm: d.value?.arm ?? null,
    is_default: d.value?.default === true,
  };
}

const keys = readFileSync(keysFile, 'utf8').split('\n').map((k) => k.trim()).filter(Boolean);
const out = { keys: {} };
for (const key of keys) out.keys[key] = await details(prompt, key);
out.cohort = await details(prompt, keys[0], { cohort: 'internal' });
out.missing = await details('no/such/prompt', keys[0]);
out.contexts = {};
for (const [name, attributes] of Object.entries(contexts)) {
  out.contexts[name] = {};
  for (const key of keys) out.contexts[name][key] = await details(prompt, key, attributes);
}
console.log(JSON.stringify(out));
