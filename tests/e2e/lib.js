// Shared by the end-to-end checks: reading the fake intake's recorded payloads, and printing
// checks as they pass or fail.
'use strict';

const http = require('http');

// GET a JSON document from the fake intake on 127.0.0.1:port.
function getJson(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: Number(port), path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(new Error(`GET ${path}: bad JSON: ${err.message}`));
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path}: timed out`)));
  });
}

// Every payload the fake intake recorded for a route, accepted or not, decoded.
async function payloads(port, route) {
  return (await getJson(port, `/fakeintake/payloads?endpoint=${encodeURIComponent(route)}&raw=0`))
    .payloads || [];
}

// check(what, ok, detail) prints one line; summary() the totals; failed() the count.
function checker() {
  let passed = 0;
  let failed = 0;
  return {
    check(what, ok, detail) {
      if (ok) {
        passed++;
        console.log(`  ok   ${what}`);
      } else {
        failed++;
        console.log(`  FAIL ${what}${detail === undefined ? '' : `: ${detail}`}`);
      }
    },
    passed: () => passed,
    failed: () => failed,
  };
}

module.exports = { getJson, payloads, checker };
