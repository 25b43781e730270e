import { hash, randomBytes } from 'node:crypto';
import { MAX_EXTERNAL_ID_LENGTH } from './ids';

/**
 * Self-describing answer ids: a recommendation answer or push decision says, in its own id, which model
 * version, placement, experiment arm or campaign produced it, so events carrying the id can be attributed
 * without anything written when the answer was given.
 *
 * `r1.<payload>.<nonce>` (recommendation) or `p1.<payload>.<nonce>` (push decision). The payload is base64url of
 * 6 bytes of answer time (epoch ms, big-endian) followed by the fields, each as one length byte (0 = none) and
 * that many UTF-8 bytes. The whole id fits `ExternalId` (at most 128 characters), so clients can send it back
 * as an event's `recommendationId`; fields too long for the room left are clipped, never the id refused (a push
 * decision's campaign is kept whole, or stands in for itself by a key: `campaignAttributionKey`).
 */

export type AnswerKind = 'recommendation' | 'push';

export interface RecommendationAnswer {
  modelVersion: string | null;
  placement: string | null;
  experiment: string | null;
  arm: string | null;
  answeredAtMs: number;
}

export interface PushAnswer {
  campaign: string | null;
  modelVersion: string | null;
  answeredAtMs: number;
}

/** What an answer id says; every dimension null when the id is not one of ours (a legacy UUID, garbage). */
export interface AnswerDimensions {
  kind: AnswerKind | 'unknown';
  modelVersion: string | null;
  placement: string | null;
  experiment: string | null;
  arm: string | null;
  campaign: string | null;
  answeredAtMs: number | null;
}

export const UNKNOWN_ANSWER: Readonly<AnswerDimensions> = Object.freeze({
  kind: 'unknown',
  modelVersion: null,
  placement: null,
  experiment: null,
  arm: null,
  campaign: null,
  answeredAtMs: null,
});

const PREFIX: Record<AnswerKind, string> = { recommendation: 'r1.', push: 'p1.' };
const FIELDS: Record<AnswerKind, number> = { recommendation: 4, push: 2 };
const NONCE_CHARS = 6;
const TIME_BYTES = 6;
/** Payload characters left once the prefix, the dot and the nonce are counted. */
const PAYLOAD_CHARS = MAX_EXTERNAL_ID_LENGTH - 3 - 1 - NONCE_CHARS;
const PAYLOAD_BYTES = Math.floor((PAYLOAD_CHARS * 3) / 4);
const MAX_TIME_MS = 2 ** (8 * TIME_BYTES) - 1;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

const NONCES_PER_BLOCK = 256;
/** base64url turns every 3 bytes into 4 characters: this many bytes make a block's characters exactly. */
const NONCE_BLOCK_BYTES = (NONCES_PER_BLOCK * NONCE_CHARS * 3) / 4;
let nonceBlock = '';
let nextNonce = NONCES_PER_BLOCK;

/**
 * A fresh 6-character base64url nonce (36 random bits): two answers in one millisecond still differ. Cut from a
 * block of random base64url text drawn once per 256 nonces: a CSPRNG call per answer (`randomBytes(5)`) cost
 * 5–16 µs on the api's hot paths, a tenth of a computed recommendation (docs/benchmarks.md); each character is
 * still 6 random bits.
 */
export function newAnswerNonce(): string {
  if (nextNonce === NONCES_PER_BLOCK) {
    nonceBlock = randomBytes(NONCE_BLOCK_BYTES).toString('base64url');
    nextNonce = 0;
  }
  const at = NONCE_CHARS * nextNonce++;
  return nonceBlock.slice(at, at + NONCE_CHARS);
}

/** `text`'s UTF-8 bytes cut to at most `max` bytes at a character boundary. */
function clipped(bytes: Buffer, max: number): Buffer {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/**
 * Each field's byte allowance: short fields keep their length, the long ones share what is left equally
 * (the values the schemas allow for experiments, arms and placements always fit next to a model version).
 */
function allowances(lengths: readonly number[], budget: number): number[] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]!);
  const allowed = new Array<number>(lengths.length).fill(0);
  let remaining = budget;
  order.forEach((index, position) => {
    const share = Math.floor(remaining / (order.length - position));
    allowed[index] = Math.min(lengths[index]!, share, 255);
    remaining -= allowed[index]!;
  });
  return allowed;
}

/**
 * The fields after the answer time: each as one length byte and its UTF-8 bytes, clipped to fit together. The
 * first `wholeLeading` fields are kept whole (their callers bound them to fit); the others share the room left.
 */
function fieldBytes(fields: readonly (string | null)[], wholeLeading = 0): Buffer {
  const bytes = fields.map((field) => Buffer.from(field ?? '', 'utf8'));
  const lengths = bytes.map((b) => b.length);
  const whole = lengths.slice(0, wholeLeading);
  const room = PAYLOAD_BYTES - TIME_BYTES - fields.length - whole.reduce((sum, n) => sum + n, 0);
  const allowed = [...whole, ...allowances(lengths.slice(wholeLeading), room)];
  const parts = bytes.map((b, i) => clipped(b, allowed[i]!));
  const payload = Buffer.alloc(parts.reduce((sum, p) => sum + 1 + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    payload[offset++] = part.length;
    part.copy(payload, offset);
    offset += part.length;
  }
  return payload;
}

/** Bytes a campaign takes in a push answer id at most: a model version of 24 bytes still fits beside it. */
const CAMPAIGN_KEY_BYTES = 56;
/** base64url characters of the SHA-256 that tell apart long campaigns sharing their beginning (66 bits). */
const CAMPAIGN_DIGEST_CHARS = 11;

/**
 * The campaign as push answer ids carry it, and so as the events attributed to it are counted: the campaign
 * itself when it fits CAMPAIGN_KEY_BYTES of UTF-8, else its beginning, '~' and 11 base64url characters of its
 * SHA-256, so two long campaigns that share a beginning stay apart. Reports map a key back to the campaign their
 * decisions name (`withCampaignNames` in @elevens/stats); an id only cut short could not be told from another's.
 */
export function campaignAttributionKey(campaign: string): string {
  const bytes = Buffer.from(campaign, 'utf8');
  if (bytes.length <= CAMPAIGN_KEY_BYTES) return campaign;
  const beginning = clipped(bytes, CAMPAIGN_KEY_BYTES - 1 - CAMPAIGN_DIGEST_CHARS).toString('utf8');
  return `${beginning}~${hash('sha256', campaign, 'base64url').slice(0, CAMPAIGN_DIGEST_CHARS)}`;
}

/** A push id's fields: the campaign's attribution key, kept whole, then the model version in the room left. */
function pushFieldBytes([campaign = null, modelVersion = null]: readonly (string | null)[]): Buffer {
  return fieldBytes([campaign === null ? null : campaignAttributionKey(campaign), modelVersion], 1);
}

/**
 * base64url of the fields, by kind and fields: the answers of one model, placement and arm (or campaign) all carry
 * the same, so it is made once, not with Buffers per answer. The time before them is whole base64 groups, so the
 * payload's text is the time's followed by this. At most ENCODED_FIELDS_HELD are held (then the memo starts again).
 */
const encodedFields = new Map<string, string>();
const ENCODED_FIELDS_HELD = 4096;

function encodedFieldsOf(kind: AnswerKind, fields: readonly (string | null)[]): string {
  // Each field with its length: no two field lists make the same key, whatever their characters.
  let key: string = kind;
  for (const field of fields) key += field === null ? '|-' : `|${field.length}:${field}`;
  let encoded = encodedFields.get(key);
  if (encoded === undefined) {
    encoded = (kind === 'push' ? pushFieldBytes(fields) : fieldBytes(fields)).toString('base64url');
    if (encodedFields.size >= ENCODED_FIELDS_HELD) encodedFields.clear();
    encodedFields.set(key, encoded);
  }
  return encoded;
}

const BASE64URL_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** 24 bits as four base64url digits. */
const digits24 = (bits: number) =>
  BASE64URL_DIGITS[(bits >>> 18) & 63]! +
  BASE64URL_DIGITS[(bits >>> 12) & 63]! +
  BASE64URL_DIGITS[(bits >>> 6) & 63]! +
  BASE64URL_DIGITS[bits & 63]!;

/** The answer time's 6 big-endian bytes as base64url (ANSWER_TIME_CHARS digits), clamped to what they hold. */
function timeDigits(answeredAtMs: number): string {
  const atMs = Number.isFinite(answeredAtMs)
    ? Math.min(Math.max(Math.trunc(answeredAtMs), 0), MAX_TIME_MS)
    : 0;
  return digits24(Math.floor(atMs / 2 ** 24)) + digits24(atMs % 2 ** 24);
}

function encode(kind: AnswerKind, answeredAtMs: number, fields: readonly (string | null)[], nonce: string) {
  const safeNonce =
    BASE64URL.test(nonce) && nonce.length > 0 ? nonce.slice(0, NONCE_CHARS) : newAnswerNonce();
  return `${PREFIX[kind]}${timeDigits(answeredAtMs)}${encodedFieldsOf(kind, fields)}.${safeNonce}`;
}

/** The id of a recommendation answer; `nonce` (base64url, default random) only makes ids unique. */
export const encodeRecommendationAnswerId = (
  answer: RecommendationAnswer,
  nonce = newAnswerNonce(),
): string =>
  encode(
    'recommendation',
    answer.answeredAtMs,
    [answer.modelVersion, answer.placement, answer.experiment, answer.arm],
    nonce,
  );

/** The id of a push decision, for events that follow the push (its campaign and, with an item, the model). */
export const encodePushAnswerId = (answer: PushAnswer, nonce = newAnswerNonce()): string =>
  encode('push', answer.answeredAtMs, [answer.campaign, answer.modelVersion], nonce);

/** What `id` says about the answer it names; `UNKNOWN_ANSWER` for anything not issued by an encoder. */
export function decodeAnswerId(id: unknown): AnswerDimensions {
  if (typeof id !== 'string' || id.length > MAX_EXTERNAL_ID_LENGTH) return UNKNOWN_ANSWER;
  const kind: AnswerKind | null = id.startsWith(PREFIX.recommendation)
    ? 'recommendation'
    : id.startsWith(PREFIX.push)
      ? 'push'
      : null;
  if (kind === null) return UNKNOWN_ANSWER;
  const parts = id.slice(3).split('.');
  if (parts.length !== 2) return UNKNOWN_ANSWER;
  const [encoded = '', nonce = ''] = parts;
  if (!BASE64URL.test(encoded) || !BASE64URL.test(nonce) || nonce.length === 0) return UNKNOWN_ANSWER;
  const payload = Buffer.from(encoded, 'base64url');
  const dimensions = dimensionsOf(kind, payload);
  return dimensions === UNKNOWN_ANSWER
    ? dimensions
    : { ...dimensions, answeredAtMs: payload.readUIntBE(0, TIME_BYTES) };
}

/** Base64url characters of the answer time at the start of a payload (6 bytes: whole 4-character groups). */
export const ANSWER_TIME_CHARS = (TIME_BYTES * 4) / 3;

/**
 * What an answer id of `kind` says whose payload, after its `ANSWER_TIME_CHARS` characters of answer time, is
 * `encodedFields`, its prefix, time and nonce being well-formed; `answeredAtMs` null. The time is whole base64
 * groups, so the fields decode on their own: every such id decodes (`decodeAnswerId`) to these dimensions
 * whatever its time and nonce. The attribution worker decodes a dimension set once this way instead of once
 * per event.
 */
export function decodeAnswerFields(kind: AnswerKind, encodedFields: string): AnswerDimensions {
  if (!BASE64URL.test(encodedFields)) return UNKNOWN_ANSWER;
  const payload = Buffer.concat([Buffer.alloc(TIME_BYTES), Buffer.from(encodedFields, 'base64url')]);
  return dimensionsOf(kind, payload);
}

/** The dimensions the fields of `payload` name, `answeredAtMs` null; `UNKNOWN_ANSWER` unless they are whole. */
function dimensionsOf(kind: AnswerKind, payload: Buffer): AnswerDimensions {
  const fields = readFields(payload, FIELDS[kind]);
  if (fields === null) return UNKNOWN_ANSWER;
  if (kind === 'recommendation') {
    const [modelVersion, placement, experiment, arm] = fields as [
      string | null,
      string | null,
      string | null,
      string | null,
    ];
    return { kind, modelVersion, placement, experiment, arm, campaign: null, answeredAtMs: null };
  }
  const [campaign, modelVersion] = fields as [string | null, string | null];
  return { kind, modelVersion, placement: null, experiment: null, arm: null, campaign, answeredAtMs: null };
}

/** The `count` length-prefixed fields after the time, or null unless they fill the payload exactly. */
function readFields(payload: Buffer, count: number): (string | null)[] | null {
  if (payload.length < TIME_BYTES + count) return null;
  const fields: (string | null)[] = [];
  let offset = TIME_BYTES;
  for (let i = 0; i < count; i++) {
    const length = payload[offset++]!;
    if (offset + length > payload.length) return null;
    if (length === 0) fields.push(null);
    else {
      let text: string;
      try {
        text = UTF8.decode(payload.subarray(offset, offset + length));
      } catch {
        return null;
      }
      // Dimensions are stored in Postgres text, which cannot hold NUL.
      if (text.includes('\0')) return null;
      fields.push(text);
    }
    offset += length;
  }
  return offset === payload.length ? fields : null;
}
