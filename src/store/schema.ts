/**
 * Table types for Kysely. Every timestamp is an ISO 8601 string with milliseconds
 * (`2026-09-30T08:15:08.207Z`) on both dialects: it is what the API answers, it sorts
 * correctly as text, and it keeps SQLite and PostgreSQL rows identical. Lists and maps that
 * are only ever read whole are JSON text.
 */
export interface AccountsTable {
  id: string;
  name: string;
  created_on: string;
}

export interface UsersTable {
  id: string;
  email: string;
  /** sha256 of the global API key, hex. */
  api_key_hash: string;
  created_on: string;
}

export interface AccountMembersTable {
  account_id: string;
  user_id: string;
}

export interface ApiTokensTable {
  id: string;
  name: string;
  /** sha256 of the token value, hex; unique. */
  value_hash: string;
  /** JSON array of permission group names. */
  permission_groups: string;
  /** JSON array of account ids the token covers. */
  account_ids: string;
  expires_on: string | null;
  revoked_on: string | null;
  created_on: string;
  modified_on: string;
}

export interface WorkersTable {
  tag: string;
  account_id: string;
  name: string;
  created_on: string;
  modified_on: string;
}

export interface MigrationsTable {
  name: string;
  applied_on: string;
}

export interface Database {
  accounts: AccountsTable;
  users: UsersTable;
  account_members: AccountMembersTable;
  api_tokens: ApiTokensTable;
  workers: WorkersTable;
  kiln_migrations: MigrationsTable;
}
