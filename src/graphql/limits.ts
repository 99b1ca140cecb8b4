/**
 * Protection against expensive documents (ARCHITECTURE rule 6): a depth limit, a cost limit
 * (fields multiplied by the page sizes of the lists around them) and a size bound on the text.
 */
import { GraphQLError, Kind, type ASTVisitor, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext } from "graphql";

export const MAX_DEPTH = 10;
export const MAX_COST = 50_000;
export const MAX_DOCUMENT_BYTES = 64 * 1024;
/** Operations (mostly subscriptions) running at once on one graphql-ws connection. */
export const MAX_OPERATIONS_PER_SOCKET = 100;

/** List fields and the page size they use when `first` is not given (the schema's defaults). */
const PAGED_DEFAULTS: Record<string, number> = { conversations: 50, messages: 50, searchUsers: 20, searchMessages: 20 };
/** Lists without paging whose size is bounded elsewhere (participants of a group, reactions). */
const BOUNDED_LISTS: Record<string, number> = { participants: 50, members: 50, reactions: 10, users: 20, mediaAttachments: 10, edges: 1 };

/** How many times a field's selection is resolved per parent. */
function multiplier(field: FieldNode): number {
  const name = field.name.value;
  const first = field.arguments?.find((a) => a.name.value === "first");
  if (first?.value.kind === Kind.INT) return Math.min(Number(first.value.value), 100);
  if (first) return 100; // a variable: assume the largest page
  return PAGED_DEFAULTS[name] ?? BOUNDED_LISTS[name] ?? 1;
}

interface Walk {
  fragments: Record<string, FragmentDefinitionNode>;
  seen: Set<string>;
}

/** Depth and cost of a selection set, following fragments (each at most once per path). */
function measure(set: SelectionSetNode | undefined, w: Walk, depth: number): { depth: number; cost: number } {
  if (!set) return { depth, cost: 0 };
  let maxDepth = depth;
  let cost = 0;
  for (const sel of set.selections) {
    let inner: { depth: number; cost: number };
    if (sel.kind === Kind.FIELD) {
      if (sel.name.value.startsWith("__")) continue; // introspection is cheap and always allowed
      const sub = measure(sel.selectionSet, w, depth + 1);
      inner = { depth: sub.depth, cost: 1 + multiplier(sel) * sub.cost };
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      inner = measure(sel.selectionSet, w, depth);
    } else {
      const name = sel.name.value;
      if (w.seen.has(name)) continue;
      w.seen.add(name);
      inner = measure(w.fragments[name]?.selectionSet, w, depth);
      w.seen.delete(name);
    }
    maxDepth = Math.max(maxDepth, inner.depth);
    cost += inner.cost;
  }
  return { depth: maxDepth, cost };
}

/** A validation rule refusing operations deeper than MAX_DEPTH or costlier than MAX_COST. */
export function complexityRule(context: ValidationContext): ASTVisitor {
  const doc = context.getDocument();
  const fragments = Object.fromEntries(
    doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  return {
    OperationDefinition(op) {
      const { depth, cost } = measure(op.selectionSet, { fragments, seen: new Set() }, 0);
      if (depth > MAX_DEPTH)
        context.reportError(new GraphQLError(`Query depth ${depth} exceeds the limit of ${MAX_DEPTH}`, { nodes: [op], extensions: { code: "VALIDATION_ERROR" } }));
      if (cost > MAX_COST)
        context.reportError(new GraphQLError(`Query cost ${cost} exceeds the limit of ${MAX_COST}`, { nodes: [op], extensions: { code: "VALIDATION_ERROR" } }));
    },
  };
}
