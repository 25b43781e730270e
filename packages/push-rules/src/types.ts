export const CHANNELS = ['push', 'email', 'sms', 'inapp'] as const;
export type Channel = (typeof CHANNELS)[number];
/** A rule or quiet-hours channel: one channel, or every channel. */
export type RuleChannel = Channel | 'any';
export type Priority = 'low' | 'normal' | 'high';

/** A frequency cap as evaluated: at most `limit` messages within any rolling `windowMs`. */
export interface PushRule {
  ruleId: string;
  channel: RuleChannel;
  limit: number;
  windowMs: number;
  /** Only messages with this category count and are capped; null: every message. */
  category: string | null;
  /** Epoch ms; the rule applies from this instant (inclusive); null: always. */
  activeFromMs: number | null;
  /** Epoch ms; the rule stops applying at this instant (exclusive); null: forever. */
  activeUntilMs: number | null;
  enabled: boolean;
}

/** The message a decision is about. */
export interface PushMessage {
  channel: Channel;
  category: string | null;
}

/** One reserved send, as the rolling windows see it. */
export interface SendRecord {
  atMs: number;
  channel: Channel;
  category: string | null;
  /** sent past caps and quiet hours by an admin's override: counted in windows, never refused */
  overridden?: boolean;
}
