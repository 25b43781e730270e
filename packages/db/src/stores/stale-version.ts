/**
 * A change sent with an If-Match naming versions no longer in force (its `ifVersions`): nothing was stored.
 * `currentVersion` is the version in force, for the 412 that names it.
 */
export class StaleVersion extends Error {
  constructor(
    readonly currentVersion: number,
    message: string,
  ) {
    super(message);
  }
}
