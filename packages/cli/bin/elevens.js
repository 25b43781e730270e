#!/usr/bin/env node
// Elevens runs its TypeScript sources directly through tsx: one artifact for development, tests and containers.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
