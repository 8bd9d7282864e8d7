// SPDX-License-Identifier: MIT
// send.js: tests/daemon/test_fluent.c's real client: @fluent-org/logger with acknowledgements.
//
//   node send.js PORT COUNT
//
// For each event mode the library has (CompressedPackedForward: gzip, which sluiced
// inflates: docs/protocol.md), one client with ack (requireAckResponse: every emit resolves only
// once sluiced acknowledged its chunk) sends COUNT records {"mode": MODE, "i": I} with
// tag "sluice.MODE". Prints one line a mode, "MODE COUNT acked", and exits 0 when every
// emit resolved; 1 (with the error) when one failed or an ack timed out.
"use strict";

const { FluentClient } = require("@fluent-org/logger");

async function run(port, count, mode) {
  const client = new FluentClient("sluice", {
    eventMode: mode,
    socket: { host: "127.0.0.1", port, timeout: 10000 },
    ack: { ackTimeout: 10000 },
    flushInterval: 5,
  });
  const sent = [];

  for (let i = 0; i < count; i++)
    sent.push(client.emit(mode, { mode, i }));
  await Promise.all(sent);
  await client.disconnect();
  console.log(`${mode} ${count} acked`);
}

async function main() {
  const port = Number(process.argv[2]);
  const count = Number(process.argv[3]);

  for (const mode of ["Message", "Forward", "PackedForward", "CompressedPackedForward"])
    await run(port, count, mode);
}

main().catch((err) => {
  console.error(`send.js: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
