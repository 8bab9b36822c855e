/**
 * WebSocket (and any other HTTP/1.1 upgrade) through the router: the upgrade request goes to the
 * instance; on its 101 the two sockets are joined byte for byte. An instance that answers without
 * upgrading has its response relayed as is, then the connection closes.
 */
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { originForm, responseHead } from './forward-headers';
import { noInstancePage, rawPage } from './pages';
import type { RouteTable } from './route-table';

export interface UpgradeRelay {
  agent: http.Agent;
  table: RouteTable;
  req: IncomingMessage;
  /** The client's socket, taken over from the HTTP server. */
  socket: Socket;
  /** Bytes the client sent after its request head. */
  bodyHead: Buffer;
  port: number;
  headers: string[];
  requestId: string;
  appName: string;
}

function headLines(statusLine: string, headers: string[]): string {
  let head = `${statusLine}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
}

export function relayUpgrade({ agent, table, req, socket, bodyHead, port, headers, requestId, appName }: UpgradeRelay): void {
  table.begin(port);
  let counted = true;
  const done = () => {
    if (!counted) return;
    counted = false;
    table.end(port);
  };
  let upstream: http.ClientRequest;
  try {
    upstream = http.request({ agent, host: '127.0.0.1', port, method: req.method, path: originForm(req.url ?? '/'), headers: headers as unknown as http.OutgoingHttpHeaders });
  } catch {
    socket.end(rawPage(noInstancePage(appName), requestId));
    done();
    return;
  }
  socket.once('close', () => {
    upstream.destroy();
    done();
  });

  upstream.on('upgrade', (res: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
    upstreamSocket.on('error', () => socket.destroy());
    socket.on('error', () => upstreamSocket.destroy());
    upstreamSocket.once('close', () => {
      socket.destroy();
      done();
    });
    if (socket.destroyed) {
      upstreamSocket.destroy();
      return;
    }
    const { headers: out } = responseHead(res.rawHeaders, requestId, true);
    socket.setNoDelay(true);
    upstreamSocket.setNoDelay(true);
    socket.write(headLines(`HTTP/1.1 ${res.statusCode} ${res.statusMessage}`, out));
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (bodyHead.length > 0) upstreamSocket.write(bodyHead);
    upstreamSocket.pipe(socket);
    socket.pipe(upstreamSocket);
  });

  upstream.on('response', (res: IncomingMessage) => {
    // No upgrade: relay the answer, delimited by closing the connection.
    const { headers: out } = responseHead(res.rawHeaders, requestId);
    out.push('Connection', 'close');
    socket.write(headLines(`HTTP/1.1 ${res.statusCode} ${res.statusMessage}`, out));
    res.on('error', () => socket.destroy());
    res.pipe(socket);
  });

  upstream.on('error', () => {
    if (!socket.destroyed && socket.bytesWritten === 0) socket.end(rawPage(noInstancePage(appName), requestId));
    else socket.destroy();
    done();
  });
  upstream.end();
}
