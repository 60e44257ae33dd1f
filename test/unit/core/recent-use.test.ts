import { describe, expect, it } from 'vitest';
import { RecentUse } from '../../../server/core/recent-use.js';

describe('RecentUse', () => {
  it('remembers the last request per client and host', () => {
    const use = new RecentUse();
    use.mark('127.0.0.1', 'a.test', 1000);
    expect(use.usedSince('127.0.0.1', 'a.test', 500)).toBe(true);
    expect(use.usedSince('127.0.0.1', 'a.test', 1500)).toBe(false);
    expect(use.usedSince('127.0.0.2', 'a.test', 0)).toBe(false);
    expect(use.usedSince('127.0.0.1', 'b.test', 0)).toBe(false);
  });

  it('is bounded, forgetting the least recently used pair', () => {
    const use = new RecentUse(2);
    use.mark('c', 'a', 1);
    use.mark('c', 'b', 2);
    use.mark('c', 'a', 3);
    use.mark('c', 'd', 4);
    expect(use.usedSince('c', 'b', 0)).toBe(false);
    expect(use.usedSince('c', 'a', 0)).toBe(true);
    expect(use.usedSince('c', 'd', 0)).toBe(true);
  });
});
