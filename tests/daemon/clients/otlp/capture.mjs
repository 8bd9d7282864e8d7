// SPDX-License-Identifier: MIT
// capture.mjs: the OpenTelemetry JavaScript SDK's OTLP/HTTP log exporters (protobuf and JSON)
// send known records to a local HTTP server that keeps each request body as a file, so that
// sluice's decoders can be checked against what a real client sends (test_otlp_client.c).
//
//   node capture.mjs OUTDIR [RECORDS [URL]]
//
// With URL (sluiced's http:// listener, http://ADDR:PORT/v1/logs) the exporters send there
// instead, and only expected.bin is written (test_otlp_sluiced.c reads the file sink).
// Writes OUTDIR/proto-N.bin, OUTDIR/json-N.json and OUTDIR/protogz-N.bin (each request body,
// in order, the last gzipped by the exporter: Content-Encoding: gzip), and
// OUTDIR/expected.bin: each record's body as a 4-byte little-endian length and its bytes,
// in the order emitted; service.name is "sluice-test" on the resource, and every third
// record carries its own service.name attribute "rec-<i>".
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';

const outdir = process.argv[2];
const records = Number(process.argv[3] ?? 1000);
const target = process.argv[4];
mkdirSync(outdir, { recursive: true });

const bodies = [];
for (let i = 0; i < records; i++)
  bodies.push(`record ${i} "quoted" \\ tab\t newline\n unicode é😀 ${'x'.repeat(i % 200)}`);

const seen = { proto: 0, json: 0, protogz: 0 };
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const json = (req.headers['content-type'] ?? '').startsWith('application/json');
    const gz = req.headers['content-encoding'] === 'gzip';
    const kind = json ? 'json' : gz ? 'protogz' : 'proto';
    writeFileSync(join(outdir, `${kind}-${seen[kind]++}.${json ? 'json' : 'bin'}`), body);
    res.writeHead(200, { 'Content-Type': req.headers['content-type'] });
    res.end(json ? '{}' : '');
  });
});
if (!target) await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = target ?? `http://127.0.0.1:${server.address().port}/v1/logs`;

async function send(exporter) {
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'sluice-test' }),
    processors: [new BatchLogRecordProcessor({ exporter, maxExportBatchSize: 256 })],
  });
  const logger = provider.getLogger('sluice-capture', '1.0');
  bodies.forEach((body, i) => {
    const attributes = { 'record.index': i };
    if (i % 3 === 0) attributes['service.name'] = `rec-${i}`;
    logger.emit({ severityNumber: 9, severityText: 'INFO', body, attributes });
  });
  await provider.forceFlush();
  await provider.shutdown();
}

await send(new ProtoExporter({ url }));
await send(new JsonExporter({ url }));
await send(new ProtoExporter({ url, compression: 'gzip' }));
if (!target) server.close();

const parts = [];
for (const b of bodies) {
  const bytes = Buffer.from(b, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(bytes.length);
  parts.push(len, bytes);
}
writeFileSync(join(outdir, 'expected.bin'), Buffer.concat(parts));
if (!target && (!seen.proto || !seen.json || !seen.protogz)) {
  console.error(`capture.mjs: requests seen: ${JSON.stringify(seen)}`);
  process.exit(1);
}
console.log(`capture.mjs: ${records} records, requests ${JSON.stringify(seen)}`);
