/**
 * A trigger's build variables: #18 list, #19 upsert, #20 delete. Secret values never appear
 * in an answer (`value: null`).
 * @see https://developers.cloudflare.com/api/resources/workers_builds/subresources/triggers/subresources/environment_variables/
 */
import { z } from "zod";
import {
  deleteTriggerEnvVar,
  envPatchFromList,
  listTriggerEnvVars,
  presentEnvVars,
  shortSecretMessages,
  upsertTriggerEnvVars,
  type EnvVarInput,
} from "../../domain/env-vars.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, uuid } from "../schemas/common.ts";
import { envVarInput, environmentVariables } from "../schemas/config.ts";

const triggerParams = accountParams.extend({ trigger_uuid: uuid });

/** `{"variables": [{key, value, type}]}`, the second request form of Cloudflare's docs. */
const listForm = z.object({
  variables: z.array(
    z.object({
      key: z.string(),
      value: z.string().max(5000, "must be at most 5000 characters"),
      type: z.enum(["text", "secret"]),
    }),
  ),
});
/** `{KEY: {is_secret, value}}`, the map form (Cloudflare's published schema). */
const mapForm = z.record(z.string(), envVarInput);

type EnvBody =
  | { form: "list"; variables: z.output<typeof listForm>["variables"] }
  | { form: "map"; variables: Record<string, EnvVarInput> };

const isListForm = (value: unknown): boolean =>
  typeof value === "object" &&
  value !== null &&
  !Array.isArray(value) &&
  Object.keys(value).length === 1 &&
  Array.isArray((value as { variables?: unknown }).variables);

/**
 * Either form, told apart by shape: a body whose only key is `variables` holding an array is
 * the list form, anything else the map. Issues keep their path (`variables.0.type`,
 * `API_KEY.value`) so the 400 names the field. Map keys are read as own properties, so a
 * variable may be called anything the key pattern allows.
 */
const envVarsBody = z
  .unknown()
  .transform((value, ctx): EnvBody => {
    const reject = (issues: z.core.$ZodIssue[], prefix: PropertyKey[] = []) => {
      for (const issue of issues) {
        const missing = issue.code === "invalid_type" && issue.input === undefined;
        ctx.addIssue({ code: "custom", path: [...prefix, ...issue.path], message: missing ? "required" : issue.message });
      }
      return z.NEVER;
    };
    if (isListForm(value)) {
      const parsed = listForm.safeParse(value);
      return parsed.success ? { form: "list", variables: parsed.data.variables } : reject(parsed.error.issues);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      ctx.addIssue({ code: "custom", path: [], message: value === undefined ? "required" : "must be an object of KEY: {is_secret, value}" });
      return z.NEVER;
    }
    const variables: Record<string, EnvVarInput> = Object.create(null);
    for (const [key, entry] of Object.entries(value)) {
      const parsed = envVarInput.safeParse(entry);
      if (!parsed.success) return reject(parsed.error.issues, [key]);
      variables[key] = parsed.data;
    }
    return { form: "map", variables };
  })
  .meta({
    description: "Either the map {KEY: {is_secret, value}} or the list {variables: [{key, value, type: text|secret}]}",
    anyOf: [z.toJSONSchema(mapForm, { io: "input" }), z.toJSONSchema(listForm, { io: "input" })].map(({ $schema: _drop, ...rest }) => rest),
  });

export const listEnvironmentVariablesRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/triggers/:trigger_uuid/environment_variables",
  operationId: "listEnvironmentVariables",
  summary: "The trigger's build variables (secret values are null)",
  tag: "Environment Variables",
  auth: "read",
  params: triggerParams,
  result: environmentVariables,
  async handler({ params, deps }) {
    return ok(presentEnvVars(await listTriggerEnvVars(deps.store, params.account_id, params.trigger_uuid)));
  },
});

export const upsertEnvironmentVariablesRoute = defineRoute({
  method: "PATCH",
  path: "/accounts/:account_id/builds/triggers/:trigger_uuid/environment_variables",
  operationId: "upsertEnvironmentVariables",
  summary: "Add or replace variables (other keys unchanged); answers the upserted ones",
  tag: "Environment Variables",
  auth: "write",
  params: triggerParams,
  body: envVarsBody,
  result: environmentVariables,
  async handler({ params, body, deps }) {
    const patch = body.form === "list" ? envPatchFromList(body.variables) : body.variables;
    const upserted = await deps.store.transaction((repos) => upsertTriggerEnvVars(repos, params.account_id, params.trigger_uuid, patch));
    return { ...ok(presentEnvVars(upserted)), messages: shortSecretMessages(patch) };
  },
});

export const deleteEnvironmentVariableRoute = defineRoute({
  method: "DELETE",
  path: "/accounts/:account_id/builds/triggers/:trigger_uuid/environment_variables/:environment_variable_key",
  operationId: "deleteEnvironmentVariable",
  summary: "Delete one variable",
  tag: "Environment Variables",
  auth: "write",
  params: triggerParams.extend({ environment_variable_key: z.string() }),
  result: z.null(),
  async handler({ params, deps }) {
    await deps.store.transaction((repos) =>
      deleteTriggerEnvVar(repos, params.account_id, params.trigger_uuid, params.environment_variable_key),
    );
    return ok(null);
  },
});

export const envVarRoutes = [listEnvironmentVariablesRoute, upsertEnvironmentVariablesRoute, deleteEnvironmentVariableRoute];
