import { describe, expect, it } from 'vitest';
import { boundaryOf, multipartFields } from '../../../server/protocol/multipart.js';

const CRLF = '\r\n';
const body = (boundary: string, parts: string[]): string => `--${boundary}${CRLF}${parts.join(`${CRLF}--${boundary}${CRLF}`)}${CRLF}--${boundary}--${CRLF}`;

describe('boundaryOf', () => {
  it('reads a token or a quoted boundary', () => {
    expect(boundaryOf('multipart/form-data; boundary=----WebKitFormBoundaryAbC123')).toBe('----WebKitFormBoundaryAbC123');
    expect(boundaryOf('multipart/form-data; charset=utf-8; boundary="a b:c"')).toBe('a b:c');
    expect(boundaryOf('multipart/form-data')).toBeNull();
  });
});

describe('multipartFields (RFC 7578)', () => {
  it('lists fields and files in order, with file name and type', () => {
    const text = body('XyZ', [
      `Content-Disposition: form-data; name="username"${CRLF}${CRLF}alice`,
      `Content-Disposition: form-data; name="password"${CRLF}${CRLF}Tr0ub4dor&3${CRLF}two lines`,
      `Content-Disposition: form-data; name="avatar"; filename="a \\"b\\".txt"${CRLF}Content-Type: text/plain${CRLF}${CRLF}file text`,
    ]);
    expect(multipartFields(text, 'XyZ')).toEqual([
      { name: 'username', value: 'alice' },
      { name: 'password', value: `Tr0ub4dor&3${CRLF}two lines` },
      { name: 'avatar', value: 'file text', fileName: 'a "b".txt', contentType: 'text/plain' },
    ]);
  });

  it('keeps a value that holds the boundary text without a CRLF before it, and ignores preamble and epilogue', () => {
    const text = `preamble${CRLF}` + body('b1', [`Content-Disposition: form-data; name="x"${CRLF}${CRLF}a --b1 inside`]) + 'epilogue';
    expect(multipartFields(text, 'b1')).toEqual([{ name: 'x', value: 'a --b1 inside' }]);
  });

  it('gives null for a body cut short, a part without a name, or another boundary', () => {
    const whole = body('b2', [`Content-Disposition: form-data; name="x"${CRLF}${CRLF}1`]);
    expect(multipartFields(whole.slice(0, -10), 'b2')).toBeNull();
    expect(multipartFields(body('b2', [`Content-Disposition: form-data${CRLF}${CRLF}1`]), 'b2')).toBeNull();
    expect(multipartFields(whole, 'other')).toBeNull();
  });
});
