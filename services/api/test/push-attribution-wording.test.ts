import { readFileSync } from 'node:fs';
import { EVENT_TYPES, PushDecisionReply } from '@elevens/domain';
import { describe, expect, it } from 'vitest';

/** The identifiers a text puts in backticks. */
const quoted = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
const eventTypes: readonly string[] = EVENT_TYPES;

describe("a push decision's attributionId, as senders are told to use it", () => {
  it('names the events to send it on as ingest spells their types', () => {
    const description = PushDecisionReply.shape.attributionId.meta()?.description ?? '';
    const named = quoted(description).filter((word) => word !== 'recommendationId');
    expect(named).toEqual(expect.arrayContaining(['click', 'purchase']));
    expect(named.filter((word) => !eventTypes.includes(word))).toEqual([]);
  });

  it('is described in the marketers’ guide to push decisions', () => {
    const guide = readFileSync(new URL('../../../docs/push.md', import.meta.url), 'utf8');
    expect(guide).toContain('`attributionId`');
  });
});
