#!/usr/bin/env node
// Committed launcher so `npm install` can link the `vmprobe` bin before the first build. It runs
// the bundle `npm run build` makes (agent/build-bundle.mjs) — the same file the image runs.
import '../bundle/vmprobe.js';
