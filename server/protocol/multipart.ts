// multipart/form-data bodies (RFC 7578) split into their fields, for exports that list a form's fields. Pure: the
// body comes in as text (the caller has checked it is UTF-8), and a body that does not parse gives null.

export interface MultipartField {
  name: string;
  value: string;
  /** The part's filename parameter: a file upload. */
  fileName?: string;
  /** The part's own Content-Type (a file's type). */
  contentType?: string;
}

/** The boundary parameter of a multipart Content-Type (RFC 2046 §5.1.1: a token or a quoted string), or null. */
export function boundaryOf(contentType: string): string | null {
  const match = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return match ? (match[1] ?? match[2]!) : null;
}

/**
 * The fields of a multipart/form-data body, in order; null when it is not framed by `boundary` (RFC 2046 §5.1.1:
 * each part follows CRLF "--" boundary, and the last delimiter has "--" after it).
 */
export function multipartFields(body: string, boundary: string): MultipartField[] | null {
  const delimiter = `--${boundary}`;
  // The first delimiter may start the body; every later one follows a CRLF that belongs to it.
  const start = body.startsWith(delimiter) ? 0 : body.indexOf(`\r\n${delimiter}`);
  if (start < 0) return null;
  const pieces = body.slice(start + (start === 0 ? 0 : 2)).split(`\r\n${delimiter}`);
  pieces[0] = pieces[0]!.slice(delimiter.length);
  const fields: MultipartField[] = [];
  for (const piece of pieces) {
    // "--" after a delimiter closes the body; anything after it is the epilogue.
    if (piece.startsWith('--')) return fields;
    // A delimiter line may end in transport padding (whitespace) before its CRLF.
    const headEnd = piece.indexOf('\r\n\r\n');
    if (!/^[ \t]*\r\n/.test(piece) || headEnd < 0) return null;
    const head = piece.slice(0, headEnd);
    const disposition = /\r\ncontent-disposition:([^\r\n]*)/i.exec(head)?.[1] ?? '';
    const name = parameter(disposition, 'name');
    if (name === null) return null;
    const field: MultipartField = { name, value: piece.slice(headEnd + 4) };
    const fileName = parameter(disposition, 'filename');
    if (fileName !== null) field.fileName = fileName;
    const type = /\r\ncontent-type:[ \t]*([^\r\n]*)/i.exec(head)?.[1]?.trim();
    if (type) field.contentType = type;
    fields.push(field);
  }
  // No closing delimiter: the body was cut short.
  return null;
}

/** A Content-Disposition parameter's value (quoted or not), or null. */
function parameter(disposition: string, name: string): string | null {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(disposition);
  if (!match) return null;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]!;
}
