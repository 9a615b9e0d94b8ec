import { UserError } from '../errors/index.ts';

/**
 * `entrypoint` and `cmd`: a JSON array of strings (the exec form), or a
 * string split into words like a POSIX shell would (quotes and backslashes,
 * no expansion). Nothing runs a shell: the words become the exec form.
 */
export function parseCommand(value: string, what: string): string[] {
  const v = value.trim();
  if (v.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch (e) {
      throw new UserError(
        `${what} starts with "[" but is not valid JSON (${(e as Error).message})`,
        'Give a JSON array of strings, e.g. ["/server", "--port", "8080"], or a plain command line',
      );
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
      throw new UserError(`${what} is a JSON value but not an array of strings`, 'e.g. ["/server", "-v"]');
    return parsed;
  }
  return shellSplit(v, what);
}

export function shellSplit(s: string, what = 'command'): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new UserError(`${what} has an unterminated single quote`, 'Close the quote');
      word += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        // Inside double quotes a backslash escapes only these, as in sh.
        if (s[i] === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) i++;
        word += s[i];
        i++;
      }
      if (i >= s.length) throw new UserError(`${what} has an unterminated double quote`, 'Close the quote');
      inWord = true;
      i++;
    } else if (c === '\\') {
      if (i + 1 < s.length) word += s[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
