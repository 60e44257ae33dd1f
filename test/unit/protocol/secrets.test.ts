import { describe, expect, it } from 'vitest';
import { findSecrets, findSecretsInWsMessage, isSecretName, MAX_SECRETS_PER_MESSAGE, scansBody } from '../../../server/protocol/secrets.js';
import type { HeaderList } from '../../../server/protocol/events.js';

function request(headers: HeaderList, body: string | null = null, mimeType: string | null = null, url = 'https://shop.lab.test/login') {
  return findSecrets({ headers, url, body, mimeType, direction: 'request' });
}

describe('isSecretName', () => {
  it('recognizes credential names across spellings', () => {
    for (const name of ['password', 'Passwd', 'pass', 'pwd', 'token', 'api_key', 'apiKey', 'API-KEY', 'apikey', 'secret', 'access_token', 'client_secret', 'new_password', 'refreshToken', 'x-api-key']) {
      expect(isSecretName(name), name).toBe(true);
    }
  });
  it('leaves ordinary names alone', () => {
    for (const name of ['username', 'email', 'passenger', 'passport', 'page', 'q', 'next', 'remember', '']) {
      expect(isSecretName(name), name).toBe(false);
    }
  });
});

describe('findSecrets: headers', () => {
  it('decodes Basic credentials to user:password', () => {
    const value = Buffer.from('alice:s3cret pass').toString('base64');
    expect(request([['Authorization', `Basic ${value}`]])).toEqual([
      { kind: 'basic-auth', name: 'Authorization', value: 'alice:s3cret pass', location: 'request-header' },
    ]);
  });

  it('decodes UTF-8 Basic credentials (RFC 7617 charset=UTF-8)', () => {
    const value = Buffer.from('jörg:pässwort').toString('base64');
    expect(request([['authorization', `basic ${value}`]])[0]?.value).toBe('jörg:pässwort');
  });

  it('keeps a malformed Basic value as a raw authorization', () => {
    expect(request([['Authorization', 'Basic !!!notbase64']])).toEqual([
      { kind: 'authorization', name: 'Authorization', value: 'Basic !!!notbase64', location: 'request-header' },
    ]);
  });

  it('reports Bearer tokens and other schemes', () => {
    expect(request([['Authorization', 'Bearer eyJhbGciOi.abc.def']])).toEqual([
      { kind: 'bearer', name: 'Authorization', value: 'eyJhbGciOi.abc.def', location: 'request-header' },
    ]);
    expect(request([['Authorization', 'Digest username="bob", response="abc"']])[0]?.kind).toBe('authorization');
    expect(request([['Proxy-Authorization', `Basic ${Buffer.from('p:q').toString('base64')}`]])[0]).toMatchObject({ kind: 'basic-auth', value: 'p:q' });
  });

  it('lists every request cookie', () => {
    expect(request([['Cookie', 'session=abc123; theme=dark;  csrftoken=zz']])).toEqual([
      { kind: 'cookie', name: 'session', value: 'abc123', location: 'request-header' },
      { kind: 'cookie', name: 'theme', value: 'dark', location: 'request-header' },
      { kind: 'cookie', name: 'csrftoken', value: 'zz', location: 'request-header' },
    ]);
  });

  it('reads Set-Cookie on responses only, without its attributes', () => {
    const headers: HeaderList = [
      ['Set-Cookie', 'sid=42abc; Path=/; HttpOnly; Secure'],
      ['Set-Cookie', 'garbage'],
      ['Content-Type', 'text/html'],
    ];
    expect(findSecrets({ headers, url: 'https://a.test/', body: null, mimeType: null, direction: 'response' })).toEqual([
      { kind: 'set-cookie', name: 'sid', value: '42abc', location: 'response-header' },
    ]);
    expect(request(headers)).toEqual([]);
  });

  it('reports API key headers', () => {
    expect(request([['X-Api-Key', 'k-123'], ['Accept', '*/*']])).toEqual([
      { kind: 'authorization', name: 'X-Api-Key', value: 'k-123', location: 'request-header' },
    ]);
  });

  it('does not treat a Cookie or Authorization in a response as request secrets', () => {
    expect(findSecrets({ headers: [['Authorization', 'Bearer x']], url: 'https://a.test/', body: null, mimeType: null, direction: 'response' })).toEqual([]);
  });
});

describe('findSecrets: URL and bodies', () => {
  it('finds secret query parameters, decoded, once with the request', () => {
    const url = 'https://api.lab.test/v1/items?q=shoes&api_key=AB%2BCD&access_token=t0k#password=x';
    expect(findSecrets({ headers: [], url, body: null, mimeType: null, direction: 'request' })).toEqual([
      { kind: 'query-param', name: 'api_key', value: 'AB+CD', location: 'url' },
      { kind: 'query-param', name: 'access_token', value: 't0k', location: 'url' },
    ]);
    expect(findSecrets({ headers: [], url, body: null, mimeType: null, direction: 'response' })).toEqual([]);
  });

  it('finds form fields in urlencoded bodies', () => {
    const body = 'username=alice&password=hunter2+%21&remember=on&client_secret=cs&bad=%E0%A4%A';
    expect(request([], body, 'application/x-www-form-urlencoded')).toEqual([
      { kind: 'form-field', name: 'password', value: 'hunter2 !', location: 'request-body' },
      { kind: 'form-field', name: 'client_secret', value: 'cs', location: 'request-body' },
    ]);
  });

  it('finds nested JSON keys with their path', () => {
    const body = JSON.stringify({ user: 'alice', credentials: { password: 'pw1', otp: 123456 }, keys: [{ api_key: 'k1' }], token: null, secret: { nested: 'x' } });
    expect(request([], body, 'application/json')).toEqual([
      { kind: 'json-field', name: 'credentials.password', value: 'pw1', location: 'request-body' },
      { kind: 'json-field', name: 'credentials.otp', value: '123456', location: 'request-body' },
      { kind: 'json-field', name: 'keys[0].api_key', value: 'k1', location: 'request-body' },
    ]);
    expect(request([], JSON.stringify({ password: 'p' }), 'application/vnd.api+json')).toHaveLength(1);
  });

  it('finds multipart text fields but not files', () => {
    const body = [
      '--XyZ',
      'Content-Disposition: form-data; name="username"',
      '',
      'alice',
      '--XyZ',
      'Content-Disposition: form-data; name="password"',
      '',
      'multi pass',
      '--XyZ',
      'Content-Disposition: form-data; name="token"; filename="token.txt"',
      'Content-Type: text/plain',
      '',
      'file content',
      '--XyZ--',
      '',
    ].join('\r\n');
    expect(request([], body, 'multipart/form-data')).toEqual([
      { kind: 'form-field', name: 'password', value: 'multi pass', location: 'request-body' },
    ]);
  });

  it('ignores bodies of other types and truncated JSON', () => {
    expect(request([], 'password=x', 'text/plain')).toEqual([]);
    expect(request([], '{"password": "abc', 'application/json')).toEqual([]);
  });

  it('deduplicates and bounds the list', () => {
    const cookies = Array.from({ length: 200 }, (_, i) => `c${i}=v${i}`).join('; ');
    expect(request([['Cookie', cookies]])).toHaveLength(MAX_SECRETS_PER_MESSAGE);
    expect(request([['Cookie', 'a=1'], ['Cookie', 'a=1']])).toHaveLength(1);
    const long = 'x'.repeat(10_000);
    expect(request([['Authorization', `Bearer ${long}`]])[0]!.value.length).toBeLessThan(2100);
  });

  it('never throws on hostile input', () => {
    let seed = 7;
    const alphabet = '=&;%"{}[]:,\\\r\n-abcpasswordtoken0123 +/';
    for (let n = 0; n < 1000; n++) {
      let text = '';
      for (let i = 0; i < 40; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        text += alphabet[seed % alphabet.length];
      }
      for (const mime of ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
        expect(() => request([['Authorization', `Basic ${text}`], ['Cookie', text]], text, mime, `https://a.test/?${text}`)).not.toThrow();
      }
    }
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(request([], deep, 'application/json')).toEqual([]);
  });
});

describe('response bodies', () => {
  it('finds tokens in a JSON response (an OAuth token endpoint)', () => {
    const secrets = findSecrets({
      headers: [['Content-Type', 'application/json']],
      url: 'https://auth.test/token',
      body: '{"access_token":"eyJhbGciOi.abc","token_type":"Bearer","expires_in":3600}',
      mimeType: 'application/json',
      direction: 'response',
    });
    expect(secrets).toContainEqual({ kind: 'json-field', name: 'access_token', value: 'eyJhbGciOi.abc', location: 'response-body' });
  });
});

describe('scansBody', () => {
  it('reads forms and JSON both ways and multipart forms in requests, so nothing else is decoded to text', () => {
    expect(scansBody('application/x-www-form-urlencoded', 'request')).toBe(true);
    expect(scansBody('application/json', 'response')).toBe(true);
    expect(scansBody('application/problem+json', 'response')).toBe(true);
    expect(scansBody('multipart/form-data', 'request')).toBe(true);
    expect(scansBody('multipart/form-data', 'response')).toBe(false);
    for (const mime of ['text/html', 'text/css', 'image/png', 'application/octet-stream', null]) expect(scansBody(mime, 'response')).toBe(false);
  });
});

describe('WebSocket messages', () => {
  it('finds credentials in JSON messages both ways, behind a Socket.IO packet prefix too', () => {
    expect(findSecretsInWsMessage('{"action":"login","user":"ada","password":"hunter2"}', 'send')).toEqual([
      { kind: 'json-field', name: 'password', value: 'hunter2', location: 'ws-send' },
    ]);
    expect(findSecretsInWsMessage('42["login",{"user":"ada","pass":"hunter2"}]', 'send')).toEqual([
      { kind: 'json-field', name: '[1].pass', value: 'hunter2', location: 'ws-send' },
    ]);
    expect(findSecretsInWsMessage('42/chat,["auth",{"token":"t-1"}]', 'receive')).toEqual([
      { kind: 'json-field', name: '[1].token', value: 't-1', location: 'ws-receive' },
    ]);
  });

  it('does not guess at other texts, and skips JSON cut short by --ws-cap', () => {
    expect(findSecretsInWsMessage('my password is hunter2', 'send')).toEqual([]);
    expect(findSecretsInWsMessage('password=hunter2', 'send')).toEqual([]);
    expect(findSecretsInWsMessage('{"password":"hunt', 'send')).toEqual([]);
    expect(findSecretsInWsMessage('{"price":1.5,"symbol":"ABC"}', 'receive')).toEqual([]);
  });
});
