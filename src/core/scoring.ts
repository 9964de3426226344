/**
 * Final relevance: the fused retrieval score, adjusted a little by what the scheduler knows about a memory —
 * importance, priority, recency and access frequency. The adjustments are bounded (at most ±15% together) so
 * they reorder near-ties and never bury a clearly better textual match.
 */

export interface ScoringSignals {
  /** 0–1. */
  importance: number;
  /** 0–100. */
  priority: number;
  /** ms; the later of valid_at and created_at (when the memory became true / known). */
  timestamp: number;
  accessCount: number;
}

const DAY_MS = 24 * 3600 * 1000;
/** Recency half-life: a memory a month old counts half as "recent" as one from today. */
export const RECENCY_HALF_LIFE_MS = 30 * DAY_MS;

export const SIGNAL_WEIGHTS = { importance: 0.06, priority: 0.03, recency: 0.04, frequency: 0.02 } as const;

/** 0–1: exponential decay with age relative to the reference time (future timestamps count as now). */
export function recency(timestamp: number, referenceTime: number): number {
  const age = Math.max(0, referenceTime - timestamp);
  return Math.pow(0.5, age / RECENCY_HALF_LIFE_MS);
}

/** 0–1, logarithmic: the 100th access adds as much as the first ten. */
export function frequency(accessCount: number): number {
  return Math.min(1, Math.log1p(Math.max(0, accessCount)) / Math.log1p(100));
}

/** The largest adjustment signals can make: every signal at its best. */
const MAX_ADJUSTMENT = SIGNAL_WEIGHTS.importance + SIGNAL_WEIGHTS.priority + SIGNAL_WEIGHTS.recency + SIGNAL_WEIGHTS.frequency;

/**
 * The score returned to callers, in [0, 1]. Signals are centred on their defaults (importance 0.5, priority 50) and
 * scale the fused score by (1 + adjustment); dividing by the largest possible factor keeps the promise that scores
 * never pass 1 (a fused 1.0 with good signals once returned 1.064) without changing any order. So 1 means first in
 * every channel with every signal at its best; a memory with default signals written today and never read, first
 * everywhere, scores 1 / 1.15 ≈ 0.87.
 */
export function finalScore(fused: number, signals: ScoringSignals, referenceTime: number): number {
  const w = SIGNAL_WEIGHTS;
  const adjustment =
    w.importance * (signals.importance - 0.5) * 2 +
    w.priority * (signals.priority - 50) / 50 +
    w.recency * (recency(signals.timestamp, referenceTime) - 0.5) * 2 +
    w.frequency * frequency(signals.accessCount);
  return (fused * (1 + adjustment)) / (1 + MAX_ADJUSTMENT);
}
