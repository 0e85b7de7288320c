#!/usr/bin/env node
// Polls the fake intake until the traces app.js created have arrived (or the deadline passes),
// then checks them: every span of every trace in an AgentPayload with the ids, parent ids, names,
// resources (SQL obfuscated), services, meta, metrics and error flags the app set; and the APM
// stats buckets: hits, errors, top-level hits and durations per (service, name, resource) equal to
// what those spans imply. Prints every check; exits 0 when all pass.
//
//   node check.js INTAKE_PORT HOSTNAME API_KEY CREATED_JSON_FILE TIMEOUT_SECONDS
'use strict';

const fs = require('fs');
const { payloads: fetchPayloads, checker } = require('../lib.js');

const [intakePort, hostname, apiKey, createdFile, timeoutArg] = process.argv.slice(2);
if (!intakePort || !hostname || !apiKey || !createdFile) {
  console.error('usage: node check.js INTAKE_PORT HOSTNAME API_KEY CREATED_JSON_FILE [TIMEOUT_S]');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 60) * 1000;
// One JSON line per run of app.js; their traces together.
const created = {
  traces: fs.readFileSync(createdFile, 'utf8').split('\n').filter((l) => l.trim() !== '')
    .flatMap((l) => JSON.parse(l).traces),
};

const payloads = (route) => fetchPayloads(intakePort, route);

// Every span the intake received, by span id (decimal string), with its chunk and tracer payload.
function receivedSpans(traces) {
  const out = new Map();
  for (const p of traces.filter((x) => x.valid)) {
    for (const tp of (p.decoded && p.decoded.tracerPayloads) || []) {
      for (const chunk of tp.chunks || []) {
        for (const s of chunk.spans || []) {
          out.set(String(s.spanID), { span: s, chunk, tp, agent: p.decoded });
        }
      }
    }
  }
  return out;
}

// Stats entries summed per service|name|resource over every bucket of every payload.
function receivedStats(stats) {
  const out = new Map();
  for (const p of stats.filter((x) => x.valid)) {
    for (const csp of (p.decoded && p.decoded.Stats) || []) {
      for (const bucket of csp.Stats || []) {
        for (const g of bucket.Stats || []) {
          const key = `${g.Service}|${g.Name}|${g.Resource}`;
          const sum = out.get(key) || { hits: 0, errors: 0, top: 0, duration: 0, env: csp.Env,
            kind: g.SpanKind, okCount: 0, errCount: 0 };
          sum.hits += Number(g.Hits);
          sum.errors += Number(g.Errors);
          sum.top += Number(g.TopLevelHits);
          sum.duration += Number(g.Duration);
          sum.okCount += sketchCount(g.OkSummary);
          sum.errCount += sketchCount(g.ErrorSummary);
          out.set(key, sum);
        }
      }
    }
  }
  return out;
}

function sketchCount(sketch) {
  if (!sketch || typeof sketch !== 'object') {
    return 0;
  }
  const store = sketch.positiveValues || {};
  const bins = (store.contiguousBinCounts || []).reduce((a, b) => a + Number(b), 0);
  return Math.round(bins + Number(sketch.zeroCount || 0));
}

const allSpans = created.traces.flatMap((t) => t.spans);

function complete(spans, stats) {
  if (!allSpans.every((s) => spans.has(s.span_id))) {
    return false;
  }
  const want = expectedStats(spans);
  for (const [key, w] of want) {
    const got = stats.get(key);
    if (!got || got.hits < w.hits) {
      return false;
    }
  }
  return true;
}

function expectedStats(spans) {
  const want = new Map();
  for (const s of allSpans.filter((x) => x.stats)) {
    const key = `${s.service}|${s.name}|${s.resource}`;
    const w = want.get(key) || { hits: 0, errors: 0, top: 0, duration: 0 };
    const got = spans.get(s.span_id);
    w.hits += 1;
    w.errors += s.error;
    w.top += got && Number((got.span.metrics || {})._top_level) === 1 ? 1 : 0;
    w.duration += got ? Number(got.span.duration) : 0;
    want.set(key, w);
  }
  return want;
}

const { check, passed, failed } = checker();
const show = (v) => JSON.stringify(v);

function verify(traces, stats) {
  console.log('payloads recorded:');
  for (const [route, list] of [['/api/v0.2/traces', traces], ['/api/v0.2/stats', stats]]) {
    const invalid = list.filter((p) => !p.valid);
    check(`${route}: ${list.length} payload(s), all valid`, list.length > 0 && invalid.length === 0,
      invalid.map((p) => (p.errors || []).join('; ')).join(' | '));
    const keys = [...new Set(list.map((p) => (p.headers || {})['dd-api-key']))];
    check(`${route}: DD-API-KEY is the configured key`, show(keys) === show([apiKey]), show(keys));
  }
  const langs = [...new Set(traces.map((p) => (p.headers || {})['x-datadog-reported-languages']))];
  check('X-Datadog-Reported-Languages is nodejs', show(langs) === show(['nodejs']), show(langs));

  console.log(`traces (${created.traces.length} created, ${allSpans.length} spans):`);
  const spans = receivedSpans(traces);
  for (const t of created.traces) {
    const problems = [];
    for (const s of t.spans) {
      const got = spans.get(s.span_id);
      if (!got) {
        problems.push(`span ${s.name} ${s.span_id} missing`);
        continue;
      }
      const r = got.span;
      const meta = r.meta || {};
      const metrics = r.metrics || {};
      const expect = (what, a, b) => {
        if (String(a) !== String(b)) {
          problems.push(`${s.name}.${what}: got ${show(a)}, want ${show(b)}`);
        }
      };
      expect('traceID', r.traceID, t.trace_id);
      expect('parentID', r.parentID, s.parent_id);
      expect('name', r.name, s.name);
      expect('service', r.service, s.service);
      expect('resource', r.resource, s.resource);
      expect('type', r.type, s.type);
      expect('error', r.error, s.error);
      expect('meta.env', meta.env, 'e2e');
      expect('meta.version', meta.version, '1.2.3');
      expect('meta.language', meta.language, 'javascript');
      if (s.name === 'web.request') {
        expect('meta.http.method', meta['http.method'], 'GET');
        expect('meta.http.status_code', meta['http.status_code'], '200');
        expect('meta.customer.tier', meta['customer.tier'], 'gold');
        expect('metrics.cart.items', metrics['cart.items'], 3);
        expect('metrics._top_level', metrics._top_level, 1);
        expect('metrics._sampling_priority_v1', metrics._sampling_priority_v1, 2);
        expect('chunk.priority', got.chunk.priority, 2);
      }
      if (s.name === 'postgres.query') {
        expect('metrics.db.rows', metrics['db.rows'], 1);
        expect('meta.sql.query', meta['sql.query'], s.resource);
        expect('metrics._top_level', metrics._top_level, 1);
      }
      if (s.name === 'payment.charge') {
        expect('meta.error.message', meta['error.message'], 'card declined');
        expect('meta.error.type', meta['error.type'], 'Error');
        if (!String(meta['error.stack'] || '').includes('card declined')) {
          problems.push('payment.charge: meta.error.stack lacks the message');
        }
        expect('metrics.payment.amount', metrics['payment.amount'], 12.5);
        expect('metrics._top_level', metrics._top_level === undefined ? 0 : metrics._top_level, 0);
      }
      if (Number(r.start) < Date.now() * 1e6 - 600e9 || Number(r.duration) <= 0) {
        problems.push(`${s.name}: start ${r.start} / duration ${r.duration} implausible`);
      }
      expect('tracerPayload.languageName', got.tp.languageName, 'nodejs');
      expect('agentPayload.hostName', got.agent.hostName, hostname);
    }
    check(`trace ${t.trace_id}: ${t.spans.length} spans as created`, problems.length === 0,
      problems.join('; '));
  }

  console.log('stats (/api/v0.2/stats):');
  const got = receivedStats(stats);
  for (const [key, w] of expectedStats(spans)) {
    const g = got.get(key);
    if (!g) {
      check(`${key} has stats`, false, 'no entry');
      continue;
    }
    check(`${key}: hits ${w.hits}, errors ${w.errors}, top-level hits ${w.top}`,
      g.hits === w.hits && g.errors === w.errors && g.top === w.top,
      `got hits ${g.hits}, errors ${g.errors}, top-level ${g.top}`);
    check(`${key}: duration ${w.duration} ns`, g.duration === w.duration, `got ${g.duration}`);
    check(`${key}: sketches count ${w.hits - w.errors} ok / ${w.errors} errors`,
      g.okCount === w.hits - w.errors && g.errCount === w.errors,
      `got ${g.okCount} / ${g.errCount}`);
    check(`${key}: env e2e`, g.env === 'e2e', show(g.env));
  }
  const extra = [...got.keys()].filter((k) => !expectedStats(spans).has(k));
  check('no stats for spans that should have none', extra.length === 0, show(extra));
}

(async () => {
  const deadline = Date.now() + timeoutMs;
  let traces = [];
  let stats = [];
  for (;;) {
    try {
      traces = await payloads('/api/v0.2/traces');
      stats = await payloads('/api/v0.2/stats');
      if (complete(receivedSpans(traces), receivedStats(stats))) {
        break;
      }
    } catch (err) {
      console.log(`  (poll: ${err.message})`);
    }
    if (Date.now() > deadline) {
      console.log('deadline passed; checking what arrived');
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  verify(traces, stats);
  console.log(`${passed()} checks passed, ${failed()} failed`);
  process.exit(failed() === 0 ? 0 : 1);
})();
