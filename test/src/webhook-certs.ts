/**
 * Certificates for admission webhooks in the test bed: a CA (what a MutatingWebhookConfiguration's
 * caBundle holds, what cert-manager's CA Issuer signs with) and serving certificates for a Service's
 * DNS name, issued by that CA. RSA keys from node:crypto, X.509 from node-forge (as emulator/tls.ts).
 */
import forge from 'node-forge';
import { rsaKeys, serial } from './emulator/tls.js';

export interface TestCa {
  pem: string;
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

export interface ServingPair {
  certPem: string;
  keyPem: string;
}

export function makeCa(commonName = 'vmprobe-webhook-ca'): TestCa {
  const k = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.pub;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(k.priv, forge.md.sha256.create());
  return { pem: forge.pki.certificateToPem(cert), cert, key: k.priv };
}

/** A serving certificate for `dnsNames`, signed by `ca`, valid for `days` (default 90). */
export function issueServing(ca: TestCa, dnsNames: string[], days = 90): ServingPair {
  const k = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.pub;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? 'webhook' }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: k.pem };
}
