"use strict";
// Reference realtime server: answers /health and /metrics and echoes events, so a first
// deploy is healthy before the application's own server replaces it.
const fs = require("node:fs");
const http = require("node:http");
const { Server } = require("socket.io");

const VERSION = require("./package.json").version;

function storage(path = "/") {
  const stats = fs.statfsSync(path);
  const gb = (blocks) => Math.round(((blocks * stats.bsize) / 1024 ** 3) * 100) / 100;
  const totalGB = gb(stats.blocks);
  const availableGB = gb(stats.bavail);
  const usedGB = Math.round((totalGB - gb(stats.bfree)) * 100) / 100;
  return {
    totalGB,
    usedGB,
    availableGB,
    usedPercent: totalGB ? Math.round((usedGB / totalGB) * 100) : 0,
    mountPoint: path,
  };
}

// CORS_ORIGINS: space-separated browser origins allowed to connect, "https://*.example.com" for
// any subdomain. Requests without an Origin (servers, health checks) are not cross-origin.
function originAllowed(allowed, origin) {
  if (!origin) return true;
  return allowed.some((entry) => {
    if (!entry.includes("://*.")) return entry === origin;
    const [scheme, suffix] = entry.split("://*.");
    return origin.startsWith(`${scheme}://`) && origin.slice(scheme.length + 3).endsWith(`.${suffix}`);
  });
}

function createServer(allowedOrigins = (process.env.CORS_ORIGINS || "").split(/\s+/).filter(Boolean)) {
  const httpServer = http.createServer((req, res) => {
    const path = new URL(req.url, "http://localhost").pathname;
    if (path === "/health") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "ok" }));
    } else if (path === "/metrics") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          server: "socket.io",
          version: VERSION,
          storage: storage(),
          connections: { current: io.engine.clientsCount },
          uptimeSeconds: Math.round(process.uptime()),
        }),
      );
    } else if (!path.startsWith("/socket.io/")) {
      res.writeHead(404);
      res.end();
    }
  });
  const cors = { origin: (origin, callback) => callback(null, originAllowed(allowedOrigins, origin)) };
  const io = new Server(httpServer, {
    cors,
    allowRequest: (req, callback) => callback(null, originAllowed(allowedOrigins, req.headers.origin)),
    pingInterval: 25000,
  });
  io.on("connection", (socket) => {
    socket.on("echo", (payload, ack) => {
      if (typeof ack === "function") ack(payload);
      else socket.emit("echo", payload);
    });
  });
  return { httpServer, io };
}

if (require.main === module) {
  const port = Number(process.env.PORT || 3001);
  const host = process.env.HOST || "0.0.0.0";
  const { httpServer } = createServer();
  httpServer.listen(port, host, () => console.log(JSON.stringify({ msg: "listening", host, port })));
  process.on("SIGTERM", () => httpServer.close(() => process.exit(0)));
}

module.exports = { createServer, originAllowed };
