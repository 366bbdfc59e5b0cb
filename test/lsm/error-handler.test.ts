/**
 * The ErrorHandler's classification and states (src/lsm/error-handler.ts): IO errors are retried
 * after a backoff and the state returns to ok once the failed work succeeds; corruption and other
 * repeatable failures make it read-only for good, with LSM_ERR_BACKGROUND carrying the cause.
 */
import { describe, expect, it } from 'vitest';
import { BackgroundError, CorruptionError, InvalidArgumentError, IoError, JobFailedError } from '../../src/errors.js';
import { ErrorHandler, isRetryable } from '../../src/lsm/error-handler.js';

describe('ErrorHandler', () => {
  it('classifies IO errors and failed jobs over them as retryable, the rest not', () => {
    expect(isRetryable(new IoError('write: ENOSPC'))).toBe(true);
    expect(isRetryable(new JobFailedError('worker exited', new Error('exit 1')))).toBe(true);
    expect(isRetryable(new JobFailedError('compaction failed', new IoError('EIO')))).toBe(true);
    expect(isRetryable(new JobFailedError('compaction failed', new CorruptionError('bad block', '000007.sst')))).toBe(false);
    expect(isRetryable(new CorruptionError('bad block', '000007.sst'))).toBe(false);
    expect(isRetryable(new InvalidArgumentError('record too large'))).toBe(false);
    expect(isRetryable(new TypeError('a bug'))).toBe(false);
  });

  it('keeps the errno of the system error behind a failure (a node raises NOSPACE on ENOSPC)', () => {
    const systemError = (code: string) => Object.assign(new Error(`${code}: open x.sst`), { code, errno: -28, syscall: 'open' });
    const handler = new ErrorHandler(() => undefined, () => undefined);
    expect(handler.record(new JobFailedError('flush failed', new IoError('create x.sst: ENOSPC', systemError('ENOSPC')))).errno).toBe('ENOSPC');
    expect(handler.record(new IoError('read x.sst: EIO', systemError('EIO'))).errno).toBe('EIO');
    // A typed error's own code is no errno, nor is a cause chain without a system error.
    expect(handler.record(new JobFailedError('worker exited', new Error('exit 1'))).errno).toBeUndefined();
    expect(handler.record(new IoError('write: ENOSPC')).errno).toBeUndefined();
    handler.close();
  });

  it('retries until the failed work succeeds, counting attempts', async () => {
    let retries = 0;
    let errors = 0;
    const handler = new ErrorHandler(() => retries++, () => errors++);
    handler.report('compaction', new IoError('create 000009.sst: ENOSPC'));
    handler.report('flush', new IoError('create 000010.sst: ENOSPC'));
    const status = handler.status();
    expect(status.state).toBe('retrying');
    if (status.state === 'retrying') {
      expect(status.attempts).toBe(2);
      expect(status.cause.message).toContain('000010.sst');
      expect(status.nextRetryAt).toBeGreaterThan(Date.now() - 1);
    }
    expect(handler.retryPending).toBe(true);
    expect(handler.failure).toBeInstanceOf(IoError);
    const release = handler.hold();
    // The first backoff is short; a held wait keeps the timer alive until it fires.
    for (let turn = 0; turn < 100 && retries === 0; turn++) await new Promise((r) => setTimeout(r, 10));
    release();
    expect(retries).toBe(1);
    handler.succeeded('compaction');
    expect(handler.status().state).toBe('retrying');
    handler.succeeded('flush');
    expect(handler.status()).toEqual({ state: 'ok' });
    expect(handler.failure).toBeUndefined();
    expect(errors).toBe(2);
    handler.close();
  });

  it('turns read-only for good on corruption; writes fail with LSM_ERR_BACKGROUND and the cause', () => {
    const handler = new ErrorHandler(() => undefined, () => undefined);
    const corruption = new CorruptionError('block checksum mismatch', '000007.sst', 40);
    handler.report('compaction', corruption);
    expect(handler.readOnly).toBe(true);
    expect(handler.retryPending).toBe(false);
    handler.succeeded('compaction');
    handler.report('flush', new IoError('EIO'));
    const status = handler.status();
    expect(status.state).toBe('read-only');
    if (status.state === 'read-only') expect(status.cause.code).toBe('LSM_ERR_CORRUPTION');
    let thrown: unknown;
    try {
      handler.checkWritable();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BackgroundError);
    expect((thrown as BackgroundError).code).toBe('LSM_ERR_BACKGROUND');
    expect((thrown as BackgroundError).cause).toBe(corruption);
    handler.close();
  });
});
