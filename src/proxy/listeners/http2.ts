/** An HTTP/2 (h2c) listener: a site served on a bound address, its sessions closed gracefully on drain (./http.ts). */
export { startHttp2Listener } from './http.js';
