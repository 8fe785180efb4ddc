"use strict";
// A real Socket.io client: connects with one transport, round-trips an echo event and prints
// what happened as JSON. Usage: node socketio-client.js URL polling|websocket
// Trusts the test CA through NODE_EXTRA_CA_CERTS.
const { io } = require("socket.io-client");

const [url, transport] = process.argv.slice(2);
const client = io(url, { transports: [transport], forceNew: true, reconnection: false, timeout: 10000 });
const result = { transport, connected: false, echoed: null, error: null };
const finish = (code) => {
  client.close();
  console.log(JSON.stringify(result));
  process.exit(code);
};
client.on("connect_error", (error) => {
  result.error = `${error.message}${error.description ? ` (${error.description})` : ""}`;
  finish(1);
});
client.on("connect", async () => {
  result.connected = true;
  result.usedTransport = client.io.engine.transport.name;
  try {
    result.echoed = await client.timeout(10000).emitWithAck("echo", { hello: transport });
    finish(0);
  } catch (error) {
    result.error = String(error);
    finish(1);
  }
});
setTimeout(() => {
  result.error = "timed out";
  finish(1);
}, 20000);
