// The MCP SDK's Client against outpost-mcp: feeds a DogStatsD counter and gauge and one APM
// trace to the running outpost, then calls every tool and checks what comes back.
//
//   node client.js OUTPOST_MCP SOCKET DSD_PORT APM_PORT LOG_PATH
'use strict';

const assert = require('assert');
const dgram = require('dgram');
const http = require('http');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');

const [mcpBin, socket, dsdPort, apmPort, logPath] = process.argv.slice(2);
let passed = 0;

function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`mcp_e2e: ok   ${name}`);
  } catch (e) {
    console.log(`mcp_e2e: FAIL ${name}: ${e.message}`);
    process.exitCode = 1;
  }
}

function sendUdp(lines) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.send(lines.join('\n'), Number(dsdPort), '127.0.0.1', (err) => {
      s.close();
      if (err) reject(err); else resolve();
    });
  });
}

function postTrace(body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port: Number(apmPort), path: '/v0.3/traces', method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data),
                   'X-Datadog-Trace-Count': '1', 'Datadog-Meta-Lang': 'nodejs' } },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end(data);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  // What the agent receives.
  await sendUdp(['e2e.orders:2|c|#env:e2e', 'e2e.orders:3|c|#env:e2e', 'e2e.queue:42|g|#env:e2e']);
  const now = Date.now() * 1e6;
  const status = await postTrace([[
    { trace_id: 777001, span_id: 1, parent_id: 0, name: 'web.request', resource: 'GET /checkout',
      service: 'checkout', type: 'web', start: now - 300e6, duration: 250e6, error: 1,
      meta: { 'error.message': 'payment declined', 'http.status_code': '502' },
      metrics: { _sampling_priority_v1: 2 } },
    { trace_id: 777001, span_id: 2, parent_id: 1, name: 'payment.charge', resource: 'charge',
      service: 'payments', start: now - 290e6, duration: 200e6, error: 1, meta: {}, metrics: {} },
  ]]);
  check('the trace receiver took the trace', () => assert.strictEqual(status, 200));

  const transport = new StdioClientTransport({ command: mcpBin, args: ['--socket', socket] });
  const client = new Client({ name: 'outpost-e2e', version: '1.0.0' });
  await client.connect(transport);
  check('initialized with outpost-mcp', () =>
    assert.strictEqual(client.getServerVersion().name, 'outpost-mcp'));

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  check('lists the eleven tools', () => assert.deepStrictEqual(names, [
    'agent_status', 'aggregate_logs', 'get_trace', 'list_checks', 'list_log_sources',
    'list_metrics', 'query_metrics', 'read_search_results', 'search_logs', 'search_traces',
    'tail_logs']));
  for (const t of tools) {
    check(`${t.name} is read-only with schemas`, () => {
      assert.strictEqual(t.annotations.readOnlyHint, true);
      assert.strictEqual(t.inputSchema.type, 'object');
      assert.strictEqual(t.outputSchema.type, 'object');
    });
  }
  // callTool checks structuredContent against the tool's outputSchema (it throws if not).
  const call = async (name, args) => {
    const r = await client.callTool({ name, arguments: args });
    if (r.isError) {
      throw new Error(`${name} failed: ${r.content[0].text}`);
    }
    return r.structuredContent;
  };

  // Logs: the five errors, in order, from the file itself.
  let s = await call('search_logs', { query: 'ERROR payment', from: '-1h' });
  check('search_logs finds the five errors in order', () => {
    assert.deepStrictEqual(s.results.map((h) => h.line.replace(/.*order=/, '')),
      ['1', '2', '3', '4', '5']);
    assert.strictEqual(s.results[0].file, logPath);
    assert.strictEqual(s.truncated, false);
  });
  s = await call('search_logs', { query: 'ERROR payment', from: '-1h', limit: 1 });
  const more = await call('read_search_results', { result_id: s.result_id });
  check('read_search_results pages the rest', () => {
    assert.strictEqual(s.results.length, 1);
    assert.deepStrictEqual(more.results.map((h) => h.line.replace(/.*order=/, '')),
      ['2', '3', '4', '5']);
  });
  const agg = await call('aggregate_logs', { query: 'ERROR', from: '-1h', group_by: 'service' });
  check('aggregate_logs counts them', () => {
    assert.strictEqual(agg.total, 5);
    assert.strictEqual(agg.groups[0].key, 'shop');
  });
  let tail;
  for (let i = 0; i < 50; i++) {
    tail = await call('tail_logs', { service: 'shop', lines: 10 });
    if (tail.lines.length === 10) break;
    await sleep(200);
  }
  check('tail_logs has the newest lines', () => {
    assert.strictEqual(tail.lines.length, 10);
    assert.match(tail.lines[9].message, /order=5$/);
  });
  const sources = await call('list_log_sources', {});
  check('list_log_sources names the file', () =>
    assert.strictEqual(sources.sources[0].files[0].path, logPath));

  // Metrics, once flushed (2 s flushes, 10 s buckets).
  let m;
  for (let i = 0; i < 60; i++) {
    m = await call('query_metrics', { query: 'sum:e2e.orders{env:e2e}.as_count()', from: '-5m' });
    if (m.series.length && m.series[0].points.some((p) => p[1] !== null)) break;
    await sleep(500);
  }
  check('query_metrics sums the counter sent', () => {
    const total = m.series[0].points.reduce((a, p) => a + (p[1] || 0), 0);
    assert.strictEqual(total, 5);
  });
  const g = await call('query_metrics', { metric: 'e2e.queue', filter: 'env:e2e', from: '-5m',
                                          aggregation: 'max' });
  check('query_metrics has the gauge', () => assert.strictEqual(g.series[0].summary.max, 42));
  const list = await call('list_metrics', { prefix: 'e2e.' });
  check('list_metrics lists both', () => assert.deepStrictEqual(
    list.metrics.map((x) => (typeof x === 'string' ? x : x.name)).sort(),
    ['e2e.orders', 'e2e.queue']));

  // Traces.
  let ts;
  for (let i = 0; i < 30; i++) {
    ts = await call('search_traces', { service: 'checkout', error_only: true });
    if (ts.traces.length) break;
    await sleep(200);
  }
  check('search_traces finds the failing checkout', () => assert.strictEqual(ts.traces.length, 1));
  const t = await call('get_trace', { trace_id: String(ts.traces[0].trace_id) });
  check('get_trace has both spans', () => {
    assert.strictEqual(t.spans.length, 2);
    assert.strictEqual(t.spans[1].service, 'payments');
    assert.strictEqual(t.spans[1].depth, 1);
  });

  const st = await call('agent_status', {});
  check('agent_status says local mode', () =>
    assert.strictEqual(st.forwarding, 'off: local mode (no api_key)'));
  const checks = await call('list_checks', {});
  check('list_checks answers', () => assert.ok(Array.isArray(checks.instances)));
  const cfg = await client.readResource({ uri: 'outpost://config' });
  check('the config resource reads', () => assert.match(cfg.contents[0].text, /logs_enabled/));

  await client.close();
  console.log(`mcp_e2e: ${passed} checks passed`);
}

main().catch((e) => {
  console.log(`mcp_e2e: FAIL ${e.stack || e}`);
  process.exit(1);
});
