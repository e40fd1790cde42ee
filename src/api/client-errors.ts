/**
 * Answers for what Node's HTTP server refuses before Fastify ever sees a request: a request it
 * cannot parse (400), a client too slow with its headers or body (408, the slowloris timeouts),
 * a chunk extension too long (413), a request line or headers over the 16 KiB limit (414 / 431),
 * an HTTP version it does not speak (505). They reach the server's 'clientError' event with a
 * bare socket, so the envelope is written onto it here, then the connection is closed (the
 * parser has given up on it).
 */
import { maxHeaderSize, STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { errors, type KilnError } from "../errors.ts";
import { failure } from "./envelope.ts";

/** Longest URL (path and query) a request may have; Node's header limit (16 KiB) covers it too. */
export const MAX_URL_LENGTH = 8 * 1024;

/** What Node hands to 'clientError': the parser's code and the chunk it was reading. */
interface ClientError extends Error {
  code?: string;
  rawPacket?: unknown;
}

/** The start of a request line (method, space, target). */
const REQUEST_LINE = /^[A-Z]{3,10} \S/;

export function clientErrorOf(error: ClientError): KilnError {
  switch (error.code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return errors.requestTimeout();
    case "HPE_HEADER_OVERFLOW": {
      // The request line alone past the limit (the chunk starts with it and its end is further
      // on) is a URL too long. Judged on the chunk at hand: a URL split over several reads is
      // answered 431, which is also true (Node's limit is on the line and headers together).
      const packet = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined;
      const lineEnd = packet?.indexOf(0x0a) ?? -1;
      const lineOverflowed =
        packet !== undefined && REQUEST_LINE.test(packet.subarray(0, 32).toString("latin1")) && (lineEnd < 0 || lineEnd >= maxHeaderSize);
      return lineOverflowed ? errors.uriTooLong(MAX_URL_LENGTH) : errors.headersTooLarge();
    }
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return errors.bodyTooLarge();
    case "HPE_INVALID_VERSION":
      return errors.httpVersionNotSupported();
    default:
      return errors.malformedRequest();
  }
}

/**
 * The server's 'clientError' handler: writes the envelope unless an answer has begun on the
 * socket already (nothing may be spliced into it), and closes. Answers the status written.
 */
export function answerClientError(error: ClientError, socket: Duplex): number | undefined {
  // A reset (the client left) has nobody to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return undefined;
  // Node links a socket to the response in flight on it; Node's own handler checks it the same way.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  let status: number | undefined;
  if (socket.writable && !inFlight?.headersSent) {
    const e = clientErrorOf(error);
    const body = JSON.stringify(failure(e.errors));
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ""}\r\n` +
        "content-type: application/json; charset=utf-8\r\n" +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        "connection: close\r\n\r\n" +
        body,
    );
    status = e.status;
  }
  socket.destroy();
  return status;
}
