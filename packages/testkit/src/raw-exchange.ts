import { once } from 'node:events';
import net from 'node:net';

/**
 * Writes raw bytes to a server listening on 127.0.0.1:`port` on a new connection and reads until the server closes
 * it: for requests no HTTP client would send.
 */
export async function rawExchange(port: number, request: Buffer | string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.end(request);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}
