/** Structured JSON logs on stderr (stdout is kept for command output). */
import { pino, type Logger } from "pino";

export function createLogger(level: string, destination: number = 2): Logger {
  return pino(
    {
      level,
      base: { service: "kiln" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Belt and braces: request logs carry no headers, but never let a credential through.
      redact: ["req.headers.authorization", 'req.headers["x-auth-key"]', "*.api_key", "*.secret", "*.token_value"],
    },
    pino.destination({ fd: destination, sync: false }),
  );
}
