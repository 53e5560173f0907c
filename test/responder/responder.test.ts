// the responder rules unit tests of the profile responder: exact layout, Via rules, every row of the profile
// tables, transactions and retransmissions, Timer G, CANCEL/ACK, the per-source cap and source verification.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createResponder } from '../../src/sip/responder/index.js';
import { parseDecoyExtensions } from '../../src/sip/responder/decoys.js';
import { fixTopVia } from '../../src/sip/responder/message.js';
import { md5hex } from '../../src/sip/responder/digest.js';
import { SENTRYPEER_CLASSIC_REPLY } from '../../src/sip/responder/profiles.js';
import type { InboundRequest } from '../../src/sip/responder/types.js';
import { counter, harness, parse, recorder, request, sleep, SOURCE, wellFormed } from './harness.js';

const CHALLENGE_RE = /^Digest algorithm=MD5,realm="([^"]+)",nonce="(\d+)\/([0-9a-f]{32})",opaque="([0-9a-f]{16})",qop="auth"$/;
const TAG_RE = /;tag=([0-9a-f]{10})$/;
const header = (text: string, name: string): string | undefined =>
  wellFormed(text).headers.find(([n]) => n === name)?.[1];
const status = (text: string): number => Number(text.slice(8, 11));

describe('the responder rules layout', () => {
  test('OPTIONS 200: exact bytes (tag aside)', async () => {
    const h = harness();
    const { outcome, reply } = h.send(
      'OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 198.51.100.23:5099;branch=z9hG4bK776;rport\r\n' +
        'Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKproxy\r\nf: "p" <sip:p@198.51.100.23>;tag=abc\r\nt: <sip:100@127.0.0.1>\r\n' +
        'i: cid-1\r\nCSeq: 7 OPTIONS\r\nUser-Agent: x\r\nl: 0\r\n\r\n',
    );
    assert.deepEqual(outcome, { responseCode: 200, sourceVerified: false });
    assert.equal(reply.sent.length, 1);
    const text = reply.texts()[0]!;
    const tag = TAG_RE.exec(text.split('\r\n')[4]!)?.[1];
    assert.ok(tag, text);
    assert.equal(
      text,
      [
        'SIP/2.0 200 OK',
        'Via: SIP/2.0/UDP 198.51.100.23:5099;branch=z9hG4bK776;rport=40000;received=127.0.0.1',
        'Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKproxy',
        'From: "p" <sip:p@198.51.100.23>;tag=abc',
        `To: <sip:100@127.0.0.1>;tag=${tag}`,
        'Call-ID: cid-1',
        'CSeq: 7 OPTIONS',
        'Allow: OPTIONS, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, REGISTER, REFER, MESSAGE',
        'Accept: application/sdp, application/dialog-info+xml, application/simple-message-summary, application/xpidf+xml, application/cpim-pidf+xml, application/pidf+xml, application/pidf+xml, application/dialog-info+xml, application/simple-message-summary, message/sipfrag;version=2.0',
        'Supported: 100rel, timer, replaces, norefersub',
        'Accept-Encoding: text/plain',
        'Accept-Language: en',
        'Server: FPBX-16.0.33(18.13.0)',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    assert.equal(await counter(h.metrics.sipReplies, { transport: 'udp', status: '200' }), 1);
    await h.responder.stop();
  });

  test('Via received/rport rules', () => {
    // Same host, no rport: unchanged.
    assert.equal(fixTopVia('SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1', '127.0.0.1', 5060), 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1');
    // Different host: received added.
    assert.equal(fixTopVia('SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1', '192.0.2.4', 5070), 'SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1;received=192.0.2.4');
    assert.equal(fixTopVia('SIP/2.0/UDP pc33.example.com', '192.0.2.4', 5070), 'SIP/2.0/UDP pc33.example.com;received=192.0.2.4');
    // Bare rport: filled, received added even when the host matches.
    assert.equal(fixTopVia('SIP/2.0/UDP 127.0.0.1:5101;branch=z9hG4bK-1;rport', '127.0.0.1', 5101), 'SIP/2.0/UDP 127.0.0.1:5101;branch=z9hG4bK-1;rport=5101;received=127.0.0.1');
    // rport with a value is kept; an existing received is replaced in place.
    assert.equal(fixTopVia('SIP/2.0/UDP h;received=1.2.3.4;rport=9;branch=b', '192.0.2.9', 7), 'SIP/2.0/UDP h;received=192.0.2.9;rport=9;branch=b');
    // IPv6: bracketed sent-by equal to the source is the same host.
    assert.equal(fixTopVia('SIP/2.0/UDP [::1]:5060;branch=b', '::1', 5060), 'SIP/2.0/UDP [::1]:5060;branch=b');
    assert.equal(fixTopVia('SIP/2.0/UDP [2001:db8::1]:5060;branch=b', '::1', 5060), 'SIP/2.0/UDP [2001:db8::1]:5060;branch=b;received=::1');
  });

  test('a comma-separated Via list keeps its entries in order, the top one fixed', () => {
    const h = harness();
    const { reply } = h.send(request('OPTIONS', { headers: ['Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKa, SIP/2.0/UDP 10.8.8.8;branch=z9hG4bKb'] }));
    assert.equal(header(reply.texts()[0]!, 'Via'), 'SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKa;received=127.0.0.1, SIP/2.0/UDP 10.8.8.8;branch=z9hG4bKb');
    void h.responder.stop();
  });

  for (const missing of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
    test(`missing ${missing} → no reply`, () => {
      const h = harness();
      const { outcome, reply } = h.send(request('OPTIONS', { headers: [`-${missing}`] }));
      assert.equal(reply.sent.length, 0);
      assert.equal(outcome.responseCode, null);
      void h.responder.stop();
    });
  }

  test('a To that already has a tag is echoed, not re-tagged', () => {
    const h = harness();
    const { reply } = h.send(request('BYE', { headers: ['To: <sip:100@127.0.0.1>;tag=theirs'] }));
    assert.equal(header(reply.texts()[0]!, 'To'), '<sip:100@127.0.0.1>;tag=theirs');
    void h.responder.stop();
  });

  test('--server-header overrides Server', () => {
    const h = harness('asterisk', { serverHeader: 'Custom PBX 1.0' });
    assert.equal(header(h.send(request('OPTIONS')).reply.texts()[0]!, 'Server'), 'Custom PBX 1.0');
    void h.responder.stop();
  });
});

describe('freepbx', () => {
  test('OPTIONS → 200 with capabilities; other methods: 200 if in Allow, else 501', () => {
    const h = harness();
    for (const [m, code] of [
      ['OPTIONS', 200], ['BYE', 200], ['NOTIFY', 200], ['PUBLISH', 200], ['UPDATE', 200], ['PRACK', 200], ['REFER', 200],
      ['MESSAGE', 200], ['INFO', 501], ['FOO', 501], ['options', 501],
    ] as const) {
      const { outcome, reply } = h.send(request(m));
      assert.equal(reply.sent.length, 1, m);
      assert.equal(status(reply.texts()[0]!), code, m);
      assert.equal(outcome.responseCode, code, m);
    }
    void h.responder.stop();
  });

  test('REGISTER: decoy → 401 challenge; outside → 404 without challenge; with Authorization → 403', () => {
    const h = harness();
    const now = Math.floor(Date.now() / 1000);
    const a = h.send(request('REGISTER', { user: '100', ruri: 'sip:127.0.0.1' }));
    const t = a.reply.texts()[0]!;
    assert.equal(status(t), 401);
    const ch = CHALLENGE_RE.exec(header(t, 'WWW-Authenticate')!);
    assert.ok(ch, t);
    assert.equal(ch[1], 'asterisk');
    assert.ok(Math.abs(Number(ch[2]) - now) <= 2);
    for (const u of ['95', '200', '0100', 'alice']) {
      const r = h.send(request('REGISTER', { user: u }));
      assert.equal(status(r.reply.texts()[0]!), 404, u);
      assert.equal(header(r.reply.texts()[0]!, 'WWW-Authenticate'), undefined);
    }
    const b = h.send(request('REGISTER', { user: '150', headers: ['Authorization: Digest username="150",realm="asterisk",nonce="x",uri="sip:127.0.0.1",response="00"'] }));
    assert.equal(status(b.reply.texts()[0]!), 403);
    assert.equal(b.outcome.responseCode, 403);
    // Two challenges carry fresh nonces.
    const c = h.send(request('REGISTER', { user: '100' }));
    assert.notEqual(CHALLENGE_RE.exec(header(c.reply.texts()[0]!, 'WWW-Authenticate')!)![3], ch[3]);
    void h.responder.stop();
  });

  test('SUBSCRIBE follows the decoy rule', () => {
    const h = harness();
    assert.equal(status(h.send(request('SUBSCRIBE', { user: '300' })).reply.texts()[0]!), 404);
    assert.equal(status(h.send(request('SUBSCRIBE', { user: '101' })).reply.texts()[0]!), 401);
    void h.responder.stop();
  });

  test('decoy list: ranges and single users', () => {
    const d = parseDecoyExtensions('100-102, 2000,alice');
    for (const u of ['100', '101', '102', '2000', 'alice']) assert.equal(d.has(u), true, u);
    for (const u of ['99', '103', '0101', 'Alice', '', null]) assert.equal(d.has(u), false, String(u));
    assert.throws(() => parseDecoyExtensions('200-100'), /inverted/);
    const h = harness('freepbx', { decoyExtensions: 'alice' });
    assert.equal(status(h.send(request('REGISTER', { user: 'alice' })).reply.texts()[0]!), 401);
    assert.equal(status(h.send(request('REGISTER', { user: '100' })).reply.texts()[0]!), 404);
    void h.responder.stop();
  });

  test('--decoy-password: a REGISTER whose digest verifies gets 200 with Contact and Expires echoed', () => {
    const h = harness('freepbx', { decoyPassword: 's3cret' });
    const ch = CHALLENGE_RE.exec(header(h.send(request('REGISTER', { user: '100' })).reply.texts()[0]!, 'WWW-Authenticate')!)!;
    const nonce = `${ch[2]}/${ch[3]}`;
    const ha1 = md5hex('100:asterisk:s3cret');
    const ha2 = md5hex('REGISTER:sip:127.0.0.1');
    const good = md5hex(`${ha1}:${nonce}:00000001:abcd:auth:${ha2}`);
    const auth = (resp: string): string =>
      `Authorization: Digest username="100",realm="asterisk",nonce="${nonce}",uri="sip:127.0.0.1",response="${resp}",qop=auth,nc=00000001,cnonce="abcd",algorithm=MD5`;
    const ok = h.send(request('REGISTER', { user: '100', headers: [auth(good), 'Contact: <sip:100@203.0.113.5:5062>', 'Expires: 120'] }));
    const t = ok.reply.texts()[0]!;
    assert.equal(status(t), 200, t);
    assert.equal(header(t, 'Contact'), '<sip:100@203.0.113.5:5062>');
    assert.equal(header(t, 'Expires'), '120');
    const names = wellFormed(t).headers.map(([n]) => n);
    assert.deepEqual(names.slice(names.indexOf('CSeq')), ['CSeq', 'Contact', 'Expires', 'Server', 'Content-Length']);
    assert.equal(ok.outcome.sourceVerified, true, 'echoed the nonce we sent to this IP');
    const bad = h.send(request('REGISTER', { user: '100', headers: [auth(md5hex('nope'))] }));
    assert.equal(status(bad.reply.texts()[0]!), 403);
    void h.responder.stop();
  });

  test('INVITE: 100 Trying (no To-tag) then 401, whatever the destination', () => {
    const h = harness();
    for (const user of ['100', '0046812118532', 'alice']) {
      const { outcome, reply } = h.send(request('INVITE', { user }));
      const [t100, t401] = reply.texts();
      assert.equal(reply.sent.length, 2);
      assert.equal(status(t100!), 100);
      assert.equal(header(t100!, 'To'), `<sip:${user}@127.0.0.1>`);
      assert.equal(status(t401!), 401);
      assert.match(header(t401!, 'To')!, TAG_RE);
      assert.ok(CHALLENGE_RE.test(header(t401!, 'WWW-Authenticate')!));
      assert.equal(outcome.responseCode, 401);
    }
    void h.responder.stop();
  });

  test('INVITE with credentials: 100, 180, then 486 after 1 s; the To-tag is stable', async () => {
    const h = harness();
    const { outcome, reply } = h.send(request('INVITE', { headers: ['Proxy-Authorization: Digest username="1001",realm="asterisk",nonce="n",uri="sip:100@127.0.0.1",response="r"'] }));
    assert.equal(outcome.responseCode, 486);
    assert.deepEqual(reply.texts().map(status), [100, 180]);
    await sleep(700);
    assert.equal(reply.sent.length, 2, 'nothing before 1 s');
    await sleep(500);
    assert.deepEqual(reply.texts().map(status), [100, 180, 486]);
    assert.equal(header(reply.texts()[1]!, 'To'), header(reply.texts()[2]!, 'To'));
    await h.responder.stop();
  });

  test('retransmission: same reply bytes, same tag; Timer G resends a non-2xx INVITE final until ACK', async () => {
    const h = harness();
    const inv = request('INVITE', { branch: 'z9hG4bK-rtx', callId: 'rtx@test' });
    const first = h.send(inv);
    const again = h.send(inv, { reply: first.reply, retransmission: true });
    assert.equal(again.outcome.responseCode, 401);
    assert.equal(first.reply.sent.length, 3);
    assert.deepEqual(first.reply.sent[2], first.reply.sent[1], 'retransmission gets the same 401 bytes');
    await sleep(650);
    assert.equal(first.reply.sent.length, 4, 'Timer G fired at 0.5 s');
    assert.deepEqual(first.reply.sent[3], first.reply.sent[1]);
    const tag = TAG_RE.exec(header(first.reply.texts()[1]!, 'To')!)![1];
    // ACK (new branch, as svwar sends it) matches by Call-ID + CSeq and stops Timer G; ACK is never answered.
    const ack = h.send(request('ACK', { branch: 'z9hG4bK-ack', callId: 'rtx@test', headers: [`To: <sip:100@127.0.0.1>;tag=${tag}`] }), { reply: first.reply });
    assert.equal(ack.outcome.responseCode, null);
    assert.equal(ack.outcome.sourceVerified, true, 'ACK echoed our To-tag');
    await sleep(1200);
    assert.equal(first.reply.sent.length, 4, 'no resend after ACK');
    await h.responder.stop();
  });

  test('transactions are bounded (10,000, least recently used evicted first)', async () => {
    const h = harness('freepbx', { replyRateLimit: 0 });
    const first = request('OPTIONS', { branch: 'z9hG4bK-lru-first', callId: 'lru-first' });
    const kept = request('OPTIONS', { branch: 'z9hG4bK-lru-kept', callId: 'lru-kept' });
    const tagOf = (r: { reply: { texts(): string[] } }): string => TAG_RE.exec(header(r.reply.texts()[0]!, 'To')!)![1]!;
    const t1 = tagOf(h.send(first));
    const t2 = tagOf(h.send(kept));
    for (let i = 0; i < 9_000; i++) h.send(request('OPTIONS'));
    assert.equal(tagOf(h.send(kept, { retransmission: true })), t2, 'touched: moves to the back');
    for (let i = 0; i < 1_500; i++) h.send(request('OPTIONS'));
    assert.equal(tagOf(h.send(kept, { retransmission: true })), t2, 'recently used: still there');
    assert.notEqual(tagOf(h.send(first, { retransmission: true })), t1, 'oldest: evicted, answered afresh');
    await h.responder.stop();
  });

  test('Timer G intervals 0.5, 1, 2 s', async () => {
    const h = harness();
    const { reply } = h.send(request('INVITE'));
    const t0 = Date.now();
    const at: number[] = [];
    const orig = reply.send.bind(reply);
    reply.send = (b: Buffer) => {
      at.push(Date.now() - t0);
      orig(b);
    };
    await sleep(3700);
    assert.equal(at.length, 3, JSON.stringify(at));
    assert.ok(Math.abs(at[0]! - 500) < 150 && Math.abs(at[1]! - 1500) < 200 && Math.abs(at[2]! - 3500) < 250, JSON.stringify(at));
    await h.responder.stop();
  });

  test('no Timer G over TCP', async () => {
    const h = harness();
    const { reply } = h.send(request('INVITE'), { transport: 'TCP' });
    await sleep(700);
    assert.equal(reply.sent.length, 2);
    await h.responder.stop();
  });

  test('CANCEL of a pending INVITE → 200 (INVITE To-tag) + 487, no 486', async () => {
    const h = harness();
    const inv = h.send(request('INVITE', { branch: 'z9hG4bK-c1', callId: 'c1@test', headers: ['Authorization: Digest username="1"'] }));
    const cancel = h.send(request('CANCEL', { branch: 'z9hG4bK-c1', callId: 'c1@test' }), { reply: inv.reply });
    assert.equal(cancel.outcome.responseCode, 200);
    const texts = inv.reply.texts();
    assert.deepEqual(texts.map(status), [100, 180, 200, 487]);
    assert.match(header(texts[2]!, 'CSeq')!, /CANCEL/);
    assert.match(header(texts[3]!, 'CSeq')!, /INVITE/);
    assert.equal(header(texts[2]!, 'To'), header(texts[1]!, 'To'));
    assert.equal(header(texts[3]!, 'To'), header(texts[1]!, 'To'));
    await sleep(1200);
    assert.ok(!inv.reply.texts().some((t) => status(t) === 486));
    // CANCEL with nothing pending: just 200.
    const lone = h.send(request('CANCEL'));
    assert.deepEqual(lone.reply.texts().map(status), [200]);
    await h.responder.stop();
  });

  test('stop() clears pending timers', async () => {
    const h = harness();
    const { reply } = h.send(request('INVITE', { headers: ['Authorization: Digest username="1"'] }));
    await h.responder.stop();
    await sleep(1200);
    assert.equal(reply.sent.length, 2);
  });
});

describe('other profiles', () => {
  test('asterisk: Server, 401 challenge, after credentials 100/180/404; OPTIONS 200, others 501', async () => {
    const h = harness('asterisk');
    const o = h.send(request('OPTIONS')).reply.texts()[0]!;
    assert.equal(status(o), 200);
    assert.equal(header(o, 'Server'), 'Asterisk PBX 18.13.0');
    for (const m of ['BYE', 'CANCEL', 'MESSAGE', 'NOTIFY', 'INFO']) assert.equal(status(h.send(request(m)).reply.texts()[0]!), 501, m);
    assert.equal(status(h.send(request('REGISTER', { user: '300' })).reply.texts()[0]!), 404);
    const r = h.send(request('REGISTER')).reply.texts()[0]!;
    assert.equal(CHALLENGE_RE.exec(header(r, 'WWW-Authenticate')!)![1], 'asterisk');
    assert.deepEqual(h.send(request('INVITE')).reply.texts().map(status), [100, 401]);
    const inv = h.send(request('INVITE', { headers: ['Authorization: Digest username="1"'] }));
    assert.equal(inv.outcome.responseCode, 404);
    await sleep(1150);
    assert.deepEqual(inv.reply.texts().map(status), [100, 180, 404]);
    await h.responder.stop();
  });

  test('freeswitch: 407 + Proxy-Authenticate with the destination IP as realm; 183 then 486', async () => {
    const h = harness('freeswitch');
    const local = { ip: '192.0.2.50', port: 5060 };
    const { reply } = h.send(request('INVITE'), { local });
    const [t100, t407] = reply.texts();
    assert.equal(status(t100!), 100);
    assert.equal(status(t407!), 407);
    assert.equal(header(t407!, 'Server'), 'FreeSWITCH-mod_sofia/1.10.9-release~64bit');
    assert.equal(header(t407!, 'WWW-Authenticate'), undefined);
    assert.equal(CHALLENGE_RE.exec(header(t407!, 'Proxy-Authenticate')!)![1], '192.0.2.50');
    const reg = h.send(request('REGISTER'), { local }).reply.texts()[0]!;
    assert.equal(status(reg), 401);
    assert.equal(CHALLENGE_RE.exec(header(reg, 'WWW-Authenticate')!)![1], '192.0.2.50');
    const inv = h.send(request('INVITE', { headers: ['Proxy-Authorization: Digest username="1"'] }), { local });
    await sleep(1150);
    assert.deepEqual(inv.reply.texts().map(status), [100, 183, 486]);
    assert.equal(status(h.send(request('BYE')).reply.texts()[0]!), 200);
    await h.responder.stop();
  });

  test('reject-404: every REGISTER and INVITE → 404; OPTIONS still 200', () => {
    const h = harness('reject-404');
    for (const [m, u] of [['REGISTER', '100'], ['REGISTER', '999'], ['INVITE', '100'], ['INVITE', '0046812118532'], ['SUBSCRIBE', '100']] as const) {
      const { reply, outcome } = h.send(request(m, { user: u }));
      assert.deepEqual(reply.texts().map(status), [404], `${m} ${u}`);
      assert.equal(outcome.responseCode, 404);
      assert.equal(header(reply.texts()[0]!, 'WWW-Authenticate'), undefined);
    }
    assert.equal(status(h.send(request('OPTIONS')).reply.texts()[0]!), 200);
    assert.equal(status(h.send(request('BYE')).reply.texts()[0]!), 200);
    void h.responder.stop();
  });

  test('redirect: INVITE → 302 with Contact <--redirect-uri>; REGISTER keeps the decoy challenge', () => {
    const h = harness('redirect', { redirectUri: 'sip:ivr@198.51.100.99' });
    const { reply, outcome } = h.send(request('INVITE', { user: '0046812118532' }));
    assert.deepEqual(reply.texts().map(status), [302]);
    assert.equal(outcome.responseCode, 302);
    assert.equal(header(reply.texts()[0]!, 'Contact'), '<sip:ivr@198.51.100.99>');
    assert.equal(status(h.send(request('REGISTER')).reply.texts()[0]!), 401);
    void h.responder.stop();
    assert.throws(() => harness('redirect', { redirectUri: null }), /--redirect-uri/);
  });

  test('sentrypeer-classic: the exact 730 bytes to every request, ACK and broken ones included', async () => {
    assert.equal(SENTRYPEER_CLASSIC_REPLY.length, 730);
    assert.equal(createHash('sha256').update(SENTRYPEER_CLASSIC_REPLY).digest('hex'), '6092609f93341c041f2253e4775daefaeaccc9bc34f0b33bd9dd6f8b759bdf3a');
    const h = harness('sentrypeer-classic');
    for (const text of [request('OPTIONS'), request('ACK'), request('INVITE'), request('REGISTER', { headers: ['-Via', '-Call-ID'] })]) {
      const { reply, outcome } = h.send(text);
      assert.equal(reply.sent.length, 1);
      assert.deepEqual(reply.sent[0], SENTRYPEER_CLASSIC_REPLY);
      assert.equal(outcome.responseCode, 200);
    }
    await h.responder.stop();
  });
});

describe('reply cap', () => {
  for (const profile of ['freepbx', 'sentrypeer-classic'] as const) {
    test(`${profile}: 10,000 requests from one source in one second → at most 50 replies`, async () => {
      const t = Date.now();
      const h = harness(profile, { now: () => t });
      const reply = recorder();
      for (let i = 0; i < 10_000; i++) h.send(request('OPTIONS'), { reply, source: { ip: '127.0.0.1', port: 1000 + (i % 50_000) } });
      assert.equal(reply.sent.length, 50);
      assert.equal(await counter(h.metrics.sipRepliesSuppressed), 9_950);
      // Another source is unaffected.
      assert.equal(h.send(request('OPTIONS'), { source: { ip: '127.0.0.2', port: 1 } }).reply.sent.length, 1);
      await h.responder.stop();
    });
  }

  test('the window slides: the cap refills after a second, retransmitted replies count', async () => {
    let t = 1_000_000;
    const h = harness('freepbx', { now: () => t, replyRateLimit: 5 });
    const reply = recorder();
    const inv = request('INVITE');
    h.send(inv, { reply }); // 100 + 401 = 2
    for (let i = 0; i < 5; i++) h.send(inv, { reply, retransmission: true });
    assert.equal(reply.sent.length, 5, 'retransmitted replies share the cap');
    t += 999;
    h.send(request('OPTIONS'), { reply });
    assert.equal(reply.sent.length, 5);
    t += 2;
    h.send(request('OPTIONS'), { reply });
    assert.equal(reply.sent.length, 6);
    await h.responder.stop();
  });
});

test('a UDP INVITE final suppressed by the cap is still scheduled: Timer G delivers it once the window allows', async () => {
  const h = harness('freepbx', { replyRateLimit: 1 });
  const { outcome, reply } = h.send(request('INVITE'));
  assert.deepEqual(reply.texts().map(status), [100], 'the 401 was over the cap');
  assert.equal(outcome.responseCode, 401);
  await sleep(1700);
  assert.deepEqual(reply.texts().map(status), [100, 401]);
  // A non-INVITE over the cap has nothing scheduled: no response code.
  const o = h.send(request('OPTIONS'));
  assert.equal(o.reply.sent.length, 0);
  assert.equal(o.outcome.responseCode, null);
  await h.responder.stop();
});

describe('source verification', () => {
  test('echoing a nonce we sent to that IP verifies; another IP or a forged nonce does not', () => {
    const h = harness();
    const ch = CHALLENGE_RE.exec(header(h.send(request('REGISTER')).reply.texts()[0]!, 'WWW-Authenticate')!)!;
    const nonce = `${ch[2]}/${ch[3]}`;
    const auth = (n: string): string => `Authorization: Digest username="100",realm="asterisk",nonce="${n}",uri="sip:127.0.0.1",response="00"`;
    assert.equal(h.send(request('REGISTER', { headers: [auth(nonce)] })).outcome.sourceVerified, true);
    assert.equal(h.send(request('REGISTER', { headers: [auth(nonce)] }), { source: { ip: '127.0.0.9', port: 5 } }).outcome.sourceVerified, false);
    const forged = `${ch[2]}/${'0'.repeat(32)}`;
    assert.equal(h.send(request('REGISTER', { headers: [auth(forged)] })).outcome.sourceVerified, false);
    assert.equal(h.send(request('OPTIONS')).outcome.sourceVerified, false, 'a one-shot UDP request is unverified');
    assert.equal(h.send(request('OPTIONS'), { transport: 'TCP' }).outcome.sourceVerified, true);
    void h.responder.stop();
  });

  test('echoing a To-tag we sent verifies (in-dialog BYE)', () => {
    const h = harness();
    const tag = TAG_RE.exec(header(h.send(request('OPTIONS')).reply.texts()[0]!, 'To')!)![1];
    assert.equal(h.send(request('BYE', { headers: [`To: <sip:100@127.0.0.1>;tag=${tag}`] })).outcome.sourceVerified, true);
    assert.equal(h.send(request('BYE', { headers: [`To: <sip:100@127.0.0.1>;tag=${tag}`] }), { source: { ip: '127.0.0.3', port: 1 } }).outcome.sourceVerified, false);
    assert.equal(h.send(request('BYE', { headers: ['To: <sip:100@127.0.0.1>;tag=0123456789'] })).outcome.sourceVerified, false);
    void h.responder.stop();
  });
});

test('handle never throws: a broken request counts an internal error and returns no reply', async () => {
  const metrics = new Metrics({ processMetrics: false });
  const r = createResponder({ profile: 'freepbx', decoyExtensions: '100-199', decoyPassword: null, redirectUri: null, serverHeader: null, replyRateLimit: 50, metrics, logger: createLogger('silent') });
  const bad = { msg: { method: 'OPTIONS', headers: null }, transport: 'UDP', source: SOURCE, local: SOURCE, receivedAtUs: 0, retransmission: false } as unknown as InboundRequest;
  assert.deepEqual(r.handle(bad, recorder()), { responseCode: null, sourceVerified: false });
  assert.equal(await counter(metrics.internalErrors, { component: 'responder' }), 1);
  // A channel whose send throws is contained too.
  const throwing = { open: true, send() { throw new Error('EPIPE'); } };
  assert.equal(r.handle({ ...bad, msg: parse(request('OPTIONS')) }, throwing).responseCode, null);
  await r.stop();
  await r.stop();
});
