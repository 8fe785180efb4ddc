"use strict";
// Socket.io echo over WebSocket: sequential round trips (p50/p99) and pipelined throughput.
// Usage: node socketio-bench.js URL ROUND_TRIPS MESSAGES WINDOW  -> JSON on stdout.
const { io } = require("socket.io-client");

const [url, roundTrips, messages, window] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main() {
  const client = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise((resolve, reject) => {
    client.on("connect", resolve);
    client.on("connect_error", reject);
  });
  const payload = { text: "x".repeat(64) };
  const rtts = [];
  for (let i = 0; i < roundTrips; i++) {
    const start = process.hrtime.bigint();
    await client.timeout(5000).emitWithAck("echo", payload);
    rtts.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  rtts.sort((a, b) => a - b);
  let sent = 0;
  const started = process.hrtime.bigint();
  async function lane() {
    while (sent < messages) {
      sent++;
      await client.timeout(5000).emitWithAck("echo", payload);
    }
  }
  await Promise.all(Array.from({ length: window }, lane));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  client.close();
  console.log(
    JSON.stringify({
      p50_ms: percentile(rtts, 50),
      p99_ms: percentile(rtts, 99),
      messages_per_second: messages / seconds,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
