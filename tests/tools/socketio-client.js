"use strict";
// A real Socket.io client: connects with one transport, round-trips an echo event and prints
// what happened as JSON. Usage: node socketio-client.js URL polling|websocket [hold]
// With `hold`: prints "connected", keeps the connection until stdin closes, then round-trips the
// echo on it and reports whether it ever dropped. Trusts the test CA through NODE_EXTRA_CA_CERTS.
const { io } = require("socket.io-client");

const [url, transport, mode] = process.argv.slice(2);
const hold = mode === "hold";
const client = io(url, { transports: [transport], forceNew: true, reconnection: false, timeout: 10000 });
const result = { transport, connected: false, echoed: null, error: null, disconnected: null };
const finish = (code) => {
  // Written before closing: our own close is not a drop.
  const report = JSON.stringify(result);
  client.close();
  console.log(report);
  process.exit(code);
};
client.on("connect_error", (error) => {
  result.error = `${error.message}${error.description ? ` (${error.description})` : ""}`;
  finish(1);
});
client.on("disconnect", (reason) => {
  result.disconnected = reason;
});
const echo = async () => {
  try {
    result.echoed = await client.timeout(10000).emitWithAck("echo", { hello: transport });
    finish(0);
  } catch (error) {
    result.error = String(error);
    finish(1);
  }
};
client.on("connect", () => {
  result.connected = true;
  result.usedTransport = client.io.engine.transport.name;
  if (!hold) {
    echo();
    return;
  }
  console.log("connected");
  process.stdin.resume();
  process.stdin.on("end", echo);
});
if (!hold) {
  setTimeout(() => {
    result.error = "timed out";
    finish(1);
  }, 20000);
}
