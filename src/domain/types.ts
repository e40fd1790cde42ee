/** Kiln's domain records, as the rules see them (no SQL, no HTTP). */

export const PERMISSION_GROUPS = ["Workers CI Read", "Workers CI Write", "Queues Read", "Queues Write"] as const;
export type PermissionGroup = (typeof PERMISSION_GROUPS)[number];

/**
 * What a route needs: read (GETs of the builds API) or write (everything else of it);
 * queues_read / queues_write for Queues and event subscriptions.
 */
export type Access = "read" | "write" | "queues_read" | "queues_write";

export interface Account {
  id: string;
  name: string;
  created_on: string;
}

export interface ApiToken {
  id: string;
  name: string;
  permission_groups: PermissionGroup[];
  account_ids: string[];
  expires_on: string | null;
  revoked_on: string | null;
  created_on: string;
  modified_on: string;
}

export interface User {
  id: string;
  email: string;
  created_on: string;
}

export interface Worker {
  tag: string;
  account_id: string;
  name: string;
  created_on: string;
  modified_on: string;
}

/** Who is calling, once credentials are verified. */
export type Principal =
  | { kind: "token"; token: ApiToken }
  | { kind: "user"; user: User; account_ids: string[] };

export interface Page {
  page: number;
  per_page: number;
}

export interface Paged<T> {
  items: T[];
  total: number;
}
