import type { FastifyReply } from 'fastify';

/**
 * The headers of a page a browser opens (the dashboard, the API docs) under its own Content-Security-Policy: it may
 * not be framed (a page of another site would otherwise lay it under its own and have a visitor click its buttons
 * or paste a key into it), and older browsers, which read no frame-ancestors, get X-Frame-Options; no answer is
 * sniffed into another type, and referrers would name the service's host to other sites.
 */
export function setPageHeaders(reply: FastifyReply, contentSecurityPolicy: string): FastifyReply {
  return reply
    .header('content-security-policy', contentSecurityPolicy)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
}
