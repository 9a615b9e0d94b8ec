import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'actions/**/*.test.ts'],
          testTimeout: 30_000,
          // Unit tests first, then the end-to-end tests with their own worker limit.
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          // Against a real buildx on a GitHub runner only (.github/workflows/e2e-buildx.yml).
          exclude: ['test/real-buildx/**', 'test/real-kubernetes/**'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Two cores: real engines, registries and routers run beside the tests.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      ...(process.env['ANEW_REAL_BUILDX'] === '1'
        ? [
            {
              extends: true as const,
              test: { name: 'real-buildx', include: ['test/real-buildx/**/*.test.ts'], testTimeout: 600_000 },
            },
          ]
        : []),
      // Against a real cluster only (.github/workflows/e2e-kubernetes.yml names it with ANEW_KUBECONFIG).
      ...(process.env['ANEW_KUBECONFIG']
        ? [
            {
              extends: true as const,
              test: {
                name: 'real-kubernetes',
                include: ['test/real-kubernetes/**/*.test.ts'],
                testTimeout: 600_000,
                fileParallelism: false,
              },
            },
          ]
        : []),
    ],
  },
});
