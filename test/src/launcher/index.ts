/** Fake virt-launcher command servers for guest-probe tests (see fake-launcher.ts). */
export * from './fake-launcher.js';
