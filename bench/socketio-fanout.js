"use strict";
// Socket.io fan-out load: USERS WebSocket clients in rooms of ROOM_SIZE, each sending RATE position
// updates a second that the server relays to the rest of its room ("join", "move" -> "moved").
// Latency is send -> receive within this process (one clock). JSON on stdout.
// Usage: node socketio-fanout.js URL USERS ROOM_SIZE RATE SECONDS
const { io } = require("socket.io-client");

const [url, users, roomSize, rate, seconds] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const WARMUP_MS = 3000;
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function connect(index) {
  const client = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 20000 });
  await new Promise((resolve, reject) => {
    client.once("connect", resolve);
    client.once("connect_error", reject);
  });
  const room = `space-${Math.floor(index / roomSize)}`;
  await client.timeout(20000).emitWithAck("join", room);
  return { client, room };
}

async function main() {
  const clients = [];
  const errors = { connect: 0, disconnect: 0 };
  // Connect in batches, as a crowd arriving over a few seconds would.
  for (let start = 0; start < users; start += 50) {
    const batch = Array.from({ length: Math.min(50, users - start) }, (_, i) => connect(start + i));
    for (const settled of await Promise.allSettled(batch)) {
      if (settled.status === "fulfilled") clients.push(settled.value);
      else errors.connect++;
    }
  }
  const latencies = [];
  let measuring = false;
  let received = 0;
  let sent = 0;
  for (const { client } of clients) {
    client.on("disconnect", () => errors.disconnect++);
    client.on("moved", ({ position }) => {
      if (!measuring) return;
      received++;
      latencies.push(performance.now() - position.t);
    });
  }
  const timers = clients.map(({ client, room }) =>
    setTimeout(
      () =>
        timers.push(
          setInterval(() => {
            if (measuring) sent++;
            client.emit("move", room, { x: Math.random() * 100, y: Math.random() * 100, t: performance.now() });
          }, 1000 / rate),
        ),
      Math.random() * (1000 / rate),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  measuring = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  for (const timer of timers) clearInterval(timer);
  await new Promise((resolve) => setTimeout(resolve, 500));
  latencies.sort((a, b) => a - b);
  const perRoom = Math.min(roomSize, clients.length);
  console.log(
    JSON.stringify({
      users,
      connected: clients.length,
      errors,
      sent_per_second: sent / elapsed,
      delivered_per_second: received / elapsed,
      expected_per_second: (sent / elapsed) * (perRoom - 1),
      p50_ms: latencies.length ? percentile(latencies, 50) : null,
      p99_ms: latencies.length ? percentile(latencies, 99) : null,
    }),
  );
  for (const { client } of clients) client.close();
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
