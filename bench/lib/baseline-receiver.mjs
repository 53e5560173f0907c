// Baseline for benchmarks (design.md §4): a bare Node dgram receiver that parses the request line and headers
// and sends a 200 OK. Prints {"port":P} when bound and {"received":N,"replies":R} on SIGTERM.
import dgram from 'node:dgram';
const reply = process.argv[2] !== 'count';
const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
let received = 0;
let replies = 0;
sock.on('message', (msg, rinfo) => {
  received++;
  const text = msg.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, end < 0 ? text.length : end).split('\r\n');
  const headers = new Map();
  for (let i = 1; i < lines.length; i++) {
    const c = lines[i].indexOf(':');
    if (c > 0) headers.set(lines[i].slice(0, c).trim().toLowerCase(), lines[i].slice(c + 1).trim());
  }
  if (!reply) return;
  const out = `SIP/2.0 200 OK\r\nVia: ${headers.get('via')}\r\nFrom: ${headers.get('from')}\r\nTo: ${headers.get('to')};tag=abcdef0123\r\nCall-ID: ${headers.get('call-id')}\r\nCSeq: ${headers.get('cseq')}\r\nContent-Length: 0\r\n\r\n`;
  sock.send(out, rinfo.port, rinfo.address);
  replies++;
});
sock.bind(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: sock.address().port }) + '\n'));
process.on('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ received, replies }) + '\n');
  process.exit(0);
});
