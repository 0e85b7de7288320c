#!/usr/bin/env node
// Polls the fake intake until what send.js sent has arrived (or the deadline passes), then checks
// the decoded series, sketches, check run and event. Prints every check; exits 0 when all pass.
//
//   node check.js INTAKE_PORT HOSTNAME API_KEY TIMEOUT_SECONDS
'use strict';

const { payloads: fetchPayloads, checker } = require('../lib.js');

const [intakePort, hostname, apiKey, timeoutArg] = process.argv.slice(2);
if (!intakePort || !hostname || !apiKey) {
  console.error('usage: node check.js INTAKE_PORT HOSTNAME API_KEY [TIMEOUT_SECONDS]');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 45) * 1000;

// Tags on every metric, event and service check: hot-shots' globalTags, the call's own tag, and
// dogstatsd_tags from outpost.yaml (dogstatsd_e2e_test.sh writes it).
const GLOBAL_TAGS = ['env:e2e', 'team:outpost', 'e2e_extra:yes'];
const tagsFor = (kind) => [...GLOBAL_TAGS, `kind:${kind}`].sort();

// What send.js sends, as the Agent aggregates it over one 10 s bucket (histogram_aggregates
// max, median, avg, count; histogram_percentiles 0.95).
const SERIES = {
  'e2e.counter': { type: 'RATE', value: 1.2, kind: 'counter' },  // (5 + 3 + 2/0.5) / 10 s
  'e2e.gauge': { type: 'GAUGE', value: 42.5, kind: 'gauge' },
  'e2e.set': { type: 'GAUGE', value: 3, kind: 'set' },
  'e2e.histogram.max': { type: 'GAUGE', value: 5, kind: 'histogram' },
  'e2e.histogram.median': { type: 'GAUGE', value: 3, kind: 'histogram' },
  'e2e.histogram.avg': { type: 'GAUGE', value: 3, kind: 'histogram' },
  'e2e.histogram.count': { type: 'RATE', value: 0.5, kind: 'histogram' },
  'e2e.histogram.95percentile': { type: 'GAUGE', value: 5, kind: 'histogram' },
  'e2e.timing.max': { type: 'GAUGE', value: 400, kind: 'timing' },
  'e2e.timing.median': { type: 'GAUGE', value: 200, kind: 'timing' },
  'e2e.timing.avg': { type: 'GAUGE', value: 250, kind: 'timing' },
  'e2e.timing.count': { type: 'RATE', value: 0.4, kind: 'timing' },
  'e2e.timing.95percentile': { type: 'GAUGE', value: 400, kind: 'timing' },
};
const SKETCH = { metric: 'e2e.distribution', cnt: 10, min: 1, max: 10, sum: 55, avg: 5.5 };
const CHECK = { check: 'e2e.check', status: 1, message: 'e2e check message' };
const EVENT = {
  msg_title: 'e2e.event', msg_text: 'line one\nline two', alert_type: 'warning',
  priority: 'low', aggregation_key: 'e2e-agg',
};
const ROUTES = ['/api/v2/series', '/api/beta/sketches', '/api/v1/check_run', '/intake/'];

// Every recorded payload per route, accepted or not.
async function fetchAll() {
  const out = {};
  for (const route of ROUTES) {
    out[route] = await fetchPayloads(intakePort, route);
  }
  return out;
}

const e2eSeries = (got) => got['/api/v2/series'].filter((p) => p.valid)
  .flatMap((p) => (p.decoded && p.decoded.series) || [])
  .filter((s) => typeof s.metric === 'string' && s.metric.startsWith('e2e.'));
const e2eSketches = (got) => got['/api/beta/sketches'].filter((p) => p.valid)
  .flatMap((p) => (p.decoded && p.decoded.sketches) || [])
  .filter((s) => typeof s.metric === 'string' && s.metric.startsWith('e2e.'));
const e2eChecks = (got) => got['/api/v1/check_run'].filter((p) => p.valid)
  .flatMap((p) => (Array.isArray(p.decoded) ? p.decoded : []))
  .filter((c) => c && c.check === CHECK.check);
const e2eEvents = (got) => got['/intake/'].filter((p) => p.valid)
  .flatMap((p) => Object.values((p.decoded && p.decoded.events) || {}).flat())
  .filter((e) => e && e.msg_title === EVENT.msg_title);

// Everything arrived: each series has a non-zero point, and the sketch, check and event are there.
function complete(got) {
  const series = e2eSeries(got);
  for (const name of Object.keys(SERIES)) {
    if (!series.some((s) => s.metric === name && (s.points || []).some((p) => p.value !== 0))) {
      return false;
    }
  }
  return e2eSketches(got).length > 0 && e2eChecks(got).length > 0 && e2eEvents(got).length > 0;
}

const { check, passed, failed } = checker();
const near = (a, b) => typeof a === 'number' && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const sorted = (tags) => [...(tags || [])].sort();
const show = (v) => JSON.stringify(v);

function verify(got, nowS) {
  // A timestamp of the test run: within the last few minutes.
  const recent = (ts) => Number.isFinite(ts) && ts > nowS - 300 && ts <= nowS + 60;

  console.log('payloads recorded:');
  for (const route of ROUTES) {
    const invalid = got[route].filter((p) => !p.valid);
    check(`${route}: ${got[route].length} payload(s), all valid`, got[route].length > 0 &&
      invalid.length === 0, invalid.map((p) => (p.errors || []).join('; ')).join(' | '));
    const keys = [...new Set(got[route].map((p) => (p.headers || {})['dd-api-key']))];
    check(`${route}: DD-API-KEY is the configured key`, same(keys, [apiKey]), show(keys));
  }

  console.log('series (/api/v2/series):');
  const series = e2eSeries(got);
  for (const [name, want] of Object.entries(SERIES)) {
    const all = series.filter((s) => s.metric === name);
    if (all.length === 0) {
      check(`${name} received`, false, 'no series');
      continue;
    }
    const contexts = [...new Set(all.map((s) => show(sorted(s.tags))))];
    check(`${name} tags ${show(tagsFor(want.kind))}`, same(contexts, [show(tagsFor(want.kind))]),
      contexts.join(' '));
    const hosts = [...new Set(all.map((s) => show((s.resources || []).map((r) => `${r.type}:${r.name}`))))];
    check(`${name} host resource ${hostname}`, same(hosts, [show([`host:${hostname}`])]),
      hosts.join(' '));
    const types = [...new Set(all.map((s) => s.type))];
    check(`${name} type ${want.type}`, same(types, [want.type]), show(types));
    const intervals = [...new Set(all.map((s) => String(s.interval)))];
    check(`${name} interval 10`, same(intervals, ['10']), show(intervals));
    const points = all.flatMap((s) => s.points || []);
    // Counters are followed by zeros in later buckets until they expire; nothing else repeats.
    const nonzero = points.filter((p) => p.value !== 0);
    const zeros = points.length - nonzero.length;
    check(`${name} one point of ${want.value}`, nonzero.length === 1 && near(nonzero[0].value,
      want.value) && (want.type === 'RATE' || zeros === 0), show(points));
    const stamps = points.map((p) => Number(p.timestamp));
    check(`${name} timestamps are 10 s bucket starts`,
      stamps.every((ts) => recent(ts) && ts % 10 === 0), show(stamps));
  }
  const unexpected = [...new Set(series.map((s) => s.metric))].filter((n) => !(n in SERIES));
  check('no other e2e.* series', unexpected.length === 0, show(unexpected));

  console.log('sketches (/api/beta/sketches):');
  const sketches = e2eSketches(got);
  const dist = sketches.filter((s) => s.metric === SKETCH.metric);
  check(`${SKETCH.metric} received, once`, dist.length === 1, `${dist.length} sketch series`);
  if (dist.length === 1) {
    const s = dist[0];
    check(`${SKETCH.metric} host ${hostname}`, s.host === hostname, show(s.host));
    check(`${SKETCH.metric} tags ${show(tagsFor('distribution'))}`,
      same(sorted(s.tags), tagsFor('distribution')), show(s.tags));
    const d = s.dogsketches || [];
    check(`${SKETCH.metric} one dogsketch`, d.length === 1, show(d));
    if (d.length === 1) {
      const k = d[0];
      check(`${SKETCH.metric} cnt ${SKETCH.cnt}`, Number(k.cnt) === SKETCH.cnt, show(k.cnt));
      for (const f of ['min', 'max', 'sum', 'avg']) {
        check(`${SKETCH.metric} ${f} ${SKETCH[f]}`, near(k[f], SKETCH[f]), show(k[f]));
      }
      const n = (k.n || []).reduce((a, b) => a + Number(b), 0);
      check(`${SKETCH.metric} bins count ${SKETCH.cnt}, keys ascending`, n === SKETCH.cnt &&
        (k.k || []).length === (k.n || []).length &&
        (k.k || []).every((x, i, a) => i === 0 || Number(a[i - 1]) < Number(x)),
      `k=${show(k.k)} n=${show(k.n)}`);
      check(`${SKETCH.metric} ts is a 10 s bucket start`,
        recent(Number(k.ts)) && Number(k.ts) % 10 === 0, show(k.ts));
    }
  }
  const otherSketches = [...new Set(sketches.map((s) => s.metric))].filter((m) => m !== SKETCH.metric);
  check('no other e2e.* sketches', otherSketches.length === 0, show(otherSketches));

  console.log('service check (/api/v1/check_run):');
  const checks = e2eChecks(got);
  check(`${CHECK.check} received, once`, checks.length === 1, show(checks));
  if (checks.length === 1) {
    const c = checks[0];
    check(`${CHECK.check} status ${CHECK.status}`, c.status === CHECK.status, show(c.status));
    check(`${CHECK.check} message "${CHECK.message}"`, c.message === CHECK.message, show(c.message));
    check(`${CHECK.check} host_name ${hostname}`, c.host_name === hostname, show(c.host_name));
    check(`${CHECK.check} tags ${show(tagsFor('check'))}`, same(sorted(c.tags), tagsFor('check')),
      show(c.tags));
    check(`${CHECK.check} timestamp recent`, recent(Number(c.timestamp)), show(c.timestamp));
  }

  console.log('event (/intake/):');
  const events = e2eEvents(got);
  check(`${EVENT.msg_title} received, once`, events.length === 1, show(events));
  if (events.length === 1) {
    const e = events[0];
    for (const [f, v] of Object.entries(EVENT)) {
      check(`${EVENT.msg_title} ${f} ${show(v)}`, e[f] === v, show(e[f]));
    }
    check(`${EVENT.msg_title} host ${hostname}`, e.host === hostname, show(e.host));
    check(`${EVENT.msg_title} tags ${show(tagsFor('event'))}`, same(sorted(e.tags), tagsFor('event')),
      show(e.tags));
    check(`${EVENT.msg_title} timestamp recent`, recent(Number(e.timestamp)), show(e.timestamp));
  }
  const intake = got['/intake/'].filter((p) => p.valid && p.decoded && p.decoded.events);
  check(`/intake/ events payloads name the host (internalHostname ${hostname})`,
    intake.length > 0 && intake.every((p) => p.decoded.internalHostname === hostname),
    show(intake.map((p) => p.decoded.internalHostname)));
}

async function main() {
  const start = Date.now();
  let got;
  for (;;) {
    try {
      got = await fetchAll();
      if (complete(got)) {
        break;
      }
    } catch (err) {
      console.log(`check.js: ${err.message}`);
    }
    if (Date.now() - start > timeoutMs) {
      console.log(`check.js: not everything arrived within ${timeoutMs / 1000} s; checking what did`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.log(`check.js: waited ${((Date.now() - start) / 1000).toFixed(1)} s`);
  if (!got) {
    console.log('check.js: the fake intake never answered');
    process.exit(1);
  }
  verify(got, Math.floor(Date.now() / 1000));
  console.log(`check.js: ${passed()} checks passed, ${failed()} failed`);
  process.exit(failed() === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`check.js: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
