/**
 * Family key codes as QR codes (docs/MESSAGES.md §2.1): drawn with `qrcode` (the package the
 * library's CLI uses; level M, alphanumeric mode) and read with jsQR from the camera or from a
 * photo.
 */
import QRCode from 'qrcode';
import jsQR from 'jsqr';

/** Draws `text` as a QR code on a canvas (error correction M, 4-module quiet zone). */
export async function drawQr(canvas: HTMLCanvasElement, text: string, size = 264): Promise<void> {
  await QRCode.toCanvas(canvas, text, { errorCorrectionLevel: 'M', margin: 4, width: size, color: { dark: '#000000', light: '#ffffff' } });
}

/** Finds a QR code in an image; returns its text or undefined. */
export function readQr(image: ImageData): string | undefined {
  const r = jsQR(image.data, image.width, image.height, { inversionAttempts: 'attemptBoth' });
  return r?.data || undefined;
}

/** Reads a QR code from an image file (a photo or a screenshot). */
export async function readQrFromFile(file: Blob): Promise<string | undefined> {
  const bitmap = await createImageBitmap(file);
  try {
    const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    const w = Math.max(1, Math.round(bitmap.width * scale));
    const h = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    if (!g) return undefined;
    g.drawImage(bitmap, 0, 0, w, h);
    return readQr(g.getImageData(0, 0, w, h));
  } finally {
    bitmap.close();
  }
}

/** A running camera scan. */
export interface CameraScan {
  /** Resolves with the first QR text that `accept` accepts; rejects if the camera fails. */
  result: Promise<string>;
  stop(): void;
}

/**
 * Scans with the camera into `video` until a QR code whose text `accept` returns true for is seen.
 * Frames are read a few times a second (requestAnimationFrame, every other frame).
 */
export async function scanWithCamera(video: HTMLVideoElement, accept: (text: string) => boolean): Promise<CameraScan> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  video.srcObject = stream;
  video.muted = true;
  video.playsInline = true;
  await video.play();
  const canvas = document.createElement('canvas');
  const g = canvas.getContext('2d', { willReadFrequently: true });
  let stopped = false;
  let raf = 0;
  const stop = (): void => {
    stopped = true;
    cancelAnimationFrame(raf);
    for (const t of stream.getTracks()) t.stop();
    video.srcObject = null;
  };
  const result = new Promise<string>((resolve) => {
    let tick = 0;
    const frame = (): void => {
      if (stopped) return;
      raf = requestAnimationFrame(frame);
      if (tick++ % 2 !== 0 || !g || video.videoWidth === 0) return;
      const scale = Math.min(1, 800 / Math.max(video.videoWidth, video.videoHeight));
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      g.drawImage(video, 0, 0, canvas.width, canvas.height);
      const text = readQr(g.getImageData(0, 0, canvas.width, canvas.height));
      if (text !== undefined && accept(text)) {
        stop();
        resolve(text);
      }
    };
    raf = requestAnimationFrame(frame);
  });
  return { result, stop };
}
