"use strict";
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { io: connect } = require("socket.io-client");
const { createServer, originAllowed } = require("../server.js");

let server;
let base;

before(async () => {
  server = createServer(["https://flow-coder.com", "https://*.flow-coder.com"]);
  await new Promise((resolve) => server.httpServer.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.httpServer.address().port}`;
});

after(() => new Promise((resolve) => server.io.close(() => resolve())));

test("/health answers 200 ok", async () => {
  const response = await fetch(`${base}/health`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: "ok" });
});

test("/metrics reports storage and connections", async () => {
  const body = await (await fetch(`${base}/metrics`)).json();
  assert.equal(body.server, "socket.io");
  assert.ok(body.storage.totalGB > 0);
  assert.equal(typeof body.connections.current, "number");
});

test("unknown paths are 404", async () => {
  assert.equal((await fetch(`${base}/nope`)).status, 404);
});

for (const transport of ["polling", "websocket"]) {
  test(`an echo event round-trips over ${transport}`, async () => {
    const client = connect(base, { transports: [transport], forceNew: true });
    try {
      const reply = await client.timeout(5000).emitWithAck("echo", { hello: transport });
      assert.deepEqual(reply, { hello: transport });
      assert.equal(client.io.engine.transport.name, transport);
    } finally {
      client.close();
    }
  });
}

test("only the configured origins may connect", async () => {
  for (const [origin, allowed] of [
    ["https://space.flow-coder.com", true],
    ["https://flow-coder.com", true],
    ["https://evil.example", false],
    ["https://flow-coder.com.evil.example", false],
    ["http://space.flow-coder.com", false],
  ]) {
    const response = await fetch(`${base}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
    assert.equal(response.status === 200, allowed, `${origin}: ${response.status}`);
    assert.equal(originAllowed(["https://flow-coder.com", "https://*.flow-coder.com"], origin), allowed, origin);
  }
});
