/**
 * What kind of run a seed gets: the fault and workload parameters of one simulation, drawn from its
 * seed so that runs differ in kind, not only in detail (FoundationDB's "buggify" and TigerBeetle's
 * VOPR draw their fault probabilities per seed the same way). See src/sim/cluster.ts for how each
 * parameter is used.
 */

import type { Random } from './random.js';
import type { SlowDisk } from './node.js';

/**
 * Fault and workload parameters, drawn from the seed so runs differ in kind, not only in detail.
 * Two profiles: 'mixed' turns every fault on at a random strength; 'leader-churn' keeps the network
 * mostly sound but keeps cutting the newest leader off from the rest, and sends one entry per
 * message, which is what builds the histories of the thesis' Figure 3.7 (old-term entries
 * replicated by a later leader, then overwritten), where a wrong commit rule shows.
 */
export interface Knobs {
  profile: 'mixed' | 'leader-churn';
  lossRate: number;
  duplicateRate: number;
  maxDelaySteps: number;
  crashRatePerStep: number;
  /** Extra chance per step to crash whichever node leads. */
  leaderCrashRatePerStep: number;
  /** Chance that a node crashes (and restarts at once) right after it grants a vote. */
  crashAfterVoteRate: number;
  downStepsMax: number;
  partitionRatePerStep: number;
  /** Chance per step to cut the current leader off from everyone (replacing any partition). */
  leaderIsolationRatePerStep: number;
  isolationStepsMax: number;
  slowDisk: SlowDisk;
  tickRate: number;
  compactRatePerStep: number;
  confChangeRatePerStep: number;
  transferRatePerStep: number;
  opTimeoutSteps: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxSizePerMsgBytes: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
}

export function drawKnobs(rng: Random, membership: boolean): Knobs {
  const raft = {
    heartbeatTicks: rng.range(1, 3),
    preVote: rng.chance(0.5),
    checkQuorum: rng.chance(0.5),
    maxInflightMsgs: rng.pick([1, 4, 256]),
    maxInflightBytes: rng.pick([0, 2048]),
    opTimeoutSteps: rng.range(30, 80),
    tickRate: rng.pick([1, 0.95, 0.8]),
  };
  if (rng.chance(0.3)) {
    return {
      ...raft,
      profile: 'leader-churn',
      lossRate: rng.pick([0, 0.01, 0.05]),
      duplicateRate: rng.pick([0, 0.02]),
      maxDelaySteps: rng.range(1, 4),
      crashRatePerStep: rng.pick([0, 0.004]),
      leaderCrashRatePerStep: rng.pick([0, 0.03]),
      crashAfterVoteRate: rng.pick([0, 0.3]),
      downStepsMax: rng.range(2, 20),
      partitionRatePerStep: 0,
      leaderIsolationRatePerStep: rng.pick([0.1, 0.2, 0.3]),
      isolationStepsMax: rng.range(5, 30),
      slowDisk: { rate: rng.pick([0, 0.2]), maxDelaySteps: rng.range(1, 3) },
      compactRatePerStep: rng.pick([0, 0.01]),
      confChangeRatePerStep: 0,
      transferRatePerStep: 0,
      maxSizePerMsgBytes: 1,
      maxInflightMsgs: 1,
    };
  }
  return {
    ...raft,
    profile: 'mixed',
    lossRate: rng.pick([0, 0.01, 0.05, 0.15]),
    duplicateRate: rng.pick([0, 0.02, 0.1]),
    maxDelaySteps: rng.range(1, 4),
    crashRatePerStep: rng.pick([0, 0.004, 0.01, 0.03]),
    leaderCrashRatePerStep: rng.pick([0, 0, 0.02]),
    crashAfterVoteRate: rng.pick([0, 0, 0.3]),
    downStepsMax: rng.range(2, 40),
    partitionRatePerStep: rng.pick([0, 0.01, 0.03]),
    leaderIsolationRatePerStep: rng.pick([0, 0, 0.05]),
    isolationStepsMax: rng.range(5, 30),
    slowDisk: { rate: rng.pick([0, 0, 0.2, 0.5]), maxDelaySteps: rng.range(1, 4) },
    compactRatePerStep: rng.pick([0, 0.01, 0.05]),
    confChangeRatePerStep: membership ? rng.pick([0, 0.01, 0.03]) : 0,
    transferRatePerStep: rng.pick([0, 0, 0.01]),
    maxSizePerMsgBytes: rng.pick([1, 200, 4096, 1 << 20]),
  };
}
