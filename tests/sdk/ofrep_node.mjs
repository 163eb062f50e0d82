// Resolves prompts through OpenFeature's server SDK for Node and its OFREP provider (npm:
// @openfeature/server-sdk, @openfeature/ofrep-provider), as docs/serve.md shows, and
// prints what it got as JSON for tests/openfeature.rs to compare with `promptctl resolve`.
//
// Usage: node ofrep_node.mjs BASE_URL PROMPT KEYS_FILE   (NODE_PATH names node_modules)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { OpenFeature } = require('@openfeature/server-sdk');
const { OFREPProvider } = require('@openfeature/ofrep-provider');

const [baseUrl, prompt, keysFile] = process.argv.slice(2);
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl }));
const client = OpenFeature.getClient();

async function details(flag, key, attributes = {}) {
  const d = await client.getObjectDetails(flag, { default: true }, { targetingKey: key, ...attributes });
  return {
    variant: d.variant ?? null,
    reason: d.reason ?? null,
    error: d.errorCode ?? null,
    value_version: d.value?.version ?? null,
    is_default: d.value?.default === true,
  };
}

const keys = readFileSync(keysFile, 'utf8').split('\n').map((k) => k.trim()).filter(Boolean);
const out = { keys: {} };
for (const key of keys) out.keys[key] = await details(prompt, key);
out.cohort = await details(prompt, keys[0], { cohort: 'internal' });
out.missing = await details('no/such/prompt', keys[0]);
console.log(JSON.stringify(out));
