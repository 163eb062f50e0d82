// Renders served payloads with minijinja-js (npm), set up as the payload's `render`
// settings say, for tests/openfeature.rs to compare byte for byte with `/v1/render`.
//
// Usage: node render_js.mjs JOBS_FILE   (NODE_PATH names node_modules)
// Prints a JSON list: per job, the rendered message texts, or {"error": "..."}.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Environment } = require('minijinja-js');

function render(payload, supplied) {
  const settings = payload.render;
  const env = new Environment();
  env.undefinedBehavior = settings.undefined;
  env.keepTrailingNewline = settings.keep_trailing_newline;
  env.trimBlocks = settings.trim_blocks;
  env.lstripBlocks = settings.lstrip_blocks;
  if ('fuel' in env) env.fuel = settings.fuel;
  for (const [name, text] of Object.entries(payload.partials)) env.addTemplate(name, text);
  const values = {};
  for (const [name, variable] of Object.entries(payload.variables)) {
    if (name in supplied) values[name] = supplied[name];
    else if ('default' in variable) values[name] = variable.default;
  }
  return payload.messages.map((message, index) => {
    const template = `messages[${index}]`;
    env.addTemplate(template, message.content);
    return env.renderTemplate(template, values);
  });
}

const results = JSON.parse(readFileSync(process.argv[2], 'utf8')).map((job) => {
  try {
    return render(job.payload, job.vars);
  } catch (e) {
    return { error: String(e) };
  }
});
console.log(JSON.stringify(results));
