import { defineConfig } from 'vitest/config';

// `npm run test:guest`: the slow, opt-in guest tests (a Linux boot in v86, see
// test/guest-linux.test.ts); `npm run test:unit` leaves them out.
export default defineConfig({
  test: {
    include: ['test/guest-*.test.ts'],
    environment: 'node',
    testTimeout: 900_000,
    hookTimeout: 300_000,
  },
});
