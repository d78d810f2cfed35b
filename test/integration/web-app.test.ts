/**
 * The relative's web app in a real browser (docs/RELAY.md, the web app): Debian's Chromium driven
 * by playwright-core, with a fake microphone that plays a speech fixture and a fake camera that
 * shows a QR code, against a real relay (`createRelay` from @plushlink/relay, SQLite in a temp
 * folder) on 127.0.0.1 serving the freshly built app at /app/.
 *
 * The story: the page creates an identity (by keyboard) and adds the child's companion by scanning
 * its QR code with the camera and a parent by pasting a key code; the companion (Node) adds the
 * page's key code; the companion sends a message recorded from the reference toy's microphone; the
 * page wakes, shows and plays it (the samples it plays correlate with the original); the page
 * records a reply from the fake microphone and sends it; the companion opens it (it correlates
 * with the fixture) and acknowledges it; the page sees it delivered; a stranger's message is never
 * shown as from family; a reload keeps the identity and the inbox. Every request the page makes
 * goes to the relay's origin. Screenshots at 360 × 780 and 1280 × 800 go to web/test-output/.
 *
 * Without Chromium at /usr/bin/chromium (or PLUSHLINK_CHROMIUM) these tests skip and say
 * `apt-get install chromium`; with PLUSHLINK_REQUIRE_BROWSER=1 (CI) they fail instead.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import QRCode from 'qrcode';
import jsQRModule from 'jsqr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createRelay, openSqliteStore, type RelayServer } from '@plushlink/relay';
import { buildWebApp } from '../../web/build.js';
import { decodeWav, encodeWav } from '../../src/audio/wav.js';
import { oggOpusToPcm } from '../../src/audio/convert.js';
import { readOggOpus } from '../../src/audio/ogg-opus.js';
import { decodePackets, encodePcm, OpusDecoder } from '../../src/audio/opus-codec.js';
import {
  familyKeyCode,
  familyKeyFingerprint,
  generateFamilyIdentity,
  parseFamilyKeyCode,
  type FamilyPublicKey,
} from '../../src/messages/family.js';
import { openVoiceMessage, sealVoiceMessage } from '../../src/messages/envelope.js';
import { HttpRelay } from '../../src/messages/http-relay.js';
import { mailboxIdOf, signDeliveryReceipt } from '../../src/messages/relay-protocol.js';
import { sha512 } from '../../src/protocol/crypto.js';
import { toHex } from '../../src/protocol/bytes.js';
import { makeRig } from '../helpers/rig.js';
import { PROJECT_ROOT } from '../helpers/shared.js';

// jsQR is CommonJS: its default export is the function itself (the typings say `.default`).
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

// Callbacks given to page.evaluate run in the page; the Node typecheck has no DOM library.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
declare const navigator: any;
declare const AudioBufferSourceNode: any;
type AudioBufferSourceNode = any;
type HTMLElement = any;
type HTMLInputElement = any;
type HTMLCanvasElement = any;

const CHROMIUM = process.env.PLUSHLINK_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const REQUIRED = process.env.PLUSHLINK_REQUIRE_BROWSER === '1';
const SKIP_NOTE = `no Chromium at ${CHROMIUM}: apt-get install chromium`;
if (!HAVE_CHROMIUM && !REQUIRED) console.warn(`web app browser tests SKIPPED (${SKIP_NOTE})`);

/** Flags for Debian's Chromium on these machines (docs: the machine notes), plus fake devices. */
function chromiumArgs(micWav: string, cameraY4m: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${micWav}`,
    `--use-file-for-fake-video-capture=${cameraY4m}`,
  ];
}

const SHOTS = join(PROJECT_ROOT, 'web', 'test-output');
const FIXTURES = join(PROJECT_ROOT, 'fixtures', 'audio');

// ------------------------------------------------------------------------------------------------
// Signal helpers

function pearson(a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, n: number): number {
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[aOff + i]!;
    const y = b[bOff + i]!;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return sab / Math.sqrt(saa * sbb || 1);
}

function boxDecimate(x: ArrayLike<number>, k: number): Float64Array {
  const out = new Float64Array(Math.floor(x.length / k));
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += x[i * k + j]!;
    out[i] = s / k;
  }
  return out;
}

/**
 * Best normalised correlation of `segment` against `reference` (both 16 kHz), over every
 * alignment where the segment lies inside the reference (cyclic when `loop`, as Chromium loops
 * its fake microphone file): a coarse search at 2 kHz, then the exact lag around the best one.
 */
function alignedCorrelation(reference: ArrayLike<number>, segment: ArrayLike<number>, loop: boolean): { r: number; lag: number } {
  const ref = loop ? Float64Array.from({ length: reference.length * 2 }, (_, i) => reference[i % reference.length]!) : Float64Array.from(reference);
  const seg = Float64Array.from(segment);
  const n = seg.length;
  const maxLag = (loop ? reference.length : ref.length - n) - 1;
  if (maxLag < 0) throw new Error('segment longer than the reference');
  const K = 8;
  const refD = boxDecimate(ref, K);
  const segD = boxDecimate(seg, K);
  let coarse = { r: -2, lag: 0 };
  for (let l = 0; l <= Math.floor(maxLag / K); l++) {
    const r = pearson(refD, l, segD, 0, segD.length);
    if (r > coarse.r) coarse = { r, lag: l * K };
  }
  let best = { r: -2, lag: 0 };
  for (let l = Math.max(0, coarse.lag - 2 * K); l <= Math.min(maxLag, coarse.lag + 2 * K); l++) {
    const r = pearson(ref, l, seg, 0, n);
    if (r > best.r) best = { r, lag: l };
  }
  return best;
}

/**
 * Each `block`-sample piece of `segment` aligned on its own against the (cyclic) reference, for
 * the pieces that carry speech (RMS at least a tenth of the segment's): its correlation at its
 * best alignment, its offset into the reference (where the segment's first sample would lie), and
 * what the codec alone achieves on the same stretch of the reference (`ideal`: the reference
 * through the library's own Opus encoder and decoder, sample-aligned with it).
 *
 * Why per piece, and measured against the codec itself: the capture is real time. On a loaded
 * machine Chromium's timer-driven fake microphone loses or pads a 10 ms buffer now and then, which
 * spoils the piece it falls in; how often depends on the machine's load, so no verdict may rest
 * on those pieces. And 16 kbit/s Opus does not keep the waveform of every 100 ms of speech: on
 * this fixture the codec alone gives pieces from about 0.56 to 0.98, so a fixed bound per piece
 * (or on their median) judges the speech, not the recorder. A piece counts as **heard** when it
 * reaches 90 % of the codec's own correlation there and lies within 30 ms of the previous heard
 * piece (the recording keeps its order; a dropped buffer moves the rest by 10 ms). A wrong rate,
 * a wrong channel, garbled or reordered samples leave no piece near the codec's figure.
 */
function piecewiseCorrelation(
  reference: ArrayLike<number>,
  ideal: ArrayLike<number>,
  segment: ArrayLike<number>,
  block: number,
): { rs: number[]; idealRs: number[]; offsets: number[]; heard: number } {
  let total = 0;
  for (let i = 0; i < segment.length; i++) total += segment[i]! * segment[i]!;
  const rmsAll = Math.sqrt(total / Math.max(1, segment.length));
  const rs: number[] = [];
  const idealRs: number[] = [];
  const offsets: number[] = [];
  const n = reference.length;
  const ref2 = Float64Array.from({ length: n * 2 }, (_, i) => reference[i % n]!);
  const ideal2 = Float64Array.from({ length: n * 2 }, (_, i) => ideal[i % n]!);
  let heard = 0;
  let lastHeard: number | undefined;
  for (let start = 0; start + block <= segment.length; start += block) {
    const piece = Array.prototype.slice.call(segment, start, start + block) as number[];
    let e = 0;
    for (const v of piece) e += v * v;
    if (Math.sqrt(e / block) < rmsAll / 10) continue; // a pause: nothing to compare
    const { r, lag } = alignedCorrelation(reference, piece, true);
    const offset = (((lag - start) % n) + n) % n;
    const idealR = pearson(ref2, lag % n, ideal2, lag % n, block);
    rs.push(r);
    idealRs.push(idealR);
    offsets.push(offset);
    const d = lastHeard === undefined ? 0 : Math.abs(offset - lastHeard);
    if (r >= 0.9 * idealR && Math.min(d, n - d) <= 480) {
      heard++;
      lastHeard = offset;
    }
  }
  return { rs, idealRs, offsets, heard };
}

/** A YUV4MPEG2 clip (Chromium's fake camera file) showing `text` as a QR code. */
function qrY4m(text: string, width = 640, height = 480, frames = 3): Buffer {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const size = qr.modules.size;
  const margin = 4;
  const scale = Math.floor(Math.min(width, height) / (size + 2 * margin));
  const x0 = Math.floor((width - size * scale) / 2);
  const y0 = Math.floor((height - size * scale) / 2);
  const y = Buffer.alloc(width * height, 235);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (!qr.modules.data[r * size + c]) continue;
      for (let dy = 0; dy < scale; dy++) y.fill(16, (y0 + r * scale + dy) * width + x0 + c * scale, (y0 + r * scale + dy) * width + x0 + (c + 1) * scale);
    }
  }
  const chroma = Buffer.alloc((width / 2) * (height / 2) * 2, 128);
  const parts: Buffer[] = [Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < frames; f++) parts.push(Buffer.from('FRAME\n'), y, chroma);
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------------------------------------

if (!HAVE_CHROMIUM && REQUIRED) {
  describe('web app in Chromium (PLUSHLINK_REQUIRE_BROWSER=1)', () => {
    it('has Chromium', () => {
      throw new Error(`PLUSHLINK_REQUIRE_BROWSER=1 but ${SKIP_NOTE}`);
    });
  });
}

describe.skipIf(!HAVE_CHROMIUM)(`web app in Chromium${HAVE_CHROMIUM ? '' : ` (SKIPPED: ${SKIP_NOTE})`}`, { timeout: 180_000 }, () => {
  let work: string;
  let appDir: string;
  let relay: RelayServer;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const requests: string[] = [];
  const pageErrors: string[] = [];

  // The child's companion (Node), a parent (Node) and a stranger nobody added.
  const companion = generateFamilyIdentity('Mila’s bear');
  const parent = generateFamilyIdentity('Dad');
  const stranger = generateFamilyIdentity('Mila’s bear');
  const micFixture = 'toy-goodnight'; // what the fake microphone plays (the relative's reply)
  const toyFixture = 'child-question'; // what the toy's microphone hears

  let companionRelay: HttpRelay;
  let parentRelay: HttpRelay;
  let pagePub: FamilyPublicKey | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'plushlink-web-e2e-'));
    mkdirSync(SHOTS, { recursive: true });
    appDir = join(work, 'app');
    const report = await buildWebApp(appDir);
    expect(report.nodeImports).toEqual([]);

    relay = await createRelay({ store: openSqliteStore({ path: join(work, 'relay.db') }), appDir, perKey: false, perAddress: false, sweepIntervalMs: 0 });
    base = await relay.listen({ host: '127.0.0.1', port: 0 });

    companionRelay = new HttpRelay({ url: base, identity: companion, family: () => (pagePub ? [pagePub] : []) });
    parentRelay = new HttpRelay({ url: base, identity: parent, family: () => (pagePub ? [pagePub] : []) });
    await companionRelay.ensureMailbox();
    await parentRelay.ensureMailbox();

    const micWav = join(FIXTURES, `${micFixture}.wav`);
    const camera = join(work, 'companion-qr.y4m');
    writeFileSync(camera, qrY4m(familyKeyCode(companion)));

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs(micWav, camera) });
    context = await browser.newContext({ viewport: { width: 360, height: 780 }, deviceScaleFactor: 1 });
    context.on('request', (r) => requests.push(r.url()));
    // What the page hands to Web Audio for playback, captured where it leaves the app.
    await context.addInitScript(() => {
      const w = window as unknown as { __played: { rate: number; data: Float32Array }[] };
      w.__played = [];
      const start = AudioBufferSourceNode.prototype.start;
      AudioBufferSourceNode.prototype.start = function (this: AudioBufferSourceNode, ...args: Parameters<typeof start>) {
        if (this.buffer) w.__played.push({ rate: this.buffer.sampleRate, data: this.buffer.getChannelData(0).slice() });
        return start.apply(this, args);
      };
    });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') console.log(`page console ${m.type()}: ${m.text()}`);
    });
  }, 180_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await relay?.close().catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && page) await shot(`failed-${task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`).catch(() => undefined);
  });

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }

  /** Every form control and button on the page has an accessible name. */
  async function expectLabelled(): Promise<void> {
    const unlabelled = await page.evaluate(() => {
      const bad: string[] = [];
      for (const el of document.querySelectorAll('input, textarea, select, meter, progress, button, canvas, video') as HTMLElement[]) {
        if (el.closest('[hidden]')) continue;
        const labels = (el as HTMLInputElement).labels;
        const named =
          (labels && labels.length > 0) ||
          el.getAttribute('aria-label') ||
          el.getAttribute('aria-labelledby') ||
          (el.tagName === 'BUTTON' && el.textContent?.trim());
        if (!named) bad.push(el.outerHTML.slice(0, 80));
      }
      return bad;
    });
    expect(unlabelled).toEqual([]);
  }

  /**
   * Waits until the page shows `id` delivered. "Retry now" syncs at once (the page also syncs by
   * itself every 15 s while something waits, so the button may already be gone).
   */
  async function collectReceipts(id: string): Promise<void> {
    const retry = page.locator(`#main li[data-message-id="${id}"][data-state="waiting"]`).getByRole('button', { name: 'Retry now' });
    await retry.click({ timeout: 5_000 }).catch(() => undefined);
    await page.locator(`#main li[data-message-id="${id}"][data-state="delivered"]`).waitFor({ timeout: 60_000 });
  }

  async function expectNoHorizontalScroll(): Promise<void> {
    const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    expect(scroll).toBeLessThanOrEqual(client);
  }

  it('creates an identity by keyboard, shows its key code as QR and text with the fingerprint', async () => {
    await page.goto(`${base}/app/`);
    await page.getByRole('heading', { name: 'Welcome', exact: true }).waitFor();
    await shot('welcome-360x780');
    await expectLabelled();
    await expectNoHorizontalScroll();
    // Focus starts in the name field: type and press Enter.
    await page.keyboard.type('Grandma Rose');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Family', exact: true }).waitFor();
    await expect.poll(() => page.locator('#me').textContent()).toContain('Grandma Rose');

    const code = await page.getByLabel('Your key code (text)').inputValue();
    pagePub = parseFamilyKeyCode(code);
    expect(pagePub.name).toBe('Grandma Rose');
    expect(await page.locator('#my-fingerprint').textContent()).toBe(familyKeyFingerprint(pagePub));
    await expect.poll(() => page.getByRole('img', { name: /QR code of your family key code/ }).evaluate((c: HTMLCanvasElement) => c.width)).toBeGreaterThan(100);
    // The QR code on the canvas is the key code.
    const img = await page.locator('canvas.qr').evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
      return { w: d.width, h: d.height, data: Array.from(d.data) };
    });
    expect(jsQR(Uint8ClampedArray.from(img.data), img.w, img.h)?.data).toBe(code);
    await expectLabelled();
    await expectNoHorizontalScroll();

    // The companion and the parent add the page's key (in person or by code; here: by code).
    await companionRelay.allowSender(pagePub);
    await parentRelay.allowSender(pagePub);
  });

  it('adds the companion by scanning its QR code with the camera, and a parent by pasting a key code', async () => {
    await page.getByRole('button', { name: 'Scan their QR code with the camera' }).click();
    await page.getByRole('heading', { name: `Add ${companion.name}?` }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#their-fingerprint').textContent()).toBe(familyKeyFingerprint(companion));
    await expectLabelled();
    await page.getByRole('button', { name: 'The numbers match: add' }).click();
    await page.locator('#members li', { hasText: companion.name }).waitFor();

    await page.getByLabel('Paste their key code').fill(familyKeyCode(parent).toLowerCase().replace(/(.{20})/g, '$1 '));
    await page.getByRole('button', { name: 'Check key code' }).click();
    await page.getByRole('heading', { name: `Add ${parent.name}?` }).waitFor();
    expect(await page.locator('#their-fingerprint').textContent()).toBe(familyKeyFingerprint(parent));
    await page.getByRole('button', { name: 'The numbers match: add' }).click();
    await page.locator('#members li', { hasText: parent.name }).waitFor();

    // A bad code is refused with an explanation.
    await page.getByLabel('Paste their key code').fill(familyKeyCode(parent).slice(0, -2) + 'AA');
    await page.getByRole('button', { name: 'Check key code' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/not a valid key code/);

    // Both are put on the page's allow-list on the relay.
    await page.locator('#members li', { hasText: 'Can send you messages.' }).nth(1).waitFor();
    await shot('family-360x780');
    await expectNoHorizontalScroll();
  });

  let sentId = '';
  let toyOgg: Uint8Array;

  it('wakes within 1 s on a message the companion recorded from the toy’s microphone, and plays it', async () => {
    // Keyboard navigation: the link, Enter, focus on the view's heading.
    await page.getByRole('navigation').getByRole('link', { name: 'Messages' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Messages', exact: true }).waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Messages');
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('online');

    // The companion records from the reference toy's microphone (over the in-memory radio).
    const clip = readOggOpus(new Uint8Array(readFileSync(join(FIXTURES, `${toyFixture}.opus`))));
    const rig = await makeRig({ toy: { microphone: () => clip.packets } });
    try {
      const app = await rig.newCompanion('Mila’s bear');
      rig.toy.pressButton('hold');
      const session = await app.pair(rig.toyId, rig.qr);
      const mic = await session.microphone.start();
      const oggPath = join(work, 'from-toy.opus');
      const rec = await mic.record(oggPath);
      expect(rec.lost).toBe(0);
      toyOgg = new Uint8Array(readFileSync(oggPath));
      await session.close();
    } finally {
      await rig.close();
    }

    // The page's long poll is waiting; the upload wakes it.
    const envelope = sealVoiceMessage({ audio: toyOgg, from: companion, to: [pagePub!] });
    const info = readOggOpus(toyOgg);
    expect(info.packets.length).toBe(clip.packets.length);
    let polledAt = 0;
    const answered = page.waitForResponse(async (r) => {
      if (!r.url().includes('/envelopes?wait=')) return false;
      const at = Date.now(); // when the answer reached the browser, before its body is read over CDP
      const body = (await r.json().catch(() => ({ envelopes: [] }))) as { envelopes: { messageId: string }[] };
      const hit = body.envelopes.some((e) => e.messageId === sentId);
      if (hit) polledAt = at;
      return hit;
    });
    const pollStarted = page.waitForRequest((r) => r.url().includes('/envelopes?wait='));
    await pollStarted;
    const { messageId } = { messageId: toHex(envelope.subarray(5, 21)) };
    sentId = messageId;
    await companionRelay.upload(messageId, envelope);
    const uploadedAt = Date.now();
    await answered;
    const wakeMs = polledAt - uploadedAt;
    console.log(`web app: long poll answered ${wakeMs} ms after the upload`);
    expect(wakeMs).toBeLessThan(1000);

    const item = page.locator(`li[data-message-id="${messageId}"]`);
    await item.waitFor();
    expect(await item.getAttribute('data-trusted')).toBe('true');
    await expect.poll(() => item.textContent()).toContain(`From ${companion.name}`);
    await shot('messages-360x780');
    await expectLabelled();
    await expectNoHorizontalScroll();

    await item.getByRole('button', { name: 'Play' }).click();
    await expect.poll(() => page.evaluate(() => (window as unknown as { __played: unknown[] }).__played.length), { timeout: 30_000 }).toBeGreaterThan(0);
    const played = await page.evaluate(() => {
      const p = (window as unknown as { __played: { rate: number; data: Float32Array }[] }).__played[0]!;
      return { rate: p.rate, data: Array.from(p.data) };
    });
    expect(played.rate).toBe(16000);
    const pcm = Int16Array.from(played.data, (v) => Math.round(v * 32768));
    // The same decoder as the library: what the page plays is what Node decodes, sample for sample.
    const nodePcm = await oggOpusToPcm(toyOgg);
    expect(pcm.length).toBe(nodePcm.length);
    let maxDiff = 0;
    for (let i = 0; i < pcm.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pcm[i]! - nodePcm[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1);
    // And it correlates with the original speech the toy's microphone heard.
    const original = decodeWav(new Uint8Array(readFileSync(join(FIXTURES, `${toyFixture}.wav`)))).samples;
    const seg = pcm.subarray(0, Math.min(pcm.length, original.length) - 800);
    const { r, lag } = alignedCorrelation(original, seg, false);
    console.log(`web app: played message correlates ${r.toFixed(3)} with the original (lag ${lag})`);
    expect(r).toBeGreaterThanOrEqual(0.9);
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 30_000 }).toMatch(/Finished playing|Playing/);
  });

  it('records a reply from the microphone, seals it to the chosen members and sends it; the companion opens it', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Messages' }).click();
    await page.getByRole('heading', { name: 'Messages', exact: true }).waitFor();
    const recordBtn = page.getByRole('button', { name: 'Record', exact: true });
    // Both members are checked (the parent too): a reply to two recipients.
    await page.getByLabel(parent.name).check();
    await page.getByLabel(companion.name).check();
    await recordBtn.click();
    await expect.poll(() => page.locator('#record-button').getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => page.locator('#rec-time').textContent(), { timeout: 30_000 }).toMatch(/^0:0[4-9]$/);
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => page.locator('#send-button').isEnabled(), { timeout: 30_000 }).toBe(true);
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => page.locator('#send-progress-text').textContent(), { timeout: 60_000 }).toBe('Sent.');

    // The companion receives, opens and acknowledges it.
    let reply: { messageId: string; bytes: Uint8Array } | undefined;
    for (let i = 0; i < 10 && !reply; i++) {
      const list = await companionRelay.listPending({ waitS: 10 });
      const e = list.envelopes[0];
      if (e) reply = { messageId: e.messageId, bytes: await companionRelay.fetchEnvelope(e.messageId) };
    }
    expect(reply).toBeDefined();
    const opened = openVoiceMessage(reply!.bytes, companion, { trustedSenders: [pagePub!] });
    expect(opened.recipients.length).toBe(2);
    const ogg = readOggOpus(opened.audio);
    expect(ogg.head.channels).toBe(1);
    expect(ogg.head.preSkip).toBe(312);
    expect(ogg.packets.every((p) => p.length === 40)).toBe(true); // 16 kbit/s CBR, 20 ms: the library's encoder
    const decoder = await OpusDecoder.create();
    const pcm = await oggOpusToPcm(ogg, { decoder });
    decoder.free();
    writeFileSync(join(SHOTS, 'reply-as-the-companion-decoded-it.wav'), encodeWav(pcm)); // for people to listen to
    expect(pcm.length).toBeGreaterThan(3.5 * 16000);
    const fixture = decodeWav(new Uint8Array(readFileSync(join(FIXTURES, `${micFixture}.wav`)))).samples;
    // Skip the first 0.3 s (the microphone's start) and compare 3 s of speech.
    const seg = pcm.subarray(4800, 4800 + 48000);
    const whole = alignedCorrelation(fixture, seg, true);
    // Side by side: the fixture through the library's own encoder and decoder (the codec's ceiling).
    const encoded = encodePcm(fixture, { bitrate: 16000, vbr: false });
    const idealDecoder = await OpusDecoder.create();
    const idealAll = await decodePackets(encoded.packets, { decoder: idealDecoder });
    idealDecoder.free();
    const ideal = idealAll.subarray(encoded.preSkip, encoded.preSkip + fixture.length);
    const pieces = piecewiseCorrelation(fixture, ideal, seg, 1600);
    console.log(
      `web app: recorded reply correlates ${whole.r.toFixed(3)} with the microphone fixture (lag ${whole.lag}); ` +
        `${pieces.heard} of ${pieces.rs.length} speech pieces of 100 ms heard; ` +
        `per piece recorded/codec alone: ${pieces.rs.map((r, i) => `${r.toFixed(2)}/${pieces.idealRs[i]!.toFixed(2)}`).join(' ')}; offsets ${pieces.offsets.join(' ')}`,
    );
    expect(pieces.rs.length).toBeGreaterThanOrEqual(15); // 3 s of speech, not a silent capture
    // A third of the pieces heard as well as the codec alone hears them, in order: the recorder
    // path is right; the rest may be spoilt by the machine's load (see piecewiseCorrelation).
    expect(pieces.heard).toBeGreaterThanOrEqual(Math.max(8, Math.ceil(pieces.rs.length / 3)));

    // The outbox waits for both receipts; with both, the message is delivered.
    const outItem = page.locator(`#main li[data-message-id="${reply!.messageId}"]`);
    await outItem.waitFor();
    await companionRelay.acknowledge(reply!.messageId, signDeliveryReceipt(companion, reply!.messageId, reply!.bytes));
    const parentList = await parentRelay.listPending({ waitS: 10 });
    expect(parentList.envelopes.map((e) => e.messageId)).toContain(reply!.messageId);
    const parentBytes = await parentRelay.fetchEnvelope(reply!.messageId);
    expect(openVoiceMessage(parentBytes, parent, { trustedSenders: [pagePub!] }).messageId).toBe(reply!.messageId);
    await parentRelay.acknowledge(reply!.messageId, signDeliveryReceipt(parent, reply!.messageId, parentBytes));
    await collectReceipts(reply!.messageId);
    await shot('messages-sent-360x780');
  });

  it('does not show a message from an identity it has not added as from family', async () => {
    const pageMailbox = mailboxIdOf(pagePub!);
    // The relay refuses a stranger (not on the page's allow-list)…
    const strangerRelay = new HttpRelay({ url: base, identity: stranger, family: [pagePub!] });
    await strangerRelay.ensureMailbox();
    const forged = sealVoiceMessage({ audio: toyOgg, from: stranger, to: [pagePub!] });
    const forgedId = toHex(forged.subarray(5, 21));
    await expect(strangerRelay.upload(forgedId, forged)).rejects.toMatchObject({ code: 'RELAY_SENDER_NOT_ALLOWED' });
    // …and when a breached relay delivers it anyway, the page does not treat it as family.
    const now = Date.now();
    const put = await relay.store.putEnvelope(
      { messageId: forgedId, sender: toHex(stranger.signPublicKey), bytes: forged, hash: sha512(forged), receivedAt: now, expiresAt: now + 86_400_000, to: [pageMailbox] },
      { maxEnvelopes: 1000, maxBytes: 64 * 1024 * 1024 },
    );
    expect(put.result).toBe('stored');
    // A real message right after it wakes the page's long poll.
    const real = sealVoiceMessage({ audio: toyOgg, from: companion, to: [pagePub!] });
    const realId = toHex(real.subarray(5, 21));
    await companionRelay.upload(realId, real);
    await page.locator(`li[data-message-id="${realId}"]`).waitFor({ timeout: 30_000 });
    // The stranger's message is either not shown, or shown as not from family and not playable.
    const strangerItem = page.locator(`li[data-message-id="${forgedId}"]`);
    await expect.poll(async () => (await strangerItem.count()) === 0 || (await strangerItem.getAttribute('data-trusted')) === 'false').toBe(true);
    if ((await strangerItem.count()) > 0) {
      expect(await strangerItem.textContent()).not.toContain(`From ${companion.name}`);
      expect(await strangerItem.getByRole('button', { name: 'Play' }).count()).toBe(0);
    }
    expect(await page.locator('li[data-trusted="true"]', { hasText: 'Unknown' }).count()).toBe(0);
  });

  it('keeps the identity and the inbox across a reload; screenshots at 360 × 780 and 1280 × 800', async () => {
    const ids = await page.locator('#main li[data-trusted="true"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-message-id')));
    expect(ids).toContain(sentId);
    await page.reload();
    await page.getByRole('heading', { name: 'Messages', exact: true }).waitFor();
    await expect.poll(() => page.locator('#me').textContent()).toContain('Grandma Rose');
    for (const id of ids) await page.locator(`li[data-message-id="${id}"]`).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Family' }).click();
    await page.getByRole('heading', { name: 'Family', exact: true }).waitFor();
    expect(await page.getByLabel('Your key code (text)').inputValue()).toBe(familyKeyCode(pagePub!));
    expect(await page.locator('#members li').count()).toBe(2);

    await page.setViewportSize({ width: 1280, height: 800 });
    await shot('family-1280x800');
    await page.getByRole('navigation').getByRole('link', { name: 'Messages' }).click();
    await page.getByRole('heading', { name: 'Messages', exact: true }).waitFor();
    await shot('messages-1280x800');
    await page.getByRole('navigation').getByRole('link', { name: 'Backup' }).click();
    await page.getByRole('heading', { name: 'Backup', exact: true }).waitFor();
    await expectLabelled();
    await shot('backup-1280x800');
    await page.setViewportSize({ width: 360, height: 780 });
    await shot('backup-360x780');
    await expectNoHorizontalScroll();
  });

  it('backs the identity up as a code or a file and restores it in a fresh browser profile', async () => {
    await page.getByRole('button', { name: 'Show backup code' }).click();
    const code = await page.getByLabel('Your backup code (secret)').inputValue();
    expect(code).toMatch(/^PLFB1-/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download backup file' }).click()]);
    const file = join(work, 'backup.json');
    await download.saveAs(file);

    for (const how of ['code', 'file'] as const) {
      const fresh = await browser.newContext({ viewport: { width: 360, height: 780 } });
      fresh.on('request', (r) => requests.push(r.url()));
      try {
        const p = await fresh.newPage();
        await p.goto(`${base}/app/`);
        await p.getByRole('heading', { name: 'Welcome', exact: true }).waitFor();
        if (how === 'code') await p.getByLabel('Or paste your backup code').fill(code.toLowerCase());
        else await p.getByLabel('Backup file').setInputFiles(file);
        await p.getByRole('button', { name: 'Restore' }).click();
        await expect.poll(() => p.locator('#me').textContent()).toContain('Grandma Rose');
        await p.getByRole('navigation').getByRole('link', { name: 'Family' }).click();
        expect(await p.getByLabel('Your key code (text)').inputValue()).toBe(familyKeyCode(pagePub!));
        // The file brings the family back; the code is the key alone.
        await expect.poll(() => p.locator('#members li.member').count()).toBe(how === 'file' ? 2 : 0);
      } finally {
        await fresh.close();
      }
    }
  });

  it('encodes in the browser with the library’s encoder: the same Opus packets as Node', async () => {
    const worker = readdirSync(join(appDir, 'assets')).find((f) => f.startsWith('encode-worker'));
    expect(worker).toBeDefined();
    const speech = decodeWav(new Uint8Array(readFileSync(join(FIXTURES, `${toyFixture}.wav`)))).samples.subarray(0, 16000);
    const ogg = await page.evaluate(
      async ([url, pcm]: [string, number[]]) => {
        const w = new (window as any).Worker(url, { type: 'module' });
        const out = await new Promise<number[] | string>((resolve) => {
          w.onmessage = (e: any) => resolve(e.data.error ?? Array.from(e.data.ogg as Uint8Array));
          w.onerror = (e: any) => resolve(`worker error: ${e.message}`);
          w.postMessage({ id: 1, pcm: Int16Array.from(pcm) });
        });
        w.terminate();
        return out;
      },
      [`${base}/app/assets/${worker}`, Array.from(speech)] as [string, number[]],
    );
    if (typeof ogg === 'string') throw new Error(ogg);
    const web = readOggOpus(Uint8Array.from(ogg));
    const node = encodePcm(speech); // the library's defaults: 16 kbit/s CBR, mono 16 kHz, 20 ms
    expect(web.head.preSkip).toBe(312);
    expect(web.packets.length).toBe(node.packets.length);
    web.packets.forEach((p, i) => expect(Buffer.from(p).equals(Buffer.from(node.packets[i]!)), `packet ${i}`).toBe(true));
  });

  it('when offline: a clear error, the message waits in the outbox (also across an offline reload) and goes out when back online', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Messages' }).click();
    await page.getByRole('heading', { name: 'Messages', exact: true }).waitFor();
    // The service worker has the app (an offline reload needs it).
    const swState = (): Promise<string> =>
      page.evaluate(async () => {
        const r = await navigator.serviceWorker.getRegistration();
        return `${r?.active?.state ?? r?.installing?.state ?? r?.waiting?.state ?? 'none'}/${navigator.serviceWorker.controller ? 'controlled' : 'uncontrolled'}`;
      });
    await expect.poll(swState, { timeout: 30_000 }).toBe('activated/controlled');

    const step = (what: string): void => console.log(`web app offline test: ${what}`);
    step('going offline');
    await context.setOffline(true);
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('offline');
    await page.getByLabel(parent.name).uncheck();
    await page.getByLabel(companion.name).check();
    await page.getByRole('button', { name: 'Record', exact: true }).click();
    await expect.poll(() => page.locator('#rec-time').textContent(), { timeout: 30_000 }).toMatch(/^0:0[2-9]$/);
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => page.locator('#send-button').isEnabled(), { timeout: 30_000 }).toBe(true);
    const before = new Set(await page.locator('#main li[data-message-id]').evaluateAll((els: any[]) => els.map((e) => e.getAttribute('data-message-id'))));
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 60_000 }).toMatch(/Not sent yet: you are offline/);
    let id: string | undefined;
    await expect
      .poll(async () => {
        const failed = await page.locator('#main li[data-state="failed"]', { hasText: 'you are offline' }).evaluateAll((els: any[]) => els.map((e) => e.getAttribute('data-message-id')));
        id = failed.find((x: string) => !before.has(x));
        return id !== undefined;
      })
      .toBe(true);
    await shot('offline-360x780');

    step(`reloading offline, ${id} waits`);
    await page.reload();
    await page.getByRole('heading', { name: 'Messages', exact: true }).waitFor();
    await expect.poll(() => page.locator('#me').textContent()).toContain('Grandma Rose');
    await page.locator(`#main li[data-message-id="${id}"]`).waitFor();

    step('back online');
    await context.setOffline(false);
    await page.locator(`#main li[data-message-id="${id}"][data-state="waiting"]`).waitFor({ timeout: 60_000 });
    step('uploaded; the companion receives it');
    const list = await companionRelay.listPending({ waitS: 10 });
    expect(list.envelopes.map((e) => e.messageId)).toContain(id);
    const bytes = await companionRelay.fetchEnvelope(id!);
    expect(openVoiceMessage(bytes, companion, { trustedSenders: [pagePub!] }).recipients.length).toBe(1);
    await companionRelay.acknowledge(id!, signDeliveryReceipt(companion, id!, bytes));
    step('acknowledged; the page collects the receipt');
    await collectReceipts(id!);
  });

  it('deletes a message, and forgets everything on this device on request', async () => {
    page.on('dialog', (d) => void d.accept());
    await page.getByRole('navigation').getByRole('link', { name: 'Messages' }).click();
    const first = page.locator('#main li[data-trusted="true"]').first();
    const id = await first.getAttribute('data-message-id');
    const before = await page.locator('#main li[data-trusted="true"]').count();
    await first.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.locator(`li[data-message-id="${id}"]`).count()).toBe(0);
    expect(await page.locator('#main li[data-trusted="true"]').count()).toBe(before - 1);

    await page.getByRole('navigation').getByRole('link', { name: 'Backup' }).click();
    await page.getByRole('button', { name: 'Delete everything' }).click();
    await page.getByRole('heading', { name: 'Welcome', exact: true }).waitFor();
    // The page opened a new, empty database on the welcome screen.
    const left = await page.evaluate(async () => {
      const req = (window as any).indexedDB.open('plushlink');
      const d: any = await new Promise((resolve, reject) => {
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const stores = ['identity', 'contacts', 'inbox', 'outbox'];
      const tx = d.transaction(stores, 'readonly');
      const counts = await Promise.all(
        stores.map((n) => new Promise<number>((resolve) => {
          const c = tx.objectStore(n).count();
          c.onsuccess = () => resolve(c.result);
        })),
      );
      d.close();
      return counts;
    });
    expect(left).toEqual([0, 0, 0, 0]);
  });

  it('made no request to any other origin, and threw no page error', () => {
    const origin = new URL(base).origin;
    const foreign = requests.filter((u) => /^https?:/.test(u) && new URL(u).origin !== origin);
    expect(foreign).toEqual([]);
    expect(requests.length).toBeGreaterThan(10);
    expect(pageErrors).toEqual([]);
  });
});
