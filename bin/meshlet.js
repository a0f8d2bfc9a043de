#!/usr/bin/env node
'use strict';
// The compiled CLI lives in dist/ (built by `npm install` through the prepare script).
require('../dist/cli/main.js').main(process.argv.slice(2));
