/**
 * The relative's app: views (welcome, messages, family, backup) over the identity, the contacts,
 * the inbox and the outbox in IndexedDB, and the relay connection (sync.ts). Plain DOM, semantic
 * HTML: headings per view, labelled controls, a polite status region and an alert region, focus
 * moved to the view's heading on navigation (docs/RELAY.md "The web app").
 */
import { addContact, contactKey, listContacts, removeContact } from './contacts.js';
import { db, deleteEverything, type ContactRecord, type InboxRecord, type OutboxRecord } from './db.js';
import { backupCode, backupFileText, createIdentity, loadIdentity, parseBackup, saveIdentity } from './identity.js';
import {
  familyKeyCode,
  familyKeyFingerprint,
  openVoiceMessage,
  parseFamilyKeyCode,
  PlushlinkError,
  sameFamilyKey,
  sealVoiceMessage,
  toHex,
  type FamilyIdentity,
  type FamilyPublicKey,
} from './lib.js';
import { drawQr, readQrFromFile, scanWithCamera, type CameraScan } from './qr.js';
import { decodeOgg, playPcm, stopPlayback } from './audio/player.js';
import { microphoneErrorText, Recorder, type Recording } from './audio/recorder.js';
import { encodeOggOpus } from './audio/encoder.js';
import { Sync, type ConnectionState } from './sync.js';
import { download, field, formatSeconds, formatTime, h, keepFocus, replace } from './ui/dom.js';

type View = 'messages' | 'family' | 'backup';
const VIEWS: View[] = ['messages', 'family', 'backup'];
/** Longest reply, seconds (a 1 MiB envelope, the relay's default limit, holds ~8 minutes). */
export const MAX_RECORD_SECONDS = 120;

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const meLine = document.getElementById('me')!;
const statusEl = document.getElementById('status')!;
const alertEl = document.getElementById('alert')!;
const connectionEl = document.getElementById('connection')!;

let identity: FamilyIdentity | undefined;
let sync: Sync | undefined;
let view: View = 'messages';
let contacts: ContactRecord[] = [];

let statusTimer = 0;
/** Says something to screen-reader users (and shows it for a while). */
export function announce(text: string): void {
  alertEl.textContent = '';
  statusEl.textContent = text;
  clearTimeout(statusTimer);
  statusTimer = window.setTimeout(() => {
    if (statusEl.textContent === text) statusEl.textContent = '';
  }, 10_000);
}
/** Shows an error (role=alert). */
export function fail(text: string): void {
  statusEl.textContent = '';
  alertEl.textContent = text;
}
function clearMessages(): void {
  statusEl.textContent = '';
  alertEl.textContent = '';
}

function errorText(e: unknown): string {
  if (e instanceof PlushlinkError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

// ------------------------------------------------------------------------------------------------
// Start-up and navigation

export async function startApp(): Promise<void> {
  identity = await loadIdentity();
  if (!identity) {
    renderWelcome();
    return;
  }
  await enterApp();
}

async function enterApp(): Promise<void> {
  if (!identity) return;
  contacts = await listContacts();
  meLine.hidden = false;
  replace(meLine, 'You are ', h('strong', {}, identity.name));
  nav.hidden = false;
  sync?.stop();
  sync = new Sync(identity, () => contacts);
  sync.on('state', (s: ConnectionState, detail?: string) => showConnection(s, detail));
  sync.on('inbox', () => void refreshInbox());
  sync.on('outbox', () => void refreshOutbox());
  sync.on('contacts', async () => {
    contacts = await listContacts();
    if (view === 'family') void refreshContacts();
  });
  sync.start();
  window.addEventListener('hashchange', onHash);
  await onHash();
  void navigator.storage?.persist?.().catch(() => undefined);
}

function showConnection(s: ConnectionState, detail?: string): void {
  connectionEl.dataset.state = s;
  connectionEl.textContent =
    s === 'online'
      ? 'Connected: new messages arrive by themselves.'
      : s === 'offline'
        ? 'Offline: messages you send wait here and go out when the connection is back.'
        : s === 'connecting'
          ? 'Connecting to the relay…'
          : `The relay cannot be reached${detail ? ` (${detail})` : ''}. Retrying…`;
}

/** The navigation being rendered; each one waits for the one before. */
let navigation: Promise<void> = Promise.resolve();

/**
 * Shows the view the location hash names. Navigations run one after another, each reading the
 * hash when its turn comes: a slow render (the message list after a restore) never lands on top
 * of a later one (a click on Family right after), so the page always ends on the view asked last.
 */
function onHash(): Promise<void> {
  navigation = navigation.then(showHashView, showHashView);
  return navigation;
}

async function showHashView(): Promise<void> {
  const wanted = location.hash.slice(1) as View;
  const next = VIEWS.includes(wanted) ? wanted : 'messages';
  const changed = next !== view || main.dataset.view !== next;
  view = next;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  stopCameraScan();
  if (changed) alertEl.textContent = '';
  if (view === 'messages') await renderMessages();
  else if (view === 'family') await renderFamily();
  else renderBackup();
  main.dataset.view = view;
  if (changed) main.querySelector<HTMLElement>('h2')?.focus();
}

function heading(text: string): HTMLHeadingElement {
  return h('h2', { tabindex: -1 }, text);
}

// ------------------------------------------------------------------------------------------------
// Welcome: create or restore

function renderWelcome(): void {
  nav.hidden = true;
  meLine.hidden = true;
  connectionEl.textContent = '';
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 64, autocomplete: 'name' });
  const create = h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'create-h',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const n = name.value.trim();
        if (!n) return fail('Please enter your name.');
        try {
          identity = await createIdentity(n);
          announce(`Your family key was created, ${identity.name}. Show your key code to the child's parent to be added.`);
          location.hash = '#family';
          await enterApp();
        } catch (err) {
          fail(`Could not create your key: ${errorText(err)}`);
        }
      },
    },
    h('h3', { id: 'create-h' }, 'Create your family key'),
    h('p', {}, 'Your key stays on this device. It has no password: keep a backup (you will find it under Backup).'),
    field('Your name, as the family will see it', name, 'For example "Grandma Rose".'),
    h('button', { type: 'submit', class: 'primary' }, 'Create my family key'),
  );
  const file = h('input', { type: 'file', accept: '.json,application/json,text/plain' });
  const code = h('textarea', { rows: 4, spellcheck: 'false', autocapitalize: 'characters' });
  const restore = h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'restore-h',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const text = file.files?.[0] ? await file.files[0].text() : code.value;
          if (!text.trim()) return fail('Choose a backup file or paste a backup code.');
          const backup = parseBackup(text);
          identity = backup.identity;
          await saveIdentity(identity);
          for (const m of backup.family) await addContact(m, m.name);
          announce(`Welcome back, ${identity.name}. Your family key was restored${backup.family.length ? ` with ${backup.family.length} family members` : ''}.`);
          location.hash = '#messages';
          await enterApp();
        } catch (err) {
          fail(`This backup cannot be restored: ${errorText(err)}`);
        }
      },
    },
    h('h3', { id: 'restore-h' }, 'Restore from a backup'),
    field('Backup file', file),
    field('Or paste your backup code', code),
    h('button', { type: 'submit' }, 'Restore'),
  );
  replace(main, heading('Welcome'), h('p', {}, 'Send and receive voice messages with a child’s plush toy. Messages are sealed on this device: the relay in between cannot listen to them.'), create, restore);
  main.dataset.view = 'welcome';
  name.focus();
}

// ------------------------------------------------------------------------------------------------
// Messages: inbox, record a reply, outbox

const inboxList = h('ul', { class: 'list', 'aria-label': 'Received messages' });
const outboxList = h('ul', { class: 'list', 'aria-label': 'Messages waiting to be delivered' });
let playing: string | undefined;

async function renderMessages(): Promise<void> {
  const inbox = h('section', { 'aria-labelledby': 'inbox-h' }, h('h3', { id: 'inbox-h' }, 'Inbox'), inboxList);
  const outbox = h('section', { 'aria-labelledby': 'outbox-h' }, h('h3', { id: 'outbox-h' }, 'Sent messages'), outboxList);
  replace(main, heading('Messages'), inbox, renderRecorder(), outbox);
  await Promise.all([refreshInbox(), refreshOutbox()]);
}

function contactOf(senderHex: string): ContactRecord | undefined {
  return contacts.find((c) => c.signPublicKey === senderHex);
}

async function refreshInbox(): Promise<void> {
  if (view !== 'messages') return;
  const all = (await (await db()).getAll('inbox')).sort((a, b) => b.createdAt - a.createdAt || b.receivedAt - a.receivedAt);
  if (all.length === 0) {
    replace(inboxList, h('li', { class: 'empty' }, 'No messages yet. New messages appear here by themselves.'));
    return;
  }
  keepFocus(inboxList, () => replace(inboxList, ...all.map(inboxItem)));
}

function inboxItem(m: InboxRecord): HTMLLIElement {
  const from = contactOf(m.sender);
  const seconds = m.audioLength > 0 ? estimateSeconds(m) : 0;
  const title = from ? `From ${from.name}` : 'Unknown sender: not in your family';
  const id = `msg-${m.messageId}`;
  const isPlaying = playing === m.messageId;
  const play = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      'aria-describedby': id,
      onclick: () => void togglePlay(m),
    },
    isPlaying ? 'Stop' : 'Play',
  );
  const del = h('button', { type: 'button', 'aria-describedby': id, onclick: () => void deleteMessage(m) }, 'Delete');
  return h(
    'li',
    { class: `message${from ? '' : ' stranger'}${m.playedAt ? '' : ' unplayed'}`, 'data-message-id': m.messageId, 'data-trusted': from ? 'true' : 'false' },
    h(
      'div',
      { id, class: 'message-text' },
      h('strong', { class: 'from' }, title),
      ' ',
      h('time', { datetime: new Date(m.createdAt).toISOString() }, formatTime(m.createdAt)),
      seconds ? h('span', { class: 'duration' }, ` · ${formatSeconds(seconds)}`) : null,
      m.playedAt ? null : h('span', { class: 'badge' }, ' · new'),
    ),
    from
      ? h('div', { class: 'actions' }, play, del)
      : h('div', { class: 'actions' }, h('p', { class: 'warn' }, 'Not played: only messages from people you added can be opened. Safety number of the sender’s key is not known to you.'), del),
  );
}

function estimateSeconds(m: InboxRecord): number {
  // 16 kbit/s CBR voice ≈ 2 kB per second (docs/MESSAGES.md §1: the length shows the duration).
  return m.audioLength / 2000;
}

async function togglePlay(m: InboxRecord): Promise<void> {
  if (!identity) return;
  if (playing === m.messageId) {
    stopPlayback();
    return;
  }
  const from = contactOf(m.sender);
  if (!from) return fail('This message is not from a member of your family and cannot be played.');
  try {
    announce(`Opening the message from ${from.name}…`);
    const opened = openVoiceMessage(m.envelope, identity, { trustedSenders: [contactKey(from)] });
    const pcm = await decodeOgg(opened.audio);
    playing = m.messageId;
    await (await db()).put('inbox', { ...m, playedAt: m.playedAt ?? Date.now() });
    void refreshInbox();
    announce(`Playing the message from ${from.name} (${formatSeconds(pcm.length / 16000)}).`);
    await playPcm(pcm);
    if (playing === m.messageId) announce('Finished playing.');
  } catch (err) {
    fail(`This message cannot be played: ${errorText(err)}`);
  } finally {
    if (playing === m.messageId) playing = undefined;
    void refreshInbox();
  }
}

async function deleteMessage(m: InboxRecord): Promise<void> {
  if (!confirm('Delete this message from this device?')) return;
  if (playing === m.messageId) stopPlayback();
  await (await db()).delete('inbox', m.messageId);
  announce('Message deleted.');
  await refreshInbox();
  main.querySelector<HTMLElement>('#inbox-h')?.focus();
}

// Record a reply ----------------------------------------------------------------------------------

let recorder: Recorder | undefined;
let recording: Recording | undefined;
let recordTimer = 0;

function renderRecorder(): HTMLElement {
  const section = h('section', { 'aria-labelledby': 'record-h', class: 'card recorder' }, h('h3', { id: 'record-h' }, 'Record a reply'));
  if (contacts.length === 0) {
    section.append(h('p', {}, 'Add a family member first (under ', h('a', { href: '#family' }, 'Family'), '), then you can send them voice messages.'));
    return section;
  }
  const boxes = contacts.map((c, i) =>
    h(
      'div',
      { class: 'check' },
      h('input', { type: 'checkbox', id: `to-${c.id}`, name: 'to', value: c.id, checked: i === 0 || contacts.length === 1 }),
      h('label', { for: `to-${c.id}` }, c.name),
    ),
  );
  const to = h('fieldset', {}, h('legend', {}, 'Send to'), ...boxes);
  const level = h('meter', { min: 0, max: 1, value: 0, id: 'mic-level', 'aria-label': 'Microphone level' });
  const time = h('span', { id: 'rec-time', 'aria-live': 'off' }, '0:00');
  const recordBtn = h('button', { type: 'button', class: 'record', id: 'record-button', 'aria-pressed': 'false' }, 'Record');
  const listen = h('button', { type: 'button', id: 'listen-button', disabled: true }, 'Listen');
  const send = h('button', { type: 'button', class: 'primary', id: 'send-button', disabled: true }, 'Send');
  const discard = h('button', { type: 'button', id: 'discard-button', disabled: true }, 'Discard');
  const progress = h('progress', { id: 'send-progress', max: 4, value: 0, hidden: true, 'aria-label': 'Sending' });
  const progressText = h('p', { id: 'send-progress-text', class: 'progress-text', 'aria-live': 'polite' });

  const setRecorded = (r: Recording | undefined): void => {
    recording = r;
    listen.disabled = !r;
    send.disabled = !r;
    discard.disabled = !r;
    time.textContent = formatSeconds(r?.seconds ?? 0);
  };
  setRecorded(recording);

  recordBtn.addEventListener('click', async () => {
    clearMessages();
    if (recorder) {
      const r = recorder;
      recorder = undefined;
      clearInterval(recordTimer);
      recordBtn.textContent = 'Record';
      recordBtn.setAttribute('aria-pressed', 'false');
      level.value = 0;
      const rec = await r.stop();
      if (rec.seconds < 0.3) {
        setRecorded(undefined);
        return fail('The recording is too short. Press Record, speak, then press Stop.');
      }
      setRecorded(rec);
      announce(`Recorded ${formatSeconds(rec.seconds)}. Listen to it, or press Send.`);
      send.focus();
      return;
    }
    try {
      stopPlayback();
      recorder = await Recorder.start();
    } catch (e) {
      recorder = undefined;
      return fail(microphoneErrorText(e));
    }
    setRecorded(undefined);
    recorder.onLevel = (p) => (level.value = Math.min(1, p * 1.5));
    recordBtn.textContent = 'Stop';
    recordBtn.setAttribute('aria-pressed', 'true');
    announce('Recording. Press Stop when you are done.');
    recordTimer = window.setInterval(() => {
      if (!recorder) return;
      time.textContent = formatSeconds(recorder.seconds);
      if (recorder.seconds >= MAX_RECORD_SECONDS) recordBtn.click();
    }, 250);
  });

  listen.addEventListener('click', async () => {
    if (recording) await playPcm(recording.pcm);
  });
  discard.addEventListener('click', () => {
    setRecorded(undefined);
    announce('Recording discarded.');
    recordBtn.focus();
  });
  send.addEventListener('click', async () => {
    if (!recording || !identity || !sync) return;
    const chosen = contacts.filter((c) => (to.querySelector<HTMLInputElement>(`#to-${CSS.escape(`${c.id}`)}`) ?? { checked: false }).checked);
    if (chosen.length === 0) return fail('Choose at least one family member to send to.');
    send.disabled = true;
    recordBtn.disabled = true;
    progress.hidden = false;
    const step = (n: number, text: string): void => {
      progress.value = n;
      progressText.textContent = text;
    };
    try {
      step(1, 'Encoding…');
      const ogg = await encodeOggOpus(recording.pcm);
      step(2, 'Sealing for ' + chosen.map((c) => c.name).join(', ') + '…');
      const envelope = sealVoiceMessage({ audio: ogg, from: identity, to: chosen.map(contactKey) });
      const record: OutboxRecord = {
        messageId: '',
        envelope,
        createdAt: Date.now(),
        recipients: chosen.map((c) => ({ contactId: c.id, mailboxId: '', name: c.name })),
        delivered: [],
        seconds: recording.seconds,
      };
      step(3, 'Uploading…');
      const outcome = await sync.send(record, (sent, total) => {
        progressText.textContent = `Uploading… ${Math.round((100 * sent) / Math.max(1, total))}%`;
      });
      if (outcome === 'uploaded') {
        step(4, 'Sent.');
        announce(`Sent to ${chosen.map((c) => c.name).join(', ')}. It is marked delivered once their app has it.`);
        setRecorded(undefined);
      } else {
        step(0, '');
        fail(`Not sent yet: ${outcome}. The message is saved on this device and is sent again automatically.`);
        setRecorded(undefined);
      }
    } catch (err) {
      step(0, '');
      fail(`Could not send: ${errorText(err)}`);
      send.disabled = false;
    } finally {
      recordBtn.disabled = false;
      progress.hidden = progress.value === 4 ? false : true;
      void refreshOutbox();
    }
  });

  section.append(
    to,
    h('div', { class: 'record-row' }, recordBtn, h('label', { for: 'mic-level', class: 'visually-hidden' }, 'Microphone level'), level, time),
    h('div', { class: 'actions' }, listen, send, discard),
    progress,
    progressText,
  );
  return section;
}

async function refreshOutbox(): Promise<void> {
  if (view !== 'messages') return;
  const all = (await (await db()).getAll('outbox')).sort((a, b) => b.createdAt - a.createdAt);
  const sent = sync?.recentlyDelivered() ?? [];
  if (all.length === 0 && sent.length === 0) {
    replace(outboxList, h('li', { class: 'empty' }, 'Nothing waiting to be delivered.'));
    return;
  }
  keepFocus(outboxList, () => replace(
    outboxList,
    ...all.map((m) => {
      const waiting = m.recipients.filter((r) => !m.delivered.includes(r.mailboxId)).map((r) => r.name);
      return h(
        'li',
        { class: 'message', 'data-message-id': m.messageId, 'data-state': m.lastError ? 'failed' : 'waiting' },
        h('strong', {}, `To ${m.recipients.map((r) => r.name).join(', ')}`),
        ' ',
        h('time', { datetime: new Date(m.createdAt).toISOString() }, formatTime(m.createdAt)),
        h('span', { class: 'duration' }, ` · ${formatSeconds(m.seconds)}`),
        h('p', { class: m.lastError ? 'warn' : 'hint' }, m.lastError ? `Not sent yet: ${m.lastError}. Retrying automatically.` : `Waiting for ${waiting.join(', ')} to receive it.`),
        h('button', { type: 'button', onclick: () => void sync?.syncOutboxNow() }, 'Retry now'),
      );
    }),
    ...sent.map((s) =>
      h(
        'li',
        { class: 'message delivered', 'data-message-id': s.messageId, 'data-state': 'delivered' },
        h('strong', {}, `To ${s.names.join(', ')}`),
        ' ',
        h('span', {}, '· delivered'),
      ),
    ),
  ));
}

// ------------------------------------------------------------------------------------------------
// Family: my key code, add a member, the list

let scan: CameraScan | undefined;
function stopCameraScan(): void {
  scan?.stop();
  scan = undefined;
}

async function renderFamily(): Promise<void> {
  if (!identity) return;
  const code = familyKeyCode(identity);
  const canvas = h('canvas', { role: 'img', 'aria-label': `QR code of your family key code, for ${identity.name}`, class: 'qr' });
  const codeBox = h('textarea', { readonly: true, rows: 4, id: 'my-key-code', spellcheck: 'false', class: 'code' });
  codeBox.value = code;
  const copy = h(
    'button',
    {
      type: 'button',
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(code);
          announce('Your key code was copied.');
        } catch {
          codeBox.select();
          announce('Select the code and copy it.');
        }
      },
    },
    'Copy key code',
  );
  const mine = h(
    'section',
    { 'aria-labelledby': 'mine-h', class: 'card' },
    h('h3', { id: 'mine-h' }, 'Your key code'),
    h('p', {}, 'Let the child’s parent scan this QR code, or send them the code as text.'),
    canvas,
    field('Your key code (text)', codeBox),
    copy,
    h('p', {}, 'Your safety number: ', h('span', { class: 'fingerprint', id: 'my-fingerprint' }, familyKeyFingerprint(identity))),
  );

  const addSection = h('section', { 'aria-labelledby': 'add-h', class: 'card' }, h('h3', { id: 'add-h' }, 'Add a family member'));
  const paste = h('textarea', { rows: 3, spellcheck: 'false', autocapitalize: 'characters', id: 'add-code' });
  const confirmArea = h('div', { id: 'add-confirm' });
  const video = h('video', { class: 'scan-video', hidden: true, 'aria-label': 'Camera view for scanning' });
  const photo = h('input', { type: 'file', accept: 'image/*', id: 'qr-photo' });

  const offer = (text: string): void => {
    let key: FamilyPublicKey;
    try {
      key = parseFamilyKeyCode(text);
    } catch (e) {
      fail(`That is not a valid key code: ${errorText(e)}`);
      return;
    }
    if (identity && sameFamilyKey(key, identity)) {
      fail('That is your own key code. Ask the other person for theirs.');
      return;
    }
    showConfirm(confirmArea, key);
  };
  const pasteForm = h(
    'form',
    {
      onsubmit: (e: Event) => {
        e.preventDefault();
        clearMessages();
        offer(paste.value);
      },
    },
    field('Paste their key code', paste, 'It starts with PLFK:'),
    h('button', { type: 'submit' }, 'Check key code'),
  );
  const scanBtn = h('button', { type: 'button', id: 'scan-button' }, 'Scan their QR code with the camera');
  scanBtn.addEventListener('click', async () => {
    clearMessages();
    if (scan) {
      stopCameraScan();
      video.hidden = true;
      scanBtn.textContent = 'Scan their QR code with the camera';
      return;
    }
    try {
      video.hidden = false;
      scan = await scanWithCamera(video, (t) => t.trim().toUpperCase().startsWith('PLFK:'));
      scanBtn.textContent = 'Stop scanning';
      announce('Point the camera at their QR code.');
      const text = await scan.result;
      scan = undefined;
      video.hidden = true;
      scanBtn.textContent = 'Scan their QR code with the camera';
      offer(text);
    } catch (e) {
      scan = undefined;
      video.hidden = true;
      fail(`The camera cannot be used: ${errorText(e)}`);
    }
  });
  photo.addEventListener('change', async () => {
    clearMessages();
    const f = photo.files?.[0];
    if (!f) return;
    try {
      const text = await readQrFromFile(f);
      if (!text) return fail('No QR code was found in that picture.');
      offer(text);
    } catch (e) {
      fail(`That picture cannot be read: ${errorText(e)}`);
    } finally {
      photo.value = '';
    }
  });
  addSection.append(pasteForm, h('div', { class: 'scan' }, scanBtn, video), field('Or read a QR code from a photo', photo), confirmArea);

  const list = h('section', { 'aria-labelledby': 'members-h' }, h('h3', { id: 'members-h' }, 'Your family'), h('ul', { class: 'list', id: 'members' }));
  replace(main, heading('Family'), mine, addSection, list);
  await drawQr(canvas, code).catch((e) => fail(`Cannot draw the QR code: ${errorText(e)}`));
  await refreshContacts();
}

function showConfirm(area: HTMLElement, key: FamilyPublicKey): void {
  const name = h('input', { type: 'text', maxlength: 64, id: 'add-name' });
  name.value = key.name;
  const known = contacts.find((c) => c.signPublicKey === toHex(key.signPublicKey));
  replace(
    area,
    h(
      'form',
      {
        class: 'confirm',
        'aria-labelledby': 'confirm-h',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const rec = await addContact(key, name.value);
          contacts = await listContacts();
          replace(area);
          announce(`${rec.name} was added to your family.`);
          await sync?.allow(rec);
          await refreshContacts();
          main.querySelector<HTMLElement>('#members-h')?.focus();
        },
      },
      h('h4', { id: 'confirm-h', tabindex: -1 }, `Add ${key.name}?`),
      h('p', {}, 'Their safety number:'),
      h('p', { class: 'fingerprint', id: 'their-fingerprint' }, familyKeyFingerprint(key)),
      h('p', {}, `Compare it with the number on ${key.name}’s screen, in person or on a video call. Add them only if every digit is the same.`),
      known ? h('p', { class: 'hint' }, `Already in your family as ${known.name}.`) : null,
      field('Name to show', name),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, `The numbers match: add`), h('button', { type: 'button', onclick: () => replace(area) }, 'Cancel')),
    ),
  );
  area.querySelector<HTMLElement>('h4')?.focus();
}

async function refreshContacts(): Promise<void> {
  const ul = main.querySelector('#members');
  if (!ul) return;
  if (contacts.length === 0) {
    replace(ul, h('li', { class: 'empty' }, 'Nobody yet. Add the child’s parent or companion app with their key code.'));
    return;
  }
  replace(
    ul,
    ...contacts.map((c) =>
      h(
        'li',
        { class: 'member', 'data-contact': c.id },
        h('strong', {}, c.name),
        h('p', {}, 'Safety number: ', h('span', { class: 'fingerprint' }, c.fingerprint)),
        h('p', { class: 'hint' }, c.allowed ? 'Can send you messages.' : 'Not yet registered with the relay (retrying).'),
        h(
          'button',
          {
            type: 'button',
            'aria-label': `Remove ${c.name}`,
            onclick: async () => {
              if (!confirm(`Remove ${c.name}? Their messages will no longer reach you.`)) return;
              await removeContact(c.id);
              contacts = await listContacts();
              await sync?.disallow(c);
              announce(`${c.name} was removed.`);
              await refreshContacts();
            },
          },
          'Remove',
        ),
      ),
    ),
  );
}

// ------------------------------------------------------------------------------------------------
// Backup

function renderBackup(): void {
  if (!identity) return;
  const id = identity;
  const codeOut = h('textarea', { readonly: true, rows: 6, id: 'backup-code', class: 'code', hidden: true, spellcheck: 'false' });
  const codeLabel = h('label', { for: 'backup-code', hidden: true }, 'Your backup code (secret)');
  const show = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'backup-code' }, 'Show backup code');
  show.addEventListener('click', () => {
    const open = codeOut.hidden;
    codeOut.hidden = !open;
    codeLabel.hidden = !open;
    codeOut.value = open ? backupCode(id) : '';
    show.textContent = open ? 'Hide backup code' : 'Show backup code';
    show.setAttribute('aria-expanded', String(open));
    if (open) codeOut.focus();
  });
  const file = h('input', { type: 'file', accept: '.json,application/json,text/plain' });
  const pasted = h('textarea', { rows: 4, spellcheck: 'false' });
  replace(
    main,
    heading('Backup'),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'save-h' },
      h('h3', { id: 'save-h' }, 'Keep a backup of your family key'),
      h('p', {}, 'Without it, a new phone or a cleared browser means the family must add you again. Keep it secret: whoever has it can read messages sent to you and send in your name. The file also lists your family; after restoring from the code, add your family again.'),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: () => download(`plushlink-${id.name.replace(/[^\p{L}\p{N}]+/gu, '-')}-backup.json`, backupFileText(id, contacts.map(contactKey))) }, 'Download backup file'), show),
      codeLabel,
      codeOut,
    ),
    h(
      'form',
      {
        class: 'card',
        'aria-labelledby': 'replace-h',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const text = file.files?.[0] ? await file.files[0].text() : pasted.value;
            const backup = parseBackup(text);
            const restored = backup.identity;
            if (!confirm(`Replace the key of ${id.name} on this device with the key of ${restored.name}?`)) return;
            await saveIdentity(restored);
            for (const m of backup.family) await addContact(m, m.name);
            identity = restored;
            announce(`Restored the family key of ${restored.name}.`);
            await enterApp();
          } catch (err) {
            fail(`This backup cannot be restored: ${errorText(err)}`);
          }
        },
      },
      h('h3', { id: 'replace-h' }, 'Restore a backup on this device'),
      field('Backup file', file),
      field('Or paste a backup code', pasted),
      h('button', { type: 'submit' }, 'Restore'),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'forget-h' },
      h('h3', { id: 'forget-h' }, 'Forget this device'),
      h('p', {}, 'Deletes your key, your family list and every message from this browser.'),
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          onclick: async () => {
            if (!confirm('Delete everything plushlink keeps in this browser? Without a backup your key is gone.')) return;
            sync?.stop();
            await deleteEverything();
            location.hash = '';
            location.reload();
          },
        },
        'Delete everything',
      ),
    ),
  );
}

