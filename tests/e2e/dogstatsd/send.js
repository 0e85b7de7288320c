#!/usr/bin/env node
// Sends every DogStatsD type to 127.0.0.1:PORT with hot-shots, a real client from outside the
// project, then closes the socket and exits 0. dogstatsd_e2e_test.sh checks what the fake intake
// receives; the values here and the expectations there must change together.
//
//   node send.js PORT
'use strict';

const StatsD = require('hot-shots');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node send.js PORT');
  process.exit(2);
}

// hot-shots drops a sampled metric on the client when Math.random() >= rate. The sampling is the
// client's business; what this test checks is how outpost weighs the `|@0.5` it receives, so every
// sampled call is kept.
Math.random = () => 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  // The aggregator buckets samples by 10 s of arrival time. Sending well inside one bucket keeps
  // each histogram in one point, so its aggregates are exact.
  while (Date.now() % 10000 > 6000) {
    await sleep(100);
  }

  let errors = 0;
  const client = new StatsD({
    host: '127.0.0.1',
    port,
    protocol: 'udp',
    globalTags: { env: 'e2e', team: 'outpost' },
    // No DD_* environment variable may change what is sent: no Datadog mode (origin detection,
    // cardinality fields, client telemetry), no tags from DD_ENV/DD_TAGS, no buffering.
    datadog: false,
    includeDataDogTags: false,
    includeDatadogTelemetry: false,
    maxBufferSize: 0,
    errorHandler: (err) => {
      errors++;
      console.error(`send.js: hot-shots error: ${err && err.message}`);
    },
  });

  // Each call resolves when its datagram has been handed to the kernel.
  const sent = [];
  const track = (fn) => sent.push(new Promise((resolve) => fn((err) => {
    if (err) {
      errors++;
      console.error(`send.js: send failed: ${err.message}`);
    }
    resolve();
  })));

  // counter: 5 + 3 + 2 sampled at 0.5 (counts 4) = 12 in the bucket, a rate of 1.2/s over 10 s.
  track((cb) => client.increment('e2e.counter', 5, ['kind:counter'], cb));
  track((cb) => client.increment('e2e.counter', 3, ['kind:counter'], cb));
  track((cb) => client.increment('e2e.counter', 2, 0.5, ['kind:counter'], cb));

  // gauge: the last value wins.
  track((cb) => client.gauge('e2e.gauge', 10, ['kind:gauge'], cb));
  track((cb) => client.gauge('e2e.gauge', 42.5, ['kind:gauge'], cb));

  // histogram 1..5: max 5, median 3, avg 3, count 5 (0.5/s), 95percentile 5.
  for (const v of [4, 1, 5, 2, 3]) {
    track((cb) => client.histogram('e2e.histogram', v, ['kind:histogram'], cb));
  }

  // timing (ms) 100..400: max 400, median 200, avg 250, count 4 (0.4/s), 95percentile 400.
  for (const v of [300, 100, 400, 200]) {
    track((cb) => client.timing('e2e.timing', v, ['kind:timing'], cb));
  }

  // distribution 1..10: a sketch with cnt 10, min 1, max 10, sum 55, avg 5.5.
  for (let v = 1; v <= 10; v++) {
    track((cb) => client.distribution('e2e.distribution', v, ['kind:distribution'], cb));
  }

  // set: 3 unique values.
  for (const v of ['alice', 'bob', 'alice', 'carol', 'bob']) {
    track((cb) => client.unique('e2e.set', v, ['kind:set'], cb));
  }

  // An event; the client escapes the newline as \n.
  track((cb) => client.event('e2e.event', 'line one\nline two',
    { alert_type: 'warning', priority: 'low', aggregation_key: 'e2e-agg' },
    ['kind:event'], cb));

  // A service check: status 1 (warning), with a message (sent last on the line).
  track((cb) => client.check('e2e.check', client.CHECKS.WARNING,
    { message: 'e2e check message' }, ['kind:check'], cb));

  await Promise.all(sent);
  await new Promise((resolve) => client.close((err) => {
    if (err) {
      errors++;
      console.error(`send.js: close failed: ${err.message}`);
    }
    resolve();
  }));

  console.log(`send.js: sent ${sent.length} messages to 127.0.0.1:${port}`);
  process.exit(errors === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`send.js: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
