import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

/**
 * The runner's workflow commands and file commands, written as
 * @actions/core writes them (the same escaping, the same delimited output
 * blocks, the same summary HTML). Not @actions/core itself: importing it
 * loads its OIDC client, and with it the HTTP client (undici), at every
 * action's start-up; only attest needs a token, and it imports @actions/core then.
 */

/** `%`, CR and LF escaped: the runner reads each line on its own. */
function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

export function issue(command: string, message = ''): void {
  process.stdout.write(`::${command}::${escapeData(message)}${os.EOL}`);
}

/** A plain log line, as given (the caller keeps it on one line). */
export function info(message: string): void {
  process.stdout.write(message + os.EOL);
}

export function isDebug(): boolean {
  return process.env['RUNNER_DEBUG'] === '1';
}

export async function group<T>(name: string, fn: () => Promise<T>): Promise<T> {
  issue('group', name);
  try {
    return await fn();
  } finally {
    issue('endgroup');
  }
}

/** `name<<delimiter` blocks in $GITHUB_OUTPUT, the delimiter random so no value can end the block early. */
export function setOutput(name: string, value: string): void {
  const file = process.env['GITHUB_OUTPUT'];
  if (!file) {
    process.stdout.write(os.EOL);
    process.stdout.write(`::set-output name=${name}::${escapeData(value)}${os.EOL}`);
    return;
  }
  appendBlock(file, name, value);
}

function appendBlock(file: string, name: string, value: string): void {
  const delimiter = `ghadelimiter_${crypto.randomUUID()}`;
  if (value.includes(delimiter)) throw new Error(`the value of ${name} holds its own delimiter`);
  fs.appendFileSync(file, `${name}<<${delimiter}${os.EOL}${value}${os.EOL}${delimiter}${os.EOL}`, 'utf8');
}

/** What a post step will read back ($GITHUB_STATE), in the same delimited blocks as outputs. */
export function saveState(name: string, value: string): void {
  const file = process.env['GITHUB_STATE'];
  if (!file) {
    process.stdout.write(`::save-state name=${name}::${escapeData(value)}${os.EOL}`);
    return;
  }
  appendBlock(file, name, value);
}

/** A value main saved, as the runner hands it to the post step (STATE_<name>). */
export function getState(name: string): string {
  return process.env[`STATE_${name}`] ?? '';
}

export function setFailed(message: string): void {
  process.exitCode = 1;
  issue('error', message);
}

/** Appends HTML to the job summary ($GITHUB_STEP_SUMMARY); the caller escapes what it puts in. */
export function appendSummary(html: string): void {
  const file = process.env['GITHUB_STEP_SUMMARY'];
  if (!file) return;
  fs.appendFileSync(file, html, 'utf8');
}
