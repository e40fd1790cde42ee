/** Answer shapes of the builds API (https://developers.cloudflare.com/api/resources/workers_builds/subresources/builds/). */
import { z } from "zod";
import { isoDate, uuid } from "./common.ts";
import { buildTrigger, environmentVariables, providerType } from "./config.ts";

export const build = z.object({
  build_uuid: uuid,
  status: z.enum(["queued", "initializing", "running", "stopped"]),
  build_outcome: z.enum(["success", "fail", "skipped", "cancelled", "terminated"]).nullable(),
  created_on: isoDate,
  modified_on: isoDate,
  initializing_on: isoDate.nullable(),
  running_on: isoDate.nullable(),
  stopped_on: isoDate.nullable(),
  trigger: buildTrigger,
  build_trigger_metadata: z.object({
    build_trigger_source: z.enum(["push", "pull_request", "manual", "api"]),
    branch: z.string(),
    commit_hash: z.string(),
    commit_message: z.string(),
    author: z.string(),
    build_command: z.string(),
    deploy_command: z.string(),
    root_directory: z.string(),
    build_token_uuid: uuid,
    build_token_name: z.string(),
    environment_variables: environmentVariables,
    provider_type: providerType,
    provider_account_name: z.string(),
    repo_name: z.string(),
  }),
  pull_request: z.object({ created_on: isoDate.optional(), pull_request_url: z.string().optional() }).nullable(),
  /** Kiln also answers the internal model's fields. */
  deploy_hook: z.object({ deploy_hook_name: z.string() }).nullable(),
  preview_url: z.string().optional(),
});

export const insertBuild = z.object({ build_uuid: uuid, created_on: isoDate });
export const canceledBuild = z.object({ build_outcome: z.literal("cancelled"), build_uuid: uuid, stopped_on: isoDate });
/** A build phase as Cloudflare's logs answer lists it (its MCP server's workers-builds types, cloudflare/mcp-server-cloudflare). */
export const buildEvent = z.object({
  type: z.enum(["initializing", "cloning", "installing_tools_and_deps", "building", "deploying"]),
  started_on: isoDate.optional(),
  ended_on: isoDate.optional(),
});
export const buildLogs = z.object({
  cursor: z.string().nullable(),
  lines: z.array(z.tuple([z.number(), z.string()])),
  truncated: z.boolean(),
  /** Cloudflare's answer carries `events`; clients that read it get a list, always empty in Kiln (phases are log lines). */
  events: z.array(buildEvent),
});
export const buildsMap = z.object({ builds: z.record(z.string(), build) });
