#!/usr/bin/env node
// Runs the promptctl binary of this platform's package (@promptctl/<platform>-<arch>, an
// optional dependency npm installs only where it fits), passing every argument, the
// standard streams and the exit code through. `npx promptctl …` and `npm install promptctl`
// both end here.
"use strict";

const { spawnSync } = require("node:child_process");
const path = require("node:path");

const platform = `${process.platform}-${process.arch}`;
const pkg = `@promptctl/${platform}`;
let binary;
try {
  binary = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), "bin", "promptctl");
} catch {
  process.stderr.write(
    `error: promptctl has no binary for ${platform}: the package ${pkg} is not installed\n` +
      "hint: promptctl is built for linux-x64, linux-arm64, darwin-x64 and darwin-arm64; " +
      "elsewhere, install it with `cargo install promptctl` or `pip install promptctl`\n",
  );
  process.exit(2);
}
const result = spawnSync(binary, process.argv.slice(2), { stdio: "inherit" });
if (result.error) {
  process.stderr.write(`error: cannot run ${binary}: ${result.error.message}\n`);
  process.exit(2);
}
if (result.signal) {
  process.kill(process.pid, result.signal);
}
process.exit(result.status ?? 1);
