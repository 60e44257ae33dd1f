import { describe, expect, it } from 'vitest';
import { helpText, parseBenchArgs, type BenchSettings } from '../../../bench/options.js';
import { acceptance, METRICS, pairedAdvantage, ratioLegend, renderChecks, renderTable } from '../../../bench/report.js';
import type { BenchResults, PeerResult } from '../../../bench/results.js';

function settings(): BenchSettings {
  const parsed = parseBenchArgs([]);
  if (!parsed.ok || !('settings' in parsed)) throw new Error('defaults must parse');
  return parsed.settings;
}

const peer = (runs: PeerResult['runs'], label = 'x'): PeerResult => ({ label, runs, notes: [] });
const metric = (key: string) => METRICS.find((m) => m.key === key)!;

describe('pairedAdvantage', () => {
  it('takes the ratio run by run, so a slow moment for both peers cancels out', () => {
    // Run 2 was slow for everyone: ratios of medians would say 1.0×, run-by-run says 2× every time.
    const mitmlab = peer([{ rps: 200 }, { rps: 50 }, { rps: 400 }]);
    const other = peer([{ rps: 100 }, { rps: 25 }, { rps: 200 }]);
    expect(pairedAdvantage(metric('rps'), mitmlab, other)).toMatchObject({ n: 3, median: 2, min: 2, max: 2 });
  });
  it('inverts for lower-is-better figures, and compares worst runs for memory', () => {
    const extra = METRICS.find((m) => m.key === 'extraMs')!;
    expect(pairedAdvantage(extra, peer([{ extraMs: 2 }]), peer([{ extraMs: 200 }]))?.median).toBe(100);
    const growth = metric('rssGrowthMiB');
    expect(pairedAdvantage(growth, peer([{ rssGrowthMiB: 10 }, { rssGrowthMiB: 40 }]), peer([{ rssGrowthMiB: 80 }, { rssGrowthMiB: 1 }]))?.median).toBe(2);
  });
  it('skips failed runs and says null when nothing pairs', () => {
    expect(pairedAdvantage(metric('rps'), peer([{ rps: Number.NaN }, { rps: 30 }]), peer([{ rps: 10 }, { rps: 10 }]))).toMatchObject({ n: 1, median: 3 });
    expect(pairedAdvantage(metric('rps'), peer([{ rps: Number.NaN }]), peer([{ rps: 10 }]))).toBeNull();
    expect(pairedAdvantage(metric('rps'), undefined, peer([{ rps: 10 }]))).toBeNull();
  });
});

describe('acceptance', () => {
  const results: BenchResults = {
    scenarios: {
      keepalive: { direct: peer([{ rps: 10_000 }]), mitmlab: peer([{ rps: 3_500 }]), mitmdump: peer([{ rps: 600 }]), 'http-mitm-proxy': peer([{ rps: 3_000 }]) },
      download: { direct: peer([{ mbps: 500 }]), mitmlab: peer([{ mbps: 450, rssGrowthMiB: 70 }]) },
      firstcontact: { mitmlab: peer([{ extraMs: 1.5, loopMaxMs: 12 }]) },
      flows: { mitmlab: peer([{ rssMiB: 195 }]) },
    },
  };
  const checks = acceptance(results, settings());
  const find = (text: string) => checks.find((c) => c.criterion.includes(text))!;

  it('passes and misses against the issue targets', () => {
    expect(find('0.3× direct')).toMatchObject({ pass: true, measured: '0.35×' });
    expect(find('5× mitmproxy')).toMatchObject({ pass: true });
    expect(find('1.5× http-mitm-proxy')).toMatchObject({ pass: false, measured: '1.17×' });
    expect(find('0.8× direct')).toMatchObject({ pass: true });
    expect(find('< 64 MiB')).toMatchObject({ pass: false });
    expect(find('2 ms extra')).toMatchObject({ pass: true });
    expect(find('20 ms')).toMatchObject({ pass: true });
    // 200 MB is read as 200 × 10^6 bytes: 195 MiB is over it.
    expect(find('200 MB')).toMatchObject({ pass: false });
  });
  it('leaves out scenarios that did not run and marks unmeasured peers', () => {
    expect(checks.some((c) => c.criterion.includes('connections/s'))).toBe(false);
    const partial = acceptance({ scenarios: { keepalive: { mitmlab: peer([{ rps: 1 }]) } } }, settings());
    expect(partial.every((c) => c.pass === null)).toBe(true);
    expect(renderChecks(partial)).toContain('[ n/a ]');
  });
});

describe('renderTable', () => {
  it('prints one column per peer that ran and the run-by-run ratios with their range', () => {
    const results: BenchResults = {
      scenarios: { keepalive: { direct: peer([{ rps: 1000 }, { rps: 2000 }, { rps: 1500 }]), mitmlab: peer([{ rps: 500 }, { rps: 600 }, { rps: 600 }]) } },
    };
    const table = renderTable(results, { ...settings(), peers: ['direct', 'mitmlab'] }, { direct: 'direct', mitmlab: 'mitmlab' });
    const lines = table.split('\n');
    expect(lines[0]).toBe('| scenario | direct | mitmlab | mitmlab ÷ direct |');
    expect(lines[2]).toContain('1,500 (1,000–2,000)');
    expect(lines[2]).toContain('600 (500–600)');
    expect(lines[2]).toContain('0.40× (0.30×–0.50×)');
    expect(lines).toHaveLength(3);
  });
  it('adds the tls-relay column and its ratio only when the relay ran', () => {
    const results: BenchResults = {
      scenarios: { keepalive: { direct: peer([{ rps: 1000 }]), 'tls-relay': peer([{ rps: 800, cpuUs: 100 }]), mitmlab: peer([{ rps: 400, cpuUs: 400 }]) } },
    };
    const labels = { direct: 'direct', 'tls-relay': 'bare TLS relay', mitmlab: 'mitmlab' };
    const lines = renderTable(results, { ...settings(), peers: ['direct', 'tls-relay', 'mitmlab'] }, labels).split('\n');
    expect(lines[0]).toBe('| scenario | direct | bare TLS relay | mitmlab | mitmlab ÷ direct | mitmlab vs tls-relay |');
    expect(lines[2]).toBe('| keep-alive HTTPS GETs of 1 KiB, 32 connections (req/s, higher is better) | 1,000 | 800 | 400 | 0.40× | 0.50× |');
    expect(lines[3]).toBe('| proxy CPU time per keep-alive request (µs, lower is better) | — | 100 | 400 | — | 0.25× |');
    // Named but failed to start: no label, so no column and no ratio.
    const without = renderTable(results, { ...settings(), peers: ['direct', 'tls-relay', 'mitmlab'] }, { direct: 'direct', mitmlab: 'mitmlab' });
    expect(without).not.toContain('tls-relay');
  });
});

describe('ratioLegend', () => {
  it('explains the relay column only when both it and mitmlab ran', () => {
    expect(ratioLegend(['direct', 'mitmlab', 'http-mitm-proxy', 'mitmdump'])).toBe('"mitmlab vs X": how many times better mitmlab is (> 1 is better).');
    expect(ratioLegend(['direct', 'tls-relay'])).not.toContain('ceiling');
    expect(ratioLegend(['direct', 'tls-relay', 'mitmlab'])).toContain('"mitmlab vs tls-relay" is expected below 1');
    expect(ratioLegend(['direct', 'tls-relay', 'mitmlab'])).not.toContain('http-relay');
  });

  it('explains the http-relay column on its own or with the TLS relay', () => {
    expect(ratioLegend(['direct', 'http-relay', 'mitmlab'])).toContain('http-relay adds node:http on both legs');
    expect(ratioLegend(['direct', 'http-relay', 'mitmlab'])).not.toContain('tls-relay is');
    expect(ratioLegend(['direct', 'tls-relay', 'http-relay', 'mitmlab'])).toMatch(/tls-relay is the ceiling.*http-relay adds/);
  });
});

describe('parseBenchArgs', () => {
  it('has defaults that match the issue (3 runs, 100 hosts, 20k flows, 256 MiB)', () => {
    const s = settings();
    expect(s).toMatchObject({ runs: 3, newHosts: 100, flows: 20_000, downloadBytes: 256 * 1024 * 1024, keepAliveConnections: 32, newConnConcurrency: 8 });
    expect(s.scenarios).toHaveLength(6);
  });
  it('understands --quick, --only, --peers, --runs and --duration', () => {
    const parsed = parseBenchArgs(['--quick', '--only', 'keepalive,download', '--peers=direct,mitmlab', '--runs', '2', '--duration', '1.5', '--flows', '50000']);
    expect(parsed).toMatchObject({ ok: true, settings: { quick: true, scenarios: ['keepalive', 'download'], peers: ['direct', 'mitmlab'], runs: 2, durationMs: 1500, newHosts: 20, flows: 50_000, flowsTimeoutMs: 150_000 } });
  });
  it('leaves the opt-in tls-relay out of the default peers and runs it when named', () => {
    expect(settings().peers).toEqual(['direct', 'mitmlab', 'http-mitm-proxy', 'mitmdump']);
    expect(parseBenchArgs(['--peers', 'direct,mitmlab,tls-relay'])).toMatchObject({ ok: true, settings: { peers: ['direct', 'mitmlab', 'tls-relay'] } });
    expect(parseBenchArgs(['--peers=tls-relay'])).toMatchObject({ ok: true, settings: { peers: ['tls-relay'] } });
    expect(parseBenchArgs([])).not.toMatchObject({ settings: { peers: expect.arrayContaining(['http-relay']) } });
    expect(parseBenchArgs(['--peers', 'mitmlab,http-relay'])).toMatchObject({ ok: true, settings: { peers: ['mitmlab', 'http-relay'] } });
    expect(helpText()).toMatch(/Opt-in, only when named: tls-relay, http-relay/);
  });
  it('keeps only mitmlab and direct when profiling', () => {
    expect(parseBenchArgs(['--profile'])).toMatchObject({ ok: true, settings: { profile: true, peers: ['direct', 'mitmlab'] } });
  });
  it('refuses unknown scenarios, options and bad numbers with a message', () => {
    for (const argv of [['--only', 'speed'], ['--fast'], ['--runs', '0'], ['--duration'], ['--quick=1'], ['keepalive']]) {
      const parsed = parseBenchArgs(argv);
      expect(parsed.ok, argv.join(' ')).toBe(false);
      if (!parsed.ok) expect(parsed.error.length).toBeGreaterThan(5);
    }
    expect(parseBenchArgs(['--help'])).toEqual({ ok: true, help: true });
  });
});
