import { z } from 'zod';
import { API_SCOPES } from './scopes';

export { API_SCOPES };
export const ApiScope = z.enum(API_SCOPES);
export type ApiScope = z.infer<typeof ApiScope>;
