// Module resolution hook for the elevens bin's source mode: adds the @elevens/source export condition, so every
// workspace package resolves to its TypeScript sources.
export function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, '@elevens/source'] });
}
