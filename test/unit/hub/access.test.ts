import { describe, expect, it } from 'vitest';
import { cookieValue, credentialValid, hostAllowed, isLoopback, originAllowed, presentedToken, tokensEqual } from '../../../server/hub/access.js';

const policy = { host: '127.0.0.1', port: 8081, token: 't' };

describe('hub access checks', () => {
  it('accepts only this hub in the Host header', () => {
    for (const host of ['127.0.0.1:8081', 'localhost:8081', 'LOCALHOST:8081', '[::1]:8081', 'localhost.:8081']) expect(hostAllowed(host, policy), host).toBe(true);
    for (const host of [undefined, '', '127.0.0.1', '127.0.0.1:8080', 'evil.test:8081', 'localhost.evil.test:8081', '127.0.0.1:8081:1', '[::2]:8081', 'user@127.0.0.1:8081']) {
      expect(hostAllowed(host, policy), String(host)).toBe(false);
    }
    expect(hostAllowed('[::1]:9000', { host: '::1', port: 9000, token: '' })).toBe(true);
    expect(hostAllowed('10.0.0.5:8081', { ...policy, host: '0.0.0.0', extraHosts: ['10.0.0.5'] })).toBe(true);
  });

  it('accepts only the UI own origin', () => {
    expect(originAllowed('http://127.0.0.1:8081', policy)).toBe(true);
    expect(originAllowed('http://localhost:8081', policy)).toBe(true);
    for (const origin of ['null', 'https://127.0.0.1:8081', 'http://127.0.0.1:8082', 'http://evil.test:8081', 'http://127.0.0.1', 'file://', 'not a url']) {
      expect(originAllowed(origin, policy), origin).toBe(false);
    }
    expect(originAllowed('http://127.0.0.1', { ...policy, port: 80 })).toBe(true);
  });

  it('reads the token from the header, bearer, then cookie', () => {
    expect(presentedToken({ 'x-mitmlab-token': 'a', cookie: 'mitmlab_session_1=b' }, 'mitmlab_session_1')).toEqual({ token: 'a', source: 'header' });
    expect(presentedToken({ authorization: 'Bearer  c ' }, 'mitmlab_session_1')).toEqual({ token: 'c', source: 'header' });
    expect(presentedToken({ authorization: 'Basic Yzpk' }, 'mitmlab_session_1')).toBeNull();
    expect(presentedToken({ cookie: 'x=1; mitmlab_session_1=d; mitmlab_session_2=e' }, 'mitmlab_session_1')).toEqual({ token: 'd', source: 'cookie' });
    expect(presentedToken({}, 'mitmlab_session_1')).toBeNull();
    expect(cookieValue('a=1;b=2', 'b')).toBe('2');
    expect(cookieValue('ab=1', 'b')).toBeNull();
  });

  it('takes the token from a header and only the browser-session value from the cookie', () => {
    expect(credentialValid({ token: 'tok', source: 'header' }, 'tok', 'run')).toBe(true);
    expect(credentialValid({ token: 'run', source: 'cookie' }, 'tok', 'run')).toBe(true);
    expect(credentialValid({ token: 'tok', source: 'cookie' }, 'tok', 'run')).toBe(false);
    expect(credentialValid({ token: 'run', source: 'header' }, 'tok', 'run')).toBe(false);
    expect(credentialValid(null, 'tok', 'run')).toBe(false);
  });

  it('compares tokens of any length without throwing', () => {
    expect(tokensEqual('secret', 'secret')).toBe(true);
    expect(tokensEqual('secret', 'secreT')).toBe(false);
    expect(tokensEqual('', 'secret')).toBe(false);
    expect(tokensEqual('secret-but-longer', 'secret')).toBe(false);
  });

  it('knows loopback peers', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('::ffff:127.0.0.9')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
    expect(isLoopback(undefined)).toBe(false);
  });
});
