import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/guest-*.test.ts boot real guests for minutes: `npm run test:guest` (vitest.guest.config.ts) runs them.
    exclude: [...configDefaults.exclude, 'test/guest-*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    // npm run bench:core: the block core alone, in Node.
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
});
