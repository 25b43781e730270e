/**
 * The shortest retention `elevens events prune` applies without --force: a cut-off within the last 30 days is far
 * more often a slip (`0d`, `18d` for `180d`) than a policy, and it deletes what rebuild-live-state (its default
 * --since 30d), the build's trending baseline and the attribution roll-ups read back. Its own module: the
 * command's help and its implementation both say it.
 */
export const MIN_RETENTION_DAYS = 30;
