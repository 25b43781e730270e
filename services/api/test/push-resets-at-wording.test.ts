import { PushBudgetReply, PushRuleRemaining } from '@elevens/domain';
import { freeingSendIndex, slotFreesAtMs } from '@elevens/push-rules';
import { describe, expect, it } from 'vitest';

const descriptions = {
  decision: PushRuleRemaining.shape.resetsAt.meta()?.description ?? '',
  budget: PushBudgetReply.shape.rules.element.shape.resetsAt.meta()?.description ?? '',
};

describe("a rule's resetsAt, as the API reference describes it", () => {
  it.each(Object.entries(descriptions))(
    'in the %s reply, names the send whose leaving frees a full rule',
    (_, description) => {
      // 3 sends counted under a limit of 2: the oldest leaving frees nothing, the second oldest leaving frees one.
      const sends = [1_000, 2_000, 3_000];
      expect(slotFreesAtMs(sends.length, sends[freeingSendIndex(sends.length, 2)]!, 10_000, null)).toBe(
        12_000,
      );
      expect(description).toContain('when the second oldest leaves');
      expect(description).toContain('once it is full');
    },
  );

  it.each(Object.entries(descriptions))('in the %s reply, says when it is null', (_, description) => {
    expect(slotFreesAtMs(2, null, 10_000, null)).toBeNull();
    expect(description).toContain('a limit of 0 that never ends');
  });
});
