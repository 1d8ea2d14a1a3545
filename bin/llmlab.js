#!/usr/bin/env node
"use strict";
// The llmlab command line; the code lives in dist/kernel/cli.js (built by `npm run build`).
const path = require("path");
const fs = require("fs");

const cli = path.join(__dirname, "..", "dist", "kernel", "cli.js");
if (!fs.existsSync(cli)) {
  console.error(`llmlab: ${cli} is missing; build the project first (npm run build).`);
  process.exit(1);
}
require(cli)
  .main(process.argv.slice(2))
  .then(
    (code) => {
      if (code !== null) process.exit(code);
    },
    (e) => {
      console.error(e && e.stack ? e.stack : String(e));
      process.exit(1);
    },
  );
