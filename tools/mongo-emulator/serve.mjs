#!/usr/bin/env node
// memwatch's MongoDB-wire emulator for tests and the demo: CongoDB from
// @push.rocks/smartmongo, in memory only. It is an emulator, not MongoDB: no auth, no
// maxTimeMS, every query scans the whole collection.
//
//   node serve.mjs [--host 127.0.0.1] [--port 27017] [--exit-on-stdin-eof]
//
// Prints one line `ready mongodb://HOST:PORT` on stdout once it accepts connections
// (--port 0 picks a free port), and exits 0 on SIGTERM or SIGINT. With --exit-on-stdin-eof
// it also exits when its stdin closes, so a test runner that dies leaves no server behind.
import { CongoServer } from '@push.rocks/smartmongo/dist_ts/congodb/index.js';

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 27017, exitOnStdinEof: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--host') opts.host = argv[++i];
    else if (arg === '--port') opts.port = Number(argv[++i]);
    else if (arg === '--exit-on-stdin-eof') opts.exitOnStdinEof = true;
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: node serve.mjs [--host H] [--port N] [--exit-on-stdin-eof]\n');
      process.exit(0);
    } else {
      process.stderr.write(`serve.mjs: unknown argument ${arg}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write('serve.mjs: --port needs an integer 0..65535\n');
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
// storage 'memory' without persistPath: nothing is ever written to disk.
const server = new CongoServer({ host: opts.host, port: opts.port, storage: 'memory' });

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    await server.stop();
  } finally {
    process.exit(code);
  }
}

process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
if (opts.exitOnStdinEof) {
  process.stdin.on('end', () => stop(0));
  process.stdin.on('error', () => stop(0));
  process.stdin.resume();
}

try {
  await server.start();
} catch (err) {
  process.stderr.write(`serve.mjs: cannot listen on ${opts.host}:${opts.port}: ${err.message}\n`);
  process.exit(1);
}
const port = server.server.address().port;
process.stdout.write(`ready mongodb://${opts.host}:${port}\n`);
