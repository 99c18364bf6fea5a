#!/usr/bin/env node
'use strict';
// Output piped into `head` and closed early is a normal way to end, not a crash.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
require('../dist/cli.js').main(process.argv).then((code) => {
  process.exitCode = code;
});
