// Writes tests/unit/data/ndk_dvm_request.json: one encrypted NIP-90 job
// request built and signed exactly the way NDK builds it
// (NDKDVMRequest.encryption(): i, param, output, relays and bid tags moved
// into the content, NIP-44 encrypted to the DVM, ["p", dvm] and
// ["encrypted"] left public), with both secret keys, so the C test
// (tests/unit/test_nip90.c) can decrypt and parse it. The keys are fixed
// test keys; the ciphertext differs on every run (random nonce).
//
// usage (from tests/interop, after setup.sh): node gen_ndk_dvm_fixture.mjs
import { writeFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { default: NDK, NDKDVMRequest, NDKPrivateKeySigner } =
  await import('@nostr-dev-kit/ndk');

const customerSk = '11'.repeat(32);
const providerSk = '22'.repeat(32);
const out = fileURLToPath(
  new URL('../unit/data/ndk_dvm_request.json', import.meta.url));

const customer = new NDKPrivateKeySigner(customerSk);
const provider = new NDKPrivateKeySigner(providerSk);
const ndk = new NDK({ signer: customer });
const dvm = ndk.getUser({ pubkey: (await provider.user()).pubkey });

const req = new NDKDVMRequest(ndk, { kind: 5050 });
req.addInput('What is the capital of France?', 'text');
req.addInput('https://example.com/context.txt', 'url', '', 'context');
req.addParam('model', 'llama3');
req.addParam('max_tokens', '512');
req.output = 'text/plain';
req.bid = 21000;
req.tags.push(['relays', 'wss://relay.example.com', 'wss://nos.lol']);
req.tags.push(['t', 'hearth-fixture']);
const privateTags = req.tags.filter((t) =>
  ['i', 'param', 'output', 'relays', 'bid'].includes(t[0]));
await req.encryption(dvm, customer);
await req.sign(customer);

const ndkVersion = JSON.parse(readFileSync(new URL(
  './node_modules/@nostr-dev-kit/ndk/package.json', import.meta.url))).version;
writeFileSync(out, JSON.stringify({
  generator: `tests/interop/gen_ndk_dvm_fixture.mjs, NDK ${ndkVersion}`,
  customer_sk: customerSk,
  provider_sk: providerSk,
  private_tags: privateTags,
  event: req.rawEvent(),
}, null, 2) + '\n');
console.log(`wrote ${out}`);
