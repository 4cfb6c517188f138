/**
 * An HTTP/1.1 reverse proxy that forwards requests chunk by chunk (SSE
 * streams included) and refuses WebSocket upgrades with 403 while `blocking`
 * — a corporate proxy that breaks WebSocket. Unblocked, it tunnels upgrades.
 */
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface UpgradeProxy {
  readonly url: string;
  blocking: boolean;
  /** Upgrades refused so far. */
  refused: number;
  close(): Promise<void>;
}

export async function upgradeProxy(targetPort: number): Promise<UpgradeProxy> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((req, res) => {
    const up = request({ host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.on('data', (c: Buffer) => res.write(c));
      ur.on('end', () => res.end());
      ur.on('error', () => res.destroy());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
    res.on('close', () => up.destroy());
  });
  srv.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const p: UpgradeProxy = {
    url: '',
    blocking: true,
    refused: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
  srv.on('upgrade', (req, socket, head) => {
    if (p.blocking) {
      p.refused++;
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const up = connect(targetPort, '127.0.0.1', () => {
      let raw = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) raw += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(raw + '\r\n');
      if (head.length) up.write(head);
      socket.pipe(up).pipe(socket);
    });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  (p as { url: string }).url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return p;
}
