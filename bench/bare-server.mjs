// The baseline: a bare node:http server answering fixed bytes (the same body Kiln answers).
import http from "node:http";

const body = Buffer.from(process.env.BARE_BODY ?? "{}");
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": body.length });
  res.end(body);
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
