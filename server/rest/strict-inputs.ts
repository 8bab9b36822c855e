import type { AnyRouter } from '@trpc/server';

/**
 * trpc-to-openapi (3.3.0) makes numbers and booleans coercible by setting `_def.coerce = true`
 * on the input schema IN PLACE, for body inputs too. Our schemas are shared with the tRPC face,
 * so after one REST call tRPC would start accepting "5" for a number. For procedures that take
 * a JSON body there is nothing to coerce: pin their `coerce` to false. Query-string (GET)
 * inputs say `z.coerce` themselves where they want it.
 */
type Def = { type?: string; coerce?: boolean; shape?: Record<string, unknown>; innerType?: unknown; element?: unknown; options?: unknown[] };
const defOf = (schema: unknown): Def | undefined => (schema as { _zod?: { def?: Def } })?._zod?.def;

const COERCIBLE = new Set(['number', 'boolean', 'bigint', 'date']);
// Schemas are shared between procedures (and defs between schemas): visit each def once.
const seen = new WeakSet<object>();

function pinCoercion(schema: unknown): void {
  const def = defOf(schema);
  if (!def || seen.has(def)) return;
  seen.add(def);
  if (def.type && COERCIBLE.has(def.type)) {
    Object.defineProperty(def, 'coerce', { get: () => false, set: () => {}, configurable: false, enumerable: true });
    return;
  }
  const shape = (schema as { shape?: Record<string, unknown> }).shape ?? def.shape;
  if (shape) for (const child of Object.values(shape)) pinCoercion(child);
  for (const inner of [def.innerType, def.element, ...(def.options ?? [])]) if (inner) pinCoercion(inner);
}

export function pinBodyInputCoercion(router: AnyRouter): void {
  for (const procedure of Object.values(router._def.procedures as Record<string, { _def: { meta?: { openapi?: { method?: string } }; inputs?: unknown[] } }>)) {
    const method = procedure._def.meta?.openapi?.method;
    if (!method || method === 'GET' || method === 'DELETE') continue;
    for (const input of procedure._def.inputs ?? []) pinCoercion(input);
  }
}
