import { describe, expect, it } from 'vitest';
import {
  InputReader,
  type InputSpecs,
  runnerInputs,
  runnerSource,
  settingGroup,
  settingInputs,
} from '../src/index.ts';

const spec: InputSpecs = {
  image: { description: 'i', group: 'g', required: true },
  files: { description: 'f', group: 'g', multiline: true },
  cache: { description: 'c', group: 'g', boolean: true, default: 'true' },
  password: { description: 'p', group: 'g', secret: true },
  user: { description: 'u', group: 'g' },
};

const reader = (raw: Record<string, string>, masked: string[] = []) =>
  new InputReader(
    spec,
    raw,
    runnerSource((s) => masked.push(s)),
  );

describe('InputReader', () => {
  it('lower-cases the repository path of an image input, and says so', () => {
    const said: string[] = [];
    const r = new InputReader(
      spec,
      { image: 'ghcr.io/Acme/Web' },
      runnerSource(
        () => {},
        (m) => said.push(m),
      ),
    );
    expect(r.repository('image').toString()).toBe('ghcr.io/acme/web');
    expect(said).toEqual([
      'input "image": repository ghcr.io/Acme/Web read as ghcr.io/acme/web (registries take lower case only)',
    ]);
    // Through a view (how ship reads its steps' inputs) too.
    said.length = 0;
    expect(r.view(spec).repository('image').name).toBe('ghcr.io/acme/web');
    expect(said).toHaveLength(1);
    // Already lower case: nothing to say.
    said.length = 0;
    new InputReader(
      spec,
      { image: 'ghcr.io/acme/web' },
      runnerSource(
        () => {},
        (m) => said.push(m),
      ),
    ).repository('image');
    expect(said).toEqual([]);
  });

  it('reads the runner inputs it declares, an empty one as not given', () => {
    expect(runnerInputs(spec, { INPUT_IMAGE: ' r/x ', INPUT_FILES: '', INPUT_OTHER: 'y' })).toEqual({
      image: ' r/x ',
    });
  });

  it('applies declared defaults in code, whatever the source', () => {
    const r = reader({ image: 'x' });
    expect(r.bool('cache')).toBe(true);
    expect(r.given('cache')).toBe(false);
    expect(reader({ image: 'x', cache: 'false' }).bool('cache')).toBe(false);
  });

  it('names a missing required input as the source does', () => {
    expect(() => reader({}).required('image')).toThrow(
      'input "image" is required. Set "image" in the step\'s "with:"',
    );
  });

  it('checks every value before any is read: line breaks only where multi-line, no control characters', () => {
    expect(() => reader({ image: 'x\n::error::INJECTED' })).toThrow(/input "image" holds a line break/);
    expect(() => reader({ user: 'a\u202eb' })).toThrow(/input "user" holds the control character U\+202E/);
    expect(() => reader({ user: 'x'.repeat(10 * 1024) })).toThrow(/input "user" is 10240 characters long/);
    expect(reader({ files: 'a:/a\nb:/b' }).list('files')).toEqual(['a:/a', 'b:/b']);
    // The runner's getInput trims: a trailing newline from a YAML block is no line break.
    expect(reader({ image: 'x\n' }).required('image')).toBe('x');
  });

  it('masks every secret before checking any other value (a message may quote it)', () => {
    const masked: string[] = [];
    expect(() => reader({ user: 'hunter2\nx', password: 'hunter2' }, masked)).toThrow(/line break/);
    expect(masked).toEqual(['hunter2']);
  });

  it('router-key is a secret input of every action that reaches the router, masked before anything else is read', () => {
    for (const action of ['deploy', 'flip', 'rollback', 'cleanup'] as const) {
      const key = settingInputs(action, settingGroup)['router-key'];
      expect(key).toMatchObject({ secret: true, env: 'ANEW_ROUTER_KEY', multiline: true, group: 'Router' });
    }
    const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKey\n-----END PRIVATE KEY-----';
    const masked: string[] = [];
    const inputs = settingInputs('flip', settingGroup);
    const r = new InputReader(
      inputs,
      { 'router-key': pem, 'router-url': 'ssh://web1' },
      runnerSource((s) => masked.push(s)),
    );
    expect(masked).toEqual([pem]);
    expect(r.secret('router-key')).toBe(pem);
  });

  it('a view renames and leaves out inputs, and names them as the outer source does', () => {
    const outer = new InputReader(
      { ...spec, 'build-target': { description: 't', group: 'g' } },
      { image: 'x', 'build-target': 'prod', user: 'u' },
      runnerSource(() => {}),
    );
    const inner = outer.view(
      { target: { description: 't', group: 'g' }, user: spec['user']! },
      { target: 'build-target' },
      ['user'],
    );
    expect(inner.optional('target')).toBe('prod');
    expect(inner.given('user')).toBe(false);
    expect(inner.name('target')).toBe('input "build-target"');
  });
});
