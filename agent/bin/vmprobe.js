#!/usr/bin/env node
// Committed launcher so `npm install` can link the `vmprobe` bin before the first build.
import '../dist/cli/main.js';
