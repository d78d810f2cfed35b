/**
 * A program to copy: an app's own test setup with no hardware. A reference toy on the in-memory
 * radio, paired with a companion by its QR payload, then a reconnect and a control request.
 * Everything comes from the package's public subpaths (README, "Using it in an app").
 *
 * Run it from a checkout: `npx tsx examples/pair-in-memory.ts`.
 */
import { Companion, type DiscoveredToy } from 'plushlink';
import { MemoryKeystore, MemoryRadio, MemoryToyStorage, ReferenceToy } from 'plushlink/testing';
import { formatSetupQr, generateSetupCode, generateX25519KeyPair } from 'plushlink/toy';

const radio = new MemoryRadio();
const identity = generateX25519KeyPair();
const setupCode = generateSetupCode();
const toy = new ReferenceToy({ peripheral: radio.createPeripheral(), identity, setupCode, storage: new MemoryToyStorage() });
await toy.start();
toy.pressButton('hold'); // the physical-presence step: the toy opens its pairing window

const companion = await Companion.open({ central: radio.createCentral(), keystore: new MemoryKeystore(), displayName: "Mum's phone" });
let found: DiscoveredToy | undefined;
for await (const d of companion.scan()) {
  if (d.kind === 'pairing') {
    found = d;
    break;
  }
}
const paired = await companion.pair(found!, formatSetupQr(setupCode, identity.publicKey), { name: 'Bunny' });
console.log(`paired "${paired.toy.name}" as ${paired.toy.role} in ${paired.roundTrips} round trip`);
await paired.close();

// later: found again by its rotating advertising tag, one round trip
const session = await companion.connect('Bunny');
await session.setVolume(60);
console.log(`reconnected in ${session.roundTrips} round trip; battery ${(await session.battery()).percent} %`);
await session.close();

await toy.stop();
await radio.close();
