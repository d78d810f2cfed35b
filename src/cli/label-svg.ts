/** The printable toy label: the QR code, the human setup code and the key fingerprint, as SVG. */
import QRCode from 'qrcode';
import type { ToyLabel } from './sim-toy.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The QR code for a terminal (Unicode half blocks). */
export function terminalQr(payload: string): Promise<string> {
  return QRCode.toString(payload, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
}

/**
 * A 320 × 400 SVG label: the QR code (the `PL1:` payload, error correction M), then the setup
 * code in a monospace font and the toy key fingerprint.
 */
export async function labelSvg(label: ToyLabel): Promise<string> {
  const qr = await QRCode.toString(label.qr, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
  // Place the QR's own <svg> (it has a viewBox) as a nested, sized element.
  const nested = qr.trim().replace(/^<svg /, '<svg x="40" y="20" width="240" height="240" ');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="400" viewBox="0 0 320 400">',
    '  <title>plushlink toy label</title>',
    '  <rect width="320" height="400" fill="#ffffff" stroke="#000000" stroke-width="2" rx="12"/>',
    `  ${nested}`,
    '  <text x="160" y="285" text-anchor="middle" font-family="sans-serif" font-size="13">Setup code</text>',
    `  <text x="160" y="312" text-anchor="middle" font-family="monospace" font-size="17" font-weight="bold">${esc(label.code)}</text>`,
    '  <text x="160" y="345" text-anchor="middle" font-family="sans-serif" font-size="11">Toy key fingerprint</text>',
    `  <text x="160" y="365" text-anchor="middle" font-family="monospace" font-size="13">${esc(label.fingerprint)}</text>`,
    '  <text x="160" y="388" text-anchor="middle" font-family="sans-serif" font-size="9">Hold the button, then scan with the plushlink app</text>',
    '</svg>',
    '',
  ].join('\n');
}
