#!/usr/bin/env node
// A small traced program: dd-trace (the real npm package, unmodified) sends its spans to the
// agent at DD_TRACE_AGENT_URL (a running outpost). It makes one trace of nested spans with an
// error span, tags and metrics, then one more trace per request of a little load, flushes, and
// prints what it created as JSON on stdout (one line) for check.js to compare.
//
//   DD_TRACE_AGENT_URL=http://127.0.0.1:PORT node app.js
'use strict';

const tracer = require('dd-trace').init({
  service: 'e2e-app',
  env: 'e2e',
  version: '1.2.3',
  flushInterval: 100,
  startupLogs: false,
  runtimeMetrics: false,
  plugins: false,
});

const created = { traces: [] };
const id = (span) => ({
  trace_id: span.context().toTraceId(),
  span_id: span.context().toSpanId(),
});

function makeTrace(n) {
  const spans = [];
  const root = tracer.startSpan('web.request', {
    tags: {
      'service.name': 'e2e-app',
      'resource.name': `GET /checkout/${n % 2 === 0 ? 'cart' : 'pay'}`,
      'span.type': 'web',
      'span.kind': 'server',
      'http.method': 'GET',
      'http.status_code': '200',
      'customer.tier': 'gold',
      'manual.keep': true,
    },
  });
  root.setTag('cart.items', 3);
  const db = tracer.startSpan('postgres.query', {
    childOf: root,
    tags: {
      'service.name': 'e2e-db',
      'resource.name': `SELECT * FROM users WHERE id = ${40 + n} AND name = 'bob'`,
      'span.type': 'sql',
      'span.kind': 'client',
      'db.rows': 1,
    },
  });
  const fetch = tracer.startSpan('cache.fetch', {
    childOf: db,
    tags: { 'service.name': 'e2e-db', 'resource.name': 'cache.fetch', 'span.type': 'cache' },
  });
  fetch.finish();
  db.finish();
  const pay = tracer.startSpan('payment.charge', {
    childOf: root,
    tags: {
      'resource.name': 'charge',
      'span.type': 'custom',
      'span.kind': 'client',
      'payment.amount': 12.5,
    },
  });
  pay.setTag('error', new Error('card declined'));
  pay.finish();
  root.finish();
  // What each span should look like at the intake; `stats`: whether APM stats count it
  // (top-level, or a span.kind of server/client/producer/consumer).
  const resource = `GET /checkout/${n % 2 === 0 ? 'cart' : 'pay'}`;
  for (const [span, name, parent, service, res, type, error, stats] of [
    [root, 'web.request', null, 'e2e-app', resource, 'web', 0, true],
    [db, 'postgres.query', root, 'e2e-db', 'SELECT * FROM users WHERE id = ? AND name = ?', 'sql',
      0, true],
    [fetch, 'cache.fetch', db, 'e2e-db', 'cache.fetch', 'cache', 0, false],
    [pay, 'payment.charge', root, 'e2e-app', 'charge', 'custom', 1, true],
  ]) {
    spans.push({
      ...id(span),
      parent_id: parent ? parent.context().toSpanId() : '0',
      name,
      service,
      resource: res,
      type,
      error,
      stats,
    });
  }
  created.traces.push({ trace_id: root.context().toTraceId(), spans });
}

const count = Number(process.env.E2E_TRACES || 5);
for (let i = 0; i < count; i++) {
  makeTrace(i);
}
// dd-trace flushes every flushInterval; give it a few rounds, then exit.
setTimeout(() => {
  console.log(JSON.stringify(created));
  process.exit(0);
}, 1500);
