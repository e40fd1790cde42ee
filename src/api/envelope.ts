/**
 * Cloudflare's v4 response envelope. Every answer Kiln gives under /client/v4, success or
 * error, is built by one of these two functions.
 */
import type { ErrorDetail } from "../errors.ts";

export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
  /** Whether another page follows (Cloudflare's builds list carries it). */
  next_page: boolean;
}

export interface Envelope<T> {
  success: boolean;
  errors: ErrorDetail[];
  messages: string[];
  result: T | null;
  result_info?: ResultInfo;
}

export function success<T>(result: T, resultInfo?: ResultInfo, messages: string[] = []): Envelope<T> {
  const body: Envelope<T> = { success: true, errors: [], messages, result };
  if (resultInfo) body.result_info = resultInfo;
  return body;
}

export function failure(errors: ErrorDetail[]): Envelope<null> {
  return { success: false, errors, messages: [], result: null };
}

export function resultInfo(page: number, perPage: number, count: number, total: number): ResultInfo {
  const totalPages = Math.ceil(total / perPage);
  return { page, per_page: perPage, count, total_count: total, total_pages: totalPages, next_page: page < totalPages };
}
